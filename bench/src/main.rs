//! `krog-bench`: a loopback load generator and startup benchmark for krog.
//!
//! Load (the default command): starts a fast HTTP/1 receiver, starts krog (or targets a
//! running one), creates a tenant and subscriptions, posts events with concurrent keep-alive
//! senders, waits for every delivery and prints one JSON report on stdout.
//!
//! `startup`: uploads many distinct tenant modules, then measures time-to-listening of a
//! restart with the compiled-artifact cache intact versus after deleting it.
//!
//! Everything is bounded in count and time and binds to 127.0.0.1 only.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const FIXTURE: &str = include_str!("../../fixtures/booking-created.json");

/// Where `--reference` without a path looks (relative to the working directory, then to this
/// workspace).
const DEFAULT_REFERENCE: &str = "target/reference-forwarder/release/reference-forwarder";

#[derive(Parser)]
#[command(
    name = "krog-bench",
    about = "Load generator and startup benchmark for krog (loopback only)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    load: LoadArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Post events and measure delivery (the default when no subcommand is given).
    Load(LoadArgs),
    /// Upload N distinct tenant modules, then time restarts with and without the artifact cache.
    Startup(StartupArgs),
}

#[derive(Args, Clone, Debug)]
struct KrogArgs {
    /// The krog binary (default: target/release/krog of this workspace).
    #[arg(long)]
    krog: Option<PathBuf>,
    /// Extra environment for krog, KEY=VALUE (repeatable), e.g. KROG_SQLITE_SYNCHRONOUS=NORMAL.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Seconds to wait for krog to log that it is listening (an uncached start compiles every
    /// stored module first, which can take minutes).
    #[arg(long, default_value_t = 900)]
    start_timeout: u64,
}

#[derive(Args, Clone, Debug)]
struct LoadArgs {
    /// Target an already running krog at this base URL (e.g. http://127.0.0.1:8080) instead of
    /// starting one. Needs --admin-key; it must be able to reach the receiver on 127.0.0.1.
    #[arg(long)]
    url: Option<String>,
    /// The admin key of the krog given with --url.
    #[arg(long)]
    admin_key: Option<String>,
    /// Database for the krog processes started here. Default: a fresh SQLite file in a temp
    /// dir. A postgres:// URL must point to an EMPTY (or krog-only) database; it is not reset.
    #[arg(long)]
    database_url: Option<String>,
    /// With a postgres:// --database-url: reset `pg_stat_statements` before the load and report
    /// its top statements after it (`postgres_top_statements`; the extension must be loaded,
    /// `shared_preload_libraries = 'pg_stat_statements'`).
    #[arg(long)]
    statements: bool,
    /// Number of krog processes to start on the same (PostgreSQL) database; events are sent
    /// to them round-robin.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Subscriptions on the tenant (each gets its own receiver path).
    #[arg(long, default_value_t = 1)]
    subscriptions: usize,
    /// Transform of every subscription.
    #[arg(long, value_enum, default_value_t = Transform::None)]
    transform: Transform,
    /// Events to post.
    #[arg(long, default_value_t = 1000)]
    events: usize,
    /// Concurrent senders (each its own keep-alive HTTP/1.1 connection per node).
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds to wait for all deliveries after the first send.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// After the last expected delivery, keep listening this many ms to count duplicates.
    #[arg(long, default_value_t = 500)]
    settle_ms: u64,
    /// First run the same load (events, subscriptions, senders; no transform, one process)
    /// against the reference forwarder binary at PATH, then against krog, and add to the report
    /// the reference's figures (`reference`) and krog's relative to them (`ratio`): this machine's
    /// speed moves by 2x from hour to hour, a ratio measured in one run does not. Without PATH:
    /// target/reference-forwarder/release/reference-forwarder, built with `cargo build --release
    /// --locked --manifest-path ../shared/reference-forwarder/Cargo.toml --target-dir
    /// target/reference-forwarder`.
    #[arg(
        long,
        value_name = "PATH",
        num_args = 0..=1,
        default_missing_value = DEFAULT_REFERENCE,
    )]
    reference: Option<PathBuf>,
    #[command(flatten)]
    krog: KrogArgs,
}

#[derive(Args, Clone, Debug)]
struct StartupArgs {
    /// Distinct tenant modules to upload.
    #[arg(long, default_value_t = 200)]
    modules: usize,
    /// Concurrent uploads.
    #[arg(long, default_value_t = 2)]
    upload_concurrency: usize,
    /// Restarts per variant (cached, uncached).
    #[arg(long, default_value_t = 1)]
    repeats: usize,
    #[command(flatten)]
    krog: KrogArgs,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum Transform {
    None,
    Slack,
}

// One thread: senders and receiver take turns instead of waking each other across cores, and
// whatever the generator does not use is left to krog.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    let report = match cli.cmd {
        Some(Cmd::Load(args)) => load(args).await?,
        Some(Cmd::Startup(args)) => startup(args).await?,
        None => load(cli.load).await?,
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// krog processes

struct Node {
    child: Child,
    pid: u32,
    base: String,
    log_path: PathBuf,
    /// Log lines seen before "listening".
    startup_lines: Vec<String>,
}

fn krog_binary(args: &KrogArgs) -> Result<PathBuf> {
    if let Some(p) = &args.krog {
        return Ok(p.clone());
    }
    let candidates = [
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/krog"),
        PathBuf::from("target/release/krog"),
    ];
    for c in candidates {
        if c.is_file() {
            return Ok(c);
        }
    }
    bail!(
        "target/release/krog not found: run `cargo build --release -p krog` first, or pass --krog <path>"
    )
}

/// The master key of benchmark runs on PostgreSQL (it protects nothing: the subscriptions are the
/// benchmark's own).
const BENCH_SECRET_KEY: &str = "6b726f672062656e63686d61726b206d6173746572206b6579202d207075626c";

fn extra_env(args: &KrogArgs) -> Result<Vec<(String, String)>> {
    args.env
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| anyhow!("--env wants KEY=VALUE, got {kv:?}"))
        })
        .collect()
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ ... final byte in @..~
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if ('@'..='~').contains(&d) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Spawns `krog serve` and waits for the "krog is listening" line. Returns the node and the
/// time from spawn to that line.
async fn spawn_krog(
    bin: &Path,
    env: &[(String, String)],
    log_path: &Path,
    timeout: Duration,
) -> Result<(Node, Duration)> {
    let stdout = std::fs::File::create(log_path.with_extension("stdout"))?;
    let mut log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)?;
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let pid = child.id().context("krog has no pid")?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let mut startup_lines = Vec::new();
    let found = tokio::time::timeout(timeout, async {
        while let Some(line) = lines.next_line().await? {
            let clean = strip_ansi(&line);
            let _ = writeln!(log, "{clean}");
            if clean.contains("krog is listening")
                && let Some(rest) = clean.split("address=").nth(1)
            {
                let addr: String = rest
                    .trim_matches('"')
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                return Ok::<_, anyhow::Error>((addr, Instant::now()));
            }
            startup_lines.push(clean);
        }
        bail!("krog exited before it was listening")
    })
    .await;
    let (addr, at) = match found {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            let tail = startup_lines
                .iter()
                .rev()
                .take(20)
                .rev()
                .cloned()
                .collect::<Vec<_>>();
            bail!("{e}; last log lines:\n{}", tail.join("\n"))
        }
        Err(_) => bail!("krog did not log `krog is listening` within {timeout:?}"),
    };
    let startup = at - t0;
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(log, "{}", strip_ansi(&line));
        }
    });
    Ok((
        Node {
            child,
            pid,
            base: format!("http://{addr}"),
            log_path: log_path.to_path_buf(),
            startup_lines,
        },
        startup,
    ))
}

/// The reference forwarder's binary: `path` as given, or, when relative and not found there,
/// relative to this workspace.
fn reference_binary(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path.is_relative() {
        let in_workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(path);
        if in_workspace.is_file() {
            return Ok(in_workspace);
        }
    }
    bail!(
        "reference forwarder {} not found: build it with `cargo build --release --locked \
         --manifest-path ../shared/reference-forwarder/Cargo.toml --target-dir \
         target/reference-forwarder`, or pass --reference <path>",
        path.display()
    )
}

/// Spawns the reference forwarder and waits for its first line, `listening <port>`. Returns the
/// node (its stderr goes to `log_path`) and the time from spawn to that line.
async fn spawn_reference(
    bin: &Path,
    log_path: &Path,
    timeout: Duration,
) -> Result<(Node, Duration)> {
    let stderr = std::fs::File::create(log_path)?;
    let mut cmd = Command::new(bin);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .kill_on_drop(true);
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("spawning {}", bin.display()))?;
    let pid = child.id().context("the reference forwarder has no pid")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let port = tokio::time::timeout(timeout, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(port) = line.trim().strip_prefix("listening ") {
                return port
                    .parse::<u16>()
                    .with_context(|| format!("reference forwarder said {line:?}"));
            }
        }
        bail!("the reference forwarder exited before it was listening")
    })
    .await
    .map_err(|_| {
        anyhow!("the reference forwarder did not print `listening <port>` within {timeout:?}")
    })??;
    let startup = t0.elapsed();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((
        Node {
            child,
            pid,
            base: format!("http://127.0.0.1:{port}"),
            log_path: log_path.to_path_buf(),
            startup_lines: Vec::new(),
        },
        startup,
    ))
}

/// SIGTERM, then wait (killing after 60 s). Returns the time it took to exit.
async fn stop_krog(node: &mut Node) -> Result<Duration> {
    let t0 = Instant::now();
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(node.pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill -TERM {} failed", node.pid);
    }
    match tokio::time::timeout(Duration::from_secs(60), node.child.wait()).await {
        Ok(r) => {
            r?;
        }
        Err(_) => {
            eprintln!(
                "krog-bench: process {} did not stop in 60 s; killing",
                node.pid
            );
            node.child.start_kill()?;
            node.child.wait().await?;
        }
    }
    Ok(t0.elapsed())
}

// ---------------------------------------------------------------------------------------------
// /proc sampling

fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// utime + stime in clock ticks.
fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // after ") " the first field is state (field 3); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// utime + stime in clock ticks of each thread of `pid`, summed by thread name. A thread that
/// has exited (an idle blocking-pool thread) takes its ticks with it.
fn proc_thread_ticks(pid: u32) -> BTreeMap<String, u64> {
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().into_owned();
        let path = format!("{pid}/task/{tid}");
        let name = std::fs::read_to_string(format!("/proc/{path}/comm")).unwrap_or_default();
        if let Some(ticks) = proc_cpu_ticks(&path) {
            *by_name.entry(name.trim().to_owned()).or_insert(0) += ticks;
        }
    }
    by_name
}

/// utime + stime in clock ticks of every process named `postgres` (the server and its
/// backends, whatever their titles say).
fn postgres_cpu_ticks() -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_string_lossy().into_owned();
            if !pid.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (name.trim() == "postgres").then(|| proc_cpu_ticks(&pid))?
        })
        .sum()
}

/// With `reset`, empties `pg_stat_statements`; otherwise its ten statements of most execution
/// time since, with their calls, rows and times.
async fn postgres_statements(url: &str, reset: bool) -> Result<Value> {
    use sqlx::{Connection, Row};
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("--statements: connecting to the database")?;
    if reset {
        sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&mut conn)
            .await
            .context("--statements needs the pg_stat_statements extension")?;
        sqlx::query("SELECT pg_stat_statements_reset()")
            .execute(&mut conn)
            .await
            .context("--statements: is pg_stat_statements in shared_preload_libraries?")?;
        return Ok(Value::Null);
    }
    let rows = sqlx::query(
        "SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 160), calls, rows, \
         total_exec_time, mean_exec_time FROM pg_stat_statements \
         ORDER BY total_exec_time DESC LIMIT 10",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut out = Vec::new();
    for row in rows {
        out.push(json!({
            "query": row.try_get::<String, _>(0)?,
            "calls": row.try_get::<i64, _>(1)?,
            "rows": row.try_get::<i64, _>(2)?,
            "total_ms": round1(row.try_get::<f64, _>(3)?),
            "mean_ms": round3(row.try_get::<f64, _>(4)?),
        }));
    }
    Ok(Value::Array(out))
}

fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn mb(kb: u64) -> f64 {
    round1(kb as f64 / 1024.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

// ---------------------------------------------------------------------------------------------
// the receiver

struct Receiver {
    t0: Instant,
    prefix: String,
    events: usize,
    subs: usize,
    /// Receipts per (event, subscription).
    hits: Vec<AtomicU32>,
    /// First receipt, nanoseconds after t0, plus one (0 = not yet).
    first_rx: Vec<AtomicU64>,
    unique: AtomicUsize,
    receipts: AtomicUsize,
    unknown: AtomicUsize,
    last_rx: AtomicU64,
}

impl Receiver {
    fn record(&self, path: &str, webhook_id: Option<&str>) {
        let now = self.t0.elapsed().as_nanos() as u64;
        self.receipts.fetch_add(1, Ordering::Relaxed);
        let sub = path
            .strip_prefix("/s")
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|s| *s < self.subs);
        let ev = webhook_id
            .and_then(|id| id.strip_prefix(self.prefix.as_str()))
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|e| *e < self.events);
        let (Some(sub), Some(ev)) = (sub, ev) else {
            self.unknown.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let slot = ev * self.subs + sub;
        if self.hits[slot].fetch_add(1, Ordering::Relaxed) == 0 {
            self.first_rx[slot].store(now + 1, Ordering::Relaxed);
            self.last_rx.fetch_max(now, Ordering::Relaxed);
            self.unique.fetch_add(1, Ordering::Release);
        }
    }
}

async fn start_receiver(rx: Arc<Receiver>) -> Result<u16> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let rx = rx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let rx = rx.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        let id = req
                            .headers()
                            .get("webhook-id")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        // Read the whole body, as a real receiver would.
                        let _ = req.into_body().collect().await;
                        rx.record(&path, id.as_deref());
                        Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(port)
}

// ---------------------------------------------------------------------------------------------
// the senders

/// The part of a 202 the senders read.
#[derive(serde::Deserialize)]
struct Accepted {
    deliveries: u64,
}

type Connection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Where the senders post events on one krog node.
struct Target {
    /// host:port
    authority: String,
    path: String,
    authorization: hyper::header::HeaderValue,
}

impl Target {
    fn new(base: &str, path: &str, key: &str) -> Result<Target> {
        let authority = base
            .strip_prefix("http://")
            .with_context(|| format!("{base}: only http:// targets are supported"))?
            .trim_end_matches('/')
            .to_string();
        Ok(Target {
            authority,
            path: path.to_string(),
            authorization: format!("Bearer {key}").parse()?,
        })
    }

    /// Posts one event on this sender's connection (opened, or reopened after an error, as
    /// needed); the status and the response body.
    async fn post(&self, conn: &mut Option<Connection>, body: Bytes) -> Result<(u16, Bytes)> {
        let result = self.try_post(conn, body).await;
        if result.is_err() {
            *conn = None;
        }
        result
    }

    async fn try_post(&self, conn: &mut Option<Connection>, body: Bytes) -> Result<(u16, Bytes)> {
        if conn.as_ref().is_none_or(|c| c.is_closed()) {
            let stream = tokio::net::TcpStream::connect(&self.authority).await?;
            stream.set_nodelay(true)?;
            let (sender, driver) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(driver);
            *conn = Some(sender);
        }
        let sender = conn.as_mut().expect("connected above");
        sender.ready().await?;
        let request = Request::post(self.path.as_str())
            .header(hyper::header::HOST, self.authority.as_str())
            .header(hyper::header::AUTHORIZATION, self.authorization.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let response = tokio::time::timeout(Duration::from_secs(60), sender.send_request(request))
            .await
            .context("no answer within 60 s")??;
        let status = response.status().as_u16();
        let text = response.into_body().collect().await?.to_bytes();
        Ok((status, text))
    }
}

// ---------------------------------------------------------------------------------------------
// the API

async fn api(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> Result<Value> {
    let mut req = client.request(method.clone(), &url).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        bail!("{method} {url}: {status}: {text}");
    }
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A random admin key (krog refuses guessable ones): 32 bytes from the system's generator.
fn new_key() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("reading /dev/urandom");
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("krog_{hex}")
}

fn run_tag() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    format!("{}{}", std::process::id(), secs % 100_000_000)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------------
// load

/// What a load run measures.
enum Service {
    /// krog: started here (--nodes processes) or given with --url.
    Krog,
    /// The reference forwarder at this path: one process, no transform, no keys.
    Reference(PathBuf),
}

/// The load command: krog alone, or (with --reference) the reference forwarder first and then
/// krog, both measured by `measure`, with krog's figures relative to the reference's.
async fn load(args: LoadArgs) -> Result<Value> {
    check_load_args(&args)?;
    let Some(path) = &args.reference else {
        return measure(&args, Service::Krog).await;
    };
    let bin = reference_binary(path)?;
    if args.url.is_none() {
        // Fail before the reference run, not after it.
        krog_binary(&args.krog)?;
    }
    eprintln!("krog-bench: reference run ({})", bin.display());
    let mut reference = measure(&args, Service::Reference(bin.clone())).await?;
    reference["binary"] = json!(bin.display().to_string());
    eprintln!(
        "krog-bench: reference: {} deliveries/s, p50 {} ms; now krog",
        reference["delivered_per_s"], reference["latency_ms"]["p50"]
    );
    let mut report = measure(&args, Service::Krog).await?;
    let f = |v: &Value, k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    let (krog_lat, ref_lat) = (&report["latency_ms"], &reference["latency_ms"]);
    let ratio = json!({
        // krog's deliveries/s divided by the reference's.
        "delivered_per_s": round3(f(&report, "delivered_per_s") / f(&reference, "delivered_per_s")),
        // krog's latency minus the reference's, in ms.
        "latency_p50_ms_added": round2(f(krog_lat, "p50") - f(ref_lat, "p50")),
        "latency_p99_ms_added": round2(f(krog_lat, "p99") - f(ref_lat, "p99")),
    });
    let complete = |r: &Value| {
        r["timed_out"] == json!(false)
            && r["deliveries"] == r["expected_deliveries"]
            && r["duplicates"] == json!(0)
    };
    if !complete(&reference) || !complete(&report) {
        eprintln!(
            "krog-bench: a run timed out, lost or duplicated deliveries: the ratio compares unlike runs"
        );
    }
    report["reference"] = reference;
    report["ratio"] = ratio;
    Ok(report)
}

fn check_load_args(args: &LoadArgs) -> Result<()> {
    if args.events == 0 || args.subscriptions == 0 || args.concurrency == 0 || args.nodes == 0 {
        bail!("--events, --subscriptions, --concurrency and --nodes must be at least 1");
    }
    if args.events > 10_000_000 || args.subscriptions > 1000 || args.concurrency > 4096 {
        bail!("refusing: at most 10,000,000 events, 1000 subscriptions, 4096 senders");
    }
    if args.nodes > 1 && args.url.is_some() {
        bail!("--nodes > 1 starts its own krog processes; it cannot be combined with --url");
    }
    if args.nodes > 1
        && !args
            .database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres"))
    {
        bail!("--nodes > 1 needs --database-url postgres://… (an empty database)");
    }
    Ok(())
}

/// One load run against `service`: starts the receiver and the service, sets up a tenant and
/// subscriptions, posts the events, waits for every delivery, stops the service and reports.
/// Both the reference run and the krog run go through here, so that they measure alike.
async fn measure(args: &LoadArgs, service: Service) -> Result<Value> {
    let tag = run_tag();
    let prefix = format!("evt_bench_{tag}_");
    let rx = Arc::new(Receiver {
        t0: Instant::now(),
        prefix: prefix.clone(),
        events: args.events,
        subs: args.subscriptions,
        hits: (0..args.events * args.subscriptions)
            .map(|_| AtomicU32::new(0))
            .collect(),
        first_rx: (0..args.events * args.subscriptions)
            .map(|_| AtomicU64::new(0))
            .collect(),
        unique: AtomicUsize::new(0),
        receipts: AtomicUsize::new(0),
        unknown: AtomicUsize::new(0),
        last_rx: AtomicU64::new(0),
    });
    let rx_port = start_receiver(rx.clone()).await?;

    // krog: started here, or given.
    let tmp = tempfile::Builder::new().prefix("krog-bench-").tempdir()?;
    let mut nodes: Vec<Node> = Vec::new();
    let mut startup_ms = Vec::new();
    let (bases, admin_key) = match (&service, &args.url) {
        (Service::Reference(bin), _) => {
            let (node, took) = spawn_reference(
                bin,
                &tmp.path().join("reference.log"),
                Duration::from_secs(30),
            )
            .await?;
            startup_ms.push(round1(took.as_secs_f64() * 1000.0));
            nodes.push(node);
            // It checks no key; any will do.
            (vec![nodes[0].base.clone()], "reference".to_string())
        }
        (Service::Krog, Some(url)) => {
            let key = args.admin_key.clone().context("--url needs --admin-key")?;
            (vec![url.trim_end_matches('/').to_string()], key)
        }
        (Service::Krog, None) => {
            let bin = krog_binary(&args.krog)?;
            let key = new_key();
            let db = args
                .database_url
                .clone()
                .unwrap_or_else(|| format!("sqlite:{}", tmp.path().join("krog.db").display()));
            let mut env = vec![
                ("KROG_LISTEN".to_string(), "127.0.0.1:0".to_string()),
                ("KROG_DATABASE_URL".into(), db),
                ("KROG_ADMIN_KEY".into(), key.clone()),
                ("KROG_ALLOW_PRIVATE_DESTINATIONS".into(), "true".into()),
                ("KROG_ALLOW_HTTP".into(), "true".into()),
                // One key sends the whole load: far above any clinic's rate, yet the limiter
                // still runs (its cost is part of what is measured).
                ("KROG_API_REQUESTS_PER_SECOND".into(), "100000000".into()),
            ];
            if args.nodes > 1 || args.database_url.is_some() {
                // Keep each run's compiled artifacts apart from other runs.
                env.push((
                    "KROG_CACHE_DIR".into(),
                    tmp.path().join("krog-cache").display().to_string(),
                ));
            }
            let has_key = std::env::var_os("KROG_SECRET_KEY").is_some()
                || std::env::var_os("KROG_SECRET_KEY_FILE").is_some();
            if args.database_url.is_some() && !has_key {
                // On PostgreSQL krog makes no master key; one fixed key lets a krog-only
                // benchmark database be used again by later runs.
                env.push(("KROG_SECRET_KEY".into(), BENCH_SECRET_KEY.into()));
            }
            env.extend(extra_env(&args.krog)?);
            // Sequentially: the first node migrates the database.
            for i in 0..args.nodes {
                let (node, took) = spawn_krog(
                    &bin,
                    &env,
                    &tmp.path().join(format!("krog-{i}.log")),
                    Duration::from_secs(args.krog.start_timeout),
                )
                .await?;
                startup_ms.push(round1(took.as_secs_f64() * 1000.0));
                nodes.push(node);
            }
            (nodes.iter().map(|n| n.base.clone()).collect(), key)
        }
    };

    let setup = reqwest::Client::builder().http1_only().build()?;
    let is_reference = matches!(service, Service::Reference(_));
    if is_reference {
        api(
            &setup,
            reqwest::Method::GET,
            format!("{}/healthz", bases[0]),
            &admin_key,
            None,
        )
        .await?;
    }
    let tenant = format!("bench-{tag}");
    api(
        &setup,
        reqwest::Method::POST,
        format!("{}/v1/tenants", bases[0]),
        &admin_key,
        Some(json!({"id": tenant, "name": "krog-bench"})),
    )
    .await?;
    // The reference has no keys and no transforms (its answers to set-up are read for nothing:
    // they differ from krog's).
    let tenant_key = if is_reference {
        admin_key.clone()
    } else {
        let key = api(
            &setup,
            reqwest::Method::POST,
            format!("{}/v1/tenants/{tenant}/keys", bases[0]),
            &admin_key,
            None,
        )
        .await?;
        key["key"]
            .as_str()
            .context("no `key` in the new key")?
            .to_string()
    };
    let transform = match (is_reference, args.transform) {
        (false, Transform::Slack) => json!({"module": "slack", "config": {}}),
        (true, _) | (false, Transform::None) => Value::Null,
    };
    for s in 0..args.subscriptions {
        api(
            &setup,
            reqwest::Method::POST,
            format!("{}/v1/tenants/{tenant}/subscriptions", bases[0]),
            &admin_key,
            Some(json!({
                "url": format!("http://127.0.0.1:{rx_port}/s{s}"),
                "event_types": ["booking.created"],
                "transform": transform,
                "description": "krog-bench",
            })),
        )
        .await?;
    }

    // Sampling memory and CPU of the krog processes.
    let pids: Vec<u32> = nodes.iter().map(|n| n.pid).collect();
    let rss_idle_kb: Vec<u64> = pids
        .iter()
        .map(|p| proc_status_kb(*p, "VmRSS:").unwrap_or(0))
        .collect();
    let sampled_max: Arc<Mutex<(Vec<u64>, u64)>> = Arc::new(Mutex::new((vec![0; pids.len()], 0)));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (pids, sampled_max, sampling) = (pids.clone(), sampled_max.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let now: Vec<u64> = pids
                    .iter()
                    .map(|p| proc_status_kb(*p, "VmRSS:").unwrap_or(0))
                    .collect();
                {
                    let mut m = sampled_max.lock().unwrap();
                    for (i, v) in now.iter().enumerate() {
                        m.0[i] = m.0[i].max(*v);
                    }
                    m.1 = m.1.max(now.iter().sum());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let cpu_before: Vec<u64> = pids
        .iter()
        .map(|p| proc_cpu_ticks(&p.to_string()).unwrap_or(0))
        .collect();
    let self_cpu_before = proc_cpu_ticks("self").unwrap_or(0);
    let threads_before: Vec<_> = pids.iter().map(|p| proc_thread_ticks(*p)).collect();
    let postgres = args
        .database_url
        .as_deref()
        .filter(|u| u.starts_with("postgres") && args.url.is_none());
    if let (Some(url), true) = (postgres, args.statements) {
        postgres_statements(url, true).await?;
    }
    let postgres_cpu_before = postgres_cpu_ticks();

    // Send. Bodies are built before the clock starts, and each sender drives one plain
    // HTTP/1.1 connection per node: the load generator shares the cores with krog, so every
    // microsecond it spends is one krog does not get (`bench_cpu_ms_per_event` reports it).
    let bodies: Arc<Vec<Bytes>> = {
        let mut template: Value = serde_json::from_str(FIXTURE)?;
        let mut bodies = Vec::with_capacity(args.events);
        for i in 0..args.events {
            template["id"] = json!(format!("{prefix}{i}"));
            bodies.push(Bytes::from(serde_json::to_vec(&template)?));
        }
        Arc::new(bodies)
    };
    let sent_at: Arc<Vec<AtomicU64>> =
        Arc::new((0..args.events).map(|_| AtomicU64::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let last_ack = Arc::new(AtomicU64::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let fanned_out = Arc::new(AtomicUsize::new(0));
    let failures: Arc<Mutex<BTreeMap<String, usize>>> = Arc::default();
    let targets: Arc<Vec<Target>> = Arc::new(
        bases
            .iter()
            .map(|b| Target::new(b, &format!("/v1/tenants/{tenant}/events"), &tenant_key))
            .collect::<Result<_>>()?,
    );
    let t_first_send = rx.t0.elapsed().as_nanos() as u64;
    let mut senders = Vec::new();
    for _ in 0..args.concurrency {
        let (rx, sent_at, next, last_ack, accepted, fanned_out, failures, targets, bodies) = (
            rx.clone(),
            sent_at.clone(),
            next.clone(),
            last_ack.clone(),
            accepted.clone(),
            fanned_out.clone(),
            failures.clone(),
            targets.clone(),
            bodies.clone(),
        );
        let events = args.events;
        senders.push(tokio::spawn(async move {
            let mut connections: Vec<Option<Connection>> = targets.iter().map(|_| None).collect();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= events {
                    break;
                }
                let node = i % targets.len();
                sent_at[i].store(rx.t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let result = targets[node]
                    .post(&mut connections[node], bodies[i].clone())
                    .await;
                let outcome = match result {
                    Ok((202, text)) => {
                        let deliveries = serde_json::from_slice::<Accepted>(&text)
                            .map(|a| a.deliveries)
                            .unwrap_or(0);
                        fanned_out.fetch_add(deliveries as usize, Ordering::Relaxed);
                        accepted.fetch_add(1, Ordering::Relaxed);
                        None
                    }
                    Ok((status, text)) => Some(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&text[..text.len().min(200)])
                    )),
                    Err(e) => Some(format!("error: {e:#}")),
                };
                last_ack.fetch_max(rx.t0.elapsed().as_nanos() as u64, Ordering::Relaxed);
                if let Some(f) = outcome {
                    *failures.lock().unwrap().entry(f).or_default() += 1;
                }
            }
        }));
    }

    // Wait for all expected deliveries (M × N), bounded by --timeout.
    let expected = args.events * args.subscriptions;
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut senders_done = false;
    let mut timed_out = false;
    loop {
        if !senders_done && senders.iter().all(|s| s.is_finished()) {
            senders_done = true;
        }
        if rx.unique.load(Ordering::Acquire) >= expected {
            break;
        }
        // Everything accepted has arrived and the rest was refused: nothing more to wait for.
        if senders_done
            && rx.unique.load(Ordering::Acquire) >= fanned_out.load(Ordering::Relaxed)
            && accepted.load(Ordering::Relaxed) < args.events
        {
            break;
        }
        if Instant::now() >= deadline {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t_done = Instant::now();
    let cpu_after: Vec<u64> = pids
        .iter()
        .map(|p| proc_cpu_ticks(&p.to_string()).unwrap_or(0))
        .collect();
    let self_cpu_after = proc_cpu_ticks("self").unwrap_or(0);
    let threads_after: Vec<_> = pids.iter().map(|p| proc_thread_ticks(*p)).collect();
    let postgres_cpu_after = postgres_cpu_ticks();
    // A delivery can arrive before its sender has read the 202: let the senders finish (they
    // have nothing left to send) before counting what was accepted.
    let grace = Instant::now() + Duration::from_secs(if timed_out { 0 } else { 10 });
    for s in senders {
        let abort = s.abort_handle();
        let left = grace.saturating_duration_since(Instant::now());
        if tokio::time::timeout(left, s).await.is_err() {
            abort.abort();
        }
    }
    if !timed_out {
        tokio::time::sleep(Duration::from_millis(args.settle_ms)).await;
    }
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let _ = t_done;

    // Figures.
    let first_send = t_first_send;
    let last_rx = rx.last_rx.load(Ordering::Relaxed);
    let last_ack = last_ack.load(Ordering::Relaxed);
    let unique = rx.unique.load(Ordering::Acquire);
    let receipts = rx.receipts.load(Ordering::Relaxed);
    let mut duplicates = 0usize;
    let mut latencies = Vec::with_capacity(unique);
    for ev in 0..args.events {
        let sent = sent_at[ev].load(Ordering::Relaxed);
        for s in 0..args.subscriptions {
            let slot = ev * args.subscriptions + s;
            let hits = rx.hits[slot].load(Ordering::Relaxed) as usize;
            duplicates += hits.saturating_sub(1);
            let first = rx.first_rx[slot].load(Ordering::Relaxed);
            if first > 0 && sent > 0 {
                latencies.push((first - 1).saturating_sub(sent) as f64 / 1e6);
            }
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let accepted = accepted.load(Ordering::Relaxed);
    let secs = |a: u64, b: u64| (b.saturating_sub(a)) as f64 / 1e9;
    let tck = clk_tck();
    let cpu_s: Vec<f64> = cpu_before
        .iter()
        .zip(&cpu_after)
        .map(|(a, b)| round2((b - a) as f64 / tck))
        .collect();
    let cpu_total: f64 = cpu_s.iter().sum();
    let hwm_kb: Vec<u64> = pids
        .iter()
        .map(|p| proc_status_kb(*p, "VmHWM:").unwrap_or(0))
        .collect();
    let (rss_sampled_per_node, rss_sampled_sum) = sampled_max.lock().unwrap().clone();

    let mut report = json!({
        "settings": {
            "events": args.events,
            "subscriptions": args.subscriptions,
            "transform": format!("{:?}", args.transform).to_lowercase(),
            "concurrency": args.concurrency,
            "nodes": bases.len(),
            "database": match (&args.url, &args.database_url) {
                (Some(_), _) => "external krog".to_string(),
                (None, Some(u)) => u.split('@').next_back().unwrap_or("").to_string(),
                (None, None) => "sqlite (fresh temp file)".to_string(),
            },
            "krog_env": args.krog.env,
            "inherited_krog_env": std::env::vars().filter(|(k, _)| k.starts_with("KROG_")).map(|(k, v)| if k.contains("SECRET_KEY") { format!("{k}=(not shown)") } else { format!("{k}={v}") }).collect::<Vec<_>>(),
            "timeout_s": args.timeout,
        },
        "events": args.events,
        "accepted": accepted,
        "ingest_failures": *failures.lock().unwrap(),
        "expected_deliveries": expected,
        "deliveries": unique,
        "receipts": receipts,
        "duplicates": duplicates,
        "unknown_requests": rx.unknown.load(Ordering::Relaxed),
        "timed_out": timed_out,
        "ingest_per_s": round1(accepted as f64 / secs(first_send, last_ack)),
        "delivered_per_s": round1(unique as f64 / secs(first_send, last_rx)),
        "send_s": round2(secs(first_send, last_ack)),
        "first_send_to_last_receipt_s": round2(secs(first_send, last_rx)),
        "latency_ms": {
            "p50": round2(percentile(&latencies, 50.0)),
            "p90": round2(percentile(&latencies, 90.0)),
            "p99": round2(percentile(&latencies, 99.0)),
            "max": round2(latencies.last().copied().unwrap_or(f64::NAN)),
        },
    });
    if !nodes.is_empty() {
        report["rss_mb_max"] = json!(mb(hwm_kb.iter().sum()));
        report["rss_mb_max_per_node"] = json!(hwm_kb.iter().map(|k| mb(*k)).collect::<Vec<_>>());
        report["rss_mb_sampled_max"] = json!(mb(rss_sampled_sum));
        report["rss_mb_sampled_max_per_node"] = json!(
            rss_sampled_per_node
                .iter()
                .map(|k| mb(*k))
                .collect::<Vec<_>>()
        );
        report["rss_mb_before_load"] =
            json!(rss_idle_kb.iter().map(|k| mb(*k)).collect::<Vec<_>>());
        report["krog_cpu_s"] = json!(round2(cpu_total));
        report["krog_cpu_s_per_node"] = json!(cpu_s);
        report["krog_cpu_ms_per_delivery"] =
            json!(round3(cpu_total * 1000.0 / unique.max(1) as f64));
        // Where krog's CPU went, by thread name over all nodes (tokio-rt-worker, krog-writer, …).
        let mut by_thread: BTreeMap<String, f64> = BTreeMap::new();
        for (before, after) in threads_before.iter().zip(&threads_after) {
            for (name, ticks) in after {
                let spent = ticks.saturating_sub(before.get(name).copied().unwrap_or(0));
                *by_thread.entry(name.clone()).or_insert(0.0) += spent as f64 / tck;
            }
        }
        report["krog_cpu_ms_per_delivery_by_thread"] = json!(
            by_thread
                .into_iter()
                .filter(|(_, s)| *s > 0.0)
                .map(|(name, s)| (name, round3(s * 1000.0 / unique.max(1) as f64)))
                .collect::<BTreeMap<_, _>>()
        );
        let bench_cpu = (self_cpu_after - self_cpu_before) as f64 / tck;
        report["bench_cpu_s"] = json!(round2(bench_cpu));
        report["bench_cpu_ms_per_delivery"] =
            json!(round3(bench_cpu * 1000.0 / unique.max(1) as f64));
        report["startup_ms"] = json!(startup_ms);
    }
    if let Some(url) = postgres {
        // Every PostgreSQL process on the machine (backends, WAL writer, checkpointer, …):
        // meaningful on a machine where nothing else uses PostgreSQL during the run.
        let spent = postgres_cpu_after.saturating_sub(postgres_cpu_before) as f64 / tck;
        report["postgres_cpu_s"] = json!(round2(spent));
        report["postgres_cpu_ms_per_delivery"] =
            json!(round3(spent * 1000.0 / unique.max(1) as f64));
        if args.statements {
            report["postgres_top_statements"] = postgres_statements(url, false).await?;
        }
    }
    if bases.len() > 1 {
        report["per_node_deliveries"] =
            json!("not measured: the receiver cannot tell krog nodes apart");
        report["events_sent_per_node"] = json!(
            (0..bases.len())
                .map(|n| (0..args.events).filter(|i| i % bases.len() == n).count())
                .collect::<Vec<_>>()
        );
    }

    if is_reference {
        for node in &mut nodes {
            if let Err(e) = stop_krog(node).await {
                eprintln!("krog-bench: stopping the reference forwarder: {e:#}");
            }
            let log = std::fs::read_to_string(&node.log_path).unwrap_or_default();
            if !log.trim().is_empty() {
                eprintln!("krog-bench: the reference forwarder wrote on stderr:\n{log}");
            }
        }
        if timed_out {
            eprintln!(
                "krog-bench: reference run timed out after {} s with {unique} of {expected} deliveries",
                args.timeout
            );
        }
        return Ok(reference_report(report));
    }
    for node in &mut nodes {
        if let Err(e) = stop_krog(node).await {
            eprintln!("krog-bench: stopping krog: {e:#}");
        }
        let log = std::fs::read_to_string(&node.log_path).unwrap_or_default();
        let warnings: Vec<&str> = log
            .lines()
            .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
            .collect();
        if !warnings.is_empty() {
            eprintln!(
                "krog-bench: krog {} logged {} warnings/errors; the first: {}",
                node.pid,
                warnings.len(),
                warnings[..warnings.len().min(3)].join("\n  ")
            );
            report["krog_warnings"] =
                json!(report["krog_warnings"].as_u64().unwrap_or(0) + warnings.len() as u64);
        }
    }
    if timed_out {
        eprintln!(
            "krog-bench: timed out after {} s with {unique} of {expected} deliveries",
            args.timeout
        );
    }
    Ok(report)
}

/// The reference run's figures: those of a krog report that mean the same for the reference,
/// under the same names, except for `cpu_s` and `cpu_ms_per_delivery` (the reference process's).
fn reference_report(full: Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "events",
        "accepted",
        "ingest_failures",
        "expected_deliveries",
        "deliveries",
        "receipts",
        "duplicates",
        "unknown_requests",
        "timed_out",
        "ingest_per_s",
        "delivered_per_s",
        "send_s",
        "first_send_to_last_receipt_s",
        "latency_ms",
        "rss_mb_max",
        "bench_cpu_ms_per_delivery",
        "startup_ms",
    ] {
        out.insert(key.to_string(), full[key].clone());
    }
    out.insert("cpu_s".into(), full["krog_cpu_s"].clone());
    out.insert(
        "cpu_ms_per_delivery".into(),
        full["krog_cpu_ms_per_delivery"].clone(),
    );
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// startup

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
}

/// The component with a custom section appended: same behaviour, different bytes.
fn with_custom_section(component: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    let mut content = Vec::new();
    leb128(name.len(), &mut content);
    content.extend_from_slice(name.as_bytes());
    content.extend_from_slice(payload);
    let mut out = component.to_vec();
    out.push(0);
    leb128(content.len(), &mut out);
    out.extend_from_slice(&content);
    out
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

async fn startup(args: StartupArgs) -> Result<Value> {
    if args.modules == 0 || args.modules > 2000 || args.repeats == 0 || args.repeats > 10 {
        bail!("--modules must be 1..=2000 and --repeats 1..=10");
    }
    let bin = krog_binary(&args.krog)?;
    let tmp = tempfile::Builder::new()
        .prefix("krog-bench-startup-")
        .tempdir()?;
    let db_file = tmp.path().join("krog.db");
    let cache_dir = tmp.path().join("krog-cache");
    let admin_key = new_key();
    let mut env = vec![
        ("KROG_LISTEN".to_string(), "127.0.0.1:0".to_string()),
        (
            "KROG_DATABASE_URL".into(),
            format!("sqlite:{}", db_file.display()),
        ),
        ("KROG_ADMIN_KEY".into(), admin_key.clone()),
    ];
    env.extend(extra_env(&args.krog)?);
    let start_timeout = Duration::from_secs(args.krog.start_timeout);
    let log = |name: &str| tmp.path().join(format!("{name}.log"));

    // First start: fresh database, builtins compiled.
    let (mut node, first_start) = spawn_krog(&bin, &env, &log("first"), start_timeout).await?;
    let client = reqwest::Client::builder().http1_only().build()?;
    let base = node.base.clone();
    api(
        &client,
        reqwest::Method::POST,
        format!("{base}/v1/tenants"),
        &admin_key,
        Some(json!({"id": "bench", "name": "krog-bench startup"})),
    )
    .await?;
    let resp = client
        .get(format!("{base}/v1/modules/slack/versions/1/wasm"))
        .bearer_auth(&admin_key)
        .send()
        .await?;
    if !resp.status().is_success() {
        bail!("GET /v1/modules/slack/versions/1/wasm: {}", resp.status());
    }
    let slack = resp.bytes().await?.to_vec();

    // Upload N distinct copies.
    let t_upload = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let upload_ms: Arc<Mutex<Vec<f64>>> = Arc::default();
    let mut tasks = Vec::new();
    for _ in 0..args.upload_concurrency.max(1) {
        let (client, next, upload_ms, slack, base, key) = (
            client.clone(),
            next.clone(),
            upload_ms.clone(),
            slack.clone(),
            base.clone(),
            admin_key.clone(),
        );
        let n = args.modules;
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<_, anyhow::Error>(());
                }
                let bytes =
                    with_custom_section(&slack, "krog-bench", format!("copy {i}").as_bytes());
                let t = Instant::now();
                let resp = client
                    .put(format!("{base}/v1/tenants/bench/modules/m{i}"))
                    .bearer_auth(&key)
                    .header("content-type", "application/wasm")
                    .body(bytes)
                    .send()
                    .await?;
                let status = resp.status();
                if !status.is_success() {
                    bail!(
                        "upload m{i}: {status}: {}",
                        resp.text().await.unwrap_or_default()
                    );
                }
                upload_ms
                    .lock()
                    .unwrap()
                    .push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let upload_s = t_upload.elapsed().as_secs_f64();
    eprintln!(
        "krog-bench: uploaded {} modules in {upload_s:.1} s",
        args.modules
    );
    let mut per_upload = upload_ms.lock().unwrap().clone();
    per_upload.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let rss_after_upload = proc_status_kb(node.pid, "VmHWM:").unwrap_or(0);
    // Now, not the peak: compiling two modules at a time peaks far above what is kept.
    let rss_now_after_upload = proc_status_kb(node.pid, "VmRSS:").unwrap_or(0);
    let stop_after_upload = stop_krog(&mut node).await?;
    let cache_mb = dir_size(&cache_dir) as f64 / 1048576.0;
    let cache_files = std::fs::read_dir(&cache_dir)
        .map(|d| d.count())
        .unwrap_or(0);

    let warm_line = |n: &Node| {
        n.startup_lines
            .iter()
            .find(|l| l.contains("plugin modules ready"))
            .cloned()
            .unwrap_or_default()
    };

    // Restarts: cached, then uncached (cache dir deleted before each), alternating.
    let mut cached = Vec::new();
    let mut uncached = Vec::new();
    let mut lines = BTreeMap::new();
    let mut rss_cached = Vec::new();
    let mut rss_uncached = Vec::new();
    for r in 0..args.repeats {
        let (mut n, took) =
            spawn_krog(&bin, &env, &log(&format!("cached-{r}")), start_timeout).await?;
        cached.push(round1(took.as_secs_f64() * 1000.0));
        eprintln!(
            "krog-bench: cached restart {r}: {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        rss_cached.push(mb(proc_status_kb(n.pid, "VmHWM:").unwrap_or(0)));
        lines.insert(format!("cached-{r}"), warm_line(&n));
        stop_krog(&mut n).await?;

        std::fs::remove_dir_all(&cache_dir)
            .with_context(|| format!("deleting {}", cache_dir.display()))?;
        let (mut n, took) =
            spawn_krog(&bin, &env, &log(&format!("uncached-{r}")), start_timeout).await?;
        uncached.push(round1(took.as_secs_f64() * 1000.0));
        eprintln!(
            "krog-bench: uncached restart {r}: {:.1} ms",
            took.as_secs_f64() * 1000.0
        );
        rss_uncached.push(mb(proc_status_kb(n.pid, "VmHWM:").unwrap_or(0)));
        lines.insert(format!("uncached-{r}"), warm_line(&n));
        stop_krog(&mut n).await?;
    }

    Ok(json!({
        "modules": args.modules,
        "module_bytes": slack.len(),
        "first_start_empty_db_ms": round1(first_start.as_secs_f64() * 1000.0),
        "upload_s": round2(upload_s),
        "upload_concurrency": args.upload_concurrency,
        "upload_ms": {
            "p50": round1(percentile(&per_upload, 50.0)),
            "p90": round1(percentile(&per_upload, 90.0)),
            "max": round1(per_upload.last().copied().unwrap_or(f64::NAN)),
        },
        "rss_mb_max_after_upload": mb(rss_after_upload),
        "rss_mb_after_upload": mb(rss_now_after_upload),
        "stop_after_upload_ms": round1(stop_after_upload.as_secs_f64() * 1000.0),
        "cache_dir_mb": round1(cache_mb),
        "cache_dir_entries": cache_files,
        "db_mb": round1(std::fs::metadata(&db_file).map(|m| m.len()).unwrap_or(0) as f64 / 1048576.0),
        "restart_cached_ms": cached,
        "restart_uncached_ms": uncached,
        "rss_mb_max_cached": rss_cached,
        "rss_mb_max_uncached": rss_uncached,
        "warm_log_lines": lines,
        "krog_env": args.krog.env,
    }))
}
