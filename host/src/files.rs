//! Files krog creates are private to its user, whatever the umask: the SQLite database (and so
//! its `-wal` and `-shm` files, which SQLite creates with the database file's permissions) and
//! the master key file are 0600; the artifact cache dir is 0700 (`krog-runtime`).

use std::path::{Path, PathBuf};

/// The file of a `sqlite:` database URL; `None` for PostgreSQL or an in-memory database.
pub fn sqlite_file(database_url: &str) -> Option<PathBuf> {
    let rest = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// Before SQLite opens the database: creates the file 0600 when it is missing, or makes an
/// existing one (and its `-wal` and `-shm` files) private if it is not.
pub fn prepare_sqlite_file(file: &Path) -> std::io::Result<()> {
    match create_private(file, b"") {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    check_sqlite_files(file);
    Ok(())
}

/// Makes the database file and its `-wal` and `-shm` files private where they are not (with a
/// warning: something else made them readable).
pub fn check_sqlite_files(file: &Path) {
    make_private(file, "the database file");
    for suffix in ["-wal", "-shm"] {
        let mut companion = file.as_os_str().to_owned();
        companion.push(suffix);
        make_private(Path::new(&companion), "a database file");
    }
}

/// Creates `file` (it must not exist) with mode 0600 and `contents`, durably.
pub fn create_private(file: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut handle = options.open(file)?;
    handle.write_all(contents)?;
    handle.sync_all()?;
    drop(handle);
    // The mode given at creation is the umask's to narrow, never to widen; checked anyway.
    make_private(file, "a new file");
    #[cfg(unix)]
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The new directory entry, durably: a key file lost in a crash loses every secret.
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Takes group and other permissions away from `file` if it has any, warning that it did;
/// nothing when it does not exist.
pub fn make_private(file: &Path, what: &str) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = std::fs::metadata(file) else {
            return;
        };
        let mode = meta.permissions().mode();
        if mode & 0o077 == 0 {
            return;
        }
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(mode & 0o700)) {
            Ok(()) => tracing::warn!(
                file = %file.display(),
                was = format!("{:o}", mode & 0o777),
                "{what} was readable by other users; made it private to krog's user"
            ),
            Err(e) => tracing::warn!(
                file = %file.display(),
                was = format!("{:o}", mode & 0o777),
                error = %e,
                "{what} is readable by other users and krog could not change that"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = (file, what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sqlite_file_is_read_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite:krog.db"),
            Some(PathBuf::from("krog.db"))
        );
        assert_eq!(
            sqlite_file("sqlite:///var/lib/krog/krog.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/krog/krog.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://krog@db/krog"), None);
    }

    #[cfg(unix)]
    #[test]
    fn a_readable_file_is_made_private_and_a_new_one_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("krog-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = dir.join("open.db");
        std::fs::write(&open, b"").unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        prepare_sqlite_file(&open).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&open), 0o600);
        let new = dir.join("new.key");
        create_private(&new, b"k").unwrap();
        assert_eq!(mode(&new), 0o600);
        assert!(create_private(&new, b"k").is_err(), "never overwrites");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
