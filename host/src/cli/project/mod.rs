//! `krog plugin new` and `krog plugin build`: plugin projects in Rust, JavaScript and Python.
//!
//! A project is told apart by its manifest (`Cargo.toml`, `package.json`, `pyproject.toml`) and
//! built with its language's own toolchain (cargo, the npm script of `@krog/plugin-sdk`,
//! componentize-py through `krog_plugin.build`); `krog plugin build` prints only the `.wasm`
//! path on stdout, so that `krog plugin check $(krog plugin build)` works in every language.
//! The templates are the files under `plugin-sdk/templates/`, embedded in the binary.

mod build;
mod new;

pub use build::{BuildArgs, build};
pub use new::{NewArgs, new, next_steps};

use std::path::{Path, PathBuf};

/// The languages a plugin may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

impl Lang {
    fn as_str(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Js => "js",
            Lang::Python => "python",
        }
    }
}

/// The SDK directory of the source tree this krog was built from, when it is still there.
fn built_in_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-sdk");
    sdk.join("wit/world.wit")
        .is_file()
        .then_some(sdk)?
        .canonicalize()
        .ok()
}

/// `dir` if it is krog's `plugin-sdk` directory (it holds `wit/world.wit`).
fn check_sdk(dir: &Path) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        dir.join("wit/world.wit").is_file(),
        "{} is not krog's plugin-sdk directory (it has no wit/world.wit); pass --sdk PATH/TO/krog/plugin-sdk",
        dir.display()
    );
    Ok(dir.canonicalize()?)
}
