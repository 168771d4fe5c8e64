//! `slipway backup` and `slipway restore` for the SQLite store.
//!
//! A backup is `VACUUM INTO`: SQLite writes the database as one read
//! transaction sees it — what the write-ahead log holds included — into a
//! new file, while the server goes on reading and writing. The copy is
//! checked (`PRAGMA integrity_check`) and only then given its name, so a
//! file at `--to` is always a whole backup.
//!
//! The key that seals the stored secrets (`secret.key`, or
//! `SLIPWAY_SECRET_KEY`) is not put in the backup: a backup that carried its
//! own key would make the encryption of its secrets worthless wherever it is
//! kept. It must be kept with the backup, stored apart; `restore` refuses a
//! key that does not open the backup's secrets, before it writes anything.
//!
//! PostgreSQL is backed up with `pg_dump` (README, "Backups").

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, SqliteConnection};

use crate::config::StorageArgs;
use crate::crypto::{SecretBox, KEY_FILE};

/// How long a backup waits for the server's write lock at most (a backup
/// reads only, so only a checkpoint can hold it up).
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What a backup or a restore holds, to print.
#[derive(Debug)]
pub struct Copied {
    pub file: PathBuf,
    pub bytes: u64,
    pub projects: i64,
    pub endpoints: i64,
    pub pipelines: i64,
    pub webhooks: i64,
    pub runs: i64,
}

impl std::fmt::Display for Copied {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            formatter,
            "{} ({} bytes): {} projects, {} endpoints, {} pipelines, {} webhooks, {} runs",
            self.file.display(),
            self.bytes,
            self.projects,
            self.endpoints,
            self.pipelines,
            self.webhooks,
            self.runs
        )
    }
}

/// Copies the data directory's SQLite database to `to`, consistent, while
/// a server may be using it. `to` must not exist.
pub async fn backup(storage: &StorageArgs, to: &Path) -> anyhow::Result<Copied> {
    let database = sqlite_file(storage)?;
    if !database.exists() {
        bail!(
            "there is no database at {}: point --data-dir (or --database-url) at the server's",
            database.display()
        );
    }
    if to.exists() {
        bail!(
            "{} already exists: a backup never overwrites a file; name a new one",
            to.display()
        );
    }
    let partial = partial_name(to)?;
    // VACUUM INTO writes only into a file that is missing or empty: an
    // empty one made private first keeps the copy 0600 from its first byte.
    crate::files::write_private_file(&partial, "")
        .with_context(|| format!("creating {}", partial.display()))?;
    let copied = async {
        let mut source = open(&database, false).await?;
        sqlx::query("VACUUM INTO $1")
            .bind(utf8(&partial)?)
            .execute(&mut source)
            .await
            .context("copying the database")?;
        source.close().await?;
        let copied = check(&partial).await?;
        std::fs::File::open(&partial)?.sync_all()?;
        Ok::<_, anyhow::Error>(copied)
    }
    .await;
    let copied = match copied {
        Ok(copied) => copied,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, to).with_context(|| format!("naming {}", to.display()))?;
    Ok(Copied {
        file: to.to_path_buf(),
        ..copied
    })
}

/// Puts a backup in place as the data directory's database. The directory
/// must hold no database yet, and its key (`secret.key` or
/// `SLIPWAY_SECRET_KEY`) must open the backup's secrets.
pub async fn restore(storage: &StorageArgs, from: &Path) -> anyhow::Result<Copied> {
    let database = sqlite_file(storage)?;
    let companions = ["", "-wal", "-shm", "-journal"].map(|suffix| {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    });
    if let Some(present) = companions.iter().find(|file| file.exists()) {
        bail!(
            "{} already exists: restore only fills a data directory without a database; \
             stop the server and move its database away first",
            present.display()
        );
    }
    if !from.is_file() {
        bail!("there is no backup at {}", from.display());
    }
    let copied = check(from).await?;
    let mut backup = open(from, true).await?;
    let sealed: Option<String> = sqlx::query_scalar(
        "SELECT sealed_secrets FROM endpoints WHERE sealed_secrets IS NOT NULL \
         UNION ALL SELECT secure_token_sealed FROM docker_webhooks LIMIT 1",
    )
    .fetch_optional(&mut backup)
    .await
    .context("reading the backup's sealed secrets")?;
    backup.close().await?;
    if let Some(sealed) = sealed {
        let key_file = storage.data_dir.join(KEY_FILE);
        let Some(secret_box) = SecretBox::load(&storage.data_dir)? else {
            bail!(
                "the backup holds encrypted secrets and there is no key to open them: \
                 copy the {KEY_FILE} kept with the backup to {} (or set SLIPWAY_SECRET_KEY)",
                key_file.display()
            );
        };
        if secret_box.open(&sealed).is_err() {
            bail!(
                "the key here ({} or SLIPWAY_SECRET_KEY) does not open the backup's secrets: \
                 it is not the key of the server the backup was made on; nothing was restored",
                key_file.display()
            );
        }
    }
    crate::files::create_private_dir(&storage.data_dir)?;
    let partial = partial_name(&database)?;
    crate::files::write_private_file(&partial, "")?;
    let placed = std::fs::copy(from, &partial)
        .and_then(|_| std::fs::File::open(&partial)?.sync_all())
        .and_then(|()| std::fs::rename(&partial, &database));
    if let Err(error) = placed {
        let _ = std::fs::remove_file(&partial);
        return Err(error).with_context(|| format!("writing {}", database.display()));
    }
    Ok(Copied {
        file: database,
        ..copied
    })
}

/// The SQLite file the storage flags name; PostgreSQL is refused.
fn sqlite_file(storage: &StorageArgs) -> anyhow::Result<PathBuf> {
    let url = storage.database_url();
    if !url.starts_with("sqlite:") {
        bail!(
            "this server's database is PostgreSQL: back it up with pg_dump and restore it \
             with pg_restore (README, \"Backups\"); `slipway backup` copies SQLite databases"
        );
    }
    let options = SqliteConnectOptions::from_str(&url).context("reading --database-url")?;
    let file = options.get_filename();
    if file == Path::new(":memory:") {
        bail!("an in-memory database has nothing to back up or restore");
    }
    Ok(file.to_path_buf())
}

/// A hidden name beside `file` for the copy being written.
fn partial_name(file: &Path) -> anyhow::Result<PathBuf> {
    let name = file
        .file_name()
        .with_context(|| format!("{} names no file", file.display()))?;
    let mut partial = std::ffi::OsString::from(".");
    partial.push(name);
    partial.push(format!(".partial-{}", std::process::id()));
    Ok(file.with_file_name(partial))
}

fn utf8(path: &Path) -> anyhow::Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8: name the backup in UTF-8", path.display()))
}

async fn open(file: &Path, read_only: bool) -> anyhow::Result<SqliteConnection> {
    SqliteConnectOptions::new()
        .filename(file)
        .read_only(read_only)
        .busy_timeout(BUSY_TIMEOUT)
        .connect()
        .await
        .with_context(|| format!("opening {}", file.display()))
}

/// The rows of one of Slipway's tables (an error where there is no such
/// table: not a Slipway database).
async fn count(connection: &mut SqliteConnection, table: &'static str) -> sqlx::Result<i64> {
    let statement = format!("SELECT COUNT(*) FROM {table}");
    sqlx::query_scalar(&statement).fetch_one(connection).await
}

/// Checks that `file` is a whole Slipway database and counts what it holds.
async fn check(file: &Path) -> anyhow::Result<Copied> {
    let not_slipway = || format!("{} is not a Slipway database", file.display());
    let mut connection = open(file, true).await.with_context(not_slipway)?;
    let verdict: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut connection)
        .await
        .with_context(not_slipway)?;
    if verdict != "ok" {
        bail!("{} is damaged: {verdict}", file.display());
    }
    let mut counted = async || -> sqlx::Result<Copied> {
        Ok(Copied {
            file: file.to_path_buf(),
            bytes: std::fs::metadata(file)?.len(),
            projects: count(&mut connection, "projects").await?,
            endpoints: count(&mut connection, "endpoints").await?,
            pipelines: count(&mut connection, "pipelines").await?,
            webhooks: count(&mut connection, "docker_webhooks").await?,
            runs: count(&mut connection, "executions").await?,
        })
    };
    let copied = counted().await.with_context(not_slipway)?;
    connection.close().await?;
    Ok(copied)
}
