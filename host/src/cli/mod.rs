//! The command line: `krog serve` (the default), `krog plugin new|build|run|check` and
//! `krog secrets generate-key|rotate-master-key`. The binary's
//! `main` only calls [`main`], so the test suite can build the very same program.
//!
//! `krog plugin` lives in [`plugin`], the plugin projects it makes and builds in [`project`].

pub mod plugin;
pub mod project;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::{Application, Config};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use plugin::PluginCommand;

#[derive(Parser)]
#[command(
    name = "krog",
    version,
    about = "Signed booking-event webhooks with WebAssembly transforms",
    after_help = "`krog serve --help` lists every setting with its default."
)]
struct Cli {
    /// A TOML configuration file (the environment overrides it).
    #[arg(long = "config-file", global = true, env = "KROG_CONFIG")]
    config_file: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default).
    Serve,
    /// Make, build, run or check a plugin locally (run and check exactly as the service would).
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Manage the master key signing secrets are encrypted under.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Compile a module for `krog serve`, which runs this in a child process (wasm on stdin).
    #[command(name = crate::runtime::COMPILE_SUBCOMMAND, hide = true)]
    CompileModule {
        /// The service's plugin memory limit (the engine is built as the service builds it).
        #[arg(long)]
        memory_bytes: usize,
    },
    /// Judge an admin key (on stdin) for `krog serve`, which runs this in a child process:
    /// the word lists it takes stay out of the service's memory.
    #[command(name = crate::api::keys::CHECK_KEY_SUBCOMMAND, hide = true)]
    CheckAdminKey,
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Write a new random master key to FILE (created with mode 0600; never overwritten).
    GenerateKey {
        /// Where to write the key.
        file: PathBuf,
    },
    /// Re-encrypt every signing secret under a new master key, while the service runs. Every
    /// node must already have the new key (as KROG_SECRET_KEY, with the old one as
    /// KROG_SECRET_KEY_PREVIOUS); this command reads rows under the configured keys.
    RotateMasterKey {
        /// A file holding the new key (else KROG_NEW_SECRET_KEY).
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    // `krog serve --help` lists the settings, from the one list of them.
    let command =
        Cli::command().mut_subcommand("serve", |serve| serve.after_help(Config::settings_help()));
    let cli = match Cli::from_arg_matches(&command.get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(Command::CompileModule { memory_bytes }) = &cli.command {
        // Before the configuration: the parent's settings arrive as arguments.
        return crate::runtime::compile_in_child(*memory_bytes);
    }
    if let Some(Command::CheckAdminKey) = &cli.command {
        return crate::api::keys::check_admin_key_in_child();
    }
    let config = match Config::load(cli.config_file.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("krog: configuration error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config),
        Command::CompileModule { .. } | Command::CheckAdminKey => unreachable!("handled above"),
        Command::Secrets(command) => match secrets(command, config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("krog: {e:#}");
                ExitCode::FAILURE
            }
        },
        Command::Plugin(command) => {
            match plugin::execute(command, config.limits, &plugin_config_check) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("krog: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// `krog plugin run`'s config, read as the service reads a subscription's
/// ([`crate::plugin_config`]): JSON, absent meaning the schema's default, fitting the schema.
fn plugin_config_check(schema: &serde_json::Value, given: Option<&str>) -> anyhow::Result<String> {
    let given = given.map(crate::plugin_config::parse).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = runtime.block_on(crate::plugin_config::resolve(Some(schema), given))?;
    Ok(config.to_string())
}

fn serve(mut config: Config) -> ExitCode {
    // Plugin modules compile in a child process of this very program (`krog
    // internal-compile-module`), so the compiler's memory is never this process's. On Linux
    // through /proc/self/exe: the running binary even after an upgrade replaced its file.
    config.compiler = if cfg!(target_os = "linux") {
        Some(PathBuf::from("/proc/self/exe"))
    } else {
        std::env::current_exe().ok()
    };
    crate::telemetry::init_logging();
    crate::telemetry::prometheus();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("krog: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        let app = Application::build(config).await?;
        if let Some(key) = &app.new_admin_key {
            // Printed once, on stdout, so it can be captured; it is stored only as a hash.
            println!("krog: created an admin key (shown only this once): {key}");
        }
        app.run_until_stopped().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = ?e, "krog stopped with an error");
            eprintln!("krog: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn secrets(command: SecretsCommand, config: Config) -> anyhow::Result<()> {
    use crate::secrets::{ExposeSecret, MasterKey};
    use anyhow::Context;
    match command {
        SecretsCommand::GenerateKey { file } => {
            let (key, text) = MasterKey::generate();
            crate::files::create_private(&file, format!("{}\n", text.expose_secret()).as_bytes())
                .with_context(|| format!("writing {}", file.display()))?;
            println!("krog: wrote master key {} to {}", key.id(), file.display());
            Ok(())
        }
        SecretsCommand::RotateMasterKey { new_key_file } => {
            let new = match (new_key_file, std::env::var("KROG_NEW_SECRET_KEY")) {
                (Some(file), _) => {
                    let text = std::fs::read_to_string(&file)
                        .with_context(|| format!("reading the new key file {}", file.display()))?;
                    MasterKey::parse(&text, &format!("--new-key-file {}", file.display()))?
                }
                (None, Ok(text)) => MasterKey::parse(&text, "KROG_NEW_SECRET_KEY")?,
                (None, Err(_)) => anyhow::bail!(
                    "give the new master key with --new-key-file FILE or KROG_NEW_SECRET_KEY"
                ),
            };
            crate::telemetry::init_logging();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let done = runtime.block_on(crate::secrets::rotate(&config, new))?;
            println!(
                "krog: {} signing secrets re-encrypted under master key {} ({} expired ones \
                 deleted); nodes may drop the previous key at their next restart",
                done.reencrypted, done.key, done.expired
            );
            Ok(())
        }
    }
}
