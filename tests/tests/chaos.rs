//! Chaos under load, from outside: the real `krog` binary as a child process while senders
//! post events continuously to a tenant with two subscriptions — one plain, one through the
//! built-in `slack` WebAssembly formatter — and a receiver that now and then refuses (500) or
//! answers slowly, so that trouble lands during ingest, transform, send and settlement alike.
//!
//! - Twenty SIGKILLs at random moments, restarting on the same database each time (SQLite
//!   always, PostgreSQL when `KROG_TEST_DATABASE_URL` names a server).
//! - A PostgreSQL server stopped and started again under load (a throwaway cluster of its own,
//!   never the machine's shared one).
//!
//! Whatever got its 202 must reach both receiver paths, signed; a delivery may arrive twice
//! only because it was in flight when the trouble struck (at least once, not exactly once).
//!
//! The kill schedule and the receiver's moods come from a seeded generator; the seed is
//! printed, and `KROG_CHAOS_SEED=<n>` replays a schedule (the interleaving with the child
//! still varies, as timing does).

#[allow(dead_code)]
mod common;

/// The harness wants it; each test here picks its own database instead of `TestDatabase`.
const BACKEND: common::Backend = common::Backend::Sqlite;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{ADMIN_KEY, Answer, Receiver, fresh, krog_binary, verify};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// Twenty kills, as the promise under test is phrased.
const KILLS: usize = 20;

/// Delivery workers of the child. Fewer than the default keeps the duplicate bound tight and
/// the backlog after a slow spell short.
const WORKERS: usize = 16;

/// Attempts answered but not yet committed, at most (`queue::SETTLING_MAX` in the host): a
/// worker hands its record to the group commit and takes the next delivery, so up to this many
/// sent deliveries can be unrecorded at a kill, besides the ones being sent.
const SETTLING_MAX: usize = 256;

/// Deliveries claimed at ingest and waiting for a worker. They are not sent before a kill,
/// but when the database goes away they are sent and cannot be recorded.
const QUEUE_CAPACITY: usize = 128;

/// Deliveries that can have reached the receiver without their outcome being stored, at the
/// moment the process dies: those being sent plus those waiting for their commit. Typically a
/// kill finds about `WORKERS` of them; on PostgreSQL a kill landing just after a burst has
/// found over a hundred sent in its last 40 ms, their group commit not yet done.
const MAX_IN_FLIGHT: usize = WORKERS + SETTLING_MAX;

/// Concurrent senders, each posting one event after another with a short pause (the pause
/// keeps the backlog drainable on a shared 2-core machine; ingest still never stops).
const SENDERS: usize = 6;
const SENDER_PAUSE: Duration = Duration::from_millis(8);

/// The child's settings: quick retries with enough of them that the receiver's refusals can
/// never exhaust a delivery; a claim lease short enough that a dead node's claims on
/// PostgreSQL come back soon, yet well above any attempt's time here (a lease running out
/// under a live attempt would send it twice for reasons other than a kill).
fn child_env() -> Vec<(&'static str, String)> {
    vec![
        (
            "KROG_RETRY_SCHEDULE",
            "50ms,100ms,200ms,300ms,500ms,500ms,1s,1s,1s,1s,1s,1s".into(),
        ),
        ("KROG_CLAIM_LEASE", "5s".into()),
        ("KROG_POLL_INTERVAL", "100ms".into()),
        ("KROG_DELIVERY_TIMEOUT", "10s".into()),
        ("KROG_WORKERS", WORKERS.to_string()),
        ("KROG_QUEUE_CAPACITY", QUEUE_CAPACITY.to_string()),
    ]
}

/// The tests here load the machine on purpose; one at a time keeps each one's load what it
/// says it is (and the file's time the sum of its tests, not their worst interleaving).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// SplitMix64: a small seeded generator, so a schedule is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.between(lo, hi))
    }
}

fn seed() -> u64 {
    std::env::var("KROG_CHAOS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// The child's warnings and errors, kept for the failure message (`common::start_krog`
/// drains its log unread).
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn keep(&self, run: usize, line: &str) {
        let worth =
            line.contains(" WARN ") || line.contains(" ERROR ") || line.contains("panicked");
        let mut lines = self.0.lock().unwrap();
        if worth && lines.len() < 5000 {
            lines.push(format!("[run {run}] {line}"));
        }
    }

    /// How many warnings and errors, with the first few kinds of them.
    fn summary(&self) -> String {
        let lines = self.0.lock().unwrap();
        let mut kinds: Vec<&str> = vec![];
        for line in lines.iter() {
            // The message follows the target (`krog::worker::queue: …`), the fields (which vary)
            // follow the message.
            let message = line.split_once(": ").map_or(line.as_str(), |(_, m)| m);
            let end = message
                .split(' ')
                .take_while(|word| !word.contains('='))
                .map(|word| word.len() + 1)
                .sum::<usize>();
            let kind = message[..end.min(message.len())].trim_end();
            if !kinds.contains(&kind) && kinds.len() < 8 {
                kinds.push(kind);
            }
        }
        format!(
            "{} warning/error lines from the child; kinds: {kinds:?}",
            lines.len()
        )
    }

    fn tail(&self, n: usize) -> String {
        let lines = self.0.lock().unwrap();
        let from = lines.len().saturating_sub(n);
        format!(
            "{} warning/error lines from the child, the last {}:\n{}",
            lines.len(),
            lines.len() - from,
            lines[from..].join("\n")
        )
    }
}

/// Starts `krog serve` as `common::start_krog` does (same settings, plus `env`), keeping its
/// warnings and errors in `log`. Returns it with its base URL.
async fn spawn_krog(
    dir: &Path,
    database_url: &str,
    env: &[(&'static str, String)],
    log: &Log,
    run: usize,
) -> (Child, String) {
    let mut child = Command::new(krog_binary())
        .arg("serve")
        .current_dir(dir)
        .env("KROG_LISTEN", "127.0.0.1:0")
        .env("KROG_DATABASE_URL", database_url)
        // Its own cache: artifacts carry a MAC under the database's key.
        .env("KROG_CACHE_DIR", dir.join("krog-cache"))
        .env("KROG_BUILTIN_MODULES", crate::common::RUST_BUILTINS)
        .env("KROG_ADMIN_KEY", ADMIN_KEY)
        .env("KROG_ALLOW_PRIVATE_DESTINATIONS", "true")
        .env("KROG_ALLOW_HTTP", "true")
        .env("KROG_SQLITE_SYNCHRONOUS", "NORMAL")
        .env("RUST_LOG", "info")
        .envs(common::secret_key_env(database_url))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("krog starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.keep(run, &line);
            if let Some(rest) = line
                .split("address=")
                .nth(1)
                .filter(|_| line.contains("listening"))
            {
                return rest.split_whitespace().next().unwrap().to_owned();
            }
        }
        panic!("krog (run {run}) exited before listening; {}", log.tail(20));
    })
    .await
    .expect("krog listens within a minute");
    let log = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            log.keep(run, &line);
        }
    });
    (child, format!("http://{address}"))
}

/// SIGKILL (tokio's `start_kill` on Unix), and reap it.
async fn kill(child: &mut Child) {
    child.start_kill().expect("the child can be killed");
    child.wait().await.expect("the child is reaped");
}

/// The tenant, its key and the secrets of its two subscriptions by receiver path.
struct Tenant {
    key: String,
    secrets: HashMap<&'static str, String>,
}

const TENANT: &str = "chaos";
const PLAIN: &str = "/plain";
const SLACK: &str = "/slack";

async fn set_up(client: &reqwest::Client, base: &str, receiver: &Receiver) -> Tenant {
    let r = client
        .post(format!("{base}/v1/tenants"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({"id": TENANT, "name": "Chaos"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let key: Value = client
        .post(format!("{base}/v1/tenants/{TENANT}/keys"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = key["key"].as_str().unwrap().to_owned();
    let mut secrets = HashMap::new();
    for (path, transform) in [
        (PLAIN, None),
        (
            SLACK,
            Some(json!({"module": "slack", "config": {"locale": "da"}})),
        ),
    ] {
        let mut body = json!({"url": receiver.url(path), "event_types": ["booking.created"]});
        if let Some(transform) = transform {
            body["transform"] = transform;
        }
        let r = client
            .post(format!("{base}/v1/tenants/{TENANT}/subscriptions"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let subscription: Value = r.json().await.unwrap();
        secrets.insert(path, subscription["secret"].as_str().unwrap().to_owned());
    }
    Tenant { key, secrets }
}

/// What the senders did: the ids that got a 202, and how the other posts ended.
#[derive(Default)]
struct Posted {
    accepted: Mutex<HashSet<String>>,
    /// 202s whose body did not say two deliveries (the fan-out went wrong).
    wrong_fan_out: Mutex<Vec<Value>>,
    refused: AtomicU64,
    unanswered: AtomicU64,
}

impl Posted {
    fn accepted(&self) -> usize {
        self.accepted.lock().unwrap().len()
    }
}

/// Senders posting fresh events to whatever base URL `base` holds now (a restarted child
/// listens on a new port), until `stop`. A post without an answer, or with another status
/// than 202, is not counted: its event may or may not have been stored.
fn start_senders(
    client: &reqwest::Client,
    base: &watch::Receiver<String>,
    key: &str,
    posted: &Arc<Posted>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..SENDERS)
        .map(|_| {
            let (client, base, key, posted, stop) = (
                client.clone(),
                base.clone(),
                key.to_owned(),
                posted.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let url = format!("{}/v1/tenants/{TENANT}/events", *base.borrow());
                    let event = fresh("created");
                    let id = event["id"].as_str().unwrap().to_owned();
                    // A generous timeout: only a dead or database-less child should hit it.
                    let sent = client
                        .post(url)
                        .bearer_auth(&key)
                        .json(&event)
                        .timeout(Duration::from_secs(15))
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status() == 202 => {
                            let body: Value = r.json().await.unwrap_or(Value::Null);
                            if body["deliveries"] != 2 {
                                posted.wrong_fan_out.lock().unwrap().push(body);
                            }
                            posted.accepted.lock().unwrap().insert(id);
                            tokio::time::sleep(SENDER_PAUSE).await;
                        }
                        Ok(_) => {
                            posted.refused.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(_) => {
                            posted.unanswered.fetch_add(1, Ordering::Relaxed);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect()
}

/// The receiver's moods until `stop`: now and then a few refusals (500, retried by krog) or a
/// slow spell (well under the delivery timeout, so a slow answer is still an answer).
fn start_moods(
    receiver: &Receiver,
    mut rng: Rng,
    stop: &Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    let (receiver, stop) = (receiver.clone(), stop.clone());
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            tokio::time::sleep(rng.millis(80, 250)).await;
            match rng.between(0, 3) {
                0 => receiver.script((0..rng.between(1, 4)).map(|_| Answer::status(500))),
                1 => {
                    receiver.set_delay(rng.millis(30, 200));
                    tokio::time::sleep(rng.millis(100, 300)).await;
                    receiver.set_delay(Duration::ZERO);
                }
                _ => {}
            }
        }
        receiver.set_delay(Duration::ZERO);
    })
}

/// Waits (up to two minutes: CI shares two cores) until every accepted event has reached both
/// paths; panics with what is missing and why, as far as the delivery log knows.
async fn wait_until_all_arrived(
    client: &reqwest::Client,
    base: &str,
    tenant: &Tenant,
    receiver: &Receiver,
    accepted: &HashSet<String>,
    context: &str,
) {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(120);
    loop {
        let got = receiver.received();
        let mut arrived: HashMap<&str, HashSet<&str>> = HashMap::new();
        for r in &got {
            if (200..300).contains(&r.status) {
                arrived
                    .entry(r.path.as_str())
                    .or_default()
                    .insert(r.header("webhook-id"));
            }
        }
        let missing: Vec<(&str, &String)> = [PLAIN, SLACK]
            .into_iter()
            .flat_map(|path| {
                let arrived = arrived.get(path);
                accepted
                    .iter()
                    .filter(move |id| !arrived.is_some_and(|a| a.contains(id.as_str())))
                    .map(move |id| (path, id))
            })
            .collect();
        if missing.is_empty() {
            println!(
                "all {} accepted events reached both paths {:.1} s after the load stopped",
                accepted.len(),
                started.elapsed().as_secs_f64()
            );
            return;
        }
        if Instant::now() > deadline {
            let mut why = vec![];
            for (path, id) in missing.iter().take(5) {
                let log: Value = client
                    .get(format!(
                        "{base}/v1/tenants/{TENANT}/deliveries?event_id={id}"
                    ))
                    .bearer_auth(&tenant.key)
                    .send()
                    .await
                    .map(|r| r.json())
                    .expect("the delivery log answers")
                    .await
                    .unwrap_or(Value::Null);
                why.push(format!("{path} {id}: {log}"));
            }
            panic!(
                "{context}: {} deliveries of {} accepted events never arrived within 120 s; \
                 the first ones and their delivery log:\n{}",
                missing.len(),
                accepted.len(),
                why.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until the delivery log has nothing pending (retries of what already arrived may still
/// be on their way and would count as duplicates), at most 30 s; returns whether it got there.
async fn wait_until_settled(client: &reqwest::Client, base: &str, tenant: &Tenant) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let page: Option<Value> = async {
            client
                .get(format!(
                    "{base}/v1/tenants/{TENANT}/deliveries?status=pending&limit=1"
                ))
                .bearer_auth(&tenant.key)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()
        }
        .await;
        if page.is_some_and(|p| p["data"].as_array().is_some_and(Vec::is_empty)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// A stretch of trouble: from just before a kill (or a server stop) until the old process is
/// reaped (or the server is back).
#[derive(Clone, Copy)]
struct Trouble {
    from: Instant,
    to: Instant,
}

/// How late the receiver may record a request the dead process had already sent: the bytes
/// were on the socket, but the receiver's task may run only after the test saw the death.
/// Generous, since CI shares two cores.
const RECORD_LAG: Duration = Duration::from_secs(2);

/// What arrived, checked: every request is signed with its subscription's secret and looks
/// like what that path should get, and every duplicate — a delivery (event id and path) the
/// receiver took (2xx) more than once — is explained by trouble: its earlier copy arrived
/// before some kill or outage ended and its later one after it began. Each duplicate is put
/// down to the first trouble after its earlier copy (the one it was in flight at), and none
/// may have more than `per_trouble` put down to it. Returns the number of duplicates.
fn check_arrivals(
    receiver: &Receiver,
    tenant: &Tenant,
    accepted: &HashSet<String>,
    troubles: &[Trouble],
    per_trouble: usize,
    context: &str,
) -> usize {
    let got = receiver.received();
    let mut taken: HashMap<(&str, &str), Vec<Instant>> = HashMap::new();
    let (mut refused, mut unknown) = (0, 0);
    for r in &got {
        let secret = tenant
            .secrets
            .get(r.path.as_str())
            .unwrap_or_else(|| panic!("a request to an unknown path {}", r.path));
        if let Err(e) = verify(secret, r) {
            panic!(
                "a request to {} ({}) does not verify: {e}",
                r.path,
                r.header("webhook-id")
            );
        }
        let body = r.json();
        if r.path == PLAIN {
            assert_eq!(body["type"], "booking.created", "{body}");
        } else {
            assert!(body.get("blocks").is_some(), "not a Slack message: {body}");
        }
        if !(200..300).contains(&r.status) {
            refused += 1;
            continue;
        }
        if !accepted.contains(r.header("webhook-id")) {
            unknown += 1;
        }
        taken
            .entry((r.path.as_str(), r.header("webhook-id")))
            .or_default()
            .push(r.at);
    }
    let mut duplicates = 0;
    let mut unexplained = vec![];
    let mut put_down = vec![0; troubles.len()];
    for ((path, id), times) in &mut taken {
        times.sort();
        for pair in times.windows(2) {
            duplicates += 1;
            let (earlier, later) = (pair[0], pair[1]);
            let explains = |t: &Trouble| earlier <= t.to + RECORD_LAG && later >= t.from;
            // The first trouble that ended after the earlier copy; failing that, the last one
            // it may have been recorded late for.
            let culprit = troubles
                .iter()
                .position(|t| t.to >= earlier && explains(t))
                .or_else(|| troubles.iter().rposition(explains));
            match culprit {
                Some(k) => put_down[k] += 1,
                None => unexplained.push(format!(
                    "{path} {id}, {} ms apart",
                    (later - earlier).as_millis()
                )),
            }
        }
    }
    let worst = put_down.iter().copied().max().unwrap_or(0);
    let twice = taken.values().filter(|times| times.len() > 1).count();
    println!(
        "{} requests arrived, all signed: {refused} refused by the receiver (and retried), \
         {duplicates} duplicates over {twice} deliveries, {unknown} taken for events whose \
         post went unanswered (stored after all); duplicates per kill or outage: {put_down:?}",
        got.len()
    );
    assert!(
        unexplained.is_empty(),
        "{context}: {} duplicates arrived with no kill or outage between the copies, e.g. {:?}",
        unexplained.len(),
        &unexplained[..unexplained.len().min(5)]
    );
    assert!(
        worst <= per_trouble,
        "{context}: {worst} duplicates from one kill or outage, more than the {per_trouble} \
         deliveries that can be in flight at once; per kill or outage: {put_down:?}"
    );
    duplicates
}

/// A fresh database on the PostgreSQL server `base` names (as `common` does for the suite).
async fn fresh_postgres(base: &str) -> (String, String) {
    use sqlx::Connection;
    let name = format!(
        "krog_chaos_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to the PostgreSQL server");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create the test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL has a path");
    (format!("{prefix}/{name}"), name)
}

async fn drop_postgres(base: &str, name: &str) {
    use sqlx::Connection;
    if let Ok(mut conn) = sqlx::PgConnection::connect(base).await {
        let _ = sqlx::Executor::execute(
            &mut conn,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
        )
        .await;
    }
}

/// Twenty SIGKILLs under load on `database_url`, then the checks.
async fn twenty_kills(dir: &Path, database_url: &str, engine: &str) {
    let seed = seed();
    println!("{engine}: seed {seed} (KROG_CHAOS_SEED={seed} replays the schedule)");
    let mut rng = Rng(seed);
    let moods_rng = Rng(seed ^ 0x5EED_CAFE);
    let env = child_env();
    let log = Log::default();
    let receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    let (mut child, base) = spawn_krog(dir, database_url, &env, &log, 0).await;
    let tenant = set_up(&client, &base, &receiver).await;
    let (base_tx, base_rx) = watch::channel(base);

    let posted = Arc::new(Posted::default());
    let stop = Arc::new(AtomicBool::new(false));
    let senders = start_senders(&client, &base_rx, &tenant.key, &posted, &stop);
    let moods = start_moods(&receiver, moods_rng, &stop);
    // Let the load get going, so that the first kill already finds work in every stage.
    let deadline = Instant::now() + Duration::from_secs(60);
    while posted.accepted() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let started = Instant::now();
    let mut schedule = vec![];
    let mut troubles = vec![];
    for run in 1..=KILLS {
        let wait = rng.millis(50, 400);
        tokio::time::sleep(wait).await;
        let from = Instant::now();
        kill(&mut child).await;
        troubles.push(Trouble {
            from,
            to: Instant::now(),
        });
        schedule.push(format!(
            "{}ms/{}/{}",
            wait.as_millis(),
            posted.accepted(),
            receiver.received().len()
        ));
        let (next, base) = spawn_krog(dir, database_url, &env, &log, run).await;
        child = next;
        base_tx.send_replace(base);
    }
    // A last stretch of load on the final child, so it also serves, not only recovers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    moods.await.unwrap();
    println!(
        "{engine}: {KILLS} kills in {:.1} s (wait/accepted/received at each: {}); \
         {} posts accepted, {} refused, {} unanswered",
        started.elapsed().as_secs_f64(),
        schedule.join(" "),
        posted.accepted(),
        posted.refused.load(Ordering::Relaxed),
        posted.unanswered.load(Ordering::Relaxed),
    );
    let wrong = posted.wrong_fan_out.lock().unwrap().clone();
    assert!(
        wrong.is_empty(),
        "{} accepted events did not fan out to both subscriptions, e.g. {}",
        wrong.len(),
        wrong[0]
    );
    let accepted = posted.accepted.lock().unwrap().clone();
    let base = base_rx.borrow().clone();
    let context = format!("{engine}, seed {seed}");
    wait_until_all_arrived(&client, &base, &tenant, &receiver, &accepted, &context).await;
    if !wait_until_settled(&client, &base, &tenant).await {
        println!("{engine}: deliveries still pending 30 s after everything arrived");
    }
    let duplicates = check_arrivals(
        &receiver,
        &tenant,
        &accepted,
        &troubles,
        MAX_IN_FLIGHT,
        &context,
    );
    println!("{engine}: {}", log.summary());
    let bound = KILLS * MAX_IN_FLIGHT;
    println!("{engine}: {duplicates} duplicates after {KILLS} kills (bound {bound})");
    assert!(
        duplicates <= bound,
        "{context}: {duplicates} duplicates, more than {KILLS} kills × {MAX_IN_FLIGHT} in \
         flight allow; {}",
        log.tail(40)
    );
    kill(&mut child).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_under_load_lose_no_accepted_event_on_sqlite() {
    let _turn = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("krog.db").display());
    twenty_kills(dir.path(), &url, "sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_sigkills_under_load_lose_no_accepted_event_on_postgres() {
    let Some(server) = std::env::var("KROG_TEST_DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres"))
    else {
        println!("skipped: set KROG_TEST_DATABASE_URL=postgres://… to run this on PostgreSQL");
        return;
    };
    let _turn = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let (url, name) = fresh_postgres(&server).await;
    twenty_kills(dir.path(), &url, "postgres").await;
    drop_postgres(&server, &name).await;
}

/// A PostgreSQL cluster of this test's own (Debian's `pg_createcluster`), stopped and dropped
/// when it goes out of scope, whatever happened.
struct ThrowawayCluster {
    version: String,
    name: String,
    port: u16,
}

impl ThrowawayCluster {
    /// `None` (with the reason printed) when the machine cannot make one.
    fn create() -> Option<ThrowawayCluster> {
        let version = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("bin/postgres").exists())
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .max()?
            .to_string();
        // A free port now; nothing else on this machine picks ports in this range on purpose.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        // A run killed outright (no unwinding) leaves its cluster behind; whoever comes next
        // drops it, once the process that made it is gone.
        for stale in std::fs::read_dir(format!("/etc/postgresql/{version}"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
        {
            let pid = stale
                .strip_prefix("krogchaos_")
                .and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                println!("dropping {stale}, left behind by an earlier run");
                let _ = std::process::Command::new("pg_dropcluster")
                    .args(["--stop", &version, &stale])
                    .output();
            }
        }
        let name = format!("krogchaos_{}", std::process::id());
        let cluster = ThrowawayCluster {
            version,
            name,
            port,
        };
        // fsync off: the server is only ever stopped cleanly here, and the machine is shared.
        let created = std::process::Command::new("pg_createcluster")
            .args([&cluster.version, &cluster.name, "-p", &port.to_string()])
            .args(["-o", "fsync=off", "--", "--auth=trust"])
            .output();
        match created {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                println!(
                    "pg_createcluster failed: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                // Whatever part of it exists goes (the guard is not armed yet).
                drop(cluster);
                return None;
            }
            Err(e) => {
                println!("pg_createcluster is not available: {e}");
                std::mem::forget(cluster);
                return None;
            }
        }
        cluster.ctl("start", "fast");
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctlcluster --mode <mode> <version> <name> <action>`, which must succeed (the mode
    /// is how a stop shuts down).
    fn ctl(&self, action: &str, mode: &str) {
        let out = std::process::Command::new("pg_ctlcluster")
            .args(["--mode", mode, &self.version, &self.name, action])
            .output()
            .expect("pg_ctlcluster runs");
        assert!(
            out.status.success(),
            "pg_ctlcluster {action}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pg_dropcluster")
            .args(["--stop", &self.version, &self.name])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarts_under_load_lose_no_accepted_event() {
    let _turn = one_at_a_time().await;
    let Some(cluster) = tokio::task::spawn_blocking(ThrowawayCluster::create)
        .await
        .unwrap()
    else {
        println!("skipped: no throwaway PostgreSQL cluster can be made here");
        return;
    };
    let seed = seed();
    println!(
        "postgres restart: seed {seed}, cluster {} on port {}",
        cluster.name, cluster.port
    );
    let dir = tempfile::tempdir().unwrap();
    let env = child_env();
    let log = Log::default();
    let receiver = Receiver::start().await;
    let client = reqwest::Client::new();
    let (mut child, base) = spawn_krog(dir.path(), &cluster.url(), &env, &log, 0).await;
    let tenant = set_up(&client, &base, &receiver).await;
    let (_base_tx, base_rx) = watch::channel(base.clone());
    let posted = Arc::new(Posted::default());
    let stop = Arc::new(AtomicBool::new(false));
    let senders = start_senders(&client, &base_rx, &tenant.key, &posted, &stop);
    let moods = start_moods(&receiver, Rng(seed), &stop);

    let deadline = Instant::now() + Duration::from_secs(60);
    while posted.accepted() < 300 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Two outages, each long enough that ingest, attempts and their records all meet a
    // missing server: a clean stop (fast mode: sessions are ended, open transactions roll
    // back), then a crash-like one (immediate mode: the server dies without a checkpoint and
    // recovers from its WAL on start). After each, krog must take events again by itself.
    let cluster = Arc::new(cluster);
    let mut troubles = vec![];
    for mode in ["fast", "immediate"] {
        let before = posted.accepted();
        let from = Instant::now();
        let stopping = cluster.clone();
        tokio::task::spawn_blocking(move || stopping.ctl("stop", mode))
            .await
            .unwrap();
        let down = Instant::now();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let during = posted.accepted() - before;
        let starting = cluster.clone();
        tokio::task::spawn_blocking(move || starting.ctl("start", "fast"))
            .await
            .unwrap();
        troubles.push(Trouble {
            from,
            to: Instant::now(),
        });
        println!(
            "postgres restart ({mode} stop): {before} accepted before the stop, {during} while \
             it was stopping or down ({:.1} s down)",
            down.elapsed().as_secs_f64()
        );
        let back = posted.accepted();
        let deadline = Instant::now() + Duration::from_secs(60);
        while posted.accepted() < back + 300 {
            assert!(
                Instant::now() < deadline,
                "krog accepted {} events in the minute after PostgreSQL came back from a \
                 {mode} stop; {}",
                posted.accepted() - back,
                log.tail(40)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for sender in senders {
        sender.await.unwrap();
    }
    moods.await.unwrap();
    println!(
        "postgres restart: {} posts accepted, {} refused, {} unanswered",
        posted.accepted(),
        posted.refused.load(Ordering::Relaxed),
        posted.unanswered.load(Ordering::Relaxed),
    );
    let accepted = posted.accepted.lock().unwrap().clone();
    let context = format!("postgres restart, seed {seed}");
    wait_until_all_arrived(&client, &base, &tenant, &receiver, &accepted, &context).await;
    if !wait_until_settled(&client, &base, &tenant).await {
        println!("postgres restart: deliveries still pending 30 s after everything arrived");
    }
    // While the server is away, attempts go on with what was already claimed and queued, and
    // none of them can be recorded: each may be sent again.
    let per_outage = MAX_IN_FLIGHT + QUEUE_CAPACITY;
    let duplicates = check_arrivals(
        &receiver, &tenant, &accepted, &troubles, per_outage, &context,
    );
    println!("postgres restart: {}", log.summary());
    let bound = troubles.len() * per_outage;
    println!("postgres restart: {duplicates} duplicates (bound {bound})");
    assert!(
        duplicates <= bound,
        "{context}: {duplicates} duplicates, more than {bound} in flight at the restarts \
         allow; {}",
        log.tail(40)
    );
    kill(&mut child).await;
}
