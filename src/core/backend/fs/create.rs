//! Making a store and its buckets: `FORMAT` when an empty directory becomes a store, and a
//! bucket's directory with its `NAME`. Both are made durable under `--sync always` (a
//! directory's entry is synced into its parent before anything relies on it), and making
//! `FORMAT` first probes what the protocol needs from the filesystem: hard links always, and
//! directory sync under `--sync always`. A filesystem without them is refused with a message
//! that names the limit, before the store exists.

use super::io;
use super::record::{Entry, NAME, Record};
use super::sys::{Files, Link};
use crate::error::Error;
use crate::prelude::*;

/// The largest bucket name record, in bytes: larger `NAME` files are refused before they are
/// read, and a bucket whose name would need one is not made.
pub const MAX_NAME_RECORD: u64 = 1 << 20;

/// The first line of `DIR/FORMAT` for the layout this code reads and writes; the second line
/// holds the store's hash key (`key ` and 32 hex digits), drawn at random when it is made.
pub const FORMAT: &[u8] = b"keyvalue-virt store, format 4\n";
/// The first line of `FORMAT` of format 3 (a file per slot), which this build reads only to
/// export it.
pub const FORMAT_3: &[u8] = b"keyvalue-virt store, format 3\n";
/// The `FORMAT` file of format 2, which this build reads only to export it.
pub const FORMAT_2: &[u8] = b"keyvalue-virt store, format 2\n";

/// The whole `FORMAT` file of a store whose hash key is `(k0, k1)`.
pub fn format_file(k0: u64, k1: u64) -> Vec<u8> {
    let mut bytes = FORMAT.to_vec();
    bytes.extend_from_slice(format!("key {k0:016x}{k1:016x}\n").as_bytes());
    bytes
}

/// The hash key in a `FORMAT` file of this format, or `None` when `bytes` is not one.
pub fn parse_format(bytes: &[u8]) -> Option<(u64, u64)> {
    parse_key(bytes.strip_prefix(FORMAT)?)
}

/// The hash key in a `FORMAT` file of format 3, or `None` when `bytes` is not one.
pub fn parse_format_3(bytes: &[u8]) -> Option<(u64, u64)> {
    parse_key(bytes.strip_prefix(FORMAT_3)?)
}

fn parse_key(rest: &[u8]) -> Option<(u64, u64)> {
    let line = rest.strip_prefix(b"key ")?;
    let hex = line.strip_suffix(b"\n")?;
    if hex.len() != 32 || !hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let hex = core::str::from_utf8(hex).ok()?;
    Some((
        u64::from_str_radix(&hex[..16], 16).ok()?,
        u64::from_str_radix(&hex[16..], 16).ok()?,
    ))
}

fn dir_error<F: Files>(files: &F, problem: impl Into<String>) -> Error {
    Error::StoreDir {
        dir: files.show(""),
        problem: problem.into(),
    }
}

/// The error of a directory sync that failed under `--sync always`.
pub fn sync_error<F: Files>(files: &F, path: &str, e: io::Error) -> Error {
    Error::FsIo {
        path: files.show(path),
        action: "sync the directory",
        cause: format!(
            "{e}; `--sync always` cannot promise durability here: put the store on a \
             filesystem that syncs directories, or build the component with `--sync never`"
        ),
    }
}

/// Makes the empty store directory a store: writes `FORMAT`, with a new random hash key, aside
/// and links it into place (several instances may do this at once: the first link wins, and
/// every instance then reads the winner's key from `FORMAT`). Refuses
/// a filesystem without hard links, or, with `sync`, one that cannot sync a directory.
pub fn make_store<F: Files>(files: &F, sync: bool) -> Result<(), Error> {
    let temp = format!("FORMAT.{:016x}.t", files.nonce());
    let format = format_file(files.nonce(), files.nonce());
    files.create(&temp, &format, sync).map_err(|e| {
        let dir = files.show("");
        dir_error(
            files,
            format!(
                "is not writable ({e}): grant write access to it (e.g. `wasmtime run --dir \
                 HOST_DIR::{dir}`), or build the component with `--read-only` or another \
                 `--dir`"
            ),
        )
    })?;
    if sync && let Err(e) = files.sync_dir("") {
        let _ = files.remove(&temp);
        return Err(dir_error(
            files,
            format!(
                "cannot be synced ({e}), and `--sync always` needs directory sync to make \
                 writes durable: put the store on a filesystem (and runtime) that syncs \
                 directories, or build the component with `--sync never` (writes stay atomic \
                 across processes, but a power loss may undo the latest ones)"
            ),
        ));
    }
    let linked = files.link(&temp, "FORMAT");
    let _ = files.remove(&temp);
    match linked {
        // A temporary file gone before its link was removed by `repair`, which removes them
        // only once `FORMAT` exists: the caller reads the winner's.
        Ok(Link::Made | Link::Taken | Link::SourceGone) => {}
        Err(e) => return Err(link_error(files, "FORMAT", e)),
    }
    if sync {
        files.sync_dir("").map_err(|e| sync_error(files, "", e))?;
    }
    Ok(())
}

/// The error of a hard link `to` that could not be made: a filesystem without hard links
/// (they fail as not permitted or unsupported) is named as such.
pub fn link_error<F: Files>(files: &F, to: &str, e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported => dir_error(
            files,
            format!(
                "is on a filesystem that cannot make hard links ({e}), which the fs backend \
                 needs for every write (FAT, exFAT and some SMB and FUSE mounts lack them): put \
                 the store on another filesystem (ext4, XFS, btrfs, APFS, NTFS, tmpfs)"
            ),
        ),
        _ => Error::FsIo {
            path: files.show(to),
            action: "link",
            cause: e.to_string(),
        },
    }
}

/// Makes the bucket directory `dir` for `identifier`: built aside, synced, renamed into
/// place and synced into the store directory, so that no instance ever sees a bucket
/// directory without its name, and a power loss cannot leave one.
pub fn make_bucket<F: Files>(
    files: &F,
    dir: &str,
    identifier: &str,
    sync: bool,
) -> Result<(), Error> {
    let io = |path: &str, action: &'static str| {
        let path = files.show(path);
        move |e: io::Error| Error::FsIo {
            path,
            action,
            cause: e.to_string(),
        }
    };
    let record = Record {
        kind: NAME,
        settled: false,
        generation: 1,
        nonce: 0,
        entries: vec![Entry {
            key: identifier.to_owned(),
            value: None,
            version: 1,
            seeded: false,
        }],
    };
    let bytes = record.encode();
    if bytes.len() as u64 > MAX_NAME_RECORD {
        return Err(Error::FsIo {
            path: files.show(dir),
            action: "create the bucket directory",
            cause: format!(
                "the bucket name is {} bytes, more than the {MAX_NAME_RECORD} a bucket name may \
                 have: use a shorter bucket identifier",
                identifier.len()
            ),
        });
    }
    let aside = format!("{dir}.{:016x}.t", files.nonce());
    files
        .create_dir(&aside)
        .map_err(io(&aside, "create the directory"))?;
    let name = format!("{aside}/NAME");
    // `repair` removes a directory aside once the bucket's own exists (another instance made
    // it first, so this one can only lose the rename): then there is nothing left to do, and
    // the caller reads the winner's.
    match files.create(&name, &bytes, sync) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        result => result.map_err(io(&name, "create"))?,
    };
    if sync && let Err(e) = files.sync_dir(&aside) {
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(());
        }
        return Err(sync_error(files, &aside, e));
    }
    // Another instance may have made the bucket first; the caller reads what is there.
    if let Ok(true) = files.rename(&aside, dir)
        && sync
    {
        files.sync_dir("").map_err(|e| sync_error(files, "", e))?;
    }
    let _ = files.remove(&name);
    let _ = files.remove_dir(&aside);
    Ok(())
}
