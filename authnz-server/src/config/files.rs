//! Careful file writing for auto-setup: every file is first written in full
//! to a temporary name in the same directory, then linked or renamed into
//! place, so a crash never leaves a half-written key or `.env` behind, and a
//! file that must not be overwritten is never overwritten (even by a
//! concurrent run). Modes are set explicitly, independent of the umask.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files of concurrent writers in one process.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `path` with `contents` and `mode` unless it already exists.
/// Returns `Ok(false)` (and leaves the file untouched) if it exists.
pub fn create_new(path: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    let temp = write_temp(path, contents, mode)?;
    let linked = fs::hard_link(&temp, path);
    let result = match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // Some file systems have no hard links: fall back to an exclusive
        // create, still never overwriting.
        Err(_) => create_new_direct(path, contents, mode),
    };
    remove_quietly(&temp);
    result
}

/// Writes `path` with `contents` and `mode`, atomically replacing any
/// existing file.
pub fn replace(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let temp = write_temp(path, contents, mode)?;
    fs::rename(&temp, path).inspect_err(|_| remove_quietly(&temp))
}

fn create_new_direct(path: &Path, contents: &[u8], mode: u32) -> io::Result<bool> {
    match open_new(path, mode) {
        Ok(mut file) => {
            file.write_all(contents)?;
            file.sync_all()?;
            set_mode(path, mode)?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes a complete temporary sibling of `path` and returns its name.
fn write_temp(path: &Path, contents: &[u8], mode: u32) -> io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut attempts = 0;
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        match open_new(&temp, mode) {
            Ok(mut file) => {
                let written = file
                    .write_all(contents)
                    .and_then(|()| file.sync_all())
                    .and_then(|()| set_mode(&temp, mode));
                return match written {
                    Ok(()) => Ok(temp),
                    Err(e) => {
                        remove_quietly(&temp);
                        Err(e)
                    }
                };
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 100 => {
                attempts += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn remove_quietly(path: &Path) {
    // A leftover temporary file is harmless; the real result is reported.
    let _ = fs::remove_file(path);
}

#[cfg(unix)]
fn open_new(path: &Path, mode: u32) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
}

#[cfg(not(unix))]
fn open_new(path: &Path, _mode: u32) -> io::Result<fs::File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Sets the permission bits exactly (the umask may have removed some).
#[cfg(unix)]
pub fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Permission bits do not exist here; nothing to do.
#[cfg(not(unix))]
pub fn set_mode(_path: &Path, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Creates `dir` and missing parents; new directories get mode 0700.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn create_new_never_overwrites_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        assert!(create_new(&path, b"one", 0o400).unwrap());
        assert!(!create_new(&path, b"two", 0o400).unwrap());
        assert_eq!(fs::read(&path).unwrap(), b"one");
        replace(&dir.path().join("r"), b"x", 0o600).unwrap();
        replace(&dir.path().join("r"), b"y", 0o600).unwrap();
        assert_eq!(fs::read(dir.path().join("r")).unwrap(), b"y");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }
}
