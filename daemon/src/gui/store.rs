//! lvs.cf on disk: read with a content hash, write atomically (temp file in the same
//! directory, fsync, rename, fsync the directory) keeping the previous version as `.bak`.
//! A save keeps the file's owner, group and mode (never looser than [`CONFIG_MODE`]); a
//! symlinked lvs.cf is written next to its target, which is replaced; the link stays.

use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Mode of a new lvs.cf and the loosest a save leaves: root reads and writes, its group reads.
pub const CONFIG_MODE: u32 = 0o640;

/// Owner, group and mode a written file gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Owner (`None`: the writing process's).
    pub uid: Option<u32>,
    /// Group (`None`: the writing process's).
    pub gid: Option<u32>,
    /// Permission bits.
    pub mode: u32,
}

impl Ownership {
    /// A new file of this process, with `mode`.
    pub fn new_file(mode: u32) -> Self {
        Ownership {
            uid: None,
            gid: None,
            mode,
        }
    }
}

/// The file `path` really is (the target of a symlink, followed to the end), and the
/// ownership a save must keep: its owner and group, and the stricter of its mode and
/// [`CONFIG_MODE`]. A missing file is written as a new one (0640). A symlink whose target
/// does not exist is refused: writing a regular file in its place would cut the link.
pub fn target_of(path: &Path) -> io::Result<(PathBuf, Ownership)> {
    use std::os::unix::fs::MetadataExt as _;
    let link = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok((path.to_path_buf(), Ownership::new_file(CONFIG_MODE)))
        }
        Err(e) => return Err(e),
    };
    let target = if link.file_type().is_symlink() {
        fs::canonicalize(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} is a symlink whose target cannot be resolved ({e}); \
                     nothing was written: fix the link or point -c at the real file",
                    path.display()
                ),
            )
        })?
    } else {
        path.to_path_buf()
    };
    let meta = fs::metadata(&target)?;
    if !meta.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file; nothing was written",
            target.display()
        )));
    }
    Ok((
        target,
        Ownership {
            uid: Some(meta.uid()),
            gid: Some(meta.gid()),
            mode: meta.mode() & 0o777 & CONFIG_MODE,
        },
    ))
}

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
    write_owned(path, bytes, Ownership::new_file(mode))
}

/// [`write_atomically`], the new file getting `own`'s owner, group and mode before it is
/// renamed into place (so it is never visible with other ones).
pub fn write_owned(path: &Path, bytes: &[u8], own: Ownership) -> io::Result<()> {
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
            .mode(own.mode)
            .open(&tmp)?;
        if own.uid.is_some() || own.gid.is_some() {
            std::os::unix::fs::fchown(&f, own.uid, own.gid).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!(
                        "cannot give the new {} owner {} group {} as the old one had ({e}); \
                         nothing was written",
                        path.display(),
                        own.uid.map_or("-".into(), |u| u.to_string()),
                        own.gid.map_or("-".into(), |g| g.to_string()),
                    ),
                )
            })?;
        }
        // The umask may have removed bits, chown may have cleared some: the mode is part of
        // the contract.
        f.set_permissions(fs::Permissions::from_mode(own.mode))?;
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

/// Replace lvs.cf with `new`, keeping `old` (what was there) as `lvs.cf.bak` next to the path
/// named (`-c`). Both keep the file's owner, group and (stricter) mode; a symlinked lvs.cf is
/// written next to its target and renamed over it, so the link stays and points at the new
/// text.
pub fn save_with_backup(path: &Path, old: &Loaded, new: &[u8]) -> io::Result<()> {
    let (target, own) = target_of(path)?;
    if old.exists {
        write_owned(&backup_path(path), &old.bytes, own)?;
    }
    write_owned(&target, new, own)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt as _;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("piranha-store-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_save_keeps_owner_group_and_the_stricter_mode() {
        let d = dir("owner");
        let cf = d.join("lvs.cf");
        fs::write(&cf, "serial_no = 1\n").unwrap();
        // Whoever runs the test may give the file away only when root.
        let root = is_root();
        let (uid, gid) = if root {
            (65534, 65534)
        } else {
            (
                fs::metadata(&cf).unwrap().uid(),
                fs::metadata(&cf).unwrap().gid(),
            )
        };
        if root {
            std::os::unix::fs::chown(&cf, Some(uid), Some(gid)).unwrap();
        }
        fs::set_permissions(&cf, fs::Permissions::from_mode(0o600)).unwrap();
        let old = load(&cf).unwrap();
        save_with_backup(&cf, &old, b"serial_no = 2\n").unwrap();
        for p in [cf.clone(), backup_path(&cf)] {
            let m = fs::metadata(&p).unwrap();
            assert_eq!(
                (m.uid(), m.gid(), m.mode() & 0o7777),
                (uid, gid, 0o600),
                "{}",
                p.display()
            );
        }
        // A looser file gets no looser than 0640; a new one is 0640.
        fs::set_permissions(&cf, fs::Permissions::from_mode(0o666)).unwrap();
        let old = load(&cf).unwrap();
        save_with_backup(&cf, &old, b"serial_no = 3\n").unwrap();
        assert_eq!(fs::metadata(&cf).unwrap().mode() & 0o7777, 0o640);
        let fresh = d.join("new.cf");
        save_with_backup(&fresh, &load(&fresh).unwrap(), b"serial_no = 1\n").unwrap();
        assert_eq!(fs::metadata(&fresh).unwrap().mode() & 0o7777, 0o640);
        let _ = fs::remove_dir_all(&d);
    }

    fn is_root() -> bool {
        fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }

    #[test]
    fn a_symlinked_file_is_replaced_at_its_target_and_the_link_stays() {
        let d = dir("link");
        fs::create_dir_all(d.join("real")).unwrap();
        let target = d.join("real/lvs.cf");
        fs::write(&target, "serial_no = 1\n").unwrap();
        fs::set_permissions(&target, fs::Permissions::from_mode(0o600)).unwrap();
        let link = d.join("lvs.cf");
        std::os::unix::fs::symlink("real/lvs.cf", &link).unwrap();
        let old = load(&link).unwrap();
        save_with_backup(&link, &old, b"serial_no = 2\n").unwrap();
        assert!(fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(&target).unwrap(), "serial_no = 2\n");
        assert_eq!(fs::read_to_string(&link).unwrap(), "serial_no = 2\n");
        assert_eq!(fs::metadata(&target).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(
            fs::read_to_string(backup_path(&link)).unwrap(),
            "serial_no = 1\n"
        );
        // No temporary file left next to either.
        for sub in [d.clone(), d.join("real")] {
            let stray: Vec<_> = fs::read_dir(&sub)
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().contains(".tmp."))
                .collect();
            assert!(stray.is_empty(), "{stray:?}");
        }
        // A dangling link is refused, and stays a link.
        let dangling = d.join("dangling.cf");
        std::os::unix::fs::symlink("real/missing.cf", &dangling).unwrap();
        let err = save_with_backup(&dangling, &load(&dangling).unwrap(), b"x").unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        let _ = fs::remove_dir_all(&d);
    }
}
