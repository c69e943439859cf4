//! The file operations the fs backend needs, as a trait over the store directory, and their
//! implementation with `std::fs` for native builds (the CLI's store tools, the tests); the
//! component has its own, over `wasi:filesystem` ([`wasi`](super::wasi)).
//!
//! Natively, no name below the store directory is ever followed if it is a symbolic link (the
//! store's files are all ours and none is a link): files open with `O_NOFOLLOW`, and the
//! directories on the way to a file are checked with `symlink_metadata` first. A planted link
//! is an error that names it, never a read or a write outside the store. The component needs
//! none of this: it opens nothing through links (`wasi.rs`).
//!
//! The protocol in [`publish`](super::publish) uses nothing else, so it runs unchanged over a
//! simulated filesystem in its tests, where every operation is a point at which another
//! instance may run, pause or crash.

#[cfg(not(target_arch = "wasm32"))]
use std::{
    cell::Cell,
    fs::{self, File, OpenOptions},
    hash::{BuildHasher, RandomState},
    io::{ErrorKind, Read, Write},
    path::PathBuf,
};

use super::io;
use crate::prelude::*;

/// What [`Files::link`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// The new name was made.
    Made,
    /// The new name exists already; nothing changed.
    Taken,
    /// The file to link is gone.
    SourceGone,
}

/// Operations on files named by paths relative to the store directory (`shard/name`). Every
/// operation is atomic on its own; `None`, `false` or [`Link::SourceGone`] report a missing
/// file, so that callers can tell it from a failure.
pub trait Files {
    /// An open file that [`Files::create`] made, which stays readable after its name moves.
    type Handle;

    /// A directory opened by its path, which stays that directory for every operation made
    /// through it, even once its name is removed or given to another directory.
    type Dir;

    /// Opens the directory `path`; `None` when there is none.
    fn open_dir(&self, path: &str) -> io::Result<Option<Self::Dir>>;

    /// [`Files::read`] of the file `name` in the open directory `dir`.
    fn read_in(&self, dir: &Self::Dir, name: &str, max: u64) -> io::Result<Option<Vec<u8>>>;

    /// [`Files::remove`] of the file `name` in the open directory `dir`.
    fn remove_in(&self, dir: &Self::Dir, name: &str) -> io::Result<bool>;

    /// Creates the file `path`, which must not exist, with `bytes`, synced to disk if `sync`.
    fn create(&self, path: &str, bytes: &[u8], sync: bool) -> io::Result<Self::Handle>;

    /// The byte at `offset` of an open file.
    fn read_byte(&self, handle: &Self::Handle, offset: u64) -> io::Result<u8>;

    /// The whole file `path`, or `None` when there is none; a file larger than `max` bytes is
    /// an error of kind `FileTooLarge`, found before anything of its size is allocated.
    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>>;

    /// The first `len` bytes of the file `path` (fewer if it is shorter), or `None` when there
    /// is none: a record's header without its entries.
    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>>;

    /// Writes `byte` at `offset` of the file `path`; `false` when there is no such file.
    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool>;

    /// Gives the file `from` the second name `to`, if `to` is free.
    fn link(&self, from: &str, to: &str) -> io::Result<Link>;

    /// Renames `from` to `to`, replacing `to`; `false` when `from` does not exist. A directory
    /// replaces only an empty directory: onto any other, the rename fails with an error of kind
    /// `DirectoryNotEmpty` or `AlreadyExists`, and changes nothing.
    fn rename(&self, from: &str, to: &str) -> io::Result<bool>;

    /// Removes the name `path`; `false` when it does not exist.
    fn remove(&self, path: &str) -> io::Result<bool>;

    /// Creates the directory `path`; `false` when it exists already.
    fn create_dir(&self, path: &str) -> io::Result<bool>;

    /// The names in the directory `path`, or `None` when there is no such directory.
    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>>;

    /// Removes the empty directory `path`; `false` when it does not exist.
    fn remove_dir(&self, path: &str) -> io::Result<bool>;

    /// Makes the entries made, renamed and removed in the directory `path` durable.
    fn sync_dir(&self, path: &str) -> io::Result<()>;

    /// The path as messages show it (the store directory joined with `path`).
    fn show(&self, path: &str) -> String;

    /// A random number for the name of a temporary file: never the same twice in practice.
    fn nonce(&self) -> u64;
}

/// [`Files`] on a real directory, through `std::fs`.
#[cfg(not(target_arch = "wasm32"))]
pub struct StdFiles {
    root: PathBuf,
}

#[cfg(not(target_arch = "wasm32"))]
impl StdFiles {
    /// The files under `root`.
    pub fn new(root: impl Into<PathBuf>) -> StdFiles {
        StdFiles { root: root.into() }
    }

    /// The host path of `path`, after checking that no directory on the way to it below the
    /// root is a symbolic link.
    fn path(&self, path: &str) -> io::Result<PathBuf> {
        if path.is_empty() {
            return Ok(self.root.clone());
        }
        let mut at = path;
        while let Some((dir, _)) = at.rsplit_once('/') {
            not_a_link(&self.root.join(dir))?;
            at = dir;
        }
        Ok(self.root.join(path))
    }
}

/// Options that open a file without following a symbolic link at its name.
#[cfg(not(target_arch = "wasm32"))]
fn options() -> OpenOptions {
    #[cfg_attr(not(unix), allow(unused_mut))]
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, O_NOFOLLOW);
    options
}

/// `O_NOFOLLOW` of the target's `open(2)` on unix (std does not name it; libc does), 0
/// elsewhere, where [`opened`] still refuses a link, a moment after opening it.
#[cfg(all(unix, not(target_arch = "wasm32")))]
const O_NOFOLLOW: i32 = libc::O_NOFOLLOW;
#[cfg(not(any(unix, target_arch = "wasm32")))]
const O_NOFOLLOW: i32 = 0;

/// An error if `path` is a symbolic link (a missing name is not an error).
#[cfg(not(target_arch = "wasm32"))]
fn not_a_link(path: &std::path::Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(a_link()),
        _ => Ok(()),
    }
}

/// The error of a symbolic link met below the store directory.
#[cfg(not(target_arch = "wasm32"))]
fn a_link() -> io::Error {
    io::Error::new(
        ErrorKind::InvalidData,
        "it is a symbolic link, which keyvalue-virt never makes: remove it",
    )
}

/// Opens `path` with `options`, refusing a symbolic link: `O_NOFOLLOW` makes the open fail on
/// one, and the check of what was opened covers systems where the flag is unknown.
#[cfg(not(target_arch = "wasm32"))]
fn opened(options: &OpenOptions, path: &std::path::Path) -> io::Result<File> {
    match options.open(path) {
        Ok(file) => {
            if O_NOFOLLOW == 0 {
                not_a_link(path)?;
            }
            Ok(file)
        }
        Err(e) if e.kind() != ErrorKind::NotFound && e.kind() != ErrorKind::AlreadyExists => {
            not_a_link(path)?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// An error unless `name` is one name in a directory: not empty, `.` or `..`, and without a
/// `/` (or a NUL, which no system takes). The names [`Files::read_in`] and
/// [`Files::remove_in`] are given are all ours, so this only keeps a wrong one from reaching
/// another directory (natively: in the component, the runtime confines every path to the
/// granted directory).
#[cfg(any(test, not(target_arch = "wasm32")))]
pub fn check_name(name: &str) -> io::Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a name in a directory"),
        ));
    }
    Ok(())
}

/// The error of a file larger than `max` bytes.
pub fn too_large(max: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::FileTooLarge,
        format!("it is larger than {max} bytes"),
    )
}

/// `Ok(None)` for a missing file, the error otherwise.
#[cfg(not(target_arch = "wasm32"))]
fn absent<T>(result: io::Result<T>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

#[cfg(not(target_arch = "wasm32"))]
/// Fills `buf` from `file`. A read that returns nothing is retried a few times: wasmtime-wasi
/// may return 0 bytes on a first read, and the caller knows the file's size.
fn read_full(mut file: impl Read, mut buf: &mut [u8]) -> io::Result<()> {
    let mut empty = 0;
    while !buf.is_empty() {
        match file.read(buf) {
            Ok(0) if empty < 16 => empty += 1,
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                empty = 0;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The whole of an open file, refusing it if it is larger than `max` bytes before anything of
/// its size is allocated.
#[cfg(not(target_arch = "wasm32"))]
fn read_open(mut file: File, max: u64) -> io::Result<Vec<u8>> {
    let len = file.metadata()?.len();
    if len > max {
        return Err(too_large(max));
    }
    let len = usize::try_from(len).map_err(|_| too_large(max))?;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(len)
        .map_err(|_| io::Error::new(ErrorKind::OutOfMemory, "the file is too large"))?;
    bytes.resize(len, 0);
    read_full(&mut file, &mut bytes)?;
    Ok(bytes)
}

/// `name` for a call of the system's, once [`check_name`] has passed it.
#[cfg(all(unix, not(target_arch = "wasm32")))]
fn c_name(name: &str) -> io::Result<std::ffi::CString> {
    check_name(name)?;
    std::ffi::CString::new(name).map_err(|_| ErrorKind::InvalidInput.into())
}

/// Whether `name` in the open directory `dir` is a symbolic link: after an `openat` with
/// `O_NOFOLLOW` failed, which systems report with different errors (`ELOOP`, `EMLINK`).
#[cfg(all(unix, not(target_arch = "wasm32")))]
fn is_link_in(dir: &File, name: &std::ffi::CStr) -> bool {
    use std::os::fd::AsRawFd;
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `dir` is an open descriptor, `name` is NUL-terminated, and `stat` has room for
    // what `fstatat` writes.
    let done = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            stat.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    // SAFETY: `fstatat` succeeded, so it filled `stat`.
    done == 0 && unsafe { stat.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFLNK
}

#[cfg(not(target_arch = "wasm32"))]
impl Files for StdFiles {
    type Handle = File;

    /// The directory's own descriptor: `openat` and `unlinkat` through it reach its entries
    /// wherever it has moved, and none once it is removed.
    #[cfg(unix)]
    type Dir = File;

    /// Elsewhere its path: std opens no directory there, so this is not tied to the directory
    /// itself, and reaches whatever directory has the path at each operation.
    #[cfg(not(unix))]
    type Dir = PathBuf;

    #[cfg(unix)]
    fn open_dir(&self, path: &str) -> io::Result<Option<File>> {
        let host = self.path(path)?;
        let mut options = OpenOptions::new();
        options.read(true);
        if path.is_empty() {
            // The store directory itself, which the user named, may be reached through a link.
            std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_DIRECTORY);
            return absent(options.open(host));
        }
        std::os::unix::fs::OpenOptionsExt::custom_flags(
            &mut options,
            libc::O_DIRECTORY | libc::O_NOFOLLOW,
        );
        absent(opened(&options, &host))
    }

    #[cfg(not(unix))]
    fn open_dir(&self, path: &str) -> io::Result<Option<PathBuf>> {
        let host = self.path(path)?;
        if !path.is_empty() {
            not_a_link(&host)?;
        }
        match absent(fs::metadata(&host))? {
            None => Ok(None),
            Some(meta) if meta.is_dir() => Ok(Some(host)),
            Some(_) => Err(io::Error::new(
                ErrorKind::NotADirectory,
                "it is not a directory",
            )),
        }
    }

    #[cfg(unix)]
    fn read_in(&self, dir: &File, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        use std::os::fd::{AsRawFd, FromRawFd};
        let name = c_name(name)?;
        // SAFETY: `dir` is an open descriptor and `name` is NUL-terminated.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                ErrorKind::NotFound => Ok(None),
                _ if is_link_in(dir, &name) => Err(a_link()),
                _ => Err(e),
            };
        }
        // SAFETY: `fd` was just opened, and nothing else owns it.
        read_open(unsafe { File::from_raw_fd(fd) }, max).map(Some)
    }

    #[cfg(not(unix))]
    fn read_in(&self, dir: &PathBuf, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        check_name(name)?;
        let Some(file) = absent(opened(options().read(true), &dir.join(name)))? else {
            return Ok(None);
        };
        read_open(file, max).map(Some)
    }

    #[cfg(unix)]
    fn remove_in(&self, dir: &File, name: &str) -> io::Result<bool> {
        use std::os::fd::AsRawFd;
        let name = c_name(name)?;
        // `unlinkat` removes a link itself, never what it points to.
        // SAFETY: `dir` is an open descriptor and `name` is NUL-terminated.
        if unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) } == 0 {
            return Ok(true);
        }
        match io::Error::last_os_error() {
            e if e.kind() == ErrorKind::NotFound => Ok(false),
            e => Err(e),
        }
    }

    #[cfg(not(unix))]
    fn remove_in(&self, dir: &PathBuf, name: &str) -> io::Result<bool> {
        check_name(name)?;
        Ok(absent(fs::remove_file(dir.join(name)))?.is_some())
    }

    fn create(&self, path: &str, bytes: &[u8], sync: bool) -> io::Result<File> {
        let mut file = opened(
            options().read(true).write(true).create_new(true),
            &self.path(path)?,
        )?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        Ok(file)
    }

    fn read_byte(&self, handle: &File, offset: u64) -> io::Result<u8> {
        let mut byte = [0];
        read_at(handle, offset, &mut byte)?;
        Ok(byte[0])
    }

    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = absent(opened(options().read(true), &self.path(path)?))? else {
            return Ok(None);
        };
        read_open(file, max).map(Some)
    }

    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = absent(opened(options().read(true), &self.path(path)?))? else {
            return Ok(None);
        };
        let mut head = Vec::with_capacity(len);
        file.take(len as u64).read_to_end(&mut head)?;
        Ok(Some(head))
    }

    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        let Some(file) = absent(opened(options().write(true), &self.path(path)?))? else {
            return Ok(false);
        };
        write_at(&file, offset, &[byte])?;
        Ok(true)
    }

    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        // `link(2)` gives a link its second name without following it; the next open of
        // either name refuses it.
        match fs::hard_link(self.path(from)?, self.path(to)?) {
            Ok(()) => Ok(Link::Made),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(Link::Taken),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(Link::SourceGone),
            Err(e) => Err(e),
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        // A renamed link stays a link (never followed), which every later open refuses.
        Ok(absent(fs::rename(self.path(from)?, self.path(to)?))?.is_some())
    }

    fn remove(&self, path: &str) -> io::Result<bool> {
        Ok(absent(fs::remove_file(self.path(path)?))?.is_some())
    }

    fn create_dir(&self, path: &str) -> io::Result<bool> {
        match fs::create_dir(self.path(path)?) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        let host = self.path(path)?;
        if !path.is_empty() {
            not_a_link(&host)?;
        }
        let Some(entries) = absent(fs::read_dir(host))? else {
            return Ok(None);
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                // Removed while listed (wasi-libc looks each entry up): it is not there.
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Names that are not UTF-8 are not ours; they are skipped like other strangers.
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        Ok(Some(names))
    }

    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        Ok(absent(fs::remove_dir(self.path(path)?))?.is_some())
    }

    #[cfg(unix)]
    fn sync_dir(&self, path: &str) -> io::Result<()> {
        opened(options().read(true), &self.path(path)?)?.sync_all()
    }

    // Windows has no directory sync (std cannot even open a directory): NTFS journals its
    // renames and links itself.
    #[cfg(not(unix))]
    fn sync_dir(&self, path: &str) -> io::Result<()> {
        self.path(path).map(drop)
    }

    fn show(&self, path: &str) -> String {
        // `Path::display` costs more code in the component; store paths are ours and ASCII
        // below the root.
        let root = self.root.to_string_lossy();
        if path.is_empty() {
            root.into_owned()
        } else {
            format!("{}/{path}", root.trim_end_matches('/'))
        }
    }

    fn nonce(&self) -> u64 {
        random_nonce()
    }
}

/// A random number, new on every call.
#[cfg(not(target_arch = "wasm32"))]
fn random_nonce() -> u64 {
    std::thread_local! {
        static COUNTER: Cell<u64> = const { Cell::new(0) };
    }
    let n = COUNTER.get().wrapping_add(1);
    COUNTER.set(n);
    // std seeds `RandomState` from the system's randomness (`wasi:random`) once per thread;
    // hashing a counter with it gives a new number every time.
    RandomState::new().hash_one(n)
}

#[cfg(unix)]
fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(unix)]
fn write_at(file: &File, offset: u64, buf: &[u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, buf, offset)
}

// Elsewhere through the file's cursor; each handle is used by one thread.
#[cfg(all(not(unix), not(target_arch = "wasm32")))]
fn read_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    read_full(file, buf)
}

#[cfg(all(not(unix), not(target_arch = "wasm32")))]
fn write_at(file: &File, offset: u64, buf: &[u8]) -> io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(buf)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    /// The flag is the system's own: opening a link with it fails at once (not only through
    /// the check after opening).
    #[test]
    fn o_nofollow_refuses_a_link() {
        let dir = std::env::temp_dir().join(format!("kv-nofollow-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("file"), "x").unwrap();
        std::os::unix::fs::symlink(dir.join("file"), dir.join("link")).unwrap();
        assert!(options().read(true).open(dir.join("file")).is_ok());
        if O_NOFOLLOW != 0 {
            assert!(options().read(true).open(dir.join("link")).is_err());
        }
        let error = opened(options().read(true), &dir.join("link")).unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        fs::remove_dir_all(&dir).unwrap();
    }

    /// An open directory stays that directory: once it is removed and another made at its
    /// path, reading or removing through it finds nothing, and leaves the new one alone.
    #[test]
    fn an_open_directory_outlives_its_name() {
        let root = std::env::temp_dir().join(format!("kv-open-dir-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("s/a")).unwrap();
        fs::write(root.join("s/a/r"), "one").unwrap();
        let files = StdFiles::new(&root);
        assert!(files.open_dir("s/b").unwrap().is_none());
        let a = files.open_dir("s/a").unwrap().unwrap();
        assert_eq!(files.read_in(&a, "r", 9).unwrap().unwrap(), b"one");
        let error = files.read_in(&a, "r", 2).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::FileTooLarge);
        assert!(files.read_in(&a, "../a/r", 9).is_err());

        // Moved, it is still reached.
        assert!(files.rename("s/a", "s/b").unwrap());
        assert_eq!(files.read_in(&a, "r", 9).unwrap().unwrap(), b"one");

        // Onto a directory that is not empty, a rename fails.
        fs::create_dir(root.join("s/c")).unwrap();
        fs::write(root.join("s/c/r"), "two").unwrap();
        let error = files.rename("s/c", "s/b").unwrap_err();
        assert!(
            matches!(
                error.kind(),
                ErrorKind::DirectoryNotEmpty | ErrorKind::AlreadyExists
            ),
            "{error}"
        );

        // Removed, and another put at its path: the old handle reaches nothing.
        assert!(files.remove_in(&a, "r").unwrap());
        assert!(!files.remove_in(&a, "r").unwrap());
        assert!(files.remove_dir("s/b").unwrap());
        assert!(files.rename("s/c", "s/b").unwrap());
        assert_eq!(files.read_in(&a, "r", 9).unwrap(), None);
        assert!(!files.remove_in(&a, "r").unwrap());
        assert_eq!(fs::read(root.join("s/b/r")).unwrap(), b"two");

        // Links are refused, at the directory and in it; a file is no directory.
        std::os::unix::fs::symlink(root.join("s/b"), root.join("s/link")).unwrap();
        let error = files.open_dir("s/link").unwrap_err();
        assert!(error.to_string().contains("symbolic link"), "{error}");
        let b = files.open_dir("s/b").unwrap().unwrap();
        std::os::unix::fs::symlink(root.join("s/b/r"), root.join("s/b/l")).unwrap();
        let error = files.read_in(&b, "l", 9).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidData);
        assert!(error.to_string().contains("symbolic link"), "{error}");
        assert!(files.remove_in(&b, "l").unwrap());
        assert_eq!(fs::read(root.join("s/b/r")).unwrap(), b"two");
        assert!(files.open_dir("s/b/r").is_err());
        fs::remove_dir_all(&root).unwrap();
    }
}
