//! The command line: `krog serve` (the default) and `krog plugin run|check`. The binary's
//! `main` only calls [`main`], so the test suite can build the very same program.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::runtime::command::PluginCommand;
use crate::{Application, Config};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "krog",
    version,
    about = "Signed booking-event webhooks with WebAssembly transforms"
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
    /// Run or check a plugin locally, exactly as the service would.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Compile a module for `krog serve`, which runs this in a child process (wasm on stdin).
    #[command(name = crate::runtime::COMPILE_SUBCOMMAND, hide = true)]
    CompileModule {
        /// The service's plugin memory limit (the engine is built as the service builds it).
        #[arg(long)]
        memory_bytes: usize,
    },
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CompileModule { memory_bytes }) = &cli.command {
        // Before the configuration: the parent's settings arrive as arguments.
        return crate::runtime::compile_in_child(*memory_bytes);
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
        Command::CompileModule { .. } => unreachable!("handled above"),
        Command::Plugin(command) => {
            match crate::runtime::command::execute(command, config.limits) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("krog: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
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
