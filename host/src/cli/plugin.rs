//! The `krog plugin` subcommands: run a plugin locally exactly as the service would, and check
//! a module against the world and the limits.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;

use super::project;
use crate::dry_run::dry_run_json;
use crate::runtime::{
    EventInput, Execution, Limits, Module, Outcome, PluginFailure, Runtime, RuntimeConfig, catalog,
};

/// Exit code of a run or check that failed because of the plugin.
pub const PLUGIN_FAILURE_EXIT: u8 = 2;

/// Work with transform plugins locally.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum PluginCommand {
    /// Run a plugin on one event, as the service would; nothing is delivered.
    Run(RunArgs),
    /// Validate a module against krog's world and the limits, and print what it says about itself.
    Check(CheckArgs),
    /// Make a plugin project (Rust, JavaScript or Python) that tests, builds and passes `check`.
    New(project::NewArgs),
    /// Build the plugin project in a directory with its language's toolchain; prints the `.wasm`.
    Build(project::BuildArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// A `.wasm` file or a catalog name (`slack`, `sheets`, `filter`, `redact`, `teams`, `reminder`).
    pub module: String,
    /// The event file: `{"id"?, "type", "timestamp"?, "data"}` as the booking system sends it.
    #[arg(long)]
    pub event: PathBuf,
    /// The subscription's config: JSON text, or `@file` to read it from a file. Default `{}`.
    #[arg(long)]
    pub config: Option<String>,
    /// Print one JSON object (the same as the HTTP dry run).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    /// A `.wasm` file or a catalog name.
    pub module: String,
}

/// Turns `--config` (its text, if given) into the config handed to the plugin, given the
/// plugin's config schema; an `Err` refuses it. The service passes its own check, so that the
/// command line and the API accept the same configs.
pub type ConfigCheck<'a> = &'a dyn Fn(&serde_json::Value, Option<&str>) -> anyhow::Result<String>;

/// Run a `krog plugin` subcommand, printing to stdout. A plugin failure is exit code 2; a usage
/// problem (unreadable file, bad event JSON, a config refused by `config_check`) is an `Err`.
pub fn execute(
    command: PluginCommand,
    limits: Limits,
    config_check: ConfigCheck<'_>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match command {
        PluginCommand::Run(args) => run(&args, limits, &mut out, config_check),
        PluginCommand::Check(args) => check(&args, limits, &mut out),
        PluginCommand::New(args) => {
            let dir = project::new(&args)?;
            write!(out, "{}", project::next_steps(args.lang, &dir))?;
            Ok(ExitCode::SUCCESS)
        }
        PluginCommand::Build(args) => {
            let wasm = project::build(&args)?;
            writeln!(out, "{}", wasm.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn runtime(limits: Limits) -> anyhow::Result<Runtime> {
    Runtime::new(RuntimeConfig {
        limits,
        cache_dir: None,
        instance_reuse: 1,
        max_cached_modules: 1,
        compiler: None,
        compile_timeout: std::time::Duration::ZERO,
        cache_key: None,
    })
}

/// The bytes of a `.wasm` path or a catalog module.
pub fn read_module(module: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(module);
    if module.ends_with(".wasm") && !path.exists() {
        anyhow::bail!(
            "{module} does not exist. Did `cargo build --target wasm32-wasip2 --release` build \
             it? Cargo writes a .wasm only for a library with crate-type = [\"cdylib\"]: did \
             you set crate-type = [\"cdylib\", \"rlib\"] in the [lib] section of Cargo.toml?"
        );
    }
    if path.exists() || module.ends_with(".wasm") {
        return std::fs::read(path).with_context(|| format!("reading {module}"));
    }
    match catalog::builtin(module) {
        Some(builtin) => Ok(builtin.wasm.to_vec()),
        None => {
            let names: Vec<&str> = catalog::builtins().iter().map(|b| b.name).collect();
            anyhow::bail!(
                "{module:?} is neither a file nor a catalog module (the catalog has: {})",
                names.join(", ")
            )
        }
    }
}

/// Parse the booking system's envelope into the event handed to plugins, with the parser and
/// the rules of `POST /v1/tenants/{t}/events` (`krog-envelope`). `id` defaults to `evt_local`,
/// `timestamp` to now, the tenant is `local`.
pub fn parse_event(text: &str) -> anyhow::Result<EventInput> {
    let envelope = krog_envelope::parse(text)?;
    Ok(EventInput {
        id: envelope.id.unwrap_or_else(|| "evt_local".to_string()),
        event_type: envelope.event_type.to_string(),
        timestamp: envelope.timestamp.unwrap_or_else(|| {
            chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }),
        tenant: "local".to_string(),
        data: envelope.data,
    })
}

/// The text of `--config`: as given, or read from the file after `@`.
fn read_config(config: Option<&str>) -> anyhow::Result<Option<String>> {
    match config {
        None => Ok(None),
        Some(text) => match text.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("reading {path}"))
                .map(Some),
            None => Ok(Some(text.to_string())),
        },
    }
}

/// `krog plugin run`; `config_check` turns `--config` into the config the plugin gets.
pub fn run(
    args: &RunArgs,
    limits: Limits,
    out: &mut dyn Write,
    config_check: ConfigCheck<'_>,
) -> anyhow::Result<ExitCode> {
    let wasm = read_module(&args.module)?;
    let event_text = std::fs::read_to_string(&args.event)
        .with_context(|| format!("reading {}", args.event.display()))?;
    let event = parse_event(&event_text)?;
    let given = read_config(args.config.as_deref())?;
    let runtime = runtime(limits)?;
    let module = match runtime.load(&wasm) {
        Ok(module) => module,
        Err(failure) => return report(args, Err(failure), out),
    };
    let schema = match runtime.info(&module) {
        Ok(info) => info.config_schema,
        Err(failure) => return report(args, Err(failure), out),
    };
    let config = config_check(&schema, given.as_deref()).context("--config is refused")?;
    let result = runtime.transform(&module, &event, &config);
    report(args, result, out)
}

/// Prints a run's result; a plugin failure is exit code 2.
fn report(
    args: &RunArgs,
    result: Result<Execution, PluginFailure>,
    out: &mut dyn Write,
) -> anyhow::Result<ExitCode> {
    if args.json {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&dry_run_json(&result))?
        )?;
    } else {
        print_human(&result, out)?;
    }
    Ok(match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(PLUGIN_FAILURE_EXIT),
    })
}

fn print_human(
    result: &Result<Execution, PluginFailure>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let (logs, duration, fuel) = match result {
        Ok(execution) => {
            match &execution.outcome {
                Outcome::Skip { reason } => {
                    writeln!(out, "outcome: skip")?;
                    writeln!(out, "reason: {reason}")?;
                }
                Outcome::Deliver {
                    content_type,
                    headers,
                    body,
                } => {
                    writeln!(out, "outcome: deliver")?;
                    writeln!(out, "content-type: {content_type}")?;
                    for (name, value) in headers {
                        writeln!(out, "header: {name}: {value}")?;
                    }
                    writeln!(out, "body ({} bytes):", body.len())?;
                    match std::str::from_utf8(body) {
                        Ok(text) => writeln!(out, "{}", pretty_if_json(text))?,
                        Err(_) => writeln!(out, "<{} bytes of binary data>", body.len())?,
                    }
                }
            }
            (&execution.logs, execution.duration, execution.fuel_consumed)
        }
        Err(failure) => {
            writeln!(out, "outcome: error")?;
            writeln!(out, "error: {}: {}", failure.kind, failure.message)?;
            (&failure.logs, failure.duration, failure.fuel_consumed)
        }
    };
    if !logs.is_empty() {
        writeln!(out, "logs:")?;
        for line in logs {
            writeln!(out, "  [{}] {}", line.level, line.message)?;
        }
    }
    writeln!(out, "duration: {} µs", duration.as_micros())?;
    writeln!(out, "fuel: {fuel}")?;
    Ok(())
}

fn pretty_if_json(text: &str) -> String {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| text.to_string())
}

/// `krog plugin check`.
pub fn check(args: &CheckArgs, limits: Limits, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let wasm = read_module(&args.module)?;
    let runtime = runtime(limits)?;
    let result = runtime
        .load(&wasm)
        .and_then(|module: Module| runtime.info(&module).map(|info| (module, info)));
    match result {
        Ok((module, info)) => {
            writeln!(
                out,
                "ok: {} implements krog:plugin/transformer",
                args.module
            )?;
            writeln!(out, "name: {}", info.name)?;
            writeln!(out, "version: {}", info.version)?;
            writeln!(out, "description: {}", info.description)?;
            writeln!(out, "size: {} bytes", module.size())?;
            writeln!(out, "sha256: {}", module.sha256())?;
            writeln!(out, "config schema:")?;
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&info.config_schema)?
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(failure) => {
            writeln!(out, "invalid: {}: {}", failure.kind, failure.message)?;
            Ok(ExitCode::from(PLUGIN_FAILURE_EXIT))
        }
    }
}
