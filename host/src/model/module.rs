//! Which module a subscription or request means.

/// The owner of the shared catalog in `module_versions.owner`.
pub const CATALOG: &str = "";

/// Which module a subscription or request means: the catalog's or a tenant's, and maybe a
/// pinned version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleRef {
    /// `""` for the catalog, else the tenant id.
    pub owner: String,
    /// The module name.
    pub name: String,
    /// A pinned version; `None` means the latest at the time of use.
    pub version: Option<i64>,
}

/// A module name or reference that breaks the naming rule; the message says the rule.
#[derive(Debug, thiserror::Error)]
#[error(
    "module {0:?} must be a catalog name like \"slack\" or \"tenant:<name>\", names being 1 to 64 of a-z, 0-9 and -"
)]
pub struct BadModuleName(pub String);

impl ModuleRef {
    /// Parses a subscription's `module` (`slack` or `tenant:<name>`) for `tenant`.
    pub fn parse(
        module: &str,
        tenant: &str,
        version: Option<i64>,
    ) -> Result<ModuleRef, BadModuleName> {
        let (owner, name) = match module.strip_prefix("tenant:") {
            Some(name) => (tenant.to_owned(), name),
            None => (CATALOG.to_owned(), module),
        };
        if !is_module_name(name) {
            return Err(BadModuleName(module.to_owned()));
        }
        Ok(ModuleRef {
            owner,
            name: name.to_owned(),
            version,
        })
    }

    /// "module slack version 3", "module tenant:reminders": for messages.
    pub fn describe(&self) -> String {
        let name = if self.owner.is_empty() {
            self.name.clone()
        } else {
            format!("tenant:{}", self.name)
        };
        match self.version {
            Some(v) => format!("module {name} version {v}"),
            None => format!("module {name}"),
        }
    }
}

/// The module-name rule: 1 to 64 of a-z, 0-9 and `-`.
pub fn is_module_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}
