//! Configuration: defaults, an optional TOML file, then `KROG_*` environment variables, in
//! that order of precedence (the environment wins). Every setting is listed in the README.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::runtime::Limits;

/// Everything the service needs to start.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the HTTP API listens; port 0 picks a free port.
    pub listen: SocketAddr,
    /// `sqlite:…` or `postgres://…`.
    pub database_url: String,
    /// An admin key to accept (stored hashed). Without it a first start prints a new one.
    pub admin_key: Option<String>,
    /// Accept a guessable `admin_key` (local development only).
    pub allow_weak_admin_key: bool,
    /// Delays before the 2nd, 3rd, … attempt; its length + 1 is the number of attempts.
    pub retry_schedule: Vec<Duration>,
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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite:krog.db".into(),
            admin_key: None,
            allow_weak_admin_key: false,
            retry_schedule: parse_schedule("5s,5m,30m,2h,5h,10h,10h").expect("valid default"),
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
        }
    }
}

/// The TOML file's shape: the environment variable names without `KROG_`, in lower case.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    admin_key: Option<String>,
    allow_weak_admin_key: Option<bool>,
    retry_schedule: Option<String>,
    allow_private_destinations: Option<bool>,
    allow_http: Option<bool>,
    max_body_bytes: Option<usize>,
    delivery_timeout: Option<String>,
    workers: Option<usize>,
    queue_capacity: Option<usize>,
    claim_lease: Option<String>,
    poll_interval: Option<String>,
    secret_overlap: Option<String>,
    retention: Option<String>,
    retention_interval: Option<String>,
    directory_ttl: Option<String>,
    plugin_instance_reuse: Option<usize>,
    plugin_cache_modules: Option<usize>,
    builtin_modules: Option<String>,
    cache_dir: Option<PathBuf>,
    sqlite_synchronous: Option<String>,
    plugin_fuel: Option<u64>,
    plugin_timeout: Option<String>,
    plugin_memory_bytes: Option<usize>,
    plugin_max_output_bytes: Option<usize>,
    plugin_max_log_lines: Option<usize>,
    plugin_max_module_bytes: Option<usize>,
    max_in_flight_per_subscription: Option<usize>,
    max_in_flight_per_tenant: Option<usize>,
    plugin_calls_per_tenant: Option<usize>,
    dry_runs_per_tenant: Option<usize>,
    max_subscriptions_per_tenant: Option<usize>,
    max_live_secrets: Option<usize>,
    max_modules_per_tenant: Option<usize>,
    max_versions_per_module: Option<usize>,
    api_requests_per_second: Option<usize>,
    header_read_timeout: Option<String>,
    max_connections: Option<usize>,
    shutdown_timeout: Option<String>,
    secret_key: Option<String>,
    secret_key_file: Option<PathBuf>,
    secret_key_previous: Option<String>,
    secret_key_previous_file: Option<PathBuf>,
}

impl Config {
    /// Reads the optional TOML file (`KROG_CONFIG` or the given path), then the environment.
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
            None => FileConfig::default(),
        };
        let mut config = Config::default();
        config.apply(from_file, |name| std::env::var(format!("KROG_{name}")).ok())?;
        Ok(config)
    }

    fn apply(
        &mut self,
        file: FileConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<()> {
        // The environment wins over the file; each value is parsed with the setting's name in
        // the error so a typo points at itself.
        let pick = |name: &str, from_file: Option<String>| env(name).or(from_file);
        if let Some(v) = pick("LISTEN", file.listen) {
            self.listen = v.parse().with_context(|| format!("KROG_LISTEN={v:?}"))?;
        }
        if let Some(v) = pick("DATABASE_URL", file.database_url) {
            self.database_url = v;
        }
        if let Some(v) = pick("ADMIN_KEY", file.admin_key) {
            self.admin_key = Some(v).filter(|k| !k.is_empty());
        }
        if let Some(v) = pick("RETRY_SCHEDULE", file.retry_schedule) {
            self.retry_schedule = parse_schedule(&v)?;
        }
        let bool_of = |name: &str, from_file: Option<bool>| -> anyhow::Result<Option<bool>> {
            match env(name) {
                Some(v) => parse_bool(&v)
                    .map(Some)
                    .with_context(|| format!("KROG_{name}")),
                None => Ok(from_file),
            }
        };
        if let Some(v) = bool_of(
            "ALLOW_PRIVATE_DESTINATIONS",
            file.allow_private_destinations,
        )? {
            self.allow_private_destinations = v;
        }
        if let Some(v) = bool_of("ALLOW_HTTP", file.allow_http)? {
            self.allow_http = v;
        }
        if let Some(v) = bool_of("ALLOW_WEAK_ADMIN_KEY", file.allow_weak_admin_key)? {
            self.allow_weak_admin_key = v;
        }
        let number = |name: &str, from_file: Option<usize>| -> anyhow::Result<Option<usize>> {
            match env(name) {
                Some(v) => Ok(Some(
                    v.parse().with_context(|| format!("KROG_{name}={v:?}"))?,
                )),
                None => Ok(from_file),
            }
        };
        let duration =
            |name: &str, from_file: Option<String>| -> anyhow::Result<Option<Duration>> {
                pick(name, from_file)
                    .map(|v| parse_duration(&v).with_context(|| format!("KROG_{name}={v:?}")))
                    .transpose()
            };
        if let Some(v) = number("MAX_BODY_BYTES", file.max_body_bytes)? {
            self.max_body_bytes = v;
        }
        if let Some(v) = duration("DELIVERY_TIMEOUT", file.delivery_timeout)? {
            self.delivery_timeout = v;
        }
        if let Some(v) = number("WORKERS", file.workers)? {
            self.workers = v.max(1);
        }
        if let Some(v) = number("QUEUE_CAPACITY", file.queue_capacity)? {
            self.queue_capacity = v.max(1);
        }
        if let Some(v) = duration("CLAIM_LEASE", file.claim_lease)? {
            self.claim_lease = v;
        }
        if let Some(v) = duration("POLL_INTERVAL", file.poll_interval)? {
            self.poll_interval = v;
        }
        if let Some(v) = duration("SECRET_OVERLAP", file.secret_overlap)? {
            self.secret_overlap = v;
        }
        if let Some(v) = duration("RETENTION", file.retention)? {
            anyhow::ensure!(
                v >= Duration::from_secs(1),
                "KROG_RETENTION must be at least 1s"
            );
            self.retention = v;
        }
        if let Some(v) = duration("RETENTION_INTERVAL", file.retention_interval)? {
            self.retention_interval = v.max(Duration::from_millis(10));
        }
        if let Some(v) = duration("DIRECTORY_TTL", file.directory_ttl)? {
            self.directory_ttl = v;
        }
        if let Some(v) = number("PLUGIN_INSTANCE_REUSE", file.plugin_instance_reuse)? {
            self.plugin_instance_reuse = v.max(1);
        }
        if let Some(v) = number("PLUGIN_CACHE_MODULES", file.plugin_cache_modules)? {
            self.plugin_cache_modules = v.max(1);
        }
        if let Some(v) = pick("BUILTIN_MODULES", file.builtin_modules) {
            self.builtin_modules = Some(parse_builtin_modules(&v)?);
        }
        if let Some(v) = pick("CACHE_DIR", file.cache_dir.map(|p| p.display().to_string())) {
            self.cache_dir = Some(PathBuf::from(v));
        }
        if let Some(v) = pick("SQLITE_SYNCHRONOUS", file.sqlite_synchronous) {
            self.sqlite_synchronous = v;
        }
        if let Some(v) = number("PLUGIN_FUEL", file.plugin_fuel.map(|f| f as usize))? {
            self.limits.fuel = v as u64;
        }
        if let Some(v) = duration("PLUGIN_TIMEOUT", file.plugin_timeout)? {
            self.limits.timeout = v;
        }
        if let Some(v) = number("PLUGIN_MEMORY_BYTES", file.plugin_memory_bytes)? {
            self.limits.memory_bytes = v;
        }
        if let Some(v) = number("PLUGIN_MAX_OUTPUT_BYTES", file.plugin_max_output_bytes)? {
            self.limits.max_output_bytes = v;
        }
        if let Some(v) = number("PLUGIN_MAX_LOG_LINES", file.plugin_max_log_lines)? {
            self.limits.max_log_lines = v;
        }
        if let Some(v) = number("PLUGIN_MAX_MODULE_BYTES", file.plugin_max_module_bytes)? {
            self.limits.max_module_bytes = v;
        }
        if let Some(v) = number(
            "MAX_IN_FLIGHT_PER_SUBSCRIPTION",
            file.max_in_flight_per_subscription,
        )? {
            self.max_in_flight_per_subscription = v.max(1);
        }
        if let Some(v) = number("MAX_IN_FLIGHT_PER_TENANT", file.max_in_flight_per_tenant)? {
            self.max_in_flight_per_tenant = v.max(1);
        }
        if let Some(v) = number("PLUGIN_CALLS_PER_TENANT", file.plugin_calls_per_tenant)? {
            self.plugin_calls_per_tenant = v.max(1);
        }
        if let Some(v) = number("DRY_RUNS_PER_TENANT", file.dry_runs_per_tenant)? {
            self.dry_runs_per_tenant = v.max(1);
        }
        if let Some(v) = number(
            "MAX_SUBSCRIPTIONS_PER_TENANT",
            file.max_subscriptions_per_tenant,
        )? {
            self.max_subscriptions_per_tenant = v;
        }
        if let Some(v) = number("MAX_LIVE_SECRETS", file.max_live_secrets)? {
            self.max_live_secrets = v.max(1);
        }
        if let Some(v) = number("MAX_MODULES_PER_TENANT", file.max_modules_per_tenant)? {
            self.max_modules_per_tenant = v;
        }
        if let Some(v) = number("MAX_VERSIONS_PER_MODULE", file.max_versions_per_module)? {
            self.max_versions_per_module = v.max(1);
        }
        if let Some(v) = number("API_REQUESTS_PER_SECOND", file.api_requests_per_second)? {
            self.api_requests_per_second = u32::try_from(v).unwrap_or(u32::MAX);
        }
        if let Some(v) = duration("HEADER_READ_TIMEOUT", file.header_read_timeout)? {
            self.header_read_timeout = v.max(Duration::from_millis(1));
        }
        if let Some(v) = number("MAX_CONNECTIONS", file.max_connections)? {
            self.max_connections = v.max(1);
        }
        if let Some(v) = duration("SHUTDOWN_TIMEOUT", file.shutdown_timeout)? {
            self.shutdown_timeout = v;
        }
        let path = |p: Option<PathBuf>| p.map(|p| p.display().to_string());
        if let Some(v) = pick("SECRET_KEY", file.secret_key).filter(|v| !v.is_empty()) {
            self.secret_key = Some(v.into());
        }
        if let Some(v) = pick("SECRET_KEY_FILE", path(file.secret_key_file)) {
            self.secret_key_file = Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        if let Some(v) =
            pick("SECRET_KEY_PREVIOUS", file.secret_key_previous).filter(|v| !v.is_empty())
        {
            self.secret_key_previous = Some(v.into());
        }
        if let Some(v) = pick(
            "SECRET_KEY_PREVIOUS_FILE",
            path(file.secret_key_previous_file),
        ) {
            self.secret_key_previous_file =
                Some(PathBuf::from(v)).filter(|p| !p.as_os_str().is_empty());
        }
        Ok(())
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

fn parse_bool(text: &str) -> anyhow::Result<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        other => anyhow::bail!("expected true or false, got {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_file() {
        let mut config = Config::default();
        let file = FileConfig {
            retry_schedule: Some("1s".into()),
            workers: Some(3),
            ..FileConfig::default()
        };
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
            .apply(FileConfig::default(), |name| {
                (name == "WORKERS").then(|| "many".into())
            })
            .unwrap_err();
        assert!(format!("{err:#}").contains("KROG_WORKERS"), "{err:#}");
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
