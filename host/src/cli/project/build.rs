//! `krog plugin build [DIR]`: builds the project's component with its language's toolchain and
//! prints the `.wasm` path (the toolchain's own output goes to stderr).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context as _;

use super::{Lang, check_sdk};

#[derive(Debug, Clone, clap::Args)]
pub struct BuildArgs {
    /// The plugin project (default: the current directory).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// Which language the project in `dir` is written in, by its manifest.
pub fn detect(dir: &Path) -> anyhow::Result<Lang> {
    if dir.join("Cargo.toml").is_file() {
        Ok(Lang::Rust)
    } else if dir.join("package.json").is_file() {
        Ok(Lang::Js)
    } else if dir.join("pyproject.toml").is_file() {
        Ok(Lang::Python)
    } else {
        anyhow::bail!(
            "{} is not a plugin project: it has no Cargo.toml, package.json or pyproject.toml \
             (make one with `krog plugin new NAME --lang rust|js|python`)",
            dir.display()
        )
    }
}

/// Builds the project in `args.dir`; the component's path.
pub fn build(args: &BuildArgs) -> anyhow::Result<PathBuf> {
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("{} does not exist", args.dir.display()))?;
    let wasm = match detect(&dir)? {
        Lang::Rust => build_rust(&dir)?,
        Lang::Js => {
            let mut npm = Command::new("npm");
            npm.args(["run", "--silent", "build"]);
            last_line(run(npm, &dir, "npm (is Node.js installed?)")?)?
        }
        Lang::Python => build_python(&dir)?,
    };
    anyhow::ensure!(
        wasm.is_file(),
        "the build said it wrote {}, but there is no such file",
        wasm.display()
    );
    Ok(wasm)
}

fn build_rust(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest: toml::Table = toml::from_str(&std::fs::read_to_string(dir.join("Cargo.toml"))?)
        .context("Cargo.toml is not valid TOML")?;
    let name = manifest
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .context("Cargo.toml has no [package] name")?
        .replace('-', "_");
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.args(["build", "--release", "--target", "wasm32-wasip2"]);
    run(cargo, dir, "cargo (is Rust installed?)")?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("target"));
    Ok(target
        .join("wasm32-wasip2/release")
        .join(format!("{name}.wasm")))
}

fn build_python(dir: &Path) -> anyhow::Result<PathBuf> {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir.join("pyproject.toml"))?)
            .context("pyproject.toml is not valid TOML")?;
    let sdk = manifest
        .get("tool")
        .and_then(|t| t.get("krog"))
        .and_then(|k| k.get("sdk"))
        .and_then(|s| s.as_str())
        .context("pyproject.toml has no [tool.krog] sdk (the path of krog's plugin-sdk/python)")?;
    let sdk = dir.join(sdk);
    check_sdk(&sdk.join(".."))?;
    let mut python = Command::new(python(dir));
    python
        .args(["-m", "krog_plugin.build"])
        .env("PYTHONPATH", sdk.join("src"));
    last_line(run(
        python,
        dir,
        "python (is Python 3.11 or later installed?)",
    )?)
}

/// The project's Python: the active virtual environment's, else `.venv/` in the project, else
/// `python3` on PATH.
fn python(dir: &Path) -> PathBuf {
    let venv = std::env::var_os("VIRTUAL_ENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join(".venv"));
    let beside = venv.join("bin/python");
    if beside.is_file() {
        beside
    } else {
        PathBuf::from("python3")
    }
}

/// Runs a toolchain with its stderr (and stdout, but for the last line) going to our stderr;
/// returns its stdout.
fn run(mut command: Command, dir: &Path, what: &str) -> anyhow::Result<String> {
    let output = command
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("could not start {what}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "the build failed ({}); its output is above{}",
        output.status,
        if stdout.trim().is_empty() {
            String::new()
        } else {
            format!(":\n{}", stdout.trim_end())
        }
    );
    Ok(stdout)
}

/// The path a build script printed last; what it printed before goes to stderr.
fn last_line(stdout: String) -> anyhow::Result<PathBuf> {
    let mut lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    let last = lines
        .pop()
        .context("the build printed no path of a component")?;
    for line in lines {
        eprintln!("{line}");
    }
    Ok(PathBuf::from(last.trim()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_without_a_manifest_is_not_a_project_and_the_error_says_how_to_make_one() {
        let dir = std::env::temp_dir().join(format!("krog-detect-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let error = detect(&dir).unwrap_err().to_string();
        assert!(error.contains("krog plugin new"), "{error}");
        std::fs::write(dir.join("pyproject.toml"), "").unwrap();
        assert_eq!(detect(&dir).unwrap(), Lang::Python);
        std::fs::write(dir.join("package.json"), "{}").unwrap();
        assert_eq!(detect(&dir).unwrap(), Lang::Js);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_last_printed_line_is_the_component() {
        assert_eq!(
            last_line("building\n/p/dist/x.wasm\n\n".into()).unwrap(),
            PathBuf::from("/p/dist/x.wasm")
        );
        assert!(last_line("\n".into()).is_err());
    }
}
