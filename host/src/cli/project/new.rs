//! `krog plugin new <name> --lang rust|js|python`: a project that tests natively, builds and
//! passes `krog plugin check` as it is.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::{Lang, built_in_sdk, check_sdk};

#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// The plugin's name (1 to 64 of a-z, 0-9 and -, starting with a letter): the directory
    /// made, and the module name to upload it under.
    pub name: String,
    /// The language to write it in.
    #[arg(long, value_enum, default_value = "rust")]
    pub lang: Lang,
    /// Where to make the project (default: ./<name>).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// krog's `plugin-sdk` directory, which the project depends on by path (default: the one
    /// of the source tree this krog was built from).
    #[arg(long)]
    pub sdk: Option<PathBuf>,
}

/// One file of a template: its path in the project and its text.
type File = (&'static str, &'static str);

const EVENT: &str = include_str!("../../../../plugin-sdk/templates/event.json");

const RUST: &[File] = &[
    (
        "Cargo.toml",
        include_str!("../../../../plugin-sdk/templates/rust/Cargo.toml"),
    ),
    (
        "src/lib.rs",
        include_str!("../../../../plugin-sdk/templates/rust/src/lib.rs"),
    ),
    (
        "README.md",
        include_str!("../../../../plugin-sdk/templates/rust/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../../../plugin-sdk/templates/rust/gitignore"),
    ),
    ("event.json", EVENT),
];

const JS: &[File] = &[
    (
        "package.json",
        include_str!("../../../../plugin-sdk/templates/js/package.json"),
    ),
    (
        "src/index.js",
        include_str!("../../../../plugin-sdk/templates/js/src/index.js"),
    ),
    (
        "test/plugin.test.js",
        include_str!("../../../../plugin-sdk/templates/js/test/plugin.test.js"),
    ),
    (
        "README.md",
        include_str!("../../../../plugin-sdk/templates/js/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../../../plugin-sdk/templates/js/gitignore"),
    ),
    ("event.json", EVENT),
];

const PYTHON: &[File] = &[
    (
        "pyproject.toml",
        include_str!("../../../../plugin-sdk/templates/python/pyproject.toml"),
    ),
    (
        "requirements.txt",
        include_str!("../../../../plugin-sdk/templates/python/requirements.txt"),
    ),
    (
        "src/plugin.py",
        include_str!("../../../../plugin-sdk/templates/python/src/plugin.py"),
    ),
    (
        "tests/test_plugin.py",
        include_str!("../../../../plugin-sdk/templates/python/tests/test_plugin.py"),
    ),
    (
        "README.md",
        include_str!("../../../../plugin-sdk/templates/python/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../../../plugin-sdk/templates/python/gitignore"),
    ),
    ("event.json", EVENT),
];

/// The same rule as module names in the API, and a start that every toolchain accepts as a
/// package name.
fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Writes the project and returns its directory.
pub fn new(args: &NewArgs) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        valid_name(&args.name),
        "the name {:?} must be 1 to 64 of a-z, 0-9 and -, starting with a letter (it is also the \
         module's name in krog)",
        args.name
    );
    let sdk = match &args.sdk {
        Some(dir) => check_sdk(dir)?,
        None => built_in_sdk().context(
            "this krog was not built from a source tree that is still here, so it does not know \
             where krog's plugin-sdk is; pass --sdk PATH/TO/krog/plugin-sdk",
        )?,
    };
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    anyhow::ensure!(
        !dir.exists(),
        "{} already exists; choose another name or --dir",
        dir.display()
    );
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    };
    let sdk_text = sdk
        .to_str()
        .context("the SDK's path is not valid UTF-8; pass --sdk with another path")?;
    for (path, text) in files {
        let text = text
            .replace("{{name}}", &args.name)
            .replace("{{sdk}}", sdk_text);
        write(&dir.join(path), &text)?;
    }
    Ok(dir)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// What `krog plugin new` tells the author to do next.
pub fn next_steps(lang: Lang, dir: &Path) -> String {
    let steps = match lang {
        Lang::Rust => "cargo test\n  krog plugin check $(krog plugin build)",
        Lang::Js => "npm install\n  npm test\n  krog plugin check $(krog plugin build)",
        Lang::Python => {
            "python3 -m venv .venv && . .venv/bin/activate\n  pip install --require-hashes -r requirements.txt\n  pytest\n  krog plugin check $(krog plugin build)"
        }
    };
    format!(
        "made a {} plugin in {}; next:\n  cd {}\n  {steps}\n",
        lang.as_str(),
        dir.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_module_name_rule_and_start_with_a_letter() {
        assert!(valid_name("greeter"));
        assert!(valid_name("sms-2"));
        assert!(!valid_name("2sms"));
        assert!(!valid_name("Greeter"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(""));
        assert!(!valid_name(&"a".repeat(65)));
    }

    #[test]
    fn every_template_names_the_project_and_the_sdk_and_nothing_else() {
        for files in [RUST, JS, PYTHON] {
            for (path, text) in files {
                let filled = text.replace("{{name}}", "x").replace("{{sdk}}", "/sdk");
                assert!(!filled.contains("{{"), "{path} has a placeholder left");
            }
        }
    }
}
