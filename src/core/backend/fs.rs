//! The filesystem backend: a directory (a `wasi:filesystem` preopen in the component, any
//! directory natively) is the whole store, shared by every instance and process that opens it.
//!
//! # Layout
//!
//! ```text
//! DIR/FORMAT                            "keyvalue-virt store, format 1\n"
//! DIR/<bucket hash>-<n>/                one directory per bucket
//! DIR/<bucket hash>-<n>/NAME            a record holding the bucket's name
//! DIR/<bucket hash>-<n>/<ss>/           a shard: the keys whose hash starts with byte `ss`
//!     <key hash>-<n>                    a key's value: a record holding the key and the value
//!     <key hash>-<n>.del                a deleted key's tombstone (key and version, no value)
//!     <key hash>.lock                   the lock of every key with that hash, while held
//!     <key hash>.<random>.tmp           a record being written (renamed into place when done)
//! ```
//!
//! Hashes are FNV-1a 64 in 16 lowercase hex digits, so names are safe on every filesystem
//! (case-insensitive ones too) whatever the keys and bucket names hold; the real name is stored
//! inside the file. Names that share a hash take the next free `-<n>`: a lookup reads slots
//! `-0`, `-1`, ... until it finds its name or a slot with neither a value nor a tombstone.
//!
//! A *record* is a 40-byte header, then the key (or bucket name), then the value: the magic
//! `kvr1`, a kind byte (`v` value, `d` tombstone, `n` bucket name), 3 zero bytes, the version
//! (`u64`), the key length (`u32`), the value length (`u64`), 4 zero bytes, and an FNV-1a 64
//! checksum of the first 32 header bytes, the key and the value (integers little-endian). A
//! reader checks the file size against the header and the checksum against the data, so a
//! truncated, damaged or foreign file is an error naming it, never a wrong value.
//!
//! # Writes, durability and locks
//!
//! A value is written to a temporary file in its shard and synced (`sync`), then renamed over
//! the key's file, and the shard directory is synced where the runtime allows it (a rename is
//! atomic either way). A reader sees the old or the new value, never a mix or a torn file; once
//! `set` returns, the value survives a crash of the process (and, where the directory sync
//! works, of the machine). Reads take no lock. Records are read with the file's size checked
//! first and every short read retried, since wasmtime-wasi may return 0 bytes on a first read.
//!
//! Versions are random 64-bit numbers, new on every write; a delete writes a tombstone with a
//! new version before it removes the value, so a compare-and-swap notices a key created and
//! deleted since it looked. Tombstones stay (they are small) until the key is written again.
//!
//! `wasi:filesystem` has no file locks, so every change to a key happens under a lock file
//! created with exclusive create (`create_new`, `O_EXCL`), one per key hash, holding a random
//! token, removed when done. `set` and `swap` write and sync their temporary file before they
//! take the lock, so the lock is held only to check the version and rename; `increment` holds
//! it to read, add, write and rename. A waiter retries with a backoff of up to 2 ms. A lock file
//! older than [`STALE`] (by its modification time) was left by a crashed instance: a waiter
//! renames it aside, checks that the renamed file still holds the token it read (if not, it
//! moved a fresh lock and puts it back), and deletes it. So an instance that holds a lock
//! for longer than [`STALE`] (an `increment` stalled for 10 s) may lose it.
//!
//! A crash can leave a temporary file (`*.tmp`, in a shard or, while a bucket is created, a
//! `*.tmp.dir` in `DIR`) and a lock file. Nothing reads them; `list-keys` deletes temporary
//! files in the shards it lists once they are [`LEFTOVER`] old, and a lock is broken as above.
//!
//! A store opened read-only (`--read-only`) never writes, not even `FORMAT`; one opened for
//! writing checks on `open` that it can create a file in `DIR`.
//!
//! # Costs
//!
//! `get`, `set`, `exists` and `delete` touch a fixed handful of files whatever the size of the
//! bucket; `open` reads `FORMAT` and the bucket's `NAME` and creates and removes a probe file.
//! `list-keys` walks the shards in hash order (the cursor position is the key hash's top 48
//! bits, so it never moves while the key lives), reading the bucket directory, the shards the
//! page spans and the page's files (header and key only). Keys whose hashes share the top 48
//! bits share a position and always land in one page. `count` (used only by `--max-keys`)
//! lists every shard.

use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::{Backend, BucketOps, Update};
use crate::error::Error;

/// The content of `DIR/FORMAT` for the layout this code reads and writes.
pub const FORMAT: &[u8] = b"keyvalue-virt store, format 1\n";
/// A lock file older than this was left by a crashed instance and may be broken.
pub const STALE: Duration = Duration::from_secs(10);
/// A temporary file older than this was left by a crashed writer; `list-keys` removes it.
pub const LEFTOVER: Duration = Duration::from_secs(3600);

const MAGIC: &[u8; 4] = b"kvr1";
const HEADER: usize = 40;
const VALUE: u8 = b'v';
const TOMBSTONE: u8 = b'd';
const NAME: u8 = b'n';
// More names than this sharing one 64-bit hash means the directory was tampered with.
const MAX_SLOTS: u32 = 64;

/// FNV-1a, 64 bits: stable across builds, which the file names need.
pub fn fnv1a64(bytes: &[u8], hash: u64) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn hash(name: &str) -> u64 {
    fnv1a64(name.as_bytes(), FNV_START)
}

/// A random non-zero number (std seeds it from `wasi:random` once per thread).
fn random() -> u64 {
    RandomState::new().hash_one(0u8).max(1)
}

/// A path for a message (`Path::display` costs more code in the component).
fn show(path: &Path) -> String {
    path.to_str().unwrap_or("(a non-UTF-8 path)").to_owned()
}

fn io_error(path: &Path, action: &'static str, error: io::Error) -> Error {
    Error::FsIo {
        path: show(path),
        action,
        cause: error.to_string(),
    }
}

fn corrupt(path: &Path, problem: impl Into<String>) -> Error {
    Error::Corrupt {
        path: show(path),
        problem: problem.into(),
    }
}

/// Fills `buf` from `file`. A read that returns nothing is retried: wasmtime-wasi may return 0
/// bytes on a first read, and the caller has already checked the file's size.
#[inline(never)]
fn read_full(file: &mut File, mut buf: &mut [u8]) -> io::Result<()> {
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

/// A whole small file (a lock token or `FORMAT`), or `None` when it does not exist.
#[inline(never)]
fn read_small(path: &Path) -> Result<Option<Vec<u8>>, Error> {
    let read = || -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len().min(4096) as usize;
        let mut buf = vec![0; len];
        read_full(&mut file, &mut buf)?;
        Ok(buf)
    };
    match read() {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path, "read", e)),
    }
}

/// A record read from a file.
struct Record {
    kind: u8,
    version: u64,
    key: String,
    value: Vec<u8>,
}

/// Reads the record at `path` (`None`: no such file). Without `with_value` only the header and
/// key are read, and the checksum is not checked.
#[inline(never)]
fn read_record(path: &Path, with_value: bool) -> Result<Option<Record>, Error> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path, "open", e)),
    };
    let len = file
        .metadata()
        .map_err(|e| io_error(path, "read the size of", e))?
        .len();
    if len < HEADER as u64 {
        return Err(corrupt(
            path,
            format!("{len} bytes, too short for a record: truncated or not ours"),
        ));
    }
    let mut header = [0; HEADER];
    read_full(&mut file, &mut header).map_err(|e| io_error(path, "read", e))?;
    let field = |at: usize| u64::from_le_bytes(header[at..at + 8].try_into().unwrap_or_default());
    if &header[..4] != MAGIC {
        return Err(corrupt(path, "not a keyvalue-virt record (unknown magic)"));
    }
    let key_len = u64::from(u32::from_le_bytes(
        header[16..20].try_into().unwrap_or_default(),
    ));
    let value_len = field(20);
    let expected = (HEADER as u64 + key_len).checked_add(value_len);
    if expected != Some(len) {
        return Err(corrupt(
            path,
            format!(
                "{len} bytes, but its header announces a {key_len}-byte key and a \
                 {value_len}-byte value: truncated or damaged"
            ),
        ));
    }
    // A 32-bit component cannot hold more than half its address space in one value.
    let value_len = if with_value { value_len } else { 0 };
    let value_len = usize::try_from(value_len)
        .ok()
        .filter(|&n| n <= isize::MAX as usize / 2)
        .ok_or_else(|| {
            corrupt(
                path,
                format!("a {value_len}-byte value is too large to load"),
            )
        })?;
    let mut key = vec![0; key_len as usize];
    let mut value = vec![0; value_len];
    read_full(&mut file, &mut key)
        .and_then(|()| read_full(&mut file, &mut value))
        .map_err(|e| io_error(path, "read", e))?;
    if with_value && field(32) != fnv1a64(&value, fnv1a64(&key, fnv1a64(&header[..32], FNV_START)))
    {
        return Err(corrupt(path, "checksum mismatch: the data is damaged"));
    }
    let key = String::from_utf8(key).map_err(|_| corrupt(path, "the stored name is not UTF-8"))?;
    Ok(Some(Record {
        kind: header[4],
        version: field(8),
        key,
        value,
    }))
}

/// A synced temporary file, renamed into place by [`Temp::install`] or removed on drop.
struct Temp {
    path: PathBuf,
}

impl Temp {
    /// Writes `parts` to a new temporary file named after `prefix` in `dir` (created if
    /// missing), and syncs it.
    #[inline(never)]
    fn create(dir: &Path, prefix: &str, parts: &[&[u8]]) -> Result<Temp, Error> {
        let temp = Temp {
            path: dir.join(format!("{prefix}.{:016x}.tmp", random())),
        };
        let create = || {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp.path)
        };
        let mut file = match create() {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                make_dir(dir)?;
                create()
            }
            other => other,
        }
        .map_err(|e| io_error(&temp.path, "create", e))?;
        parts
            .iter()
            .try_for_each(|part| file.write_all(part))
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(&temp.path, "write", e))?;
        Ok(temp)
    }

    /// Writes a record of `kind` with a new version (see the module docs).
    #[inline(never)]
    fn record(dir: &Path, prefix: &str, kind: u8, key: &str, value: &[u8]) -> Result<Temp, Error> {
        let mut header = [0; HEADER];
        header[..4].copy_from_slice(MAGIC);
        header[4] = kind;
        header[8..16].copy_from_slice(&random().to_le_bytes());
        header[16..20].copy_from_slice(&(key.len() as u32).to_le_bytes());
        header[20..28].copy_from_slice(&(value.len() as u64).to_le_bytes());
        let sum = fnv1a64(
            value,
            fnv1a64(key.as_bytes(), fnv1a64(&header[..32], FNV_START)),
        );
        header[32..].copy_from_slice(&sum.to_le_bytes());
        Temp::create(dir, prefix, &[&header, key.as_bytes(), value])
    }

    /// Renames the file to `name` in `dir` (replacing it) and syncs the directory.
    #[inline(never)]
    fn install(self, dir: &Path, name: &str) -> Result<(), Error> {
        let to = dir.join(name);
        fs::rename(&self.path, &to).map_err(|e| io_error(&to, "replace", e))?;
        std::mem::forget(self);
        sync_dir(dir);
        Ok(())
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Makes the renames and removals in `dir` durable, where the runtime allows syncing a
/// directory (a rename is atomic either way).
fn sync_dir(dir: &Path) {
    let _ = File::open(dir).and_then(|dir| dir.sync_all());
}

fn make_dir(dir: &Path) -> Result<(), Error> {
    match fs::create_dir(dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => {
            Err(io_error(dir, "create the directory", e))
        }
        _ => Ok(()),
    }
}

/// A held lock file; dropping it releases the lock.
struct Lock(PathBuf);

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

impl Lock {
    /// Takes the lock file `path`, waiting while another instance holds it and breaking it once
    /// it is [`STALE`].
    #[inline(never)]
    fn take(dir: &Path, name: &str) -> Result<Lock, Error> {
        let path = dir.join(name);
        let token = random().to_le_bytes();
        let mut wait = Duration::from_micros(50);
        let mut waited = Duration::ZERO;
        loop {
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    // Without the token only a stale-lock breaker is less sure; the lock holds.
                    let _ = file.write_all(&token);
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == ErrorKind::NotFound => {
                    make_dir(dir)?;
                    continue;
                }
                Err(e) => return Err(io_error(&path, "create the lock file", e)),
            }
            if waited > STALE * 3 {
                return Err(Error::LockTimeout { path: show(&path) });
            }
            break_stale(&path)?;
            std::thread::sleep(wait);
            waited += wait;
            wait = (wait * 2).min(Duration::from_millis(2));
        }
    }
}

/// How long ago `path` was last modified.
fn age(path: &Path) -> io::Result<Duration> {
    let modified = fs::metadata(path)?.modified()?;
    Ok(SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default())
}

/// Removes the lock file `path` if it is older than [`STALE`] (see the module docs).
#[inline(never)]
fn break_stale(path: &Path) -> Result<(), Error> {
    match age(path) {
        Ok(age) if age >= STALE => {}
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_error(path, "read the age of the lock file", e)),
    }
    let Some(token) = read_small(path)? else {
        return Ok(());
    };
    let aside = PathBuf::from(format!("{}.{:016x}.tmp", show(path), random()));
    if fs::rename(path, &aside).is_err() {
        // Someone else broke it first.
        return Ok(());
    }
    if read_small(&aside)? == Some(token) {
        fs::remove_file(&aside).map_err(|e| io_error(&aside, "remove", e))
    } else {
        // A fresh lock replaced the stale one meanwhile: give it back.
        fs::rename(&aside, path).map_err(|e| io_error(path, "restore the lock file", e))
    }
}

/// The filesystem backend over the store directory `root`.
pub struct Fs {
    root: PathBuf,
    writable: bool,
}

impl Fs {
    /// The store in `root`. A `writable` store checks on `open` that it may write there (and
    /// creates what is missing); a read-only one only reads.
    pub fn new(root: impl Into<PathBuf>, writable: bool) -> Fs {
        Fs {
            root: root.into(),
            writable,
        }
    }

    fn dir_error(&self, problem: impl Into<String>) -> Error {
        Error::StoreDir {
            dir: show(&self.root),
            problem: problem.into(),
        }
    }

    /// Checks that the root is a store of our format (making it one if empty) and writable.
    #[inline(never)]
    fn check_root(&self) -> Result<(), Error> {
        match fs::metadata(&self.root) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(self.dir_error(
                    "is not a directory: build the component with a `--dir` that names one",
                ));
            }
            Err(e) => {
                let dir = show(&self.root);
                return Err(self.dir_error(format!(
                    "does not exist or is not granted to the component ({e}): grant a \
                     directory at that path (e.g. `wasmtime run --dir HOST_DIR::{dir}`), or \
                     build the component with another `--dir`"
                )));
            }
        }
        let format = self.root.join("FORMAT");
        match read_small(&format)? {
            Some(found) if found == FORMAT => {}
            Some(found) => {
                return Err(if found.starts_with(b"keyvalue-virt store") {
                    self.dir_error(format!(
                        "holds a store of another format ({:?}) that this build cannot read: \
                         use the keyvalue-virt that wrote it, or another `--dir`",
                        String::from_utf8_lossy(&found).trim_end()
                    ))
                } else {
                    self.dir_error(
                        "holds a `FORMAT` file that is not keyvalue-virt's: build the component \
                         with another `--dir`",
                    )
                });
            }
            None if !self.writable => {}
            None => {
                // Concurrent creators write the same bytes, so the last rename wins harmlessly.
                Temp::create(&self.root, "FORMAT", &[FORMAT])
                    .map_err(|e| self.not_writable(e))?
                    .install(&self.root, "FORMAT")?;
                return Ok(());
            }
        }
        if self.writable {
            // Creating a file is what every write needs; a read-only preopen refuses it.
            Temp::create(&self.root, "probe", &[]).map_err(|e| self.not_writable(e))?;
        }
        Ok(())
    }

    /// The names of the buckets in the store, sorted, read from each bucket directory's `NAME`
    /// record (for host-side tools; the component never lists buckets).
    pub fn buckets(&self) -> Result<Vec<String>, Error> {
        self.check_root()?;
        let mut names = Vec::new();
        for dir in list_dir(&self.root)? {
            if parse_value_name(&dir).is_none() {
                continue;
            }
            let path = self.root.join(dir).join("NAME");
            match read_record(&path, true)? {
                Some(record) if record.kind == NAME => names.push(record.key),
                Some(_) => return Err(corrupt(&path, "not a bucket name record")),
                None => {}
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// The error for a store directory where creating a file failed with `error`.
    fn not_writable(&self, error: Error) -> Error {
        let cause = match error {
            Error::FsIo { cause, .. } => cause,
            other => other.to_string(),
        };
        let dir = show(&self.root);
        self.dir_error(format!(
            "is not writable ({cause}): grant write access to it (e.g. `wasmtime run --dir \
             HOST_DIR::{dir}`), or build the component with `--read-only` or another `--dir`"
        ))
    }
}

impl Backend for Fs {
    type Bucket = Bucket;

    #[inline(never)]
    fn open(&self, identifier: &str) -> Result<Bucket, Error> {
        self.check_root()?;
        let id = hash(identifier);
        let mut slot = 0;
        let mut created = None;
        while slot < MAX_SLOTS {
            let dir = self.root.join(format!("{id:016x}-{slot}"));
            let name = dir.join("NAME");
            let bucket = Bucket {
                tag: (id % u64::from(u16::MAX)) as u16 + 1,
                dir,
                mask: u64::MAX,
            };
            match read_record(&name, true)? {
                Some(record) if record.kind == NAME && record.key == identifier => {
                    return Ok(bucket);
                }
                Some(_) => slot += 1,
                None if !self.writable => return Ok(bucket),
                None if created == Some(slot) => return Err(corrupt(&name, "missing")),
                None => {
                    // Build the bucket aside and rename it into place, so that no instance
                    // ever sees a bucket directory without its name.
                    let temp =
                        Temp::record(&self.root, &format!("{id:016x}"), NAME, identifier, &[])?;
                    let aside = PathBuf::from(format!("{}.dir", show(&temp.path)));
                    make_dir(&aside)?;
                    temp.install(&aside, "NAME")?;
                    if fs::rename(&aside, &bucket.dir).is_ok() {
                        sync_dir(&self.root);
                    }
                    let _ = fs::remove_file(aside.join("NAME"));
                    let _ = fs::remove_dir(&aside);
                    created = Some(slot);
                }
            }
        }
        Err(corrupt(
            &self.root,
            format!("more than {MAX_SLOTS} bucket directories share the hash {id:016x}"),
        ))
    }
}

/// One bucket's directory.
#[derive(Clone)]
pub struct Bucket {
    dir: PathBuf,
    tag: u16,
    // Key hashes are masked with this; tests narrow it to force collisions.
    mask: u64,
}

/// Where a key lives: its slot and the record there (value or tombstone), or the first free
/// slot and `None`.
struct Found {
    hash: u64,
    slot: u32,
    record: Option<Record>,
}

impl Found {
    fn version(&self) -> u64 {
        self.record.as_ref().map_or(0, |r| r.version)
    }

    fn value(&self) -> Option<&[u8]> {
        match &self.record {
            Some(record) if record.kind == VALUE => Some(&record.value),
            _ => None,
        }
    }
}

/// A value file's name, `<hash>-<slot>`, parsed.
fn parse_value_name(name: &str) -> Option<(u64, u32)> {
    let (hash, slot) = name.split_once('-')?;
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if hash.len() != 16 || !hash.bytes().all(hex) || !slot.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((u64::from_str_radix(hash, 16).ok()?, slot.parse().ok()?))
}

impl Bucket {
    fn shard(&self, hash: u64) -> PathBuf {
        self.dir.join(format!("{:02x}", hash >> 56))
    }

    fn value_path(&self, hash: u64, slot: u32) -> PathBuf {
        self.shard(hash).join(format!("{hash:016x}-{slot}"))
    }

    fn tombstone_path(&self, hash: u64, slot: u32) -> PathBuf {
        self.shard(hash).join(format!("{hash:016x}-{slot}.del"))
    }

    fn lock(&self, hash: u64) -> Result<Lock, Error> {
        Lock::take(&self.shard(hash), &format!("{hash:016x}.lock"))
    }

    fn temp(&self, hash: u64, kind: u8, key: &str, value: &[u8]) -> Result<Temp, Error> {
        Temp::record(&self.shard(hash), &format!("{hash:016x}"), kind, key, value)
    }

    /// Finds `key`'s slot (see the module docs).
    #[inline(never)]
    fn find(&self, key: &str, with_value: bool) -> Result<Found, Error> {
        let hash = hash(key) & self.mask;
        for slot in 0..MAX_SLOTS {
            let mut record = read_record(&self.value_path(hash, slot), with_value)?;
            if record.is_none() {
                record = read_record(&self.tombstone_path(hash, slot), false)?;
            }
            match record {
                Some(r) if r.key != key => continue,
                record => return Ok(Found { hash, slot, record }),
            }
        }
        Err(corrupt(
            &self.shard(hash),
            format!("more than {MAX_SLOTS} keys share the hash {hash:016x}"),
        ))
    }

    /// Puts `temp` in `found`'s slot as its value and drops a tombstone there.
    fn install(&self, found: &Found, temp: Temp) -> Result<(), Error> {
        temp.install(
            &self.shard(found.hash),
            &format!("{:016x}-{}", found.hash, found.slot),
        )?;
        if found.record.as_ref().is_some_and(|r| r.kind == TOMBSTONE) {
            let _ = fs::remove_file(self.tombstone_path(found.hash, found.slot));
        }
        Ok(())
    }

    /// The shards that exist, in order.
    fn shards(&self) -> Result<impl Iterator<Item = u8>, Error> {
        let mut present = [false; 256];
        for name in list_dir(&self.dir)? {
            if name.len() != 2 || name.bytes().any(|c| c.is_ascii_uppercase()) {
                continue;
            }
            if let Ok(shard) = u8::from_str_radix(&name, 16) {
                present[usize::from(shard)] = true;
            }
        }
        Ok((0..=255).filter(move |&shard| present[usize::from(shard)]))
    }

    /// The value files of a shard from position `from` on, in order. Removes temporary files
    /// that crashed writers left, once they are [`LEFTOVER`] old.
    #[inline(never)]
    fn entries(&self, shard: u8, from: u64) -> Result<Vec<(u64, u32)>, Error> {
        let dir = self.dir.join(format!("{shard:02x}"));
        let mut entries = Vec::new();
        for name in list_dir(&dir)? {
            if name.ends_with(".tmp") {
                let path = dir.join(&name);
                if age(&path).is_ok_and(|age| age > LEFTOVER) {
                    let _ = fs::remove_file(path);
                }
            }
            entries.extend(parse_value_name(&name).filter(|(hash, _)| hash >> 16 >= from));
        }
        entries.sort_unstable();
        Ok(entries)
    }
}

/// The names in `dir` (none when it does not exist).
#[inline(never)]
fn list_dir(dir: &Path) -> Result<Vec<String>, Error> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(dir, "list", e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_error(dir, "list", e))?;
        names.extend(entry.file_name().into_string().ok());
    }
    Ok(names)
}

impl BucketOps for Bucket {
    fn tag(&self) -> u16 {
        self.tag
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let found = self.find(key, true)?;
        Ok(found.value().map(<[u8]>::to_vec))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        let hash = hash(&key) & self.mask;
        let temp = self.temp(hash, VALUE, &key, &value)?;
        let _lock = self.lock(hash)?;
        self.install(&self.find(&key, false)?, temp)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        let hash = hash(key) & self.mask;
        let _lock = self.lock(hash)?;
        let found = self.find(key, false)?;
        if found.record.as_ref().is_some_and(|r| r.kind == VALUE) {
            let temp = self.temp(hash, TOMBSTONE, key, &[])?;
            let shard = self.shard(hash);
            temp.install(&shard, &format!("{hash:016x}-{}.del", found.slot))?;
            let path = self.value_path(hash, found.slot);
            fs::remove_file(&path).map_err(|e| io_error(&path, "remove", e))?;
            sync_dir(&shard);
        }
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        let found = self.find(key, false)?;
        Ok(found.record.is_some_and(|r| r.kind == VALUE))
    }

    fn count(&self) -> Result<u64, Error> {
        let mut count = 0;
        for shard in self.shards()? {
            count += self.entries(shard, 0)?.len() as u64;
        }
        Ok(count)
    }

    #[inline(never)]
    fn keys(
        &self,
        from: u64,
        page: &mut Vec<String>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<Option<u64>, Error> {
        let (mut count, mut bytes) = (0, 0);
        for shard in self.shards()? {
            if u64::from(shard) < from >> 40 {
                continue;
            }
            let entries = self.entries(shard, from)?;
            // Keys whose hashes share the top 48 bits share a position: never split them.
            for group in entries.chunk_by(|a, b| a.0 >> 16 == b.0 >> 16) {
                if count > 0 && (count + group.len() > max_keys || bytes >= max_bytes) {
                    return Ok(Some(group[0].0 >> 16));
                }
                for &(hash, slot) in group {
                    if let Some(record) = read_record(&self.value_path(hash, slot), false)? {
                        count += 1;
                        bytes += record.key.len();
                        page.push(record.key);
                    }
                }
            }
        }
        Ok(None)
    }

    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error> {
        let hash = hash(key) & self.mask;
        let _lock = self.lock(hash)?;
        let found = self.find(key, true)?;
        let value = f(found.value())?;
        let temp = self.temp(hash, VALUE, key, &value)?;
        self.install(&found, temp)
    }

    fn watch(&self, key: &str) -> Result<u64, Error> {
        Ok(self.find(key, false)?.version())
    }

    fn unwatch(&self, _key: &str) {}

    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error> {
        let hash = hash(key) & self.mask;
        let temp = self.temp(hash, VALUE, key, &value)?;
        let _lock = self.lock(hash)?;
        let found = self.find(key, false)?;
        if found.version() != seen {
            return Ok(Err(found.version()));
        }
        self.install(&found, temp).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::contract::{Scratch, walk};

    /// Every file under `dir`, recursively.
    fn files(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(files(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    fn value_file(bucket: &Bucket, key: &str) -> PathBuf {
        let found = bucket.find(key, false).unwrap();
        bucket.value_path(found.hash, found.slot)
    }

    #[test]
    fn round_trip_and_persistence() {
        let s = Scratch::new();
        let b = s.open("b");
        assert_eq!(b.get("k").unwrap(), None);
        b.set("k".into(), b"v".to_vec()).unwrap();
        b.set("k".into(), b"w".to_vec()).unwrap();
        b.set("gone".into(), b"x".to_vec()).unwrap();
        b.delete("gone").unwrap();
        b.delete("never").unwrap();
        assert_eq!(fs::read(s.store().join("FORMAT")).unwrap(), FORMAT);

        let again = s.open("b");
        assert_eq!(again.tag(), b.tag());
        assert_eq!(again.get("k").unwrap(), Some(b"w".to_vec()));
        assert!(!again.exists("gone").unwrap());
        assert_eq!(again.count().unwrap(), 1);
        assert_eq!(s.open("other").get("k").unwrap(), None);
        // No temporary or lock file is left behind.
        for file in files(&s.store()) {
            let name = file.file_name().unwrap().to_str().unwrap();
            assert!(
                !name.ends_with(".tmp") && !name.ends_with(".lock"),
                "{name}"
            );
        }
    }

    #[test]
    fn hostile_names_stay_inside_and_apart() {
        let s = Scratch::new();
        let long = "x".repeat(1000);
        let names = [
            "",
            "..",
            "../escape",
            "/",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "\0",
            "CON",
            "con",
            "nul.txt",
            "FORMAT",
            "NAME",
            ".",
            "k",
            "K",
            &long,
        ];
        for bucket in names {
            let b = s.open(bucket);
            for key in names {
                b.set(key.into(), format!("{bucket}|{key}").into_bytes())
                    .unwrap();
            }
        }
        for bucket in names {
            let b = s.open(bucket);
            for key in names {
                assert_eq!(
                    b.get(key).unwrap(),
                    Some(format!("{bucket}|{key}").into_bytes())
                );
            }
            let mut listed = walk(&b, 5);
            listed.sort();
            let mut expected: Vec<_> = names.iter().map(|n| n.to_string()).collect();
            expected.sort();
            assert_eq!(listed, expected);
        }
        // Only the store directory was written to, and every name in it is lowercase hex.
        let entries: Vec<_> = fs::read_dir(&s.0).unwrap().collect();
        assert_eq!(entries.len(), 1);
        for file in files(&s.store()) {
            let name = file.strip_prefix(s.store()).unwrap().to_str().unwrap();
            assert!(
                name.bytes()
                    .all(|c| b"0123456789abcdef-/".contains(&c) || name.ends_with("NAME"))
                    || name == "FORMAT",
                "{name}"
            );
        }
    }

    #[test]
    fn colliding_hashes_share_slots() {
        let s = Scratch::new();
        let mut b = s.open("b");
        // Every key hashes to one of two values.
        b.mask = 1 << 63;
        for i in 0..20 {
            b.set(format!("k{i}"), vec![i]).unwrap();
        }
        for i in (0..20).step_by(3) {
            b.delete(&format!("k{i}")).unwrap();
        }
        for i in 0..20 {
            let expected = (i % 3 != 0).then(|| vec![i]);
            assert_eq!(b.get(&format!("k{i}")).unwrap(), expected, "k{i}");
        }
        b.set("k3".into(), b"back".to_vec()).unwrap();
        assert_eq!(b.get("k3").unwrap(), Some(b"back".to_vec()));
        // Keys of one hash share a position, so a page never splits them.
        let mut page = Vec::new();
        let next = b.keys(0, &mut page, 3, usize::MAX).unwrap();
        assert!(page.len() > 3, "{next:?}");
        let mut listed = walk(&b, 50);
        listed.sort();
        let mut expected: Vec<_> = (0..20)
            .filter(|i| i % 3 != 0 || *i == 3)
            .map(|i| format!("k{i}"))
            .collect();
        expected.sort();
        assert_eq!(listed, expected);
        assert_eq!(b.count().unwrap(), expected.len() as u64);
    }

    #[test]
    fn update_is_atomic_across_threads() {
        let s = Scratch::new();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let b = s.open("b");
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        b.update("n", &mut |old| {
                            let n: u64 =
                                old.map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap());
                            Ok((n + 1).to_string().into_bytes())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(s.open("b").get("n").unwrap(), Some(b"200".to_vec()));
        let failed = s.open("b").update("n", &mut |_| Err(Error::AccessDenied));
        assert_eq!(failed, Err(Error::AccessDenied));
        assert_eq!(s.open("b").get("n").unwrap(), Some(b"200".to_vec()));
    }

    #[test]
    fn stale_locks_are_broken_and_fresh_ones_waited_for() {
        let s = Scratch::new();
        let b = s.open("b");
        let hash = super::hash("k");
        let lock = b.shard(hash).join(format!("{hash:016x}.lock"));
        fs::create_dir_all(lock.parent().unwrap()).unwrap();
        let file = File::create(&lock).unwrap();
        file.set_modified(SystemTime::now() - STALE * 2).unwrap();
        drop(file);
        b.set("k".into(), b"v".to_vec()).unwrap();
        assert!(!lock.exists());

        // A fresh lock is waited for until its holder lets go.
        let held = Lock::take(&b.shard(hash), &format!("{hash:016x}.lock")).unwrap();
        let writer = {
            let b = b.clone();
            std::thread::spawn(move || b.set("k".into(), b"w".to_vec()).unwrap())
        };
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
        drop(held);
        writer.join().unwrap();
        assert_eq!(b.get("k").unwrap(), Some(b"w".to_vec()));
    }

    #[test]
    fn listing_removes_old_leftover_temporary_files() {
        let s = Scratch::new();
        let b = s.open("b");
        b.set("k".into(), vec![]).unwrap();
        let shard = b.shard(super::hash("k"));
        let old = shard.join("0000000000000000.0000000000000001.tmp");
        let fresh = shard.join("0000000000000000.0000000000000002.tmp");
        File::create(&old)
            .unwrap()
            .set_modified(SystemTime::now() - LEFTOVER * 2)
            .unwrap();
        File::create(&fresh).unwrap();
        assert_eq!(walk(&b, 10), ["k"]);
        assert!(!old.exists() && fresh.exists());
    }

    #[test]
    fn damaged_files_are_named_errors_and_others_keep_working() {
        let s = Scratch::new();
        let b = s.open("b");
        b.set("ok".into(), b"fine".to_vec()).unwrap();
        let bytes = b"some value that will be damaged".to_vec();
        type Damage = fn(&mut Vec<u8>);
        let damages: [(&str, Damage); 4] = [
            ("truncated", |f| f.truncate(f.len() - 3)),
            ("flipped", |f| {
                let last = f.len() - 1;
                f[last] ^= 1
            }),
            ("foreign", |f| *f = b"hello, not ours".repeat(4)),
            ("empty", Vec::clear),
        ];
        for (name, damage) in damages {
            b.set(name.into(), bytes.clone()).unwrap();
            let path = value_file(&b, name);
            let mut file = fs::read(&path).unwrap();
            damage(&mut file);
            fs::write(&path, file).unwrap();
            let err = b.get(name).unwrap_err();
            assert!(matches!(err, Error::Corrupt { .. }), "{name}: {err}");
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            assert_eq!(b.get("ok").unwrap(), Some(b"fine".to_vec()));
            // Deleting the file by hand recovers the key.
            fs::remove_file(&path).unwrap();
            assert_eq!(b.get(name).unwrap(), None);
        }
        // Foreign files with names that are not ours are ignored.
        fs::write(b.dir.join("notes.txt"), "hi").unwrap();
        fs::create_dir_all(b.shard(0)).unwrap();
        fs::write(b.shard(0).join("README"), "hi").unwrap();
        assert_eq!(walk(&b, 10), ["ok"]);
    }

    #[test]
    fn bad_store_directories_are_refused_on_open() {
        let s = Scratch::new();
        let missing = Fs::new(s.0.join("missing"), true).open("b").err().unwrap();
        assert!(matches!(missing, Error::StoreDir { .. }), "{missing}");
        assert!(missing.to_string().contains("--dir"), "{missing}");

        fs::write(s.store().join("FORMAT"), "keyvalue-virt store, format 9\n").unwrap();
        let newer = Fs::new(s.store(), true).open("b").err().unwrap();
        assert!(newer.to_string().contains("format 9"), "{newer}");
        fs::write(s.store().join("FORMAT"), "something else").unwrap();
        assert!(Fs::new(s.store(), true).open("b").is_err());

        // A read-only store opens buckets that do not exist without creating anything.
        let empty = s.0.join("empty");
        fs::create_dir(&empty).unwrap();
        let b = Fs::new(&empty, false).open("b").unwrap();
        assert_eq!(b.get("k").unwrap(), None);
        assert_eq!(walk(&b, 10), Vec::<String>::new());
        assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
    }

    #[test]
    fn value_names_parse_strictly() {
        assert_eq!(parse_value_name("00000000000000ff-0"), Some((255, 0)));
        assert_eq!(parse_value_name("00000000000000ff-12"), Some((255, 12)));
        for bad in [
            "00000000000000FF-0",
            "00000000000000ff-0.del",
            "00000000000000ff.lock",
            "ff-0",
            "00000000000000ff-",
            "00000000000000ff-+1",
        ] {
            assert_eq!(parse_value_name(bad), None, "{bad}");
        }
    }
}
