//! Where compiled modules are kept: in memory (bounded, least recently used first) and on disk
//! as artifacts authenticated by a MAC, in a directory only krog's user may write to.

use hmac::Hmac;
use hmac::Mac;
use sha2::Sha256;
use std::collections::HashMap;
use std::path::Path;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use wasmtime::component::Component;

use super::*;

/// Compiled modules kept in memory by default. Each costs ~2.5 MB resident
/// (BENCHMARKS.md, "Memory");
/// one evicted comes back from its precompiled artifact on disk, without compiling.
pub const DEFAULT_CACHED_MODULES: usize = 16;

/// Compiled modules by sha256, bounded, least recently used evicted first.
pub(crate) struct ModuleCache {
    pub(crate) max: usize,
    pub(crate) clock: u64,
    pub(crate) entries: HashMap<String, (Module, u64)>,
}

impl ModuleCache {
    pub(crate) fn get(&mut self, sha256: &str) -> Option<Module> {
        self.clock += 1;
        let entry = self.entries.get_mut(sha256)?;
        entry.1 = self.clock;
        Some(entry.0.clone())
    }

    /// Keeps `module` (or the copy another thread stored first) and returns it.
    pub(crate) fn insert(&mut self, module: Module) -> Module {
        if let Some(kept) = self.get(module.sha256()) {
            return kept;
        }
        while self.entries.len() >= self.max {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(sha, _)| sha.clone())
            else {
                break;
            };
            self.entries.remove(&oldest);
        }
        self.entries
            .insert(module.sha256().to_owned(), (module.clone(), self.clock));
        module
    }
}

/// Bytes of the MAC trailer of an artifact file.
pub(crate) const ARTIFACT_MAC_BYTES: usize = 32;

/// The HMAC-SHA256 that authenticates an artifact file, keyed with the cache key, over the
/// sha256 of the wasm it was compiled from (its file name, so that a genuine artifact moved
/// to another module's name is rejected) and the artifact.
pub(crate) fn artifact_hmac(key: &[u8; 32], sha256: &str, artifact: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any size");
    mac.update(b"krog-artifact-v1\0");
    mac.update(sha256.as_bytes());
    mac.update(b"\0");
    mac.update(artifact);
    mac
}

pub(crate) fn artifact_mac(
    key: &[u8; 32],
    sha256: &str,
    artifact: &[u8],
) -> [u8; ARTIFACT_MAC_BYTES] {
    artifact_hmac(key, sha256, artifact)
        .finalize()
        .into_bytes()
        .into()
}

/// The cache key of runtimes configured without one: random, drawn once per process, so that
/// runtimes of one process share their artifacts and trust no other process's.
pub(crate) fn process_cache_key() -> [u8; 32] {
    static KEY: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    *KEY.get_or_init(rand::random)
}

/// Creates the cache dir (and its parents) readable by this user only, if it is missing.
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The artifacts in the cache dir are native code that krog runs: a dir that another user owns
/// or may write to (the default for PostgreSQL is under the shared temp dir) could hand krog
/// someone else's code under a built-in module's well-known sha256.
pub(crate) fn check_private_dir(dir: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
        if !meta.is_dir() {
            return Err("it is not a directory (a symlink?)".into());
        }
        if meta.permissions().mode() & 0o022 != 0 {
            return Err("other users (its group, or everyone) may write to it".into());
        }
        // Our own uid, without unsafe code: the owner of a file this process creates.
        let (probe, file) = tempfile_in(dir)?;
        let own = file.metadata().map(|m| m.uid());
        drop(file);
        let _ = std::fs::remove_file(&probe);
        let own = own.map_err(|e| e.to_string())?;
        if meta.uid() != own {
            return Err(format!(
                "it belongs to user {}, not to this process's user {own}",
                meta.uid()
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

/// A new file in `dir`, under a random name and created exclusively (`O_EXCL`), so that
/// nothing planted in the dir — a symlink to a file elsewhere — is opened instead.
#[cfg(unix)]
pub(crate) fn tempfile_in(dir: &Path) -> Result<(PathBuf, std::fs::File), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = hex::encode(rand::random::<[u8; 16]>());
    let path = dir.join(format!(".krog-owner-probe.{name}"));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map(|file| (path, file))
        .map_err(|e| format!("cannot write to it: {e}"))
}

/// Writes `artifact` and its MAC trailer to `path`, atomically (a temporary file renamed).
pub(crate) fn write_artifact(path: &Path, artifact: &[u8], mac: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    // Unique per write: two threads (or processes) may cache the same module at once.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let tmp = dir.join(format!(
        ".{}.{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("module"),
        std::process::id(),
        WRITES.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        // Exclusive, never through a file or symlink already there, and private to krog's
        // user like the dir, whatever the umask.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(artifact)?;
        file.write_all(mac)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

impl Runtime {
    /// Compile `wasm`, going through the disk cache when there is one.
    pub(crate) fn compile(&self, wasm: &[u8], sha256: &str) -> Result<Component, PluginFailure> {
        let Some(dir) = &self.inner.cache_dir else {
            return self.compile_here(wasm).map(|(_, component)| component);
        };
        let path = dir.join(format!("{sha256}.cwasm"));
        if let Ok(bytes) = std::fs::read(&path) {
            match self.deserialize(sha256, &bytes) {
                Ok(component) => {
                    self.inner
                        .counters
                        .loaded_from_disk
                        .fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Err(why) => {
                    self.inner
                        .counters
                        .artifacts_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(path = %path.display(), "recompiling a cached module: {why}");
                }
            }
        }
        let (artifact, component) = match self.compile_by_child(wasm)? {
            Some(compiled) => compiled,
            None => self.compile_here(wasm)?,
        };
        let mac = artifact_mac(&self.inner.cache_key, sha256, &artifact);
        if let Err(e) = write_artifact(&path, &artifact, &mac) {
            tracing::warn!(path = %path.display(), "could not cache a compiled module: {e}");
        }
        Ok(component)
    }

    /// Check the MAC trailer of the artifact file of the wasm with this `sha256`, then
    /// deserialize it.
    pub(crate) fn deserialize(&self, sha256: &str, file: &[u8]) -> Result<Component, String> {
        let Some(split) = file.len().checked_sub(ARTIFACT_MAC_BYTES) else {
            return Err("the artifact is truncated".to_string());
        };
        let (artifact, trailer) = file.split_at(split);
        artifact_hmac(&self.inner.cache_key, sha256, artifact)
            .verify_slice(trailer)
            .map_err(|_| {
                "the artifact's MAC does not verify (corrupt, or written under another cache key)"
                    .to_string()
            })?;
        self.deserialize_trusted(artifact)
    }
}
