//! A mechanical check of the publication protocol ([`publish`](super::publish)): several
//! instances run it over a simulated filesystem under `shuttle`, which interleaves them at
//! every file operation in random orders (so any instance may be paused for any number of
//! the others' steps), and instances crash at random steps, leaving whatever files they made.
//!
//! After each schedule the slot must hold exactly the acknowledged increments plus at most one
//! per crashed or failed one, every acknowledged count must be distinct, and no reader may see
//! the count go back.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

use shuttle::rand::{Rng, thread_rng};
use shuttle::sync::Mutex;

use super::publish::{Slot, sweep};
use super::record::Entry;
use super::sys::{Files, Link, check_name};
use crate::error::Error;
use crate::prelude::*;

/// A filesystem in memory: file paths to inode numbers, inodes to bytes, and directories with
/// identities of their own, as [`Files::open_dir`] needs.
///
/// A directory is its id: the root is 0 (path ""), and `dirs[id - 1]` is the path directory
/// `id` has now, or empty once it is removed. Renaming a directory gives it and every path
/// below it (directories' and files') the new prefix, so a path always names what is in the
/// directory that has it at that moment, and a file in an open directory is found by the
/// directory's path now ([`Sim::path_in`]), or not at all once it is removed.
#[derive(Default)]
struct Sim {
    names: BTreeMap<String, usize>,
    dirs: Vec<String>,
    inodes: Vec<Vec<u8>>,
    nonces: u64,
    // Threads that have crashed: every later operation of theirs fails.
    crashed: HashMap<shuttle::thread::ThreadId, ()>,
    // Per thread, how many operations are left before it crashes.
    budget: HashMap<shuttle::thread::ThreadId, usize>,
}

struct SimFiles(Mutex<Sim>);

fn crashed() -> io::Error {
    io::Error::other("crashed")
}

impl SimFiles {
    /// Makes the calling thread crash at a random one of its next `steps` operations.
    fn crash_within(&self, steps: usize) {
        let budget = thread_rng().gen_range(0..steps);
        let me = shuttle::thread::current().id();
        self.0.lock().unwrap().budget.insert(me, budget);
    }

    /// Runs one operation atomically, unless the calling thread has crashed.
    fn op<T>(&self, f: impl FnOnce(&mut Sim) -> io::Result<T>) -> io::Result<T> {
        let mut sim = self.0.lock().unwrap();
        let me = shuttle::thread::current().id();
        if sim.crashed.contains_key(&me) {
            return Err(crashed());
        }
        if let Some(left) = sim.budget.get_mut(&me) {
            if *left == 0 {
                sim.crashed.insert(me, ());
                return Err(crashed());
            }
            *left -= 1;
        }
        f(&mut sim)
    }
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

/// The path of `name` in the directory `dir`.
fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

/// `path` with its prefix `from` (a directory's path, or one below it) changed to `to`.
fn moved(path: &str, from: &str, to: &str) -> Option<String> {
    if path == from {
        Some(to.to_owned())
    } else {
        path.strip_prefix(from)?
            .strip_prefix('/')
            .map(|rest| join(to, rest))
    }
}

impl Sim {
    /// The id of the directory `path` now.
    fn dir_id(&self, path: &str) -> Option<u64> {
        if path.is_empty() {
            return Some(0);
        }
        let index = self.dirs.iter().position(|dir| dir == path)?;
        Some(index as u64 + 1)
    }

    fn dir_exists(&self, path: &str) -> bool {
        self.dir_id(path).is_some()
    }

    /// The path of the directory `id` now; `None` once it is removed.
    fn dir_path(&self, id: u64) -> Option<String> {
        if id == 0 {
            return Some(String::new());
        }
        let path = self.dirs.get(usize::try_from(id - 1).ok()?)?;
        (!path.is_empty()).then(|| path.clone())
    }

    /// The path of `name` in the directory `id`; `None` once it is removed.
    fn path_in(&self, id: u64, name: &str) -> io::Result<Option<String>> {
        check_name(name)?;
        Ok(self.dir_path(id).map(|dir| join(&dir, name)))
    }

    /// What a name made at `path` goes into: an error if its directory is missing
    /// (`NotFound`) or a file (`NotADirectory`).
    fn check_parent(&self, path: &str) -> io::Result<()> {
        let dir = parent(path);
        if self.dir_exists(dir) {
            Ok(())
        } else if self.names.contains_key(dir) {
            Err(io::ErrorKind::NotADirectory.into())
        } else {
            Err(io::ErrorKind::NotFound.into())
        }
    }

    /// The names in the directory `path`: its files and its directories.
    fn children(&self, path: &str) -> Vec<String> {
        let files = self.names.keys();
        let dirs = self.dirs.iter().filter(|dir| !dir.is_empty());
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter(|child| parent(child) == path)
            .map(|child| child.rsplit('/').next().unwrap().to_owned())
            .collect();
        names.sort_unstable();
        names
    }

    /// An error if `path` is a directory, which the operations on files refuse.
    fn not_a_dir(&self, path: &str) -> io::Result<()> {
        if self.dir_exists(path) {
            Err(io::ErrorKind::IsADirectory.into())
        } else {
            Ok(())
        }
    }

    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.not_a_dir(path)?;
        match self.names.get(path) {
            Some(&inode) if self.inodes[inode].len() as u64 > max => {
                Err(super::sys::too_large(max))
            }
            found => Ok(found.map(|&inode| self.inodes[inode].clone())),
        }
    }

    fn remove(&mut self, path: &str) -> io::Result<bool> {
        self.not_a_dir(path)?;
        Ok(self.names.remove(path).is_some())
    }

    /// Renames the directory `id`, at `from`, to `to`, as `rename(2)` does: onto a missing
    /// name, or in place of an empty directory.
    fn rename_dir(&mut self, id: u64, from: &str, to: &str) -> io::Result<bool> {
        if id == 0 || moved(to, from, "").is_some() {
            // The root, or a directory into itself.
            return Err(io::ErrorKind::InvalidInput.into());
        }
        if self.names.contains_key(to) {
            return Err(io::ErrorKind::NotADirectory.into());
        }
        if let Some(replaced) = self.dir_id(to) {
            if !self.children(to).is_empty() {
                return Err(io::ErrorKind::DirectoryNotEmpty.into());
            }
            self.dirs[replaced as usize - 1].clear();
        }
        for dir in &mut self.dirs {
            if let Some(path) = moved(dir, from, to) {
                *dir = path;
            }
        }
        let below: Vec<String> = self
            .names
            .keys()
            .filter(|name| moved(name, from, to).is_some())
            .cloned()
            .collect();
        for name in below {
            let inode = self.names.remove(&name).unwrap();
            self.names.insert(moved(&name, from, to).unwrap(), inode);
        }
        Ok(true)
    }
}

impl Files for SimFiles {
    type Handle = usize;

    /// The directory's id.
    type Dir = u64;

    fn open_dir(&self, path: &str) -> io::Result<Option<u64>> {
        self.op(|sim| {
            if sim.names.contains_key(path) {
                return Err(io::ErrorKind::NotADirectory.into());
            }
            Ok(sim.dir_id(path))
        })
    }

    fn read_in(&self, dir: &u64, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.op(|sim| match sim.path_in(*dir, name)? {
            Some(path) => sim.read(&path, max),
            None => Ok(None),
        })
    }

    fn remove_in(&self, dir: &u64, name: &str) -> io::Result<bool> {
        self.op(|sim| match sim.path_in(*dir, name)? {
            Some(path) => sim.remove(&path),
            None => Ok(false),
        })
    }

    fn create(&self, path: &str, bytes: &[u8], _sync: bool) -> io::Result<usize> {
        self.op(|sim| {
            sim.check_parent(path)?;
            if sim.names.contains_key(path) || sim.dir_exists(path) {
                return Err(io::ErrorKind::AlreadyExists.into());
            }
            sim.inodes.push(bytes.to_vec());
            let inode = sim.inodes.len() - 1;
            sim.names.insert(path.to_owned(), inode);
            Ok(inode)
        })
    }

    fn read_byte(&self, handle: &usize, offset: u64) -> io::Result<u8> {
        self.op(|sim| Ok(sim.inodes[*handle][offset as usize]))
    }

    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.op(|sim| sim.read(path, max))
    }

    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        self.op(|sim| {
            sim.not_a_dir(path)?;
            Ok(sim.names.get(path).map(|&inode| {
                let bytes = &sim.inodes[inode];
                bytes[..len.min(bytes.len())].to_vec()
            }))
        })
    }

    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        self.op(|sim| {
            sim.not_a_dir(path)?;
            match sim.names.get(path) {
                Some(&inode) => {
                    sim.inodes[inode][offset as usize] = byte;
                    Ok(true)
                }
                None => Ok(false),
            }
        })
    }

    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        self.op(|sim| {
            if sim.dir_exists(from) {
                // `link(2)` refuses a directory (`EPERM`).
                return Err(io::ErrorKind::PermissionDenied.into());
            }
            let Some(&inode) = sim.names.get(from) else {
                return Ok(Link::SourceGone);
            };
            match sim.check_parent(to) {
                // `StdFiles` (and `WasiFiles`) cannot tell a missing directory from a missing
                // source: both are `NotFound`.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Link::SourceGone),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if sim.names.contains_key(to) || sim.dir_exists(to) {
                return Ok(Link::Taken);
            }
            sim.names.insert(to.to_owned(), inode);
            Ok(Link::Made)
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        self.op(|sim| {
            let dir = sim.dir_id(from);
            if dir.is_none() && !sim.names.contains_key(from) {
                return Ok(false);
            }
            match sim.check_parent(to) {
                // `NotFound`, which `StdFiles` reports as a missing `from` too.
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
                Err(e) => return Err(e),
                Ok(()) => {}
            }
            if from == to {
                return Ok(true);
            }
            if let Some(id) = dir {
                return sim.rename_dir(id, from, to);
            }
            sim.not_a_dir(to)?;
            let inode = sim.names.remove(from).unwrap();
            sim.names.insert(to.to_owned(), inode);
            Ok(true)
        })
    }

    fn remove(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| sim.remove(path))
    }

    fn create_dir(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| {
            if sim.dir_exists(path) || sim.names.contains_key(path) {
                return Ok(false);
            }
            sim.check_parent(path)?;
            sim.dirs.push(path.to_owned());
            Ok(true)
        })
    }

    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        self.op(|sim| {
            if sim.names.contains_key(path) {
                return Err(io::ErrorKind::NotADirectory.into());
            }
            if !sim.dir_exists(path) {
                return Ok(None);
            }
            Ok(Some(sim.children(path)))
        })
    }

    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| {
            if sim.names.contains_key(path) {
                return Err(io::ErrorKind::NotADirectory.into());
            }
            let Some(id) = sim.dir_id(path) else {
                return Ok(false);
            };
            if id == 0 {
                return Err(io::ErrorKind::InvalidInput.into());
            }
            if !sim.children(path).is_empty() {
                return Err(io::ErrorKind::DirectoryNotEmpty.into());
            }
            sim.dirs[id as usize - 1].clear();
            Ok(true)
        })
    }

    fn sync_dir(&self, path: &str) -> io::Result<()> {
        self.op(|sim| {
            if sim.dir_exists(path) {
                Ok(())
            } else {
                Err(io::ErrorKind::NotFound.into())
            }
        })
    }

    fn show(&self, path: &str) -> String {
        path.to_owned()
    }

    fn nonce(&self) -> u64 {
        let mut sim = self.0.lock().unwrap();
        sim.nonces += 1;
        sim.nonces
    }
}

/// The simulated directories behave as real ones: a handle stays its directory through a
/// rename, reaches nothing once it is removed (not the next directory at its path), a directory
/// replaces only an empty one, and listings show directories too.
#[test]
fn sim_directories_have_identities() {
    shuttle::check_random(
        || {
            let files = SimFiles(Mutex::new(Sim::default()));
            let kind = |result: io::Result<bool>| result.unwrap_err().kind();
            assert!(files.create_dir("s").unwrap());
            assert!(!files.create_dir("s").unwrap());
            assert_eq!(kind(files.create_dir("x/y")), io::ErrorKind::NotFound);
            assert!(files.create_dir("s/a").unwrap());
            files.create("s/a/r", b"one", false).unwrap();
            let a = files.open_dir("s/a").unwrap().unwrap();
            assert_eq!(files.open_dir("s/b").unwrap(), None);
            assert_eq!(files.list("s").unwrap().unwrap(), ["a"]);

            // A rename moves the directory and what it holds; the handle follows it.
            assert!(files.rename("s/a", "s/b").unwrap());
            assert_eq!(files.read("s/b/r", 9).unwrap().unwrap(), b"one");
            assert_eq!(files.read_in(&a, "r", 9).unwrap().unwrap(), b"one");

            // Onto a directory that is not empty, nothing changes.
            assert!(files.create_dir("s/c").unwrap());
            files.create("s/c/r", b"two", false).unwrap();
            let c = files.open_dir("s/c").unwrap().unwrap();
            assert_eq!(
                kind(files.rename("s/c", "s/b")),
                io::ErrorKind::DirectoryNotEmpty
            );
            assert_eq!(
                kind(files.remove_dir("s/b")),
                io::ErrorKind::DirectoryNotEmpty
            );

            // Emptied and removed, then made again at the same path: the old handle finds
            // nothing there, and removes nothing.
            assert!(files.remove_in(&a, "r").unwrap());
            assert!(!files.remove_in(&a, "r").unwrap());
            assert!(files.remove_dir("s/b").unwrap());
            assert!(!files.remove_dir("s/b").unwrap());
            assert!(files.rename("s/c", "s/b").unwrap());
            assert_eq!(files.read_in(&a, "r", 9).unwrap(), None);
            assert!(!files.remove_in(&a, "r").unwrap());
            assert_eq!(files.read_in(&c, "r", 9).unwrap().unwrap(), b"two");

            // A directory replaces an empty one, whose handles then reach nothing.
            assert!(files.create_dir("s/d").unwrap());
            let d = files.open_dir("s/d").unwrap().unwrap();
            assert!(files.rename("s/b", "s/d").unwrap());
            assert_eq!(files.list("s").unwrap().unwrap(), ["d"]);
            assert_eq!(files.read_in(&c, "r", 9).unwrap().unwrap(), b"two");
            assert_eq!(files.read_in(&d, "r", 9).unwrap(), None);

            // Files and directories do not replace each other.
            files.create("s/f", b"", false).unwrap();
            assert!(files.rename("s/f", "s/d").is_err());
            assert!(files.rename("s/d", "s/f").is_err());
            assert_eq!(files.list("s").unwrap().unwrap(), ["d", "f"]);
            assert_eq!(
                files.link("s/f", "x/f").unwrap(),
                Link::SourceGone,
                "a missing directory is reported as StdFiles reports it"
            );
        },
        1,
    );
}

const SHARD: &str = "shard";
const SLOT: &str = "00000000000000aa";

fn slot(files: &SimFiles) -> Slot<'_, SimFiles> {
    Slot {
        files,
        shard: SHARD,
        name: SLOT,
        flat: false,
        writable: true,
        sync: true,
    }
}

/// Sweeps the shard and the slot, then checks that the slot's directory and its record are all
/// that is left.
fn assert_swept(files: &SimFiles) {
    let names = files.list(SHARD).unwrap().unwrap_or_default();
    super::publish::sweep_asides(files, SHARD, &names).unwrap();
    sweep(files, SHARD, SLOT).unwrap();
    assert_eq!(
        files.list(SHARD).unwrap().unwrap(),
        [SLOT],
        "left in the shard"
    );
    let inside = files.list(&format!("{SHARD}/{SLOT}")).unwrap().unwrap();
    assert_eq!(inside, ["r"], "left in the slot's directory");
}

fn count(state: &super::publish::State) -> u64 {
    state
        .entry("n")
        .and_then(|entry| entry.value.as_deref())
        .map_or(0, |v| std::str::from_utf8(v).unwrap().parse().unwrap())
}

fn increment(files: &SimFiles) -> Result<u64, Error> {
    increment_versioned(files).map(|(n, _)| n)
}

/// An increment that also returns the version it gave `n`.
fn increment_versioned(files: &SimFiles) -> Result<(u64, u64), Error> {
    slot(files).change(|state, version| {
        let n = count(state) + 1;
        let entry = Entry {
            key: "n".into(),
            value: Some(n.to_string().into_bytes()),
            version,
            seeded: false,
        };
        Ok((Some(vec![entry]), (n, version)))
    })
}

/// One schedule: `writers` instances make `per_writer` increments each; some crash at a
/// random step; one reader watches the count; then the result is checked.
fn schedule(writers: usize, per_writer: usize, crash: bool) {
    let files = Arc::new(SimFiles(Mutex::new(Sim {
        dirs: vec![SHARD.to_owned()],
        ..Sim::default()
    })));
    let mut handles = Vec::new();
    for _ in 0..writers {
        let files = files.clone();
        handles.push(shuttle::thread::spawn(move || {
            if crash && thread_rng().gen_bool(0.5) {
                files.crash_within(40);
            }
            let mut acknowledged = Vec::new();
            let mut failed = 0;
            for _ in 0..per_writer {
                match increment(&files) {
                    Ok(n) => acknowledged.push(n),
                    Err(_) => failed += 1,
                }
            }
            (acknowledged, failed)
        }));
    }
    let reader = {
        let files = files.clone();
        shuttle::thread::spawn(move || {
            let mut last = 0;
            for _ in 0..4 {
                let now = count(&slot(&files).read().unwrap());
                assert!(now >= last, "the count went back from {last} to {now}");
                last = now;
            }
        })
    };
    let mut acknowledged = Vec::new();
    let mut failed = 0;
    for handle in handles {
        let (mine, lost) = handle.join().unwrap();
        acknowledged.extend(mine);
        failed += lost;
    }
    reader.join().unwrap();

    // One more increment finishes whatever claim a crashed writer left (readers do not), so
    // the slot then holds every change that will ever take effect, plus this one.
    let total = increment(&files).unwrap() - 1;
    acknowledged.sort_unstable();
    let distinct = acknowledged.windows(2).all(|pair| pair[0] < pair[1]);
    assert!(distinct, "a count was acknowledged twice: {acknowledged:?}");
    assert!(
        acknowledged.last().is_none_or(|&last| last <= total),
        "acknowledged {acknowledged:?} but the slot holds {total}"
    );
    let n = acknowledged.len() as u64;
    assert!(
        n <= total && total <= n + failed as u64,
        "{n} acknowledged and {failed} failed increments, but the slot holds {total}"
    );
    if !crash {
        assert_eq!(total, (writers * per_writer) as u64);
    }
    // Every leftover of a finished or crashed writer is dead once the slot has moved on.
    assert_swept(&files);
}

#[test]
fn three_writers_lose_no_update_in_random_schedules() {
    shuttle::check_random(|| schedule(3, 3, false), 3000);
}

#[test]
fn three_writers_lose_no_update_in_pct_schedules() {
    shuttle::check_pct(|| schedule(3, 2, false), 3000, 3);
}

#[test]
fn crashes_at_any_step_lose_no_acknowledged_update() {
    shuttle::check_random(|| schedule(3, 3, true), 3000);
}

/// What a damaged slot is mended with in [`repair_schedule`]: `keyvalue-virt repair`, or
/// deleting its record by hand, which ends its life as safely (format 3's fixed slot files
/// made that lose writes; its model caught it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mend {
    Repair,
    Delete,
}

/// One schedule in which, while two writers increment (one of them may crash, leaving its
/// claim and temporary file), the slot is damaged and then mended, which ends its life.
/// However the steps interleave, nothing fails but the damaged slot's own reads and the
/// crashed writer, a write after the mending succeeds, and every leftover is dead. (That
/// nothing of an ended life takes effect in a later one is checked exactly by
/// [`restore_schedule`] and [`lives_schedule`].)
fn repair_schedule(mend: Mend) {
    let files = Arc::new(SimFiles(Mutex::new(Sim {
        dirs: vec![SHARD.to_owned()],
        ..Sim::default()
    })));
    let path = format!("{SHARD}/{SLOT}/r");
    let mut handles = Vec::new();
    for writer in 0..2 {
        let files = files.clone();
        handles.push(shuttle::thread::spawn(move || {
            if writer == 0 && thread_rng().gen_bool(0.5) {
                files.crash_within(30);
            }
            for _ in 0..3 {
                let _ = increment(&files);
            }
        }));
    }
    let mender = {
        let files = files.clone();
        let path = path.clone();
        shuttle::thread::spawn(move || {
            for _ in 0..thread_rng().gen_range(0..20) {
                shuttle::thread::yield_now();
            }
            {
                // Damage the slot's file (and with it every name of its inode).
                let mut sim = files.0.lock().unwrap();
                if let Some(&inode) = sim.names.get(&path) {
                    sim.inodes[inode] = b"damaged".to_vec();
                }
            }
            match mend {
                Mend::Repair => {
                    super::repair::repair_slot(&*files, SHARD, SLOT).unwrap();
                }
                Mend::Delete => {
                    files.remove(&path).unwrap();
                }
            }
        })
    };
    for handle in handles {
        handle.join().unwrap();
    }
    mender.join().unwrap();
    // The writers may have left the slot damaged (the mending came first): mend it again.
    if slot(&files).read().is_err() {
        super::repair::repair_slot(&*files, SHARD, SLOT).unwrap();
    }
    let before = count(&slot(&files).read().unwrap());
    let after = increment(&files).expect("a write after the mending succeeds");
    // The crashed writer's change, if it claimed, takes effect first.
    assert!(
        after == before + 1 || after == before + 2,
        "{before}, then {after}"
    );
    assert_swept(&files);
}

#[test]
fn a_damaged_slot_is_repaired_beside_running_writers() {
    shuttle::check_random(|| repair_schedule(Mend::Repair), 3000);
    shuttle::check_pct(|| repair_schedule(Mend::Repair), 3000, 3);
}

#[test]
fn a_damaged_record_deleted_by_hand_ends_its_life_safely() {
    shuttle::check_random(|| repair_schedule(Mend::Delete), 3000);
}

/// How a slot goes back in [`restore_schedule`], with every instance stopped and the
/// leftovers of crashed writers still beside it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Restore {
    /// The slot file is deleted by hand.
    Delete,
    /// The slot file is replaced by a copy taken earlier (a backup of one file).
    RollBack,
}

/// The count and the version of `n`.
fn count_and_version(files: &SimFiles) -> (u64, u64) {
    let state = slot(files).read().unwrap();
    (
        count(&state),
        state.entry("n").map_or(0, |entry| entry.version),
    )
}

/// One schedule across a restore: two writers increment (each may crash at a random step,
/// leaving its claim and temporary file) while a copier takes a copy of the slot at a random
/// moment; then the slot is deleted or rolled back to the copy, and two new writers
/// increment. Nothing from before the restore may take effect after it: the new writers'
/// counts continue the restored one exactly (a revived claim would make them jump, a dead
/// one would wedge the key), and no version from before the restore comes back.
fn restore_schedule(restore: Restore) {
    let files = Arc::new(SimFiles(Mutex::new(Sim {
        dirs: vec![SHARD.to_owned()],
        ..Sim::default()
    })));
    let path = format!("{SHARD}/{SLOT}/r");
    let versions = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for _ in 0..2 {
        let files = files.clone();
        let versions = versions.clone();
        handles.push(shuttle::thread::spawn(move || {
            if thread_rng().gen_bool(0.5) {
                files.crash_within(30);
            }
            for _ in 0..3 {
                if let Ok((_, version)) = increment_versioned(&files) {
                    versions.lock().unwrap().push(version);
                }
            }
        }));
    }
    let copier = {
        let files = files.clone();
        let path = path.clone();
        shuttle::thread::spawn(move || {
            for _ in 0..thread_rng().gen_range(0..20) {
                shuttle::thread::yield_now();
            }
            let sim = files.0.lock().unwrap();
            sim.names.get(&path).map(|&inode| sim.inodes[inode].clone())
        })
    };
    for handle in handles {
        handle.join().unwrap();
    }
    let copy = copier.join().unwrap();
    {
        let mut sim = files.0.lock().unwrap();
        sim.crashed.clear();
        sim.budget.clear();
        sim.names.remove(&path);
        if let (Restore::RollBack, Some(copy)) = (restore, copy) {
            sim.inodes.push(copy);
            let inode = sim.inodes.len() - 1;
            sim.names.insert(path.clone(), inode);
        }
    }
    let (base, restored) = count_and_version(&files);
    let before: Vec<u64> = versions.lock().unwrap().clone();
    // What the restore left, for the messages below.
    let leftovers = files.list(SHARD).unwrap().unwrap();
    let mut handles = Vec::new();
    for _ in 0..2 {
        let files = files.clone();
        handles.push(shuttle::thread::spawn(move || {
            (0..2)
                .map(|_| increment(&files).expect("a write after the restore succeeds"))
                .collect::<Vec<u64>>()
        }));
    }
    let mut acknowledged: Vec<u64> = handles
        .into_iter()
        .flat_map(|handle| handle.join().unwrap())
        .collect();
    acknowledged.sort_unstable();
    // A rolled-back slot holds a record that was current once: a claim that followed it then
    // (its writer crashed before the slot moved on, or while it was late) is a change
    // computed from exactly this state, and may take effect first, once. Nothing else may.
    let shift = acknowledged[0].saturating_sub(base + 1);
    assert!(
        shift == 0 || (restore == Restore::RollBack && shift == 1),
        "after a restore to {base}, the counts jumped to {acknowledged:?}: something from \
         before it took effect"
    );
    assert_eq!(
        acknowledged,
        (base + 1 + shift..=base + 4 + shift).collect::<Vec<_>>(),
        "after a restore to {base} beside {leftovers:?}, the counts were not exact"
    );
    let (total, version) = count_and_version(&files);
    assert_eq!(total, base + 4 + shift);
    assert!(
        version == restored || !before.contains(&version),
        "version {version} from before the restore came back"
    );
    assert_swept(&files);
}

#[test]
fn a_deleted_slot_revives_no_leftover() {
    shuttle::check_random(|| restore_schedule(Restore::Delete), 3000);
    shuttle::check_pct(|| restore_schedule(Restore::Delete), 3000, 3);
}

#[test]
fn a_rolled_back_slot_revives_no_leftover_of_another_record() {
    shuttle::check_random(|| restore_schedule(Restore::RollBack), 3000);
    shuttle::check_pct(|| restore_schedule(Restore::RollBack), 3000, 3);
}

/// Sets (`Some`) or deletes (`None`) `key` in the model's slot, keeping no tombstone, as the
/// backend does for a key that was never seeded: the slot's life ends with its last key.
fn put(files: &SimFiles, key: &str, value: Option<u8>) -> Result<(), Error> {
    slot(files).change(|state, version| {
        if value.is_none() && state.entry(key).is_none() {
            return Ok((None, ()));
        }
        let mut entries: Vec<Entry> = state
            .entries
            .iter()
            .filter(|entry| entry.key != key)
            .cloned()
            .collect();
        if let Some(value) = value {
            entries.push(Entry {
                key: key.into(),
                value: Some(vec![value]),
                version,
                seeded: false,
            });
        }
        Ok((Some(entries), ()))
    })
}

/// What each writer of [`lives_schedule`] does to its key, in order.
const LIFE_OPS: [Option<u8>; 5] = [Some(1), None, Some(2), None, Some(3)];

/// One schedule of a slot's lives: three writers share one slot, each with a key of its own,
/// and each sets its key and deletes it in turn, so the slot's directory goes whenever no key
/// is left and a new one is made by the next set. Writers may crash at a random step (with
/// `crash`), and a reader watches. However the steps interleave, every key ends as its
/// writer's last acknowledged operation left it (for a crashed writer, that or the operation
/// it crashed in), the reader never sees a key's values go back, and once a last writer has
/// passed and the sweeps have run, the slot's directory holds its record alone, and nothing
/// else is left in the shard.
fn lives_schedule(crash: bool) {
    let files = Arc::new(SimFiles(Mutex::new(Sim::default())));
    let mut handles = Vec::new();
    for writer in 0..3u8 {
        let files = files.clone();
        handles.push(shuttle::thread::spawn(move || {
            if crash && thread_rng().gen_bool(0.5) {
                files.crash_within(60);
            }
            let key = format!("k{writer}");
            let mut done = 0;
            for op in LIFE_OPS {
                match put(&files, &key, op) {
                    Ok(()) => done += 1,
                    Err(error) => {
                        let me = shuttle::thread::current().id();
                        let crashed = files.0.lock().unwrap().crashed.contains_key(&me);
                        assert!(crashed, "{key}: {error}");
                        break;
                    }
                }
            }
            done
        }));
    }
    let reader = {
        let files = files.clone();
        shuttle::thread::spawn(move || {
            let mut last = [0u8; 3];
            for _ in 0..6 {
                let state = slot(&files).read().unwrap();
                for (writer, last) in last.iter_mut().enumerate() {
                    let key = format!("k{writer}");
                    if let Some(value) = state.entry(&key).and_then(|e| e.value.as_deref()) {
                        assert!(
                            value[0] >= *last,
                            "{key} went back from {last} to {value:?}"
                        );
                        *last = value[0];
                    }
                }
            }
        })
    };
    let done: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    reader.join().unwrap();
    {
        let mut sim = files.0.lock().unwrap();
        sim.crashed.clear();
        sim.budget.clear();
    }
    // A last writer, of a key of its own, finishes any claim a crashed writer left and any
    // removal of an ended life.
    put(&files, "z", Some(9)).unwrap();
    put(&files, "z", None).unwrap();
    let state = slot(&files).read().unwrap();
    for (writer, &done) in done.iter().enumerate() {
        let key = format!("k{writer}");
        let value = state
            .entry(&key)
            .and_then(|entry| entry.value.as_deref())
            .map(|value| value[0]);
        let acknowledged = done.checked_sub(1).and_then(|at| LIFE_OPS[at]);
        let in_flight = LIFE_OPS.get(done).copied();
        assert!(
            value == acknowledged || in_flight == Some(value),
            "{key} holds {value:?} after {done} acknowledged operations"
        );
    }
    let names = files.list(SHARD).unwrap().unwrap_or_default();
    super::publish::sweep_asides(&*files, SHARD, &names).unwrap();
    sweep(&*files, SHARD, SLOT).unwrap();
    let live = state.entries.iter().any(|entry| entry.value.is_some());
    let left = files.list(SHARD).unwrap().unwrap_or_default();
    if live {
        assert_eq!(left, [SLOT], "left in the shard");
        let inside = files.list(&format!("{SHARD}/{SLOT}")).unwrap().unwrap();
        assert_eq!(inside, ["r"], "left in the slot's directory");
    } else {
        assert!(
            left.is_empty(),
            "left in the shard of an empty slot: {left:?}"
        );
    }
}

#[test]
fn lives_of_a_slot_lose_no_acknowledged_write() {
    shuttle::check_random(|| lives_schedule(false), 3000);
    shuttle::check_pct(|| lives_schedule(false), 3000, 3);
}

#[test]
fn crashes_across_lives_lose_no_acknowledged_write() {
    shuttle::check_random(|| lives_schedule(true), 3000);
}
