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

/// [`StdFiles`] that logs every operation (`op path`), and runs a hook before each.
struct Logged {
    inner: StdFiles,
    log: Mutex<Vec<String>>,
    hook: Mutex<Option<Hook>>,
}

impl Logged {
    fn new(inner: StdFiles) -> Logged {
        Logged {
            inner,
            log: Mutex::new(Vec::new()),
            hook: Mutex::new(None),
        }
    }

    fn step(&self, line: String) {
        if let Some(hook) = self.hook.lock().unwrap().as_mut() {
            hook(&line);
        }
        self.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Files for Logged {
    type Handle = <StdFiles as Files>::Handle;

    fn create(&self, path: &str, bytes: &[u8], sync: bool) -> io::Result<Self::Handle> {
        self.step(format!("create{} {path}", if sync { "+sync" } else { "" }));
        self.inner.create(path, bytes, sync)
    }
    fn read_byte(&self, handle: &Self::Handle, offset: u64) -> io::Result<u8> {
        self.step("read_byte".into());
        self.inner.read_byte(handle, offset)
    }
    fn read(&self, path: &str, max: u64) -> io::Result<Option<Vec<u8>>> {
        self.step(format!("read {path}"));
        self.inner.read(path, max)
    }
    fn read_head(&self, path: &str, len: usize) -> io::Result<Option<Vec<u8>>> {
        self.step(format!("read_head {path}"));
        self.inner.read_head(path, len)
    }
    fn write_byte(&self, path: &str, offset: u64, byte: u8) -> io::Result<bool> {
        self.step(format!("write_byte {path}"));
        self.inner.write_byte(path, offset, byte)
    }
    fn link(&self, from: &str, to: &str) -> io::Result<Link> {
        self.step(format!("link {from} {to}"));
        self.inner.link(from, to)
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<bool> {
        self.step(format!("rename {from} {to}"));
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> io::Result<bool> {
        self.step(format!("remove {path}"));
        self.inner.remove(path)
    }
    fn create_dir(&self, path: &str) -> io::Result<bool> {
        self.step(format!("create_dir {path}"));
        self.inner.create_dir(path)
    }
    fn list(&self, path: &str) -> io::Result<Option<Vec<String>>> {
        self.step(format!("list {path}"));
        self.inner.list(path)
    }
    fn remove_dir(&self, path: &str) -> io::Result<bool> {
        self.step(format!("remove_dir {path}"));
        self.inner.remove_dir(path)
    }
    fn sync_dir(&self, path: &str) {
        self.step(format!("sync_dir {path}"));
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
            fs::rename(&temp, shard.join(SLOT)).unwrap();
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
        log[renamed..].iter().any(|line| line == "sync_dir shard"),
        "acknowledged without a directory sync: {log:#?}"
    );
    assert_eq!(
        slot.read().unwrap().entry("k").unwrap().value.as_deref(),
        Some(&b"2"[..])
    );
}
