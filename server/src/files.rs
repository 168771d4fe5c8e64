//! File helpers for the data directory.

use std::path::Path;

use anyhow::Context;

/// Writes a file only its owner can read.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Owner-only permissions: directories 0700, files 0600.
#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("making {} private to this user", path.display()))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Creates the data directory (and its parents) if needed, and makes it
/// 0700: it holds the key that seals stored secrets and the database.
pub fn create_private_dir(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("creating the data directory {}", path.display()))?;
    restrict(path, 0o700)
}

/// Makes a SQLite database file 0600 before it is opened, creating it empty
/// if missing (SQLite gives its `-wal` and `-shm` files the same mode);
/// those left by an earlier run are made 0600 too.
pub fn prepare_private_database(path: &Path) -> anyhow::Result<()> {
    if !path.exists() {
        write_private_file(path, "")?;
    }
    restrict(path, 0o600)?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = Path::new(&companion);
        if companion.exists() {
            restrict(companion, 0o600)?;
        }
    }
    Ok(())
}
