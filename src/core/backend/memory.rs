//! The in-memory backend: each bucket is a slot array indexed by a `hashbrown` table.
//!
//! Keys live in `slots`, and the hash table maps a key's hash to its slot. A key keeps its slot
//! until it is deleted, which is what lets a `list-keys` cursor be a slot position: a walk over
//! positions returns every key that was not deleted during the walk exactly once, whatever else
//! is inserted or removed meanwhile. Freed slots are reused, so the array stays as long as the
//! most keys the bucket ever held at once.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::hash::BuildHasher;

use foldhash::fast::FixedState;
use hashbrown::{HashMap, HashTable};

use super::{Backend, BucketOps, Update};
use crate::error::Error;
use crate::local::local;
use crate::prelude::*;

// A fixed seed keeps the component deterministic (and saves the code that makes a random one);
// keys come from the application, which has no reason to attack its own store.
const SEED: u64 = 0x6b76_7669_7274_0001;

/// The in-memory backend. Buckets live as long as the component instance.
pub struct Memory;

local! {
    // Wasm components are single-threaded; this is the instance's one registry of buckets.
    static BUCKETS: RefCell<HashMap<String, Bucket, FixedState>> =
        RefCell::new(HashMap::with_hasher(FixedState::with_seed(SEED)));
}

impl Backend for Memory {
    type Bucket = Bucket;

    fn open(&self, identifier: &str) -> Result<Bucket, Error> {
        BUCKETS.with_borrow_mut(|buckets| {
            if let Some(bucket) = buckets.get(identifier) {
                return Ok(bucket.clone());
            }
            let tag = (buckets.len() % usize::from(u16::MAX)) as u16 + 1;
            let bucket = Bucket(Rc::new(RefCell::new(Table::new(tag))));
            buckets.insert(identifier.to_owned(), bucket.clone());
            Ok(bucket)
        })
    }
}

impl Memory {
    /// The buckets that hold at least one key (for the control interface).
    #[cfg(feature = "control")]
    pub fn buckets() -> Vec<String> {
        BUCKETS.with_borrow(|buckets| {
            buckets
                .iter()
                .filter(|(_, bucket)| !bucket.0.borrow().index.is_empty())
                .map(|(name, _)| name.clone())
                .collect()
        })
    }
}

/// A handle to one in-memory bucket; clones share the data.
#[derive(Clone)]
pub struct Bucket(Rc<RefCell<Table>>);

// Entries carry no version: only a key with live `cas` handles needs one, and its [`Watch`]
// keeps it, which keeps every other key at 24 bytes in the slot array (on wasm32).
struct Entry {
    key: String,
    value: Vec<u8>,
}

/// Compare-and-swap bookkeeping for a key that has live `cas` handles.
struct Watch {
    handles: u32,
    // A new number on every change of the key while watched (see `Table::changed`).
    version: u64,
    // Whether the key was deleted while watched: the key then has held a value, which is what
    // `create` must know.
    deleted: bool,
}

struct Table {
    tag: u16,
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    hasher: FixedState,
    // Numbers the changes of watched keys.
    clock: u64,
    // Few handles are alive at once, so a list beats a second hash table (and its code).
    watched: Vec<(String, Watch)>,
}

impl Table {
    fn new(tag: u16) -> Self {
        Table {
            tag,
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: FixedState::with_seed(SEED),
            clock: 0,
            watched: Vec::new(),
        }
    }

    fn watch(&self, key: &str) -> Option<&Watch> {
        self.watched.iter().find(|(k, _)| k == key).map(|(_, w)| w)
    }

    fn watch_mut(&mut self, key: &str) -> Option<&mut Watch> {
        self.watched
            .iter_mut()
            .find(|(k, _)| k == key)
            .map(|(_, w)| w)
    }

    fn tick(&mut self) -> u64 {
        self.clock = self.clock.wrapping_add(1);
        self.clock
    }

    fn find(&self, key: &str) -> Option<&Entry> {
        let hash = self.hasher.hash_one(key);
        let slot = *self.index.find(hash, |&i| is_key(&self.slots, i, key))?;
        self.slots[slot as usize].as_ref()
    }

    fn find_mut(&mut self, key: &str) -> Option<&mut Entry> {
        let hash = self.hasher.hash_one(key);
        let slot = *self.index.find(hash, |&i| is_key(&self.slots, i, key))?;
        self.slots[slot as usize].as_mut()
    }

    /// Records a change of `key` for its `cas` handles, if it has any; with none (the common
    /// case) this is one branch.
    fn changed(&mut self, key: &str, deleted: bool) {
        if self.watched.is_empty() {
            return;
        }
        let version = self.tick();
        if let Some(watch) = self.watch_mut(key) {
            watch.version = version;
            watch.deleted |= deleted;
        }
    }

    /// Stores `value` under `key`: one hash and one probe, which either finds the key or
    /// leaves the table ready to take it.
    fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.changed(&key, false);
        let Table {
            slots,
            free,
            index,
            hasher,
            ..
        } = self;
        let hash = hasher.hash_one(key.as_str());
        let entry = index.entry(
            hash,
            |&i| is_key(slots, i, &key),
            |&i| match &slots[i as usize] {
                Some(entry) => hasher.hash_one(entry.key.as_str()),
                None => 0,
            },
        );
        let vacant = match entry {
            hashbrown::hash_table::Entry::Occupied(found) => {
                if let Some(entry) = &mut slots[*found.get() as usize] {
                    entry.value = value;
                }
                return Ok(());
            }
            hashbrown::hash_table::Entry::Vacant(vacant) => vacant,
        };
        let slot = match free.pop() {
            Some(slot) => slot,
            None => {
                let slot = u32::try_from(slots.len())
                    .ok()
                    .filter(|&s| s < u32::MAX)
                    .ok_or(Error::BucketFull)?;
                slots.push(None);
                slot
            }
        };
        slots[slot as usize] = Some(Entry { key, value });
        vacant.insert(slot);
        Ok(())
    }

    fn delete(&mut self, key: &str) {
        let hash = self.hasher.hash_one(key);
        let Ok(found) = self
            .index
            .find_entry(hash, |&i| is_key(&self.slots, i, key))
        else {
            return;
        };
        let (slot, _) = found.remove();
        self.slots[slot as usize] = None;
        self.free.push(slot);
        self.changed(key, true);
    }
}

fn is_key(slots: &[Option<Entry>], slot: u32, key: &str) -> bool {
    slots[slot as usize]
        .as_ref()
        .is_some_and(|entry| entry.key == key)
}

impl BucketOps for Bucket {
    fn tag(&self) -> u16 {
        self.0.borrow().tag
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.0.borrow().find(key).map(|entry| entry.value.clone()))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.0.borrow_mut().set(key, value)
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        self.0.borrow_mut().delete(key);
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        Ok(self.0.borrow().find(key).is_some())
    }

    fn count(&self) -> Result<u64, Error> {
        Ok(self.0.borrow().index.len() as u64)
    }

    fn keys(
        &self,
        from: u64,
        page: &mut Vec<String>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<Option<u64>, Error> {
        let table = self.0.borrow();
        let mut bytes = 0;
        let from = usize::try_from(from).unwrap_or(usize::MAX);
        let mut slots = table.slots.iter().enumerate().skip(from);
        for (_, slot) in slots.by_ref() {
            let Some(entry) = slot else { continue };
            page.push(entry.key.clone());
            bytes += entry.key.len();
            if page.len() >= max_keys || bytes >= max_bytes {
                break;
            }
        }
        // Continue at the next occupied slot, so that a finished walk ends with `None` rather
        // than with an empty page.
        Ok(slots
            .find(|(_, slot)| slot.is_some())
            .map(|(position, _)| position as u64))
    }

    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error> {
        let mut table = self.0.borrow_mut();
        if let Some(entry) = table.find_mut(key) {
            entry.value = f(Some(&entry.value))?;
            table.changed(key, false);
            return Ok(());
        }
        let value = f(None)?;
        table.set(key.to_owned(), value)
    }

    fn create(&self, key: String, value: Vec<u8>) -> Result<bool, Error> {
        let mut table = self.0.borrow_mut();
        // Memory remembers a deleted key only while a `cas` handle watches it; seeds are
        // written when the instance first opens a bucket, before anything was deleted.
        if table.find(&key).is_some() || table.watch(&key).is_some_and(|w| w.deleted) {
            return Ok(false);
        }
        table.set(key, value).map(|()| true)
    }

    fn watch(&self, key: &str) -> Result<u64, Error> {
        let mut table = self.0.borrow_mut();
        if let Some(watch) = table.watch_mut(key) {
            watch.handles += 1;
            return Ok(watch.version);
        }
        // A number no change of the key has had: any change from now on gives another.
        let version = table.tick();
        table.watched.push((
            key.to_owned(),
            Watch {
                handles: 1,
                version,
                deleted: false,
            },
        ));
        Ok(version)
    }

    fn unwatch(&self, key: &str) {
        let mut table = self.0.borrow_mut();
        if let Some(at) = table.watched.iter().position(|(k, _)| k == key) {
            let watch = &mut table.watched[at].1;
            watch.handles -= 1;
            if watch.handles == 0 {
                table.watched.swap_remove(at);
            }
        }
    }

    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error> {
        let mut table = self.0.borrow_mut();
        // A live handle keeps its key watched; without a watch, nothing can vouch for `seen`.
        let now = match table.watch(key) {
            Some(watch) => watch.version,
            None => table.tick(),
        };
        if now != seen {
            return Ok(Err(now));
        }
        table.set(key.to_owned(), value).map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::contract::{self, walk};

    fn bucket() -> Bucket {
        Bucket(Rc::new(RefCell::new(Table::new(1))))
    }

    #[test]
    fn freed_slots_are_reused_and_walks_stay_exact() {
        let b = bucket();
        for i in 0..100 {
            b.set(format!("k{i}"), vec![]).unwrap();
        }
        for i in (0..100).step_by(3) {
            b.delete(&format!("k{i}")).unwrap();
        }
        for i in 0..10 {
            b.set(format!("new{i}"), vec![]).unwrap();
        }
        assert_eq!(b.0.borrow().slots.len(), 100);
        let mut keys = walk(&b, 7);
        keys.sort();
        let mut expected: Vec<String> = (0..100)
            .filter(|i| i % 3 != 0)
            .map(|i| format!("k{i}"))
            .chain((0..10).map(|i| format!("new{i}")))
            .collect();
        expected.sort();
        assert_eq!(keys, expected);
    }

    #[test]
    fn watches_leave_no_bookkeeping_once_unwatched() {
        // The contract's compare-and-swap checks watch and unwatch three keys.
        contract::swap_detects_writes_since_watch(&Memory);
        contract::swap_fails_for_a_key_created_and_deleted_since_watch(&Memory);
        assert!(Memory.open("b").unwrap().0.borrow().watched.is_empty());
    }
}
