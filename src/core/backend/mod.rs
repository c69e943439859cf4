//! Where the data lives. The [`bucket`](crate::bucket) layer speaks to a bucket only through
//! [`BucketOps`], so a backend is a type that opens buckets and implements it.

#[cfg(test)]
mod contract;
#[cfg(feature = "fs")]
pub mod fs;
pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use crate::error::Error;
use crate::prelude::*;

/// The function [`BucketOps::update`] applies: from the current value (if any) to the new one.
pub type Update<'a> = dyn FnMut(Option<&[u8]>) -> Result<Vec<u8>, Error> + 'a;

/// Positions in a bucket fit in 48 bits, so that a draft `u64` cursor holds a position and a
/// 16-bit bucket tag.
pub const MAX_POSITION: u64 = 1 << 48;

/// Opens buckets by identifier.
pub trait Backend {
    /// The backend's bucket handle.
    type Bucket: BucketOps;

    /// Opens (creating if needed) the bucket named `identifier`; every open of one identifier
    /// sees the same data.
    fn open(&self, identifier: &str) -> Result<Self::Bucket, Error>;
}

/// The operations a backend implements on one bucket. Versions are numbers that change on
/// every write or delete of a key; `0` means a key that has held no value since anyone watched.
pub trait BucketOps {
    /// A number that tells the bucket's cursors from other buckets' (never 0). Two buckets may
    /// share a tag (there are only 65535), which only weakens that check.
    fn tag(&self) -> u16;

    /// The value of `key`.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error>;

    /// Stores `value` under `key`.
    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error>;

    /// Removes `key`, if present.
    fn delete(&self, key: &str) -> Result<(), Error>;

    /// Whether `key` holds a value.
    fn exists(&self, key: &str) -> Result<bool, Error>;

    /// How many keys the bucket holds.
    fn count(&self) -> Result<u64, Error>;

    /// Appends to `page` the keys at positions `from..`, stopping after `max_keys` keys or once
    /// the keys add up to `max_bytes`; returns the position to continue from, or `None` when no
    /// key is left. Positions are below [`MAX_POSITION`]. A key keeps its position for as long
    /// as it is not deleted, so a walk sees every key that stays untouched exactly once.
    fn keys(
        &self,
        from: u64,
        page: &mut Vec<String>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<Option<u64>, Error>;

    /// Atomically replaces the value of `key` with `f(current value)`; when `f` fails, nothing
    /// changes.
    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error>;

    /// Stores `value` under `key` only if the bucket has no entry for it (no value, and no
    /// tombstone of a deleted one), atomically with respect to other writers; returns whether
    /// it stored it. This is how seeds are written, so a deleted seed stays deleted. A
    /// read-only backend keeps the value in memory and serves it without writing.
    fn create(&self, key: String, value: Vec<u8>) -> Result<bool, Error>;

    /// Starts watching `key` for a compare-and-swap and returns its version.
    fn watch(&self, key: &str) -> Result<u64, Error>;

    /// Stops one watch of `key` started by [`BucketOps::watch`].
    fn unwatch(&self, key: &str);

    /// Stores `value` under `key` if its version is still `seen`; otherwise returns the version
    /// it has now and changes nothing.
    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error>;

    /// Adds `delta` to the decimal number under `key` in one step of the backend's own, where
    /// it has one and computes the case exactly as `increment` would (`unsigned`: a stored
    /// negative number is not a number); `Ok(None)` leaves the increment to
    /// [`BucketOps::update`]. Returns the sum.
    fn add(&self, _key: &str, _delta: i64, _unsigned: bool) -> Result<Option<i64>, Error> {
        Ok(None)
    }

    /// The values of `keys`, in order (a backend over a network asks in one round trip).
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        keys.iter().map(|key| self.get(key)).collect()
    }

    /// Stores every pair, in order; not atomic.
    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        pairs
            .into_iter()
            .try_for_each(|(key, value)| self.set(key, value))
    }

    /// Removes every key; not atomic.
    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        keys.iter().try_for_each(|key| self.delete(key))
    }
}

/// A bucket of whichever backend the configuration selects.
#[derive(Clone)]
pub enum AnyBucket {
    /// An in-memory bucket.
    Memory(memory::Bucket),
    /// A bucket in the store directory.
    #[cfg(feature = "fs")]
    Fs(fs::Bucket),
    /// A bucket on a Redis server or cluster.
    #[cfg(feature = "redis")]
    Redis(redis::Bucket),
}

/// Calls `$method` on the bucket inside an [`AnyBucket`].
macro_rules! delegate {
    ($self:ident.$method:ident($($arg:expr),*)) => {
        match $self {
            AnyBucket::Memory(bucket) => bucket.$method($($arg),*),
            #[cfg(feature = "fs")]
            AnyBucket::Fs(bucket) => bucket.$method($($arg),*),
            #[cfg(feature = "redis")]
            AnyBucket::Redis(bucket) => bucket.$method($($arg),*),
        }
    };
}

impl BucketOps for AnyBucket {
    fn tag(&self) -> u16 {
        delegate!(self.tag())
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        delegate!(self.get(key))
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        delegate!(self.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), Error> {
        delegate!(self.delete(key))
    }

    fn exists(&self, key: &str) -> Result<bool, Error> {
        delegate!(self.exists(key))
    }

    fn count(&self) -> Result<u64, Error> {
        delegate!(self.count())
    }

    fn keys(
        &self,
        from: u64,
        page: &mut Vec<String>,
        max_keys: usize,
        max_bytes: usize,
    ) -> Result<Option<u64>, Error> {
        delegate!(self.keys(from, page, max_keys, max_bytes))
    }

    fn update(&self, key: &str, f: &mut Update<'_>) -> Result<(), Error> {
        delegate!(self.update(key, f))
    }

    fn create(&self, key: String, value: Vec<u8>) -> Result<bool, Error> {
        delegate!(self.create(key, value))
    }

    fn watch(&self, key: &str) -> Result<u64, Error> {
        delegate!(self.watch(key))
    }

    fn unwatch(&self, key: &str) {
        delegate!(self.unwatch(key))
    }

    fn swap(&self, key: &str, seen: u64, value: Vec<u8>) -> Result<Result<(), u64>, Error> {
        delegate!(self.swap(key, seen, value))
    }

    fn add(&self, key: &str, delta: i64, unsigned: bool) -> Result<Option<i64>, Error> {
        delegate!(self.add(key, delta, unsigned))
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, Error> {
        delegate!(self.get_many(keys))
    }

    fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        delegate!(self.set_many(pairs))
    }

    fn delete_many(&self, keys: &[String]) -> Result<(), Error> {
        delegate!(self.delete_many(keys))
    }
}
