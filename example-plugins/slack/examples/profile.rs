//! Runs the updated fixture many times (for callgrind / perf).
use krog_plugin_slack::Slack;
use krog_sdk::RawEvent;
fn main() {
    let raw = RawEvent::from_envelope(include_str!("../../../fixtures/booking-updated.json"), "t")
        .unwrap();
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let t = std::time::Instant::now();
    let mut len = 0;
    for _ in 0..n {
        len += krog_sdk::run::<Slack>(std::hint::black_box(&raw), "")
            .unwrap()
            .body()
            .unwrap()
            .len();
    }
    eprintln!("{:?}/iter ({len})", t.elapsed() / n as u32);
}
