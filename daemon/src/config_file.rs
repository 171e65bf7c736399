//! Reading lvs.cf so that a wrong path can neither hang the daemon nor exhaust its memory:
//! only a regular file is read (a FIFO would block the open until a writer comes, `/dev/zero`
//! never ends), and at most [`MAX_CONFIG_BYTES`] of it.

use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// The largest lvs.cf read: 32 MiB. 10,000 virtual servers of 10 real servers each, as the web
/// tool writes them, are about 8 MiB.
pub const MAX_CONFIG_BYTES: u64 = 32 << 20;

/// The bytes of the lvs.cf at `path`, or why not, for a person.
pub fn read(path: &Path) -> Result<Vec<u8>, String> {
    read_limited(path, MAX_CONFIG_BYTES)
}

/// [`read`] with another limit (tests).
pub fn read_limited(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let shown = path.display();
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer;
    // the type check below then refuses it. Reads of a regular file ignore the flag.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        let what = file_kind(&meta);
        return Err(format!(
            "{shown} is {what}, not a regular file: refusing to read it as lvs.cf"
        ));
    }
    if meta.len() > limit {
        return Err(format!(
            "{shown} is {} bytes, more than the {} an lvs.cf may have: refusing to read it",
            meta.len(),
            limit
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // The file may grow while it is read: never past the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{shown} grew past {limit} bytes while being read: refusing it"
        ));
    }
    Ok(bytes)
}

fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("piranha-cf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_read_whole() {
        let d = dir("regular");
        let p = d.join("lvs.cf");
        std::fs::write(&p, b"serial_no = 1\n").unwrap();
        assert_eq!(read(&p).unwrap(), b"serial_no = 1\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_fifo_is_refused_at_once_instead_of_blocking() {
        let d = dir("fifo");
        let p = d.join("lvs.cf");
        // mkfifo(1), not libc: the crate stays free of unsafe code.
        let made = std::process::Command::new("mkfifo").arg(&p).status();
        if !made.is_ok_and(|s| s.success()) {
            println!("SKIPPED: no mkfifo");
            return;
        }
        let err = read(&p).unwrap_err();
        assert!(err.contains("is a FIFO, not a regular file"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn devices_directories_and_oversized_files_are_refused() {
        let err = read(Path::new("/dev/zero")).unwrap_err();
        assert!(err.contains("a character device"), "{err}");
        let d = dir("big");
        assert!(read(&d).unwrap_err().contains("a directory"));
        let p = d.join("lvs.cf");
        std::fs::write(&p, vec![b'#'; 1000]).unwrap();
        let err = read_limited(&p, 999).unwrap_err();
        assert!(err.contains("1000 bytes, more than the 999"), "{err}");
        assert_eq!(read_limited(&p, 1000).unwrap().len(), 1000);
        assert!(read(&d.join("missing"))
            .unwrap_err()
            .contains("cannot read"));
        let _ = std::fs::remove_dir_all(&d);
    }
}
