//! What an admin command checks before it opens a SQLite database: that the
//! file exists (a command never creates an empty database), that it runs as
//! the file's owner (a command run as root would leave root-owned `-wal` and
//! lock files the server cannot open), and, for the commands that change
//! existing users or sessions, that no server holds the database's lock
//! (see the parent module). Other databases need none of this.

use std::path::Path;

use authnz_server::config::Config;
use authnz_server::session_cache::{DatabaseLock, lock_exclusive, lock_file_path};

/// `Ok(Some(lock))` when the command must hold the lock and now does;
/// `Ok(None)` when it needs none (or the platform has none, and so no
/// server caches); an error saying what to do otherwise.
pub fn check(config: &Config, exclusive: bool) -> anyhow::Result<Option<std::fs::File>> {
    let Some(path) = config.authdb.sqlite_path() else {
        return Ok(None);
    };
    if !path.is_file() {
        anyhow::bail!(
            "no auth database at {}: run `authnzrv --autosetup` or start the server once first",
            path.display()
        );
    }
    check_owner(path)?;
    if !exclusive {
        return Ok(None);
    }
    match lock_exclusive(path) {
        DatabaseLock::Taken(file) => Ok(Some(file)),
        DatabaseLock::HeldElsewhere => anyhow::bail!(
            "an authnzrv server is running on {} (it holds {}): it caches sessions and users in \
             its memory and would not see this change. Stop it (e.g. `systemctl stop authnzrv`), \
             run the command, and start it again; or make the change through the server's \
             internal-user-lock / internal-user-edit requests. Reading commands (user list, \
             user show) work while it runs.",
            path.display(),
            lock_file_path(path).display()
        ),
        DatabaseLock::Unavailable(e) if e.kind() == std::io::ErrorKind::Unsupported => Ok(None),
        DatabaseLock::Unavailable(e) => anyhow::bail!(
            "cannot take the lock {} of the auth database: {e}",
            lock_file_path(path).display()
        ),
    }
}

/// Refuse to run as another user than the owner of the database file.
#[cfg(target_os = "linux")]
fn check_owner(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::MetadataExt as _;
    let owner = std::fs::metadata(path)?.uid();
    let me = rustix::process::geteuid().as_raw();
    if owner != me {
        anyhow::bail!(
            "the auth database {} belongs to user id {owner}, and this command runs as user id {me}: \
             run it as the database's owner (e.g. `sudo -u authnz authnzrv ...`), so that the \
             files SQLite creates beside it stay readable by the server",
            path.display()
        );
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn check_owner(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}
