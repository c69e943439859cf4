//! Durability under `--sync always` (findings of issue 20): every write is synced, file and
//! directory, by the time it is acknowledged, whoever renamed it; directories that the store
//! makes are synced into their parents. The operations are logged by a wrapper around the
//! native files, so that a test can check their order and step in between them.

use std::boxed::Box;
use std::fs;
use std::io;
use std::sync::Mutex;

use super::publish::Slot;
use super::record::Entry;
use super::sys::{Files, Link, StdFiles};
use crate::backend::contract::Scratch;
use crate::error::Error;
use crate::prelude::*;

/// A hook run before an operation, given the operation's log line.
type Hook = Box<dyn FnMut(&str) + Send>;
/// Which operations fail, and how: given the log line, the error to fail with.
type Fail = Box<dyn Fn(&str) -> Option<io::Error> + Send>;

/// [`StdFiles`] that logs every operation (`op path`), runs a hook before each, and fails
/// those that `fail` picks.
struct Logged {
    inner: StdFiles,
    log: Mutex<Vec<String>>,
    hook: Mutex<Option<Hook>>,
    fail: Mutex<Option<Fail>>,
}

impl Logged {
    fn new(inner: StdFiles) -> Logged {
        Logged {
            inner,
            log: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
            fail: Mutex::new(None),
        }
    }

    fn step(&self, line: String) -> io::Result<()> {
        if let Some(hook) = self.hook.lock().unwrap().as_mut() {
            hook(&line);
        }
        let failed = self
            .fail
            .lock()
            .unwrap()
            .as_ref()
            .and_then(|fail| fail(&line));
        self.log.lock().unwrap().push(line);
        failed.map_or(Ok(()), Err)
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Files for Logged {
    type Handle = <StdFiles as Files>::Handle;
    type Dir = <StdFiles as Files>::Dir;

    fn open_dir(&self, path: &str) -> io::Result<Option<Self::Dir>> {
        self.step(format!("open_dir {path}"))?;
        self.inner.open_dir(path)
    }
    fn read_in(&self, dir: &Self::Dir, name: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.step(format!("read_in {name}"))?;
        self.inner.read_in(dir, name, max)
    }
    fn remove_in(&self, dir: &Self::Dir, name: &str) -> io::Result<bool> {
        self.step(format!("remove_in {name}"))?;
        self.inner.remove_in(dir, name)
    }

    fn create(&self, path: &str, bytes: &[u8], sync: bool) -> io::Result<Self::Handle> {
        self.step(format!("create{} {path}", if sync { "+sync" } else { "" }))?;
        self.inner.create(path, bytes, sync)
    }
    fn read_byte(&self, handle: &Self::Handle, offset: u64) -> io::Result<u8> {
        self.step("read_byte".into())?;
        self.inner.read_byte(handle, offset)
    }
    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.step(format!("read {path}"))?;
        self.inner.read(path, max)
    }
    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        self.step(format!("read_head {path}"))?;
        self.inner.read_head(path, len)
    }
    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        self.step(format!("write_byte {path}"))?;
        self.inner.write_byte(path, offset, byte)
    }
    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        self.step(format!("link {from} {to}"))?;
        self.inner.link(from, to)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        self.step(format!("rename {from} {to}"))?;
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> io::Result<bool> {
        self.step(format!("remove {path}"))?;
        self.inner.remove(path)
    }
    fn create_dir(&self, path: &str) -> io::Result<bool> {
        self.step(format!("create_dir {path}"))?;
        self.inner.create_dir(path)
    }
    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        self.step(format!("list {path}"))?;
        self.inner.list(path)
    }
    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        self.step(format!("remove_dir {path}"))?;
        self.inner.remove_dir(path)
    }
    fn sync_dir(&self, path: &str) -> io::Result<()> {
        self.step(format!("sync_dir {path}"))?;
        self.inner.sync_dir(path)
    }
    fn show(&self, path: &str) -> String {
        self.inner.show(path)
    }
    fn nonce(&self) -> u64 {
        self.inner.nonce()
    }
}

fn set<F: Files>(slot: &Slot<'_, F>, value: &str) -> Result<(), Error> {
    slot.change(|_, version| {
        let entry = Entry {
            key: "k".into(),
            value: Some(value.as_bytes().to_vec()),
            version,
            seeded: false,
        };
        Ok((Some(vec![entry]), ()))
    })
}

const SLOT: &str = "00000000000000aa";

/// A writer that finds its record already marked and renamed by a helper, which was stopped
/// before it synced the directory, syncs the directory itself before it acknowledges.
#[test]
fn a_write_renamed_by_a_helper_is_synced_before_it_is_acknowledged() {
    let s = Scratch::new();
    let store = s.store();
    fs::create_dir_all(store.join("shard")).unwrap();
    let files = Logged::new(StdFiles::new(&store));
    let slot = Slot {
        files: &files,
        shard: "shard",
        name: SLOT,
        flat: false,
        writable: true,
        sync: true,
    };
    set(&slot, "1").unwrap();
    // When the writer is about to mark its record, a helper marks and renames it (by hand
    // here, so that the log holds only the writer's operations) and stops there.
    let shard = store.join("shard");
    *files.hook.lock().unwrap() = Some(Box::new(move |line: &str| {
        if let Some(temp) = line.strip_prefix("write_byte shard/") {
            let temp = shard.join(temp);
            let mut bytes = fs::read(&temp).unwrap();
            bytes[super::record::SETTLED] = 1;
            fs::write(&temp, bytes).unwrap();
            fs::rename(&temp, shard.join(SLOT).join("r")).unwrap();
        }
    }));
    files.log.lock().unwrap().clear();
    set(&slot, "2").unwrap();
    let log = files.log();
    let renamed = log
        .iter()
        .position(|line| line.starts_with("write_byte"))
        .expect("the writer marks its record");
    assert!(
        log[renamed..]
            .iter()
            .any(|line| *line == format!("sync_dir shard/{SLOT}")),
        "acknowledged without a directory sync: {log:#?}"
    );
    assert_eq!(
        slot.read().unwrap().entry("k").unwrap().value.as_deref(),
        Some(&b"2"[..])
    );
}

/// The index of the first line of `log` that starts with `prefix`.
fn find(log: &[String], prefix: &str) -> usize {
    log.iter()
        .position(|line| line.starts_with(prefix))
        .unwrap_or_else(|| panic!("no `{prefix}` in {log:#?}"))
}

/// A shard directory made by a write is synced into its bucket's directory before the write
/// relies on it (its slot's directory is placed in it), and the slot's directory is synced
/// with its first record before it is placed, and into the shard after.
#[test]
fn a_new_shard_directory_is_synced_into_its_bucket() {
    let s = Scratch::new();
    fs::create_dir_all(s.store().join("bucket")).unwrap();
    let files = Logged::new(StdFiles::new(s.store()));
    let slot = Slot {
        files: &files,
        shard: "bucket/00",
        name: SLOT,
        flat: false,
        writable: true,
        sync: true,
    };
    set(&slot, "1").unwrap();
    let log = files.log();
    let made = find(&log, "create_dir bucket/00");
    let synced = find(&log, "sync_dir bucket");
    let first = find(&log, "create+sync bucket/00/");
    let aside = find(&log, &format!("sync_dir bucket/00/{SLOT}."));
    let placed = find(&log, "rename bucket/00/");
    assert!(
        made < synced && synced < first && first < aside && aside < placed,
        "{log:#?}"
    );
    assert!(
        log[placed..]
            .iter()
            .any(|line| line == "sync_dir bucket/00"),
        "{log:#?}"
    );
}

/// A bucket's directory is synced (with its `NAME`) before it is renamed into place, and the
/// store directory after.
#[test]
fn a_new_bucket_directory_is_synced_before_and_after_it_is_renamed_into_place() {
    let s = Scratch::new();
    let files = Logged::new(StdFiles::new(s.store()));
    super::create::make_bucket(&files, "b-0", "b", true).unwrap();
    let log = files.log();
    let aside = log[find(&log, "create_dir b-0.")]
        .strip_prefix("create_dir ")
        .unwrap()
        .to_owned();
    let name = find(&log, &format!("create+sync {aside}/NAME"));
    let synced = find(&log, &format!("sync_dir {aside}"));
    let renamed = find(&log, &format!("rename {aside} b-0"));
    assert!(name < synced && synced < renamed, "{log:#?}");
    assert!(
        log[renamed..].iter().any(|line| line == "sync_dir "),
        "the store directory was not synced after the rename: {log:#?}"
    );
    assert!(s.store().join("b-0/NAME").exists());
}

/// Whether `line` is an operation `op`.
fn is(line: &str, op: &str) -> bool {
    line.split(' ').next() == Some(op)
}

/// A filesystem without hard links (they fail as not permitted) is refused when the store is
/// made, with a message that names the limit, and no `FORMAT` is left behind; a write on one
/// says the same.
#[test]
fn a_filesystem_without_hard_links_is_refused_by_name() {
    let s = Scratch::new();
    let files = Logged::new(StdFiles::new(s.store()));
    *files.fail.lock().unwrap() = Some(Box::new(|line: &str| {
        is(line, "link").then(|| io::Error::from(io::ErrorKind::PermissionDenied))
    }));
    for sync in [true, false] {
        let error = super::create::make_store(&files, sync).unwrap_err();
        assert!(matches!(error, Error::StoreDir { .. }), "{error}");
        assert!(error.to_string().contains("hard links"), "{error}");
        assert_eq!(fs::read_dir(s.store()).unwrap().count(), 0);
    }
    fs::create_dir(s.store().join("shard")).unwrap();
    let slot = Slot {
        files: &files,
        shard: "shard",
        name: SLOT,
        flat: false,
        writable: true,
        sync: false,
    };
    // A slot's first record needs no link; the next change does.
    set(&slot, "1").unwrap();
    let error = set(&slot, "2").unwrap_err();
    assert!(error.to_string().contains("hard links"), "{error}");
    let left = fs::read_dir(s.store().join("shard").join(SLOT)).unwrap();
    assert_eq!(left.count(), 1, "only the record is left");
}

/// Under `--sync always`, a store whose directory cannot be synced is refused when it is made
/// (pointing at `--sync never`), and a failed directory sync fails the write instead of
/// acknowledging it; with `--sync never` nothing is synced.
#[test]
fn a_failed_directory_sync_is_an_error_under_sync_always() {
    let s = Scratch::new();
    let files = Logged::new(StdFiles::new(s.store()));
    *files.fail.lock().unwrap() = Some(Box::new(|line: &str| {
        is(line, "sync_dir").then(|| io::Error::from(io::ErrorKind::Unsupported))
    }));
    let error = super::create::make_store(&files, true).unwrap_err();
    assert!(error.to_string().contains("--sync never"), "{error}");
    assert_eq!(fs::read_dir(s.store()).unwrap().count(), 0);
    super::create::make_store(&files, false).unwrap();
    assert!(s.store().join("FORMAT").exists());

    fs::create_dir(s.store().join("shard")).unwrap();
    let slot = |sync| Slot {
        files: &files,
        shard: "shard",
        name: SLOT,
        flat: false,
        writable: true,
        sync,
    };
    let error = set(&slot(true), "1").unwrap_err();
    assert!(error.to_string().contains("sync the directory"), "{error}");
    files.log.lock().unwrap().clear();
    set(&slot(false), "2").unwrap();
    assert!(!files.log().iter().any(|line| is(line, "sync_dir")));
}
