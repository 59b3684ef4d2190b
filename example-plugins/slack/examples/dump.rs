//! Prints the output of every fixture × config combination (to diff before/after changes).

use krog_plugin_slack::Slack;
use krog_sdk::RawEvent;

fn main() {
    let fixtures = [
        include_str!("../../../fixtures/booking-created.json"),
        include_str!("../../../fixtures/booking-created-online.json"),
        include_str!("../../../fixtures/booking-updated.json"),
        include_str!("../../../fixtures/booking-deleted.json"),
        r#"{"type":"booking.created","data":{"id":"bk_1","service":{"name":"<!channel> & co"}}}"#,
        r#"{"type":"booking.created","data":{}}"#,
        r#"{"type":"booking.other","data":{"id":"a&b","start":"2026-03-29T01:30:00Z","end":"2026-03-30T01:30:00Z","status":"weird","service":{"name":"X","price":{"amount":-123456789,"currency":"usd"}},"location":{"type":"online"},"changes":{"client":{"from":{"name":"A","email":"a@x","phone":"1"},"to":null},"location":{"from":{"url":"https://x"},"to":{"name":"N","address":"Ad"}},"status":{"from":"pending","to":"no_show"},"notes":{"from":"a","to":"b"},"client.email":{"from":"x","to":"y"},"price":{"from":[1,true,{"id":"p1"},{}],"to":2.5},"start":{"from":"bad","to":"2026-10-25T02:30:00+02:00"}}}}"#,
        r#"{"type":"booking.updated","data":{"start":"not a time","end":"2026-01-01T00:00:00Z","service":{"name":"S","duration_minutes":30,"price":{"amount":5000,"currency":"ISK"}},"therapist":{"name":"T"},"client":{"name":"","email":"e@x"},"notes":"  "}}"#,
    ];
    let configs = [
        "",
        "null",
        "{}",
        r#"{"locale":"en"}"#,
        r#"{"include_client_contact": true, "include_notes": true}"#,
        r#"{"locale":"en","timezone":"America/New_York","include_client_contact":true}"#,
        r#"{"timezone":" Asia/Kolkata "}"#,
        r#"{"timezone":"UTC","locale":"en","include_notes":true}"#,
        r#"{"timezone":"Mars/Olympus"}"#,
        r#"{"timezone":"europe/copenhagen"}"#,
        r#"{"locale":"fr"}"#,
        r#"{"x":1}"#,
    ];
    for f in fixtures {
        let raw = RawEvent::from_envelope(f, "t_test").unwrap();
        for c in configs {
            match krog_sdk::run::<Slack>(&raw, c) {
                Ok(out) => println!(
                    "{c}\t{out:?}\t{}",
                    String::from_utf8_lossy(out.body().unwrap_or_default())
                ),
                Err(e) => println!("{c}\tERR {e}"),
            }
        }
    }
    println!("{:?}", krog_sdk::info::<Slack>());
}
