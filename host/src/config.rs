//! Configuration: defaults, an optional TOML file, then `KROG_*` environment variables, in
//! that order of precedence (the environment wins). Every setting is listed in the README.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::runtime::Limits;

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the HTTP API listens; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// Connections each node keeps to PostgreSQL for everything but the group commits (which
    /// have their own): claims, reads, the API.
    pub database_pool: u32,
    /// An admin key to accept (stored hashed). Without it a first start prints a new one.
    pub admin_key: Option<crate::secrets::SecretString>,
    /// Accept a guessable `admin_key` (local development only).
    pub allow_weak_admin_key: bool,
    /// Delays before the 2nd, 3rd, … attempt; its length + 1 is the number of attempts.
    pub retry_schedule: Vec<Duration>,
    /// A subscription whose every delivery has failed this long, with at least one delivery
    /// failed for good, is stopped (`disabled_reason: "failing"`).
    pub disable_after: Duration,
    /// Permit loopback, private and other special destination addresses (development, tests).
    pub allow_private_destinations: bool,
    /// Permit plain `http://` subscription URLs.
    pub allow_http: bool,
    /// The largest request body the API accepts (events, subscriptions). Module uploads use
    /// the plugin module size limit instead.
    pub max_body_bytes: usize,
    /// Time allowed for a subscriber to answer.
    pub delivery_timeout: Duration,
    /// Deliveries in flight at once.
    pub workers: usize,
    /// Fresh deliveries handed from ingest to the dispatcher at once; beyond it, ingest gives
    /// their claims back to the scheduler rather than wait.
    pub queue_capacity: usize,
    /// How long a claimed delivery belongs to this node before another may take it.
    pub claim_lease: Duration,
    /// Longest sleep of the scheduler between looks at the database for due work.
    pub poll_interval: Duration,
    /// How long a rotated-out secret keeps signing.
    pub secret_overlap: Duration,
    /// How long event payloads, transformed bodies and response excerpts are kept (counted
    /// from when the event was received); a tenant may set its own.
    pub retention: Duration,
    /// The pause between two passes of the retention task.
    pub retention_interval: Duration,
    /// How long keys, tenants and subscriptions stay cached in memory. Changes through this
    /// node apply at once; this bounds how long another node's changes go unseen.
    pub directory_ttl: Duration,
    /// Events one plugin instance may transform before it is thrown away (always after a
    /// failure; only ever for one subscription and module version). 1: a fresh instance per
    /// event.
    pub plugin_instance_reuse: usize,
    /// Compiled plugin modules kept in memory, least recently used evicted first (an evicted
    /// one is reloaded from its artifact on disk when next needed).
    pub plugin_cache_modules: usize,
    /// The built-in catalog modules installed at start (`None`: all of them). Leaving out the
    /// Python `reminder` saves its compile (seconds) at a first start.
    pub builtin_modules: Option<Vec<String>>,
    /// Compiled plugin artifacts (content addressed). Default: `krog-cache` next to a SQLite
    /// database, or the system cache directory for PostgreSQL.
    pub cache_dir: Option<PathBuf>,
    /// SQLite `synchronous`: FULL (default; a 202 survives power loss) or NORMAL (survives a
    /// killed process, faster).
    pub sqlite_synchronous: String,
    /// Per-call plugin limits.
    pub limits: Limits,
    /// Deliveries of one subscription in flight at once: a slow endpoint holds at most this
    /// many workers.
    pub max_in_flight_per_subscription: usize,
    /// Deliveries of one tenant in flight at once, over all its subscriptions.
    pub max_in_flight_per_tenant: usize,
    /// Plugin calls of one tenant running at once on the plugin threads.
    pub plugin_calls_per_tenant: usize,
    /// Dry runs of one tenant running at once (more answer 429).
    pub dry_runs_per_tenant: usize,
    /// Subscriptions a tenant may have.
    pub max_subscriptions_per_tenant: usize,
    /// Secrets that sign at once for one subscription (the current one and rotated-out ones
    /// still in their overlap).
    pub max_live_secrets: usize,
    /// Modules a tenant may have.
    pub max_modules_per_tenant: usize,
    /// Versions one module may have.
    pub max_versions_per_module: usize,
    /// API requests per second one key may make (a burst of twice as many is allowed); 0: no
    /// limit.
    pub api_requests_per_second: u32,
    /// How long a client has to send a request's headers (slow clients are cut off).
    pub header_read_timeout: Duration,
    /// Connections the API serves at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a shutdown waits for open requests before closing them.
    pub shutdown_timeout: Duration,
    /// The program that compiles plugin modules in a child process
    /// ([`crate::runtime::RuntimeConfig::compiler`]). Not a setting: the `krog` binary sets it
    /// to itself; `None` (the library's default, as in tests that start the app in-process)
    /// compiles in this process.
    pub compiler: Option<PathBuf>,
    /// The key of the MACs on compiled artifacts. Not a setting: `None` (always, for the
    /// binary) takes the installation's key from the database, which every node shares; tests
    /// that start many apps on many databases set one key so that they can share one cache.
    pub artifact_cache_key: Option<[u8; 32]>,
    /// The master key signing secrets are encrypted under (32 bytes, hex or base64).
    pub secret_key: Option<crate::secrets::SecretString>,
    /// A file holding the master key; default `krog.key` next to a SQLite database.
    pub secret_key_file: Option<PathBuf>,
    /// The master key before a rotation, so rows not yet re-encrypted still decrypt.
    pub secret_key_previous: Option<crate::secrets::SecretString>,
    /// A file holding the previous master key.
    pub secret_key_previous_file: Option<PathBuf>,
    /// Where people reach krog (`https://krog.example.dk`): the base of console login links;
    /// `https` makes the console's cookie `Secure`. `None`: `http://` and the bound address.
    pub public_url: Option<String>,
    /// How long a console session lasts after its login link was used.
    pub console_session: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite:krog.db".into(),
            database_pool: 16,
            admin_key: None,
            allow_weak_admin_key: false,
            retry_schedule: parse_schedule("5s,5m,30m,2h,5h,10h,10h").expect("valid default"),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            allow_private_destinations: false,
            allow_http: false,
            max_body_bytes: 1024 * 1024,
            delivery_timeout: Duration::from_secs(15),
            workers: 64,
            queue_capacity: 512,
            claim_lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(1),
            secret_overlap: Duration::from_secs(24 * 3600),
            retention: Duration::from_secs(30 * 24 * 3600),
            retention_interval: Duration::from_secs(600),
            directory_ttl: Duration::from_secs(1),
            plugin_instance_reuse: 256,
            plugin_cache_modules: crate::runtime::DEFAULT_CACHED_MODULES,
            builtin_modules: None,
            cache_dir: None,
            sqlite_synchronous: "FULL".into(),
            limits: Limits::default(),
            max_in_flight_per_subscription: 32,
            max_in_flight_per_tenant: 48,
            plugin_calls_per_tenant: std::thread::available_parallelism()
                .map_or(1, |n| n.get().saturating_sub(1).max(1)),
            dry_runs_per_tenant: 2,
            max_subscriptions_per_tenant: 100,
            max_live_secrets: 5,
            max_modules_per_tenant: 50,
            max_versions_per_module: 100,
            api_requests_per_second: 1000,
            header_read_timeout: Duration::from_secs(10),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(30),
            compiler: None,
            artifact_cache_key: None,
            secret_key: None,
            secret_key_file: None,
            secret_key_previous: None,
            secret_key_previous_file: None,
            public_url: None,
            console_session: Duration::from_secs(8 * 3600),
        }
    }
}

/// The TOML file's shape: the environment variable names without `KROG_`, in lower case.
/// One setting: its name (`KROG_` + name in the environment, the name in lower case in the
/// file), what it does, how a value is read into a [`Config`], and how a config's value reads.
/// [`SETTINGS`] lists every one; loading, `krog serve --help` and the README's table (a test
/// compares them) all come from it.
pub struct Setting {
    /// The name without `KROG_`.
    pub name: &'static str,
    /// What it does, for `krog serve --help` and the README.
    pub about: &'static str,
    /// A secret: its value is never shown, not even in an error.
    pub secret: bool,
    set: fn(&mut Config, &str) -> anyhow::Result<()>,
    show: fn(&Config) -> String,
}

impl Setting {
    /// The value in `config`, as it would be written (secrets are never shown).
    pub fn show(&self, config: &Config) -> String {
        (self.show)(config)
    }
}

/// `setting!(NAME, "about", |config, value| set, |config| show)`; `setting!(secret NAME, …)`
/// for a secret.
macro_rules! setting {
    (secret $name:literal, $about:literal, |$c:ident, $v:ident| $set:expr $(,)?) => {
        Setting {
            name: $name,
            about: $about,
            secret: true,
            set: |$c, $v| {
                $set;
                Ok(())
            },
            show: |_| "—".to_owned(),
        }
    };
    ($name:literal, $about:literal, |$c:ident, $v:ident| $set:expr, |$d:ident| $show:expr $(,)?) => {
        Setting {
            name: $name,
            about: $about,
            secret: false,
            set: |$c, $v| {
                $set;
                Ok(())
            },
            show: |$d| $show,
        }
    };
}

/// Every setting, in the order `krog serve --help` and the README list them.
pub const SETTINGS: &[Setting] = &[
    setting!(
        "LISTEN",
        "address of the API; `127.0.0.1:0` picks a free port (logged)",
        |c, v| c.listen = v
            .parse()
            .context("expected an address such as 127.0.0.1:8080")?,
        |c| c.listen.to_string()
    ),
    setting!(
        "DATABASE_URL",
        "`sqlite:<file>` or `postgres://user@host/db`",
        |c, v| c.database_url = v.to_owned(),
        |c| c.database_url.clone()
    ),
    setting!(
        "DATABASE_POOL",
        "connections each node keeps to PostgreSQL besides its two group commits' (claims, reads, the API); N nodes hold N × (this + 3), counting the one listening for other nodes",
        |c, v| c.database_pool = number::<u32>(v)?.max(1),
        |c| c.database_pool.to_string()
    ),
    setting!(secret "ADMIN_KEY", "an admin key to accept (stored hashed; at least 128 bits of randomness, e.g. `krog_$(openssl rand -hex 32)`); without it, a first start prints a new one once",
        |c, v| c.admin_key = Some(v.to_owned()).filter(|k| !k.is_empty()).map(Into::into)),
    setting!(
        "ALLOW_WEAK_ADMIN_KEY",
        "accept a guessable `KROG_ADMIN_KEY` (local development only)",
        |c, v| c.allow_weak_admin_key = boolean(v)?,
        |c| c.allow_weak_admin_key.to_string()
    ),
    setting!(
        "RETRY_SCHEDULE",
        "delays before each retry (±20 % jitter; `Retry-After` honoured)",
        |c, v| c.retry_schedule = parse_schedule(v)?,
        |c| c
            .retry_schedule
            .iter()
            .map(|d| show_duration(*d))
            .collect::<Vec<_>>()
            .join(",")
    ),
    setting!(
        "DISABLE_AFTER",
        "a subscription whose every delivery has failed this long, with at least one delivery failed after its last retry, is stopped (`disabled_reason: \"failing\"`, and a `krog.subscription.disabled` event); `POST …/subscriptions/{id}/enable` starts it again",
        |c, v| c.disable_after = duration(v)?,
        |c| show_duration(c.disable_after)
    ),
    setting!(
        "ALLOW_PRIVATE_DESTINATIONS",
        "permit loopback/private/link-local targets (development, tests)",
        |c, v| c.allow_private_destinations = boolean(v)?,
        |c| c.allow_private_destinations.to_string()
    ),
    setting!(
        "ALLOW_HTTP",
        "permit plain `http://` subscription URLs",
        |c, v| c.allow_http = boolean(v)?,
        |c| c.allow_http.to_string()
    ),
    setting!(
        "MAX_BODY_BYTES",
        "largest API request body (413 above)",
        |c, v| c.max_body_bytes = number(v)?,
        |c| c.max_body_bytes.to_string()
    ),
    setting!(
        "DELIVERY_TIMEOUT",
        "time a subscriber has to answer",
        |c, v| c.delivery_timeout = duration(v)?,
        |c| show_duration(c.delivery_timeout)
    ),
    setting!(
        "WORKERS",
        "deliveries in flight at once",
        |c, v| c.workers = number::<usize>(v)?.max(1),
        |c| c.workers.to_string()
    ),
    setting!(
        "QUEUE_CAPACITY",
        "fresh deliveries handed from ingest to the dispatcher at once; when it is full, ingest gives their claims back to the scheduler instead of waiting (the dispatcher itself holds up to 65,536 waiting deliveries)",
        |c, v| c.queue_capacity = number::<usize>(v)?.max(1),
        |c| c.queue_capacity.to_string()
    ),
    setting!(
        "CLAIM_LEASE",
        "how long a node owns claimed work before another node may take it",
        |c, v| c.claim_lease = duration(v)?,
        |c| show_duration(c.claim_lease)
    ),
    setting!(
        "POLL_INTERVAL",
        "longest sleep of the retry scheduler",
        |c, v| c.poll_interval = duration(v)?,
        |c| show_duration(c.poll_interval)
    ),
    setting!(
        "SECRET_OVERLAP",
        "how long a rotated-out secret keeps signing; expired secrets are deleted within a quarter of it (at most an hour, at least a second)",
        |c, v| c.secret_overlap = duration(v)?,
        |c| show_duration(c.secret_overlap)
    ),
    setting!(secret "SECRET_KEY", "the master key signing secrets are stored encrypted under: 32 bytes, as 64 hex digits or base64 (see Master key below)",
        |c, v| c.secret_key = Some(v.to_owned()).filter(|k| !k.is_empty()).map(Into::into)),
    setting!(
        "SECRET_KEY_FILE",
        "a file holding the master key; on SQLite a first start makes it (mode 0600). PostgreSQL needs this or `KROG_SECRET_KEY`, the same on every node",
        |c, v| c.secret_key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty()),
        |c| c
            .secret_key_file
            .as_ref()
            .map_or("`krog.key` next to the SQLite file".into(), |p| p
                .display()
                .to_string())
    ),
    setting!(secret "SECRET_KEY_PREVIOUS", "the master key before a rotation: secrets still under it keep decrypting until `krog secrets rotate-master-key` has moved them",
        |c, v| c.secret_key_previous = Some(v.to_owned()).filter(|k| !k.is_empty()).map(Into::into)),
    setting!(
        "SECRET_KEY_PREVIOUS_FILE",
        "a file holding the previous master key",
        |c, v| c.secret_key_previous_file =
            Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty()),
        |c| c
            .secret_key_previous_file
            .as_ref()
            .map_or("—".into(), |p| p.display().to_string())
    ),
    setting!(
        "RETENTION",
        "how long event payloads, transformed bodies (and their headers) and attempt answer excerpts are kept, counted from when the event was received; a tenant may set its own (`retention` on the tenant). Pending work keeps what it needs until it settles",
        |c, v| c.retention = {
            let retention = duration(v)?;
            anyhow::ensure!(retention >= Duration::from_secs(1), "must be at least 1s");
            retention
        },
        |c| show_duration(c.retention)
    ),
    setting!(
        "RETENTION_INTERVAL",
        "pause between two passes of the retention task (which deletes in transactions of 500 rows with a pause between them)",
        |c, v| c.retention_interval = duration(v)?.max(Duration::from_millis(10)),
        |c| show_duration(c.retention_interval)
    ),
    setting!(
        "DIRECTORY_TTL",
        "how long keys, tenants and subscriptions stay cached in memory; changes through a node apply there at once, other nodes see them within this time",
        |c, v| c.directory_ttl = duration(v)?,
        |c| show_duration(c.directory_ttl)
    ),
    setting!(
        "PLUGIN_INSTANCE_REUSE",
        "events one plugin instance may transform (same subscription and module version only; thrown away after any failure); `1` = a fresh instance per event",
        |c, v| c.plugin_instance_reuse = number::<usize>(v)?.max(1),
        |c| c.plugin_instance_reuse.to_string()
    ),
    setting!(
        "PLUGIN_CACHE_MODULES",
        "compiled modules kept in memory (~2.5 MB each for a Rust plugin, ~6 MB JavaScript, ~40 MB Python), least recently used evicted first; an evicted one is reloaded from its precompiled artifact in `KROG_CACHE_DIR`, without compiling",
        |c, v| c.plugin_cache_modules = number::<usize>(v)?.max(1),
        |c| c.plugin_cache_modules.to_string()
    ),
    setting!(
        "BUILTIN_MODULES",
        "the built-in catalog modules installed at start, e.g. `slack,sheets,filter,redact,teams` (leaving out the Python `reminder` saves its compile, some seconds, at a first start)",
        |c, v| c.builtin_modules = Some(parse_builtin_modules(v)?),
        |c| c
            .builtin_modules
            .as_ref()
            .map_or("all".into(), |names| names.join(","))
    ),
    setting!(
        "CACHE_DIR",
        "compiled plugin artifacts (content addressed); created private (0700). Since krog runs the native code in them, a dir owned by another user, or one other users may write to, is not used (a warning says so; modules then compile in the process, every start)",
        |c, v| c.cache_dir = Some(PathBuf::from(v)),
        |c| {
            c.cache_dir.as_ref().map_or("`krog-cache` next to the SQLite file (for PostgreSQL: `$XDG_CACHE_HOME/krog`, else `~/.cache/krog`)".into(), |p| p.display().to_string())
        }
    ),
    setting!(
        "SQLITE_SYNCHRONOUS",
        "`FULL`: a 202 survives power loss; `NORMAL`: survives a killed process, faster",
        |c, v| c.sqlite_synchronous = match v.to_ascii_uppercase().as_str() {
            s @ ("FULL" | "NORMAL") => s.to_owned(),
            _ => anyhow::bail!("expected FULL or NORMAL"),
        },
        |c| c.sqlite_synchronous.clone()
    ),
    setting!(
        "PLUGIN_FUEL",
        "instructions a plugin call may run (about; wasmtime's fuel)",
        |c, v| c.limits.fuel = number(v)?,
        |c| c.limits.fuel.to_string()
    ),
    setting!(
        "PLUGIN_TIMEOUT",
        "wall-clock limit of one plugin call",
        |c, v| c.limits.timeout = duration(v)?,
        |c| show_duration(c.limits.timeout)
    ),
    setting!(
        "PLUGIN_MEMORY_BYTES",
        "plugin memory limit (64 MiB)",
        |c, v| c.limits.memory_bytes = number(v)?,
        |c| c.limits.memory_bytes.to_string()
    ),
    setting!(
        "PLUGIN_MAX_OUTPUT_BYTES",
        "largest body a plugin may return",
        |c, v| c.limits.max_output_bytes = number(v)?,
        |c| c.limits.max_output_bytes.to_string()
    ),
    setting!(
        "PLUGIN_MAX_LOG_LINES",
        "log lines kept per call (each up to 1 KiB)",
        |c, v| c.limits.max_log_lines = number(v)?,
        |c| c.limits.max_log_lines.to_string()
    ),
    setting!(
        "PLUGIN_MAX_MODULE_BYTES",
        "largest module accepted at upload (32 MiB)",
        |c, v| c.limits.max_module_bytes = number(v)?,
        |c| c.limits.max_module_bytes.to_string()
    ),
    setting!(
        "MAX_IN_FLIGHT_PER_SUBSCRIPTION",
        "deliveries of one subscription in flight at once: a slow endpoint holds at most this many workers, the rest of its backlog waits its turn",
        |c, v| c.max_in_flight_per_subscription = number::<usize>(v)?.max(1),
        |c| c.max_in_flight_per_subscription.to_string()
    ),
    setting!(
        "MAX_IN_FLIGHT_PER_TENANT",
        "deliveries of one tenant in flight at once, over all its subscriptions",
        |c, v| c.max_in_flight_per_tenant = number::<usize>(v)?.max(1),
        |c| c.max_in_flight_per_tenant.to_string()
    ),
    setting!(
        "PLUGIN_CALLS_PER_TENANT",
        "plugin calls of one tenant on the plugin threads at once (default: cores − 1, at least 1)",
        |c, v| c.plugin_calls_per_tenant = number::<usize>(v)?.max(1),
        |c| c.plugin_calls_per_tenant.to_string()
    ),
    setting!(
        "DRY_RUNS_PER_TENANT",
        "dry runs one tenant (or the admin) runs at once; more answer `429` with `Retry-After`",
        |c, v| c.dry_runs_per_tenant = number::<usize>(v)?.max(1),
        |c| c.dry_runs_per_tenant.to_string()
    ),
    setting!(
        "MAX_SUBSCRIPTIONS_PER_TENANT",
        "subscriptions per tenant (`409 quota_exceeded` above)",
        |c, v| c.max_subscriptions_per_tenant = number(v)?,
        |c| c.max_subscriptions_per_tenant.to_string()
    ),
    setting!(
        "MAX_LIVE_SECRETS",
        "secrets that sign at once for one subscription (current + rotated-out ones in their overlap); expired ones are deleted at the next rotation and in the background",
        |c, v| c.max_live_secrets = number::<usize>(v)?.max(1),
        |c| c.max_live_secrets.to_string()
    ),
    setting!(
        "MAX_MODULES_PER_TENANT",
        "modules per tenant",
        |c, v| c.max_modules_per_tenant = number(v)?,
        |c| c.max_modules_per_tenant.to_string()
    ),
    setting!(
        "MAX_VERSIONS_PER_MODULE",
        "versions per tenant module",
        |c, v| c.max_versions_per_module = number::<usize>(v)?.max(1),
        |c| c.max_versions_per_module.to_string()
    ),
    setting!(
        "API_REQUESTS_PER_SECOND",
        "API requests per second per key, bursts of twice that (`429` with `Retry-After` above); `0`: no limit",
        |c, v| c.api_requests_per_second = number(v)?,
        |c| c.api_requests_per_second.to_string()
    ),
    setting!(
        "HEADER_READ_TIMEOUT",
        "time a client has to send a request's headers",
        |c, v| c.header_read_timeout = duration(v)?.max(Duration::from_millis(1)),
        |c| show_duration(c.header_read_timeout)
    ),
    setting!(
        "MAX_CONNECTIONS",
        "API connections served at once",
        |c, v| c.max_connections = number::<usize>(v)?.max(1),
        |c| c.max_connections.to_string()
    ),
    setting!(
        "SHUTDOWN_TIMEOUT",
        "how long a shutdown waits for open requests",
        |c, v| c.shutdown_timeout = duration(v)?,
        |c| show_duration(c.shutdown_timeout)
    ),
    setting!(
        "PUBLIC_URL",
        "where people reach krog, e.g. `https://krog.example.dk`: the base of console login links (default: `http://` and the listen address); `https` makes the console's cookie `Secure`",
        |c, v| c.public_url = public_url(v)?,
        |c| c
            .public_url
            .clone()
            .unwrap_or_else(|| "`http://` and the listen address".into())
    ),
    setting!(
        "CONSOLE_SESSION",
        "how long a console session lasts after its login link was used",
        |c, v| c.console_session = duration(v)?.max(Duration::from_secs(60)),
        |c| show_duration(c.console_session)
    ),
];

/// A public URL: `http(s)://host[:port][/path]`, kept without a trailing slash; empty: none.
fn public_url(value: &str) -> anyhow::Result<Option<String>> {
    if value.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(value).context("expected a URL such as https://krog.example.dk")?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        anyhow::bail!(
            "expected an http:// or https:// URL with a host, such as https://krog.example.dk"
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("expected a URL without ?query or #fragment");
    }
    Ok(Some(url.as_str().trim_end_matches('/').to_owned()))
}

impl Config {
    /// Defaults, then the TOML file (`file`, else `KROG_CONFIG`), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let path = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("KROG_CONFIG").map(PathBuf::from));
        let from_file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => toml::Table::new(),
        };
        let mut config = Config::default();
        config.apply(from_file, |name| std::env::var(format!("KROG_{name}")).ok())?;
        Ok(config)
    }

    /// Applies the file's values, then the environment's (which win), setting by setting; an
    /// error names the setting, so a typo points at itself.
    fn apply(
        &mut self,
        file: toml::Table,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<()> {
        if let Some(unknown) = file
            .keys()
            .find(|key| !SETTINGS.iter().any(|s| s.name.eq_ignore_ascii_case(key)))
        {
            anyhow::bail!(
                "config file: unknown setting {unknown:?}; `krog serve --help` lists them"
            );
        }
        for setting in SETTINGS {
            let from_file = file
                .get(&setting.name.to_ascii_lowercase())
                .map(|value| match value {
                    toml::Value::String(text) => Ok(text.clone()),
                    toml::Value::Integer(_) | toml::Value::Boolean(_) | toml::Value::Float(_) => {
                        Ok(value.to_string())
                    }
                    other => Err(anyhow::anyhow!(
                        "config file: {} must be a string, number or boolean, not {}",
                        setting.name.to_ascii_lowercase(),
                        other.type_str()
                    )),
                })
                .transpose()?;
            if let Some(value) = env(setting.name).or(from_file) {
                (setting.set)(self, value.trim()).with_context(|| {
                    if setting.secret {
                        format!("KROG_{}", setting.name)
                    } else {
                        format!("KROG_{}={value:?}", setting.name)
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The settings table `krog serve --help` prints: each setting, its default, what it does.
    pub fn settings_help() -> String {
        let defaults = Config::default();
        let mut out = String::from(
            "Settings (environment variables; or in the TOML file of --config-file, in lower case \
             without KROG_; the environment wins):\n",
        );
        for setting in SETTINGS {
            out.push_str(&format!(
                "\n  KROG_{}  [default: {}]\n      {}\n",
                setting.name,
                setting.show(&defaults),
                setting.about.replace('`', "")
            ));
        }
        out.push_str("\n  RUST_LOG  [default: info]\n      log filter\n");
        out
    }

    /// Where compiled plugin artifacts are kept.
    pub fn resolved_cache_dir(&self) -> PathBuf {
        if let Some(dir) = &self.cache_dir {
            return dir.clone();
        }
        let sqlite_file = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .map(|rest| rest.split('?').next().unwrap_or(rest))
            .filter(|path| !path.is_empty() && !path.contains(":memory:"));
        match sqlite_file {
            Some(file) => Path::new(file)
                .parent()
                .map(|p| p.join("krog-cache"))
                .unwrap_or_else(|| PathBuf::from("krog-cache")),
            // Not the shared temp dir, where another user could create it first.
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
                .map(|base| base.join("krog"))
                .unwrap_or_else(|| PathBuf::from("krog-cache")),
        }
    }
}

/// Parses `5s,5m,30m,2h` (also `250ms`) into durations.
pub fn parse_schedule(text: &str) -> anyhow::Result<Vec<Duration>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_duration(s).with_context(|| format!("retry schedule entry {s:?}")))
        .collect()
}

fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    Ok(humantime::parse_duration(text.trim())?)
}

fn duration(text: &str) -> anyhow::Result<Duration> {
    parse_duration(text).context("expected a duration such as 250ms, 15s, 5m, 2h or 30d")
}

/// A duration in its largest whole unit (`30d`, `36h`, `100ms`), as the settings are written.
fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms > 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

fn number<T: std::str::FromStr>(text: &str) -> anyhow::Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse::<T>().context("expected a whole number")
}

fn boolean(text: &str) -> anyhow::Result<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => anyhow::bail!("expected true or false, got {other:?}"),
    }
}

/// `slack,sheets`: names of built-in catalog modules, each checked against the catalog.
fn parse_builtin_modules(text: &str) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    for name in &names {
        anyhow::ensure!(
            crate::runtime::catalog::builtin(name).is_some(),
            "KROG_BUILTIN_MODULES names {name:?}, which is not a built-in module (there are: {})",
            crate::runtime::catalog::builtins()
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file() {
        let mut config = Config::default();
        let file: toml::Table = toml::from_str("retry_schedule = \"1s\"\nworkers = 3").unwrap();
        config
            .apply(file, |name| {
                (name == "RETRY_SCHEDULE").then(|| "10ms,2s".into())
            })
            .unwrap();
        assert_eq!(
            config.retry_schedule,
            [Duration::from_millis(10), Duration::from_secs(2)]
        );
        assert_eq!(config.workers, 3);
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let mut config = Config::default();
        let err = config
            .apply(toml::Table::new(), |name| {
                (name == "WORKERS").then(|| "many".into())
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("KROG_WORKERS"), "{err:#}");
    }

    #[test]
    fn the_readme_table_lists_exactly_the_settings_with_their_defaults() {
        let readme =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
                .unwrap();
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("README has a Configuration section");
        let rows: Vec<(String, String)> = section
            .lines()
            .take_while(|line| !line.starts_with("## "))
            .filter_map(|line| {
                let cells: Vec<&str> = line.split(" | ").collect();
                let name = cells.first()?.strip_prefix("| `KROG_")?.strip_suffix('`')?;
                Some((name.to_owned(), cells.get(1)?.to_string()))
            })
            .collect();
        let defaults = Config::default();
        let expected: Vec<(String, String)> = SETTINGS
            .iter()
            .map(|s| match s.show(&defaults) {
                // Values in code type, descriptions as they are.
                value if value.contains(' ') || value == "—" => (s.name.to_owned(), value),
                value => (s.name.to_owned(), format!("`{value}`")),
            })
            .collect();
        let names =
            |rows: &[(String, String)]| rows.iter().map(|r| r.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&rows),
            names(&expected),
            "the README's table and config::SETTINGS list different settings (or orders)"
        );
        for ((name, readme), (_, code)) in rows.iter().zip(&expected) {
            // A default that depends on the machine (cores) is described rather than shown.
            if name != "PLUGIN_CALLS_PER_TENANT" {
                assert_eq!(readme, code, "the README's default of KROG_{name}");
            }
        }
    }

    #[test]
    fn disable_after_is_five_days_unless_set_and_reads_milliseconds_for_tests() {
        assert_eq!(
            Config::default().disable_after,
            Duration::from_secs(5 * 24 * 3600)
        );
        let mut config = Config::default();
        config
            .apply(toml::Table::new(), |name| {
                (name == "DISABLE_AFTER").then(|| "300ms".into())
            })
            .unwrap();
        assert_eq!(config.disable_after, Duration::from_millis(300));
    }

    #[test]
    fn secrets_are_never_shown_in_the_help_or_in_an_error() {
        let mut config = Config::default();
        config
            .apply(toml::Table::new(), |name| {
                (name == "ADMIN_KEY").then(|| "krog_topsecret".into())
            })
            .unwrap();
        assert!(config.admin_key.is_some());
        assert!(
            !format!("{config:?}").contains("topsecret"),
            "Debug hides the admin key"
        );
        let help = Config::settings_help();
        assert!(!help.contains("topsecret"));
        assert!(
            help.contains("KROG_ADMIN_KEY  [default: —]")
                && help.contains("KROG_WORKERS  [default: 64]")
                && help.contains("KROG_SECRET_OVERLAP  [default: 1d]"),
            "{help}"
        );
    }

    #[test]
    fn an_unknown_setting_in_the_file_is_refused_with_where_to_look() {
        let file: toml::Table = toml::from_str("wrokers = 3").unwrap();
        let err = Config::default().apply(file, |_| None).unwrap_err();
        assert!(format!("{err:#}").contains("\"wrokers\""), "{err:#}");
        assert!(format!("{err:#}").contains("krog serve --help"), "{err:#}");
    }

    #[test]
    fn the_cache_sits_next_to_the_sqlite_file() {
        let config = Config {
            database_url: "sqlite:/var/lib/krog/krog.db?mode=rwc".into(),
            ..Config::default()
        };
        assert_eq!(
            config.resolved_cache_dir(),
            PathBuf::from("/var/lib/krog/krog-cache")
        );
    }
}
