//! [`Files`] in the component, calling `wasi:filesystem@0.2.0` directly rather than through
//! `std::fs` and wasi-libc: it asks only for the descriptor flags every runtime grants (wasi-libc
//! asks for `mutate-directory` on every file it opens for writing, which jco refuses), reads and
//! writes at offsets in one call each, and leaves wasi-libc's file layer out of the component.
//!
//! Every path is resolved from the granted directory (the preopen) that holds the store, so
//! no other directory descriptor needs rights of its own.

use alloc::rc::Rc;
use core::cell::OnceCell;

use super::io;
use super::sys::{Files, Link};
use crate::local::local;
use crate::prelude::*;
use crate::wasi::filesystem::preopens::get_directories;
use crate::wasi::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags,
};

/// The directories the runtime grants, and the paths the guest knows them by.
type Preopens = Rc<Vec<(Descriptor, String)>>;

/// Files below a granted directory, through `wasi:filesystem`.
pub struct WasiFiles {
    /// The granted directory that holds the store (its index), or `None` when none does.
    preopen: Option<(Preopens, usize)>,
    /// The store's path below that directory (empty, or ending in `/`).
    prefix: String,
    /// The store's path as the guest names it, for messages.
    root: String,
}

local! {
    static PREOPENS: OnceCell<Preopens> = OnceCell::new();
}

impl WasiFiles {
    /// The files of the store at the guest path `root`.
    pub fn new(root: impl Into<String>) -> WasiFiles {
        let root = root.into();
        let preopens =
            PREOPENS.with(|cell| cell.get_or_init(|| Rc::new(get_directories())).clone());
        let best = super::preopen::best(preopens.iter().map(|(_, path)| path.as_str()), &root);
        let (preopen, prefix) = match best {
            Some((index, below)) => (
                Some((preopens.clone(), index)),
                if below.is_empty() {
                    String::new()
                } else {
                    format!("{below}/")
                },
            ),
            None => (None, String::new()),
        };
        WasiFiles {
            preopen,
            prefix,
            root,
        }
    }

    fn dir(&self) -> io::Result<&Descriptor> {
        match &self.preopen {
            Some((preopens, index)) => Ok(&preopens[*index].0),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                "no granted directory holds it",
            )),
        }
    }

    fn path(&self, path: &str) -> String {
        if path.is_empty() {
            let prefix = self.prefix.trim_end_matches('/');
            if prefix.is_empty() {
                ".".into()
            } else {
                prefix.into()
            }
        } else {
            format!("{}{path}", self.prefix)
        }
    }

    fn open(&self, path: &str, open: OpenFlags, flags: DescriptorFlags) -> io::Result<Descriptor> {
        self.dir()?
            .open_at(PathFlags::empty(), &self.path(path), open, flags)
            .map_err(error)
    }

    /// [`WasiFiles::open`] of something that may not exist: `None` when it does not.
    fn open_existing(
        &self,
        path: &str,
        open: OpenFlags,
        flags: DescriptorFlags,
    ) -> io::Result<Option<Descriptor>> {
        absent(
            self.dir()?
                .open_at(PathFlags::empty(), &self.path(path), open, flags),
        )
    }
}

/// `Ok(None)` for [`ErrorCode::NoEntry`], the error otherwise.
fn absent<T>(result: Result<T, ErrorCode>) -> io::Result<Option<T>> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(ErrorCode::NoEntry) => Ok(None),
        Err(code) => Err(error(code)),
    }
}

fn error(code: ErrorCode) -> io::Error {
    use io::ErrorKind as K;
    let kind = match code {
        ErrorCode::NoEntry => K::NotFound,
        ErrorCode::Exist => K::AlreadyExists,
        ErrorCode::Access | ErrorCode::NotPermitted | ErrorCode::ReadOnly => K::PermissionDenied,
        ErrorCode::NotDirectory => K::NotADirectory,
        ErrorCode::IsDirectory => K::IsADirectory,
        ErrorCode::NotEmpty => K::DirectoryNotEmpty,
        ErrorCode::InsufficientSpace | ErrorCode::Quota => K::StorageFull,
        ErrorCode::InsufficientMemory => K::OutOfMemory,
        ErrorCode::Unsupported => K::Unsupported,
        ErrorCode::Interrupted => K::Interrupted,
        ErrorCode::Invalid => K::InvalidInput,
        _ => K::Other,
    };
    io::Error::new(kind, format!("{code:?}"))
}

/// Writes all of `bytes` at `offset`.
fn write_all(file: &Descriptor, mut bytes: &[u8], mut offset: u64) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = file.write(bytes, offset).map_err(error)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written as usize..];
        offset += written;
    }
    Ok(())
}

/// What the first read of a file asks for. wasmtime-wasi zeroes a buffer of the size asked for
/// (up to 64 KiB) on every read, whatever the file holds, so a small ask costs less; a record
/// of a few small keys fits.
const FIRST_READ: u64 = 4 << 10;
/// What each later read asks for.
const CHUNK: u64 = 1 << 20;

/// Reads the whole file, refusing it once it proves larger than `max` bytes (each read asks
/// for at most a chunk, so no more than `max` plus a chunk is ever held).
///
/// A file that fills less than the first read is whole after it: a read of a regular file
/// returns fewer bytes than asked only at its end (POSIX), and every file of a store is
/// regular. So a small record costs one `read`, where asking until a read comes back empty
/// (the only way wasmtime-wasi reports the end) cost two. Beyond the first read, it reads until
/// an empty one, since a runtime may cap a read below what was asked. Were a short first read
/// ever not the end, the record's own length check would make it `Corrupt`, never a wrong value.
fn read_all(file: &Descriptor, max: u64) -> io::Result<Vec<u8>> {
    let (mut out, _) = file.read(FIRST_READ, 0).map_err(error)?;
    if (out.len() as u64) < FIRST_READ {
        return if out.len() as u64 > max {
            Err(super::sys::too_large(max))
        } else {
            Ok(out)
        };
    }
    loop {
        let (bytes, end) = file.read(CHUNK, out.len() as u64).map_err(error)?;
        if (out.len() + bytes.len()) as u64 > max {
            return Err(super::sys::too_large(max));
        }
        if out.try_reserve(bytes.len()).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                "the file is too large",
            ));
        }
        out.extend_from_slice(&bytes);
        if end || bytes.is_empty() {
            return Ok(out);
        }
    }
}

impl Files for WasiFiles {
    type Handle = Descriptor;

    /// The directory's own descriptor: in wasmtime, `open-at` and `unlink-file-at` through it
    /// reach its entries wherever it has moved, and none once it is removed. jco's descriptors
    /// are paths (its Node.js shim joins the descriptor's path with the name), so there it
    /// reaches whatever directory has the path at each operation.
    type Dir = Descriptor;

    fn open_dir(&self, path: &str) -> io::Result<Option<Descriptor>> {
        // Only `read`: jco refuses `mutate-directory`, and wasmtime lets a directory opened
        // below the granted one change whatever the granted one may (`remove_in`).
        self.open_existing(path, OpenFlags::DIRECTORY, DescriptorFlags::READ)
    }

    fn read_in(&self, dir: &Descriptor, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = absent(dir.open_at(
            PathFlags::empty(),
            name,
            OpenFlags::empty(),
            DescriptorFlags::READ,
        ))?
        else {
            return Ok(None);
        };
        read_all(&file, max).map(Some)
    }

    fn remove_in(&self, dir: &Descriptor, name: &str) -> io::Result<bool> {
        Ok(absent(dir.unlink_file_at(name))?.is_some())
    }

    fn create(&self, path: &str, bytes: &[u8], sync: bool) -> io::Result<Descriptor> {
        let file = self.open(
            path,
            OpenFlags::CREATE | OpenFlags::EXCLUSIVE,
            DescriptorFlags::READ | DescriptorFlags::WRITE,
        )?;
        write_all(&file, bytes, 0)?;
        if sync {
            file.sync().map_err(error)?;
        }
        Ok(file)
    }

    fn read_byte(&self, handle: &Descriptor, offset: u64) -> io::Result<u8> {
        let (bytes, _) = handle.read(1, offset).map_err(error)?;
        bytes
            .first()
            .copied()
            .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
    }

    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = self.open_existing(path, OpenFlags::empty(), DescriptorFlags::READ)?
        else {
            return Ok(None);
        };
        read_all(&file, max).map(Some)
    }

    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        let Some(file) = self.open_existing(path, OpenFlags::empty(), DescriptorFlags::READ)?
        else {
            return Ok(None);
        };
        let mut head = Vec::with_capacity(len);
        while head.len() < len {
            let want = (len - head.len()) as u64;
            let (bytes, end) = file.read(want, head.len() as u64).map_err(error)?;
            head.extend_from_slice(&bytes);
            if end || bytes.is_empty() {
                break;
            }
        }
        Ok(Some(head))
    }

    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        let Some(file) = self.open_existing(path, OpenFlags::empty(), DescriptorFlags::WRITE)?
        else {
            return Ok(false);
        };
        write_all(&file, &[byte], offset)?;
        Ok(true)
    }

    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        let dir = self.dir()?;
        match dir.link_at(PathFlags::empty(), &self.path(from), dir, &self.path(to)) {
            Ok(()) => Ok(Link::Made),
            Err(ErrorCode::Exist) => Ok(Link::Taken),
            Err(ErrorCode::NoEntry) => Ok(Link::SourceGone),
            Err(code) => Err(error(code)),
        }
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        let dir = self.dir()?;
        Ok(absent(dir.rename_at(&self.path(from), dir, &self.path(to)))?.is_some())
    }

    fn remove(&self, path: &str) -> io::Result<bool> {
        Ok(absent(self.dir()?.unlink_file_at(&self.path(path)))?.is_some())
    }

    fn create_dir(&self, path: &str) -> io::Result<bool> {
        match self.dir()?.create_directory_at(&self.path(path)) {
            Ok(()) => Ok(true),
            Err(ErrorCode::Exist) => Ok(false),
            Err(code) => Err(error(code)),
        }
    }

    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        let Some(dir) = self.open_existing(path, OpenFlags::DIRECTORY, DescriptorFlags::READ)?
        else {
            return Ok(None);
        };
        let entries = dir.read_directory().map_err(error)?;
        let mut names = Vec::new();
        while let Some(entry) = entries.read_directory_entry().map_err(error)? {
            names.push(entry.name);
        }
        Ok(Some(names))
    }

    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        Ok(absent(self.dir()?.remove_directory_at(&self.path(path)))?.is_some())
    }

    fn sync_dir(&self, path: &str) -> io::Result<()> {
        // A descriptor of its own: jco refuses to sync the granted directory's descriptor.
        self.open(path, OpenFlags::DIRECTORY, DescriptorFlags::READ)?
            .sync()
            .map_err(error)
    }

    fn show(&self, path: &str) -> String {
        if path.is_empty() {
            self.root.clone()
        } else {
            format!("{}/{path}", self.root.trim_end_matches('/'))
        }
    }

    fn nonce(&self) -> u64 {
        crate::wasi::random::random::get_random_u64()
    }
}
