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
use super::sys::{Files, Link};
use crate::error::Error;
use crate::prelude::*;

/// A filesystem in memory: names to inode numbers, inodes to bytes.
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

impl Sim {
    fn dir_exists(&self, path: &str) -> bool {
        path.is_empty() || self.dirs.iter().any(|dir| dir == path)
    }
}

impl Files for SimFiles {
    type Handle = usize;

    fn create(&self, path: &str, bytes: &[u8], _sync: bool) -> io::Result<usize> {
        self.op(|sim| {
            if !sim.dir_exists(parent(path)) {
                return Err(io::ErrorKind::NotFound.into());
            }
            if sim.names.contains_key(path) {
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
        self.op(|sim| match sim.names.get(path) {
            Some(&inode) if sim.inodes[inode].len() as u64 > max => Err(super::sys::too_large(max)),
            found => Ok(found.map(|&inode| sim.inodes[inode].clone())),
        })
    }

    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        self.op(|sim| {
            Ok(sim.names.get(path).map(|&inode| {
                let bytes = &sim.inodes[inode];
                bytes[..len.min(bytes.len())].to_vec()
            }))
        })
    }

    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        self.op(|sim| match sim.names.get(path) {
            Some(&inode) => {
                sim.inodes[inode][offset as usize] = byte;
                Ok(true)
            }
            None => Ok(false),
        })
    }

    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        self.op(|sim| {
            let Some(&inode) = sim.names.get(from) else {
                return Ok(Link::SourceGone);
            };
            if sim.names.contains_key(to) {
                return Ok(Link::Taken);
            }
            sim.names.insert(to.to_owned(), inode);
            Ok(Link::Made)
        })
    }

    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        self.op(|sim| match sim.names.remove(from) {
            Some(inode) => {
                sim.names.insert(to.to_owned(), inode);
                Ok(true)
            }
            None => Ok(false),
        })
    }

    fn remove(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| Ok(sim.names.remove(path).is_some()))
    }

    fn create_dir(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| {
            if sim.dir_exists(path) {
                return Ok(false);
            }
            sim.dirs.push(path.to_owned());
            Ok(true)
        })
    }

    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        self.op(|sim| {
            if !sim.dir_exists(path) {
                return Ok(None);
            }
            let prefix = format!("{path}/");
            Ok(Some(
                sim.names
                    .keys()
                    .filter_map(|name| name.strip_prefix(&prefix))
                    .filter(|name| !name.contains('/'))
                    .map(str::to_owned)
                    .collect(),
            ))
        })
    }

    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        self.op(|sim| {
            let before = sim.dirs.len();
            sim.dirs.retain(|dir| dir != path);
            Ok(sim.dirs.len() != before)
        })
    }

    fn sync_dir(&self, _path: &str) -> io::Result<()> {
        Ok(())
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

const SHARD: &str = "shard";
const SLOT: &str = "00000000000000aa";

fn slot(files: &SimFiles) -> Slot<'_, SimFiles> {
    Slot {
        files,
        shard: SHARD,
        name: SLOT,
        writable: true,
        sync: true,
    }
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
                let budget = thread_rng().gen_range(0..40);
                let me = shuttle::thread::current().id();
                files.0.lock().unwrap().budget.insert(me, budget);
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
    let names = files.list(SHARD).unwrap().unwrap();
    sweep(&*files, SHARD, &names).unwrap();
    let left = files.list(SHARD).unwrap().unwrap();
    assert_eq!(left, [SLOT], "left after a sweep");
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

/// What a damaged slot is mended with in [`repair_schedule`]: `keyvalue-virt repair`, or (to
/// check that the model would catch it) the old advice, deleting the file.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mend {
    Repair,
    Delete,
}

/// One schedule in which, while two writers increment (one of them may crash, leaving its
/// claim and temporary file), the slot is damaged and then mended. However the steps
/// interleave, the slot's generation never goes back (so no leftover from before the damage
/// takes effect after it: a late claim or an old record would take the generation back), a
/// write after the mending succeeds, and every leftover is dead.
fn repair_schedule(mend: Mend) {
    let files = Arc::new(SimFiles(Mutex::new(Sim {
        dirs: vec![SHARD.to_owned()],
        ..Sim::default()
    })));
    let path = format!("{SHARD}/{SLOT}");
    let mut handles = Vec::new();
    for writer in 0..2 {
        let files = files.clone();
        handles.push(shuttle::thread::spawn(move || {
            if writer == 0 && thread_rng().gen_bool(0.5) {
                let budget = thread_rng().gen_range(0..30);
                let me = shuttle::thread::current().id();
                files.0.lock().unwrap().budget.insert(me, budget);
            }
            for _ in 0..3 {
                let _ = increment(&files);
            }
        }));
    }
    let mended = Arc::new(Mutex::new(0));
    let mender = {
        let files = files.clone();
        let path = path.clone();
        let mended = mended.clone();
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
                    if let Ok(state) = slot(&files).read() {
                        *mended.lock().unwrap() = state.generation;
                    }
                }
                Mend::Delete => {
                    files.remove(&path).unwrap();
                }
            }
        })
    };
    let reader = {
        let files = files.clone();
        shuttle::thread::spawn(move || {
            let mut last = 0;
            for _ in 0..6 {
                if let Ok(state) = slot(&files).read() {
                    let now = state.generation;
                    assert!(now >= last, "the generation went back from {last} to {now}");
                    last = now;
                }
            }
        })
    };
    for handle in handles {
        handle.join().unwrap();
    }
    mender.join().unwrap();
    reader.join().unwrap();
    // The writers may have left the slot damaged (the mending came first): mend it again.
    if slot(&files).read().is_err() {
        super::repair::repair_slot(&*files, SHARD, SLOT).unwrap();
    }
    let before = slot(&files).read().unwrap().generation;
    increment(&files).expect("a write after the mending succeeds");
    let after = slot(&files).read().unwrap().generation;
    assert!(
        after > before,
        "the generation went back from {before} to {after}"
    );
    let mended = *mended.lock().unwrap();
    assert!(
        after > mended,
        "the slot went back from {mended} (repaired) to {after}"
    );
    let names = files.list(SHARD).unwrap().unwrap();
    sweep(&*files, SHARD, &names).unwrap();
    let left = files.list(SHARD).unwrap().unwrap();
    assert_eq!(left, [SLOT], "left after a sweep");
}

#[test]
fn repair_of_a_damaged_slot_never_takes_its_generation_back() {
    shuttle::check_random(|| repair_schedule(Mend::Repair), 3000);
    shuttle::check_pct(|| repair_schedule(Mend::Repair), 3000, 3);
}

/// The model catches the old advice: deleting the damaged slot lets leftovers match again
/// (the generation goes back, or a dead claim wedges the key).
#[test]
fn the_model_catches_a_mended_slot_whose_generation_goes_back() {
    let caught = std::panic::catch_unwind(|| {
        shuttle::check_random(|| repair_schedule(Mend::Delete), 3000);
    });
    assert!(caught.is_err(), "deleting the slot went unnoticed");
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
    let path = format!("{SHARD}/{SLOT}");
    let versions = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for _ in 0..2 {
        let files = files.clone();
        let versions = versions.clone();
        handles.push(shuttle::thread::spawn(move || {
            if thread_rng().gen_bool(0.5) {
                let budget = thread_rng().gen_range(0..30);
                let me = shuttle::thread::current().id();
                files.0.lock().unwrap().budget.insert(me, budget);
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
    let names = files.list(SHARD).unwrap().unwrap();
    sweep(&*files, SHARD, &names).unwrap();
    let left = files.list(SHARD).unwrap().unwrap();
    assert_eq!(left, [SLOT], "left after a sweep");
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
