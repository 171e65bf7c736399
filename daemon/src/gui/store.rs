//! lvs.cf on disk: read with a content hash, write atomically (temp file in the same
//! directory, fsync, rename, fsync the directory) keeping the previous version as `.bak`.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Mode of lvs.cf and its backup: root reads and writes, its group reads.
pub const CONFIG_MODE: u32 = 0o640;

/// The file as read: its bytes (empty when it does not exist yet) and their hash.
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The content.
    pub bytes: Vec<u8>,
    /// SHA-256 of the content, hex: what an edit form carries to detect concurrent edits.
    pub hash: String,
    /// Whether the file exists.
    pub exists: bool,
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn content_hash(bytes: &[u8]) -> String {
    super::auth::hex(&Sha256::digest(bytes))
}

/// Read the file (a missing file reads as empty).
pub fn load(path: &Path) -> io::Result<Loaded> {
    match fs::read(path) {
        Ok(bytes) => Ok(Loaded {
            hash: content_hash(&bytes),
            bytes,
            exists: true,
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Loaded {
            hash: content_hash(b""),
            bytes: Vec::new(),
            exists: false,
        }),
        Err(e) => Err(e),
    }
}

/// The backup's path: `lvs.cf.bak` next to `lvs.cf`.
pub fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".bak");
    path.with_file_name(name)
}

/// Write `bytes` to `path` atomically with `mode`: a new file in the same directory, fsync,
/// rename over `path`, fsync the directory. Readers see the old or the new file, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp.{}", super::auth::random_hex(8)));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have removed bits; the mode is part of the contract.
        f.set_permissions(fs::Permissions::from_mode(mode))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        fs::rename(&tmp, path)?;
        fs::File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Replace lvs.cf with `new`, keeping `old` (what was there) as `lvs.cf.bak`.
pub fn save_with_backup(path: &Path, old: &Loaded, new: &[u8]) -> io::Result<()> {
    if old.exists {
        write_atomically(&backup_path(path), &old.bytes, CONFIG_MODE)?;
    }
    write_atomically(path, new, CONFIG_MODE)
}
