//! Several krog processes on one PostgreSQL (compiled when `KROG_TEST_DATABASE_URL` is set):
//! work is shared without duplicates, and a killed node's claims are taken over.
#![cfg(krog_postgres)]

#[allow(dead_code)]
mod common;

/// These tests need PostgreSQL.
const BACKEND: common::Backend = common::Backend::Postgres;

use std::collections::HashMap;
use std::time::Duration;

use common::{ADMIN_KEY, Receiver, TestDatabase, fresh, start_krog};
use serde_json::json;

async fn setup(base: &str, receiver: &Receiver) -> String {
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"id": "multi", "name": "Multi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: serde_json::Value = client
        .post(format!("{base}/v1/tenants/multi/keys"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let r = client
        .post(format!("{base}/v1/tenants/multi/subscriptions"))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url("/multi"), "event_types": ["booking.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    key
}

/// Posts `count` events round-robin over `bases` with 16 senders; returns the ids.
async fn post_events(bases: &[String], key: &str, count: usize) -> Vec<String> {
    let client = reqwest::Client::new();
    let ids: Vec<String> = (0..count)
        .map(|_| fresh("created")["id"].as_str().unwrap().to_owned())
        .collect();
    let chunks: Vec<Vec<(usize, String)>> = {
        let mut chunks = vec![vec![]; 16];
        for (i, id) in ids.iter().enumerate() {
            chunks[i % 16].push((i, id.clone()));
        }
        chunks
    };
    let mut tasks = vec![];
    for chunk in chunks {
        let (client, bases, key) = (client.clone(), bases.to_vec(), key.to_owned());
        tasks.push(tokio::spawn(async move {
            for (i, id) in chunk {
                let mut event = fresh("created");
                event["id"] = json!(id);
                let base = &bases[i % bases.len()];
                let r = client
                    .post(format!("{base}/v1/tenants/multi/events"))
                    .bearer_auth(&key)
                    .json(&event)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    ids
}

/// Attempts recorded per node, once at least `total` are recorded (or after 30 s): an attempt
/// is recorded after its endpoint answered, so the last records trail the last receipts.
async fn attempts_per_node(url: &str, total: i64) -> HashMap<String, i64> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT node, COUNT(*) FROM attempts GROUP BY node")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let per_node: HashMap<String, i64> = rows.into_iter().collect();
        if per_node.values().sum::<i64>() >= total || tokio::time::Instant::now() >= deadline {
            return per_node;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_deliver_3000_events_exactly_once_and_share_the_work() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    let mut nodes = vec![];
    for _ in 0..3 {
        // One after another: the first applies the migrations.
        nodes.push(start_krog(db.dir.path(), &db.url, &[]).await);
    }
    let bases: Vec<String> = nodes.iter().map(|(_, base)| base.clone()).collect();
    let key = setup(&bases[0], &receiver).await;
    let ids = post_events(&bases, &key, 3000).await;
    receiver.wait_for(3000).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = receiver.received();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in &got {
        *seen.entry(r.header("webhook-id").to_owned()).or_default() += 1;
    }
    assert!(
        ids.iter().all(|id| seen.contains_key(id)),
        "some events never arrived"
    );
    let duplicates: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        duplicates.is_empty(),
        "{} events arrived twice, e.g. {:?}",
        duplicates.len(),
        duplicates.first()
    );
    assert_eq!(got.len(), 3000);
    let per_node = attempts_per_node(&db.url, 3000).await;
    assert_eq!(
        per_node.len(),
        3,
        "every node did part of the work: {per_node:?}"
    );
    assert!(per_node.values().all(|n| *n >= 300), "{per_node:?}");
    for (mut child, _) in nodes {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_nodes_claims_are_delivered_by_the_others_after_its_lease() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    let env = [
        ("KROG_CLAIM_LEASE", "2s"),
        ("KROG_POLL_INTERVAL", "200ms"),
        ("KROG_WORKERS", "8"),
    ];
    let (mut doomed, doomed_base) = start_krog(db.dir.path(), &db.url, &env).await;
    let (mut survivor, _) = start_krog(db.dir.path(), &db.url, &env).await;
    let key = setup(&doomed_base, &receiver).await;
    // A slow endpoint: the doomed node claims everything it ingests and has attempts in flight.
    receiver.set_delay(Duration::from_secs(30));
    let ids = post_events(std::slice::from_ref(&doomed_base), &key, 200).await;
    receiver.wait_for(8).await;
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    receiver.set_delay(Duration::ZERO);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let seen: std::collections::HashSet<String> = receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect();
        let missing = ids.iter().filter(|id| !seen.contains(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} of the killed node's events never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let per_node = attempts_per_node(&db.url, 200).await;
    assert_eq!(
        per_node.len(),
        1,
        "only the survivor recorded attempts: {per_node:?}"
    );
    assert!(per_node.values().all(|n| *n >= 200), "{per_node:?}");
    let _ = survivor.start_kill();
    let _ = survivor.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_added_on_one_node_gets_the_next_event_sent_to_another_at_once() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    // A directory TTL of an hour: only the announcement can tell node B about the change.
    let env = [("KROG_DIRECTORY_TTL", "1h")];
    let a = start_krog(db.dir.path(), &db.url, &env).await;
    let b = start_krog(db.dir.path(), &db.url, &env).await;
    let key = setup(&a.1, &receiver).await;
    let client = reqwest::Client::new();
    let send = |base: String| {
        let (client, key) = (client.clone(), key.clone());
        async move {
            let r = client
                .post(format!("{base}/v1/tenants/multi/events"))
                .bearer_auth(&key)
                .json(&fresh("created"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            r.json::<serde_json::Value>().await.unwrap()
        }
    };
    // Node B now has the tenant's subscriptions (one) in memory.
    assert_eq!(send(b.1.clone()).await["deliveries"], 1);
    let r = client
        .post(format!("{}/v1/tenants/multi/subscriptions", a.1))
        .bearer_auth(&key)
        .json(&json!({"url": receiver.url("/second"), "event_types": ["booking.created"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    // The NOTIFY travels asynchronously; give it a moment, far below the TTL.
    let mut deliveries = serde_json::Value::Null;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        deliveries = send(b.1.clone()).await["deliveries"].clone();
        if deliveries == 2 {
            break;
        }
    }
    assert_eq!(
        deliveries, 2,
        "node B did not learn of the new subscription"
    );
    for (mut child, _) in [a, b] {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// Every first attempt fails, so every delivery comes back as a retry that the schedulers
/// claim in batches, each with its event: the nodes hold hundreds of claims that no worker has
/// started. Killing one of them then loses no delivery, and only what it had sent may be sent
/// again (its requests on the wire, and answers whose record had not committed yet): no two
/// successes of one event both come after the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_claimed_in_batches_succeed_once_and_a_killed_nodes_batch_goes_to_the_others() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    const EVENTS: usize = 1000;
    let env = [
        ("KROG_RETRY_SCHEDULE", "1s,1s,1s,1s,1s"),
        // Long enough that a renewal late on a busy machine does not let a survivor take a
        // live claim (which the system allows: a delivery is at least once).
        ("KROG_CLAIM_LEASE", "8s"),
        ("KROG_POLL_INTERVAL", "200ms"),
        ("KROG_WORKERS", "8"),
    ];
    let mut nodes = vec![];
    for _ in 0..3 {
        nodes.push(start_krog(db.dir.path(), &db.url, &env).await);
    }
    let bases: Vec<String> = nodes.iter().map(|(_, base)| base.clone()).collect();
    let key = setup(&bases[0], &receiver).await;
    receiver.script((0..EVENTS).map(|_| common::Answer::status(500)));
    // A slow endpoint: claimed batches wait in the dispatchers while a few are sent.
    receiver.set_delay(Duration::from_millis(50));
    let ids = post_events(&bases, &key, EVENTS).await;
    // Every first attempt has failed, and retries are under way.
    receiver.wait_for(EVENTS + 50).await;
    let (mut doomed, _) = nodes.remove(0);
    doomed.start_kill().unwrap();
    doomed.wait().await.unwrap();
    let killed = std::time::Instant::now();
    receiver.set_delay(Duration::ZERO);

    // When each event's successful deliveries arrived.
    let succeeded = |receiver: &Receiver| {
        let mut seen: HashMap<String, Vec<std::time::Instant>> = HashMap::new();
        for r in receiver.received().iter().filter(|r| r.status == 200) {
            seen.entry(r.header("webhook-id").to_owned())
                .or_default()
                .push(r.at);
        }
        seen
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let seen = succeeded(&receiver);
        let missing = ids.iter().filter(|id| !seen.contains_key(*id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} events never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let seen = succeeded(&receiver);
    let resent_by_survivors: Vec<_> = seen
        .iter()
        .filter(|(_, at)| at.iter().filter(|at| **at > killed).count() > 1)
        .collect();
    assert!(
        resent_by_survivors.is_empty(),
        "{} events succeeded twice after the kill, e.g. {:?}",
        resent_by_survivors.len(),
        resent_by_survivors.first().map(|(id, _)| id)
    );
    assert!(
        seen.values().all(|at| at.len() <= 2),
        "an event succeeded three times"
    );
    for (mut child, _) in nodes {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}

/// Deliveries wait on one node with their event in memory (one at a time to a slow endpoint)
/// when an erasure through another node cancels them: the waiting node hears of it and sends
/// none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erasure_through_one_node_stops_the_deliveries_waiting_on_another() {
    let db = TestDatabase::new().await;
    let receiver = Receiver::start().await;
    let env = [("KROG_MAX_IN_FLIGHT_PER_SUBSCRIPTION", "1")];
    let (mut eraser, eraser_base) = start_krog(db.dir.path(), &db.url, &env).await;
    let (mut sender, sender_base) = start_krog(db.dir.path(), &db.url, &env).await;
    let key = setup(&eraser_base, &receiver).await;
    receiver.set_delay(Duration::from_secs(6));
    post_events(std::slice::from_ref(&sender_base), &key, 5).await;
    // One is on the wire; four wait behind it on the sending node.
    receiver.wait_for(1).await;
    let erasure: serde_json::Value = reqwest::Client::new()
        .post(format!("{eraser_base}/v1/tenants/multi/erasures"))
        .bearer_auth(&key)
        .json(&json!({"booking_id": "bk_1042"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(erasure["cancelled_deliveries"], 5, "{erasure}");
    receiver.set_delay(Duration::ZERO);
    // The delivery on the wire ends; what waited behind it would follow at once.
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "deliveries an erasure cancelled were sent"
    );
    for child in [&mut eraser, &mut sender] {
        let _ = child.start_kill();
        let _ = child.wait().await;
    }
}
