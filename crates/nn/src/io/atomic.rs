//! Replacing a file atomically: the bytes go to a locked temporary file beside the target,
//! which is flushed to disk and renamed over it. See [`save`](super::save) for the guarantees.

use super::{IoError, IoErrorKind};
use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions, Permissions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// What `metadata` describes, as a phrase for messages (`"a directory"`); `None` for a regular
/// file.
pub(super) fn non_regular(metadata: &Metadata) -> Option<&'static str> {
    let ty = metadata.file_type();
    if ty.is_file() {
        return None;
    }
    if ty.is_dir() {
        return Some("a directory");
    }
    if ty.is_symlink() {
        return Some("a symbolic link");
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ty.is_char_device() {
            return Some("a character device");
        }
        if ty.is_block_device() {
            return Some("a block device");
        }
        if ty.is_fifo() {
            return Some("a FIFO");
        }
        if ty.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

/// `.NAME.tapegrad-save.tmp` beside `path`: the one temporary file every save to `path` uses.
pub(super) fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(".tapegrad-save.tmp");
    Ok(path.with_file_name(tmp_name))
}

/// The number of hard links to the file `metadata` describes (1 where the platform can't say).
fn links(metadata: &Metadata) -> u64 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        metadata.nlink()
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        1
    }
}

/// The checks of [`check_save_target`](super::check_save_target). Returns the permissions of
/// the regular file at `path`, if there is one, for the new file to keep.
pub(super) fn check_target(path: &Path) -> Result<Option<Permissions>, IoError> {
    let error = |kind| IoError::new(path, kind);
    let io_error = |source| error(IoErrorKind::Io { source });
    let temp = temp_path(path).map_err(io_error)?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let dir_metadata = fs::metadata(dir).map_err(io_error)?;
    if !dir_metadata.is_dir() {
        let message = format!("{} is not a directory", dir.display());
        return Err(io_error(io::Error::new(io::ErrorKind::NotADirectory, message)));
    }
    let permissions = match fs::symlink_metadata(path) {
        Ok(metadata) => {
            if let Some(found) = non_regular(&metadata) {
                return Err(error(IoErrorKind::NotARegularFile { found }));
            }
            if metadata.permissions().readonly() {
                return Err(error(IoErrorKind::ReadOnly));
            }
            let links = links(&metadata);
            if links > 1 {
                return Err(error(IoErrorKind::HardLinked { links }));
            }
            Some(metadata.permissions())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(io_error(e)),
    };
    match fs::symlink_metadata(&temp) {
        Ok(metadata) => {
            if let Some(found) = non_regular(&metadata) {
                return Err(error(IoErrorKind::BadTempFile { temp, found }));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(e)),
    }
    Ok(permissions)
}

/// The temporary file, locked; removed when this is dropped (before the lock goes with the
/// file, so that no other save can have taken it over), unless the rename has made it the
/// saved file.
struct Temp {
    path: PathBuf,
    file: Option<File>,
    renamed: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.renamed {
            // Best effort: the error worth reporting is the one that stopped the save.
            let _ = fs::remove_file(&self.path);
        }
        drop(self.file.take());
    }
}

/// Whether the open `file` is the file at `path` itself (not a file since put in its place,
/// nor the target of a symlink there), and its only link.
fn still_ours(file: &File, path: &Path) -> io::Result<bool> {
    let opened = file.metadata()?;
    let Ok(there) = fs::symlink_metadata(path) else { return Ok(false) };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Ok(there.is_file() && opened.dev() == there.dev() && opened.ino() == there.ino() && opened.nlink() == 1)
    }
    #[cfg(not(unix))]
    Ok(there.is_file() && opened.is_file())
}

/// Opens and locks the temporary file for `path`, emptied.
fn lock_temp(path: &Path, temp: &Path) -> Result<Temp, IoError> {
    let error = |kind| IoError::new(path, kind);
    let io_error = |source| error(IoErrorKind::Io { source });
    // A save that loses the race for the lock may have opened a file that the winner has since
    // renamed onto the target: `still_ours` catches that, and a retry opens the new temp.
    for _ in 0..3 {
        // Not truncated on open: the file may be another save's, until the lock says otherwise.
        let file = OpenOptions::new().write(true).create(true).truncate(false).open(temp).map_err(io_error)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(error(IoErrorKind::SaveInProgress { temp: temp.to_path_buf() }));
            }
            Err(TryLockError::Error(e)) => return Err(io_error(e)),
        }
        if !still_ours(&file, temp).map_err(io_error)? {
            continue;
        }
        // A stale temp left by a save that was killed: ours now, so emptied and reused.
        file.set_len(0).map_err(io_error)?;
        return Ok(Temp { path: temp.to_path_buf(), file: Some(file), renamed: false });
    }
    Err(error(IoErrorKind::SaveInProgress { temp: temp.to_path_buf() }))
}

/// Replaces `path` by a file holding what `write` writes, atomically, the new file having
/// `permissions` if given. The caller has run [`check_target`].
pub(super) fn write_atomically(
    path: &Path,
    permissions: Option<Permissions>,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> Result<(), IoError> {
    let io_error = |source| IoError::new(path, IoErrorKind::Io { source });
    let temp_path = temp_path(path).map_err(io_error)?;
    let mut temp = lock_temp(path, &temp_path)?;
    let file = temp.file.as_mut().expect("the file stays open until the drop");
    if let Some(permissions) = permissions {
        file.set_permissions(permissions).map_err(io_error)?;
    }
    write(file).map_err(io_error)?;
    file.flush().map_err(io_error)?;
    // On the disk before the rename, so that a crash after it cannot leave an empty or partial
    // file at `path`.
    file.sync_all().map_err(io_error)?;
    fs::rename(&temp.path, path).map_err(io_error)?;
    temp.renamed = true;
    drop(temp);
    sync_parent(path);
    Ok(())
}

/// Makes the rename itself durable. Best effort: the file is already in place, so a failure
/// here is no reason to report the save as failed.
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
