//! The filesystem backend: a directory (a `wasi:filesystem` preopen in the component, any
//! directory natively) is the whole store, shared by every instance and process that opens it.
//!
//! # Layout (format 4)
//!
//! ```text
//! DIR/FORMAT                          "keyvalue-virt store, format 4\n" "key <32 hex digits>\n"
//! DIR/<bucket hash>-<n>/              one directory per bucket
//! DIR/<bucket hash>-<n>/NAME          a record holding the bucket's name
//! DIR/<bucket hash>-<n>/<ss>/         a shard: the keys whose hash starts with byte `ss`
//!     <key hash>/                     a slot, while it holds an entry: the keys of that hash
//!         r                           its record: the entries of every key with that hash
//!         <g>.<parent>.c              a claim of generation g following the record `parent`
//!         <g>.<parent>.<nonce>.t      a record being written
//!     <key hash>.<nonce>.n/           a slot's first record, being put in place
//! ```
//!
//! Hashes are SipHash-1-3 under the store's key, drawn at random when the store is made and
//! kept in `FORMAT`, so nobody without the key can choose keys that share a slot (format 2
//! used unkeyed FNV-1a, and is read only to export it). They are written in 16 lowercase hex
//! digits, so file names are safe on every filesystem (case-insensitive ones too) whatever
//! keys and bucket names hold; the real names are stored inside the records ([`record`]).
//! Keys that share a hash share one slot, which
//! holds an entry for each, so a lookup reads one file and there are no chains to get lost
//! in. An entry is a value, or the tombstone of a deleted key that was seeded (so that the seed
//! does not come back); other deleted keys leave nothing, and a slot without entries goes, so
//! the files grow with the live keys ([`publish`] has how a slot's life ends safely). Bucket names that
//! share a hash take the next free `-<n>`.
//!
//! # Changes, concurrency and durability
//!
//! A slot changes only through the protocol of [`publish`], which uses no locks and no
//! clocks: a change claims the slot's next generation with an exclusive link and anyone who
//! finds a legal claim finishes it, so an instance that pauses or dies at any point blocks no
//! one and loses nothing that was acknowledged. Every entry has a version, the random nonce of
//! the record that last changed it (so no version repeats, even across a restore); `cas`
//! compares versions.
//!
//! With `--sync always` (the default), a record is synced before it is claimed and the shard
//! directory after it is renamed into place (by whoever renamed it, before the write
//! returns), and every directory the store makes is synced into its parent (`create.rs`), so
//! a returned write survives a power loss. A failed directory sync fails the write, and a
//! store is refused when it is made on a filesystem that cannot sync directories or make hard
//! links. With `--sync never` nothing is synced, and writes stay atomic and exact across
//! instances and process crashes. Readers never see a torn record: records only ever appear
//! by link or rename of complete files.
//!
//! A damaged slot costs only its own keys: `list-keys` and `--max-keys` skip it and report it
//! ([`damage`]). A crash leaves at most a temporary file and a claim. Claims and temporary
//! files of a generation the slot has reached are dead; now and then a write removes the dead
//! ones of its slot ([`publish::sweep`]), and `keyvalue-virt repair` all of them.
//!
//! A store opened read-only (`--read-only`) never writes: it reads slots as they are, and
//! serves seeds from memory.
//!
//! # Costs
//!
//! `get` and `exists` read the slot, one file; a change also looks for a claim (one failed
//! open), writes a temporary file, links it, reads the slot again and renames. `open` reads
//! `FORMAT` and the bucket's `NAME`. `list-keys` walks the shards in hash order (a key's
//! cursor position is its slot hash's top 32 bits and 16 bits of a second hash of the key,
//! which never move while the key lives, so a page can end between the keys of one slot) and
//! reads the slots of the page. `count` (used only by `--max-keys`) reads every slot, so `--max-keys`
//! is a soft limit across instances: instances adding keys at the same moment can each pass
//! the check, overshooting by at most one key per instance writing at once.

mod create;
pub mod damage;
mod io;
#[cfg(not(target_arch = "wasm32"))]
#[doc(hidden)]
pub mod legacy;
#[cfg(any(test, target_arch = "wasm32"))]
mod preopen;
pub mod publish;
pub mod record;
#[cfg(not(target_arch = "wasm32"))]
pub mod repair;
pub mod sys;
#[cfg(target_arch = "wasm32")]
mod wasi;

use alloc::rc::Rc;
use core::cell::RefCell;

use self::publish::{Name, Slot, State, is_hash, read_record, sweep};
use self::record::{Entry, FNV_START, NAME, Record, fnv1a64, siphash13};
use self::sys::Files;

/// The files the backend works on: `wasi:filesystem` directly in the component, `std::fs`
/// natively.
#[cfg(target_arch = "wasm32")]
type SysFiles = wasi::WasiFiles;
#[cfg(not(target_arch = "wasm32"))]
type SysFiles = sys::StdFiles;
/// How the store directory is named: a host path natively, the guest's path in the component.
#[cfg(target_arch = "wasm32")]
type Root = String;
#[cfg(not(target_arch = "wasm32"))]
type Root = std::path::PathBuf;

use super::{Backend, BucketOps, Update};
use crate::error::Error;
use crate::local::local;
use crate::prelude::*;

pub use self::create::{FORMAT, FORMAT_2};
/// More bytes than any `FORMAT` file of ours holds.
const FORMAT_MAX: u64 = 256;
/// How every `FORMAT` file of ours starts.
const FORMAT_PREFIX: &[u8] = b"keyvalue-virt store, format ";
// More bucket names than this sharing one 64-bit hash means the directory was tampered with.
const MAX_BUCKET_SLOTS: u32 = 64;
/// One write in this many sweeps its shard of dead leftovers.
const SWEEP_EVERY: u64 = 64;

/// How a store hashes bucket names and keys into file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hasher {
    /// Format 4: SipHash-1-3 under the store's random key (from `FORMAT`).
    Keyed(u64, u64),
    /// Format 3: the same hash, with a file per slot rather than a directory; such a store is
    /// only read, to export it.
    Keyed3(u64, u64),
    /// Format 2: FNV-1a 64, unkeyed; such a store is only read, to export it.
    Fnv,
}

impl Hasher {
    /// The hash of a bucket name or key, which names its directory or slot.
    pub fn hash(self, name: &str) -> u64 {
        match self {
            Hasher::Keyed(k0, k1) | Hasher::Keyed3(k0, k1) => siphash13(k0, k1, name.as_bytes()),
            Hasher::Fnv => fnv1a64(name.as_bytes(), FNV_START),
        }
    }

    /// A second, independent hash of a key: its order among the keys whose slot hashes share
    /// their top 32 bits (the keys of one slot among them), so that a `list-keys` cursor can
    /// fall between them.
    fn order(self, key: &str) -> u64 {
        match self {
            Hasher::Keyed(k0, k1) | Hasher::Keyed3(k0, k1) => {
                siphash13(k1, k0 ^ 0x6b65_7973, key.as_bytes()) >> 48
            }
            Hasher::Fnv => fnv1a64(key.as_bytes(), !FNV_START) >> 48,
        }
    }

    /// Whether its stores keep a file per slot (formats 2 and 3) rather than a directory.
    pub fn flat(self) -> bool {
        !matches!(self, Hasher::Keyed(..))
    }
}

/// The filesystem backend over a store directory.
pub struct Fs {
    files: Rc<SysFiles>,
    writable: bool,
    sync: bool,
}

impl Fs {
    /// The store in `root`. A `writable` store makes `root` a store if it is empty; a
    /// read-only one never writes. `sync` makes every write durable before it returns.
    pub fn new(root: impl Into<Root>, writable: bool, sync: bool) -> Fs {
        Fs {
            files: Rc::new(SysFiles::new(root)),
            writable,
            sync,
        }
    }

    fn dir_error(&self, problem: impl Into<String>) -> Error {
        Error::StoreDir {
            dir: self.files.show(""),
            problem: problem.into(),
        }
    }

    fn io(&self, path: &str, action: &'static str) -> impl FnOnce(io::Error) -> Error {
        let path = self.files.show(path);
        move |e| Error::FsIo {
            path,
            action,
            cause: e.to_string(),
        }
    }

    /// Checks that the root is a store of this format, making an empty directory one when
    /// writable. Returns how the store hashes names, or `None` when the store does not exist
    /// (a read-only empty directory). A format 2 store is read (only) when read-only, so that
    /// it can be exported.
    #[inline(never)]
    fn check_root(&self) -> Result<Option<Hasher>, Error> {
        let missing = |cause: String| {
            let dir = self.files.show("");
            self.dir_error(format!(
                "does not exist, is not a directory, or is not granted to the component \
                 ({cause}): grant a directory at that path (e.g. `wasmtime run --dir \
                 HOST_DIR::{dir}`), or build the component with another `--dir`"
            ))
        };
        let format = self.files.read("FORMAT", FORMAT_MAX);
        if let Ok(Some(found)) = &format
            && let Some((k0, k1)) = create::parse_format(found)
        {
            return Ok(Some(Hasher::Keyed(k0, k1)));
        }
        let old = match &format {
            Ok(Some(found)) if found == FORMAT_2 => Some((2, Hasher::Fnv)),
            Ok(Some(found)) => {
                create::parse_format_3(found).map(|(k0, k1)| (3, Hasher::Keyed3(k0, k1)))
            }
            _ => None,
        };
        if let Some((old, hasher)) = old {
            if !self.writable {
                return Ok(Some(hasher));
            }
            let dir = self.files.show("");
            return Err(self.dir_error(format!(
                "holds a store of format {old}, which this build reads only to export it: move \
                     the data to format 4 with `keyvalue-virt export {dir} > dump.json` and \
                     `keyvalue-virt import NEW_DIR < dump.json` (in the component, `{dir}` \
                     stands for the host directory granted at that path), then use NEW_DIR in \
                     its place"
            )));
        }
        match format {
            Ok(Some(found)) if found.starts_with(FORMAT) => {
                return Err(self.dir_error(
                    "holds a `FORMAT` file of format 4 whose hash key line is damaged: restore \
                     `FORMAT` from a backup of this store (the key cannot be guessed)",
                ));
            }
            Ok(Some(found)) if found.starts_with(FORMAT_PREFIX) => {
                let found = String::from_utf8_lossy(&found).trim_end().to_owned();
                return Err(self.dir_error(format!(
                    "holds a store of another format ({found:?}) that this build cannot read: \
                     use the keyvalue-virt that wrote it, or move the data over with its \
                     `keyvalue-virt export DIR > dump.json` and this one's `keyvalue-virt \
                     import NEW_DIR < dump.json`"
                )));
            }
            Ok(Some(_)) => {
                return Err(self.dir_error(
                    "holds a `FORMAT` file that is not keyvalue-virt's: build the component \
                     with another `--dir`",
                ));
            }
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => {
                return Err(self.dir_error(
                    "holds a `FORMAT` file that is not keyvalue-virt's (it is too large): build \
                     the component with another `--dir`",
                ));
            }
            Err(e) => return Err(missing(e.to_string())),
        }
        let names = match self.files.list("") {
            Ok(Some(names)) => names,
            Ok(None) => return Err(missing("no such directory".into())),
            Err(e) => return Err(missing(e.to_string())),
        };
        // Only the temporary files of another instance making the store may be there, unless
        // that instance has finished making it since `FORMAT` was read.
        if names.iter().any(|name| !name.starts_with("FORMAT.")) {
            if let Some((k0, k1)) = self
                .files
                .read("FORMAT", FORMAT_MAX)
                .ok()
                .flatten()
                .as_deref()
                .and_then(create::parse_format)
            {
                return Ok(Some(Hasher::Keyed(k0, k1)));
            }
            return Err(self.dir_error(
                "is not empty and holds no keyvalue-virt store (no `FORMAT` file): grant an \
                 empty directory or the directory of a store, or build the component with \
                 another `--dir`",
            ));
        }
        if !self.writable {
            return Ok(None);
        }
        create::make_store(&*self.files, self.sync)?;
        // Another instance may have made it first, with its own key: read the winner's.
        match self
            .files
            .read("FORMAT", FORMAT_MAX)
            .ok()
            .flatten()
            .as_deref()
            .and_then(create::parse_format)
        {
            Some((k0, k1)) => Ok(Some(Hasher::Keyed(k0, k1))),
            None => Err(self.dir_error("lost its `FORMAT` file right after it was made")),
        }
    }

    /// The names of the buckets in the store, sorted, read from each bucket directory's `NAME`
    /// record (for host-side tools; the component never lists buckets).
    pub fn buckets(&self) -> Result<Vec<String>, Error> {
        if self.check_root()?.is_none() {
            return Ok(Vec::new());
        }
        let mut names = Vec::new();
        for dir in self
            .files
            .list("")
            .map_err(self.io("", "list"))?
            .unwrap_or_default()
        {
            if parse_bucket_dir(&dir).is_none() {
                continue;
            }
            if let Some(name) = self.bucket_name(&dir)? {
                names.push(name);
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    /// The name recorded in the bucket directory `dir`, or `None` when it has none yet.
    fn bucket_name(&self, dir: &str) -> Result<Option<String>, Error> {
        let path = format!("{dir}/NAME");
        let Some(bytes) = read_record(&*self.files, &path, create::MAX_NAME_RECORD)? else {
            return Ok(None);
        };
        let corrupt = |problem: String| Error::Corrupt {
            path: self.files.show(&path),
            problem,
        };
        let record = Record::decode(&bytes).map_err(corrupt)?;
        match (record.kind, record.entries.as_slice()) {
            (NAME, [entry]) => Ok(Some(entry.key.clone())),
            _ => Err(corrupt("not a bucket name record".into())),
        }
    }
}

/// A bucket directory's name, `<hash>-<n>`, parsed.
fn parse_bucket_dir(name: &str) -> Option<(u64, u32)> {
    let (hash, slot) = name.split_once('-')?;
    if !is_hash(hash) || slot.is_empty() || !slot.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some((u64::from_str_radix(hash, 16).ok()?, slot.parse().ok()?))
}

impl Backend for Fs {
    type Bucket = Bucket;

    #[inline(never)]
    fn open(&self, identifier: &str) -> Result<Bucket, Error> {
        let hasher = self.check_root()?;
        let exists = hasher.is_some();
        // A read-only store that does not exist has no files: any key places its seeds.
        let hasher = hasher.unwrap_or(Hasher::Keyed(0, 0));
        let id = hasher.hash(identifier);
        let bucket = |dir: String| Bucket {
            files: self.files.clone(),
            tag: (id % u64::from(u16::MAX)) as u16 + 1,
            dir,
            writable: self.writable,
            sync: self.sync,
            hasher,
            mask: u64::MAX,
        };
        let mut made = None;
        let mut slot = 0;
        while slot < MAX_BUCKET_SLOTS {
            let dir = format!("{id:016x}-{slot}");
            match self.bucket_name(&dir)? {
                Some(name) if name == identifier => return Ok(bucket(dir)),
                Some(_) => slot += 1,
                // A read-only store has no such bucket yet: it reads as empty.
                None if !self.writable || !exists => return Ok(bucket(dir)),
                None if made == Some(slot) => {
                    return Err(Error::Corrupt {
                        path: self.files.show(&format!("{dir}/NAME")),
                        problem: "missing right after it was made".into(),
                    });
                }
                None => {
                    create::make_bucket(&*self.files, &dir, identifier, self.sync)?;
                    made = Some(slot);
                }
            }
        }
        Err(Error::Corrupt {
            path: self.files.show(""),
            problem: format!(
                "more than {MAX_BUCKET_SLOTS} bucket directories share the hash {id:016x}"
            ),
        })
    }
}

/// A seed of a read-only store: ((bucket directory, key), value).
type Seeded = ((String, String), Vec<u8>);

local! {
    // Seeds of read-only stores, served without writing; a handful at most, so a list.
    static OVERLAY: RefCell<Vec<Seeded>> = RefCell::new(Vec::new());
}

/// One bucket's directory.
#[derive(Clone)]
pub struct Bucket {
    files: Rc<SysFiles>,
    dir: String,
    tag: u16,
    writable: bool,
    sync: bool,
    hasher: Hasher,
    // Key hashes are masked with this; tests narrow it to force collisions.
    mask: u64,
}

impl Bucket {
    /// What identifies this bucket among the read-only seeds of every store.
    fn overlay_dir(&self) -> String {
        self.files.show(&self.dir)
    }

    fn key_hash(&self, key: &str) -> u64 {
        self.hasher.hash(key) & self.mask
    }

    /// Where `key` stands in a `list-keys` walk (48 bits): the top 32 bits of its slot hash,
    /// then 16 bits of its own order, so that a page can end between the keys of one slot.
    fn position(&self, key: &str) -> u64 {
        (self.key_hash(key) >> 32) << 16 | self.hasher.order(key)
    }

    fn shard_name(&self, shard: u8) -> String {
        format!("{}/{shard:02x}", self.dir)
    }

    /// Runs `f` on the slot of `hash`.
    fn with_slot<T>(&self, hash: u64, f: impl FnOnce(&Slot<'_, SysFiles>) -> T) -> T {
        let shard = self.shard_name((hash >> 56) as u8);
        let name = format!("{hash:016x}");
        f(&Slot {
            files: &self.files,
            shard: &shard,
            name: &name,
            flat: self.hasher.flat(),
            writable: self.writable,
            sync: self.sync,
        })
    }

    /// The settled state of `key`'s slot, with the read-only seeds of keys it has no entry for.
    fn state(&self, key: &str) -> Result<State, Error> {
        let hash = self.key_hash(key);
        let mut state = self.with_slot(hash, |slot| slot.read())?;
        if !self.writable {
            self.add_overlay(hash, &mut state.entries);
        }
        Ok(state)
    }

    /// Adds the read-only seeds of `hash` that `entries` has no entry for.
    fn add_overlay(&self, hash: u64, entries: &mut Vec<Entry>) {
        let me = self.overlay_dir();
        OVERLAY.with_borrow(|overlay| {
            for ((dir, key), value) in overlay {
                if *dir == me
                    && self.key_hash(key) == hash
                    && !entries.iter().any(|entry| entry.key == *key)
                {
                    entries.push(Entry {
                        key: key.clone(),
                        value: Some(value.clone()),
                        version: 0,
                        seeded: false,
                    });
                }
            }
        });
    }

    /// Changes `key`'s entry: `f` gets it (if any) and the version a change stamps, and
    /// returns the new entry (`None`: no change) and the result.
    fn change<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<&Entry>, u64) -> Result<(Option<Entry>, T), Error>,
    ) -> Result<T, Error> {
        let hash = self.key_hash(key);
        let result = self.with_slot(hash, |slot| {
            slot.change(|state, next| {
                let old = state.entry(key);
                let (entry, result) = f(old, next)?;
                let entries = entry.map(|mut entry| {
                    entry.seeded |= old.is_some_and(|old| old.seeded);
                    // Only a seeded key keeps its tombstone; the slot of no entry is removed.
                    let mut entries: Vec<Entry> = state
                        .entries
                        .iter()
                        .filter(|other| other.key != key && (other.value.is_some() || other.seeded))
                        .cloned()
                        .collect();
                    if entry.value.is_some() || entry.seeded {
                        entries.push(entry);
                    }
                    entries
                });
                Ok((entries, result))
            })
        })?;
        if self.files.nonce().is_multiple_of(SWEEP_EVERY) {
            let shard = self.shard_name((hash >> 56) as u8);
            // A failed sweep leaves leftovers for the next one; the write itself succeeded.
            let _ = sweep(&*self.files, &shard, &format!("{hash:016x}"));
        }
        Ok(result)
    }

    /// The shards that exist, in order.
    fn shards(&self) -> Result<Vec<u8>, Error> {
        let mut present = [false; 256];
        let names = self.files.list(&self.dir).map_err(|e| Error::FsIo {
            path: self.files.show(&self.dir),
            action: "list",
            cause: e.to_string(),
        })?;
        for name in names.unwrap_or_default() {
            if name.len() == 2
                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && let Ok(shard) = u8::from_str_radix(&name, 16)
            {
                present[usize::from(shard)] = true;
            }
        }
        if !self.writable {
            let me = self.overlay_dir();
            OVERLAY.with_borrow(|overlay| {
                for ((dir, key), _) in overlay {
                    if *dir == me {
                        present[(self.key_hash(key) >> 56) as usize] = true;
                    }
                }
            });
        }
        Ok((0..=255)
            .filter(|&shard| present[usize::from(shard)])
            .collect())
    }

    /// The slot hashes of a shard that may hold keys at position `from` or later, in order.
    fn slots(&self, shard: u8, from: u64) -> Result<Vec<u64>, Error> {
        let dir = self.shard_name(shard);
        let names = self
            .files
            .list(&dir)
            .map_err(|e| Error::FsIo {
                path: self.files.show(&dir),
                action: "list",
                cause: e.to_string(),
            })?
            .unwrap_or_default();
        let mut hashes: Vec<u64> = names
            .iter()
            .filter_map(|name| match Name::parse(name) {
                Some(Name::Slot(hash)) => u64::from_str_radix(hash, 16).ok(),
                _ => None,
            })
            .collect();
        if !self.writable {
            let me = self.overlay_dir();
            OVERLAY.with_borrow(|overlay| {
                for ((dir, key), _) in overlay {
                    let hash = self.key_hash(key);
                    if *dir == me && (hash >> 56) as u8 == shard {
                        hashes.push(hash);
                    }
                }
            });
        }
        hashes.retain(|hash| hash >> 32 >= from >> 16);
        hashes.sort_unstable();
        hashes.dedup();
        Ok(hashes)
    }

    /// The live keys of the slot `hash`, as its file holds them now.
    fn slot_keys(&self, hash: u64) -> Result<Vec<String>, Error> {
        let mut state = self.with_slot(hash, |slot| {
            let state = slot.read()?;
            if self.writable && (state.generation == 0 || state.ended()) {
                // A slot directory whose life ended, left by a writer that stopped before it
                // removed it: it goes now (a failure leaves it to the next writer).
                let _ = slot.end();
            }
            Ok::<_, Error>(state)
        })?;
        if !self.writable {
            self.add_overlay(hash, &mut state.entries);
        }
        Ok(state
            .entries
            .into_iter()
            .filter(|entry| entry.value.is_some())
            .map(|entry| entry.key)
            .collect())
    }
}

impl BucketOps for Bucket {
    fn tag(&self) -> u16 {
        self.tag
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let state = self.state(key)?;
        Ok(state.entry(key).and_then(|entry| entry.value.clone()))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.change(&key, |_, version| {
            Ok((
                Some(Entry {
                    key: key.clone(),
                    value: Some(value.clone()),
                    version,
                    seeded: false,
                }),
                (),
            ))
        })
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.change(key, |entry, version| {
            let live = entry.is_some_and(|entry| entry.value.is_some());
            let tombstone = live.then(|| Entry {
                key: key.to_owned(),
                value: None,
                version,
                seeded: false,
            });
            Ok((tombstone, ()))
        })
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        let state = self.state(key)?;
        Ok(state.entry(key).is_some_and(|entry| entry.value.is_some()))
    }

    fn count(&self) -> Result<u64, Error> {
        let mut count = 0;
        for shard in self.shards()? {
            for hash in self.slots(shard, 0)? {
                if let Some(keys) = damage::skip(self.slot_keys(hash))? {
                    count += keys.len() as u64;
                }
            }
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
            let hashes = self.slots(shard, from)?;
            // The keys of slots whose hashes share their top 32 bits interleave by their own
            // order; only keys of one position (a chance of 2^-48 per pair) are never split.
            for group in hashes.chunk_by(|a, b| a >> 32 == b >> 32) {
                let mut keys = Vec::new();
                // Position and index in `keys` in one `u64`, sorted as the slot hashes are
                // (one sort of `u64`s in the build, not one more of pairs: about 7 KB).
                let mut order = Vec::new();
                for &hash in group {
                    for key in damage::skip(self.slot_keys(hash))?.unwrap_or_default() {
                        let position = self.position(&key);
                        if position >= from {
                            order.push(position << 16 | keys.len() as u64);
                            keys.push(key);
                        }
                    }
                }
                if keys.len() > 1 << 16 {
                    // Only hand-made files put so many keys in one group of a keyed hash.
                    damage::skip::<()>(Err(Error::Corrupt {
                        path: self.files.show(&self.shard_name(shard)),
                        problem: format!(
                            "{} keys share the top 32 bits of their slot hashes, more than a \
                             `list-keys` walk can page through (only hand-made files hold so \
                             many): they are not listed",
                            keys.len()
                        ),
                    }))?;
                    continue;
                }
                order.sort_unstable();
                for same in order.chunk_by(|a, b| a >> 16 == b >> 16) {
                    if count > 0 && (count + same.len() > max_keys || bytes >= max_bytes) {
                        return Ok(Some(same[0] >> 16));
                    }
                    for at in same {
                        if let Some(key) = keys.get_mut((at & 0xffff) as usize) {
                            let key = core::mem::take(key);
                            bytes += key.len();
                            page.push(key);
                        }
                    }
                    count += same.len();
                }
            }
        }
        Ok(None)
    }

    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error> {
        self.change(key, |entry, version| {
            let value = f(entry.and_then(|entry| entry.value.as_deref()))?;
            Ok((
                Some(Entry {
                    key: key.to_owned(),
                    value: Some(value),
                    version,
                    seeded: false,
                }),
                (),
            ))
        })
    }

    fn watch(&self, key: &str) -> Result<u64, Error> {
        let state = self.state(key)?;
        Ok(state.entry(key).map_or(0, |entry| entry.version))
    }

    fn unwatch(&self, _key: &str) {}

    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error> {
        self.change(key, |entry, version| {
            let now = entry.map_or(0, |entry| entry.version);
            if now != seen {
                return Ok((None, Err(now)));
            }
            let entry = Entry {
                key: key.to_owned(),
                value: Some(value.clone()),
                version,
                seeded: false,
            };
            Ok((Some(entry), Ok(())))
        })
    }

    fn create(&self, key: String, value: Vec<u8>) -> Result<bool, Error> {
        if !self.writable {
            if self.state(&key)?.entry(&key).is_some() {
                return Ok(false);
            }
            OVERLAY.with_borrow_mut(|overlay| overlay.push(((self.overlay_dir(), key), value)));
            return Ok(true);
        }
        self.change(&key, |entry, version| {
            if entry.is_some() {
                return Ok((None, false));
            }
            let entry = Entry {
                key: key.clone(),
                value: Some(value.clone()),
                version,
                seeded: true,
            };
            Ok((Some(entry), true))
        })
    }
}

#[cfg(test)]
mod model;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_durability;
#[cfg(test)]
mod tests_hostile;
#[cfg(test)]
mod tests_repair;
