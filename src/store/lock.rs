//! The storage directory's writer lock: `serve` holds an exclusive advisory lock on
//! `storage.dir/dcpue.lock` for as long as it runs, and every other writer of the directory
//! (`import`) takes the same lock first, so two processes never write one state. The lock is
//! the operating system's (`flock`): it goes with the process, also when it crashes, so a stale
//! lock file never blocks anything. The file holds the holder's command and process id, for the
//! message of the one refused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The lock file in `storage.dir`.
pub const LOCK_FILE: &str = "dcpue.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Takes the writer lock of `dir` for `command` (`serve`, `import`), without waiting: held by
/// another process, it is [`StoreError::Locked`], naming the directory and the holder.
pub fn lock_dir(dir: &Path, command: &str) -> Result<DirLock, StoreError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            // What the holder wrote (bounded; unreadable counts as unknown).
            let _ = (&file).take(256).read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StoreError::Locked {
                dir: dir.display().to_string(),
                holder: if holder.is_empty() {
                    "another dcpue process".into()
                } else {
                    format!("`dcpue {holder}`")
                },
            });
        }
        Err(TryLockError::Error(e)) => return Err(io(e)),
    }
    // The holder, for the message of whoever is refused.
    file.set_len(0).map_err(io)?;
    file.seek(SeekFrom::Start(0)).map_err(io)?;
    file.write_all(format!("{command} (pid {})\n", std::process::id()).as_bytes())
        .map_err(io)?;
    Ok(DirLock { _file: file, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_dir_and_the_first() {
        let d = tempfile::tempdir().unwrap();
        let first = lock_dir(d.path(), "serve").unwrap();
        let err = lock_dir(d.path(), "import").unwrap_err().to_string();
        assert!(err.contains(&d.path().display().to_string()), "{err}");
        assert!(
            err.contains(&format!("`dcpue serve (pid {})`", std::process::id())),
            "{err}"
        );
        drop(first);
        let again = lock_dir(d.path(), "import").unwrap();
        assert_eq!(again.path(), d.path().join(LOCK_FILE));
    }
}
