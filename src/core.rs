//! The semantics both drafts share: opening buckets, paging cursors, counters and
//! compare-and-swap, over the configured [`backend`](crate::backend).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;

#[cfg(feature = "fs")]
use crate::backend::fs::Fs;
use crate::backend::memory::Memory;
use crate::backend::{AnyBucket, Backend, BucketOps, MAX_POSITION};
use crate::config::{BackendKind, Config, Op};
use crate::error::Error;
use crate::policy::{self, Outcome, Target, Tracer};

/// The most keys one `list-keys` page holds.
pub const PAGE_KEYS: usize = 1000;
/// A page stops early once its keys add up to this many bytes (it always holds at least one).
pub const PAGE_BYTES: usize = 1 << 20;

/// Opens the bucket named `identifier`.
pub fn open(identifier: &str) -> Result<Bucket, Error> {
    let config = policy::config()?;
    let tracer = Tracer::start(config, Op::Open, identifier, Target::Bucket);
    tracer.finish((|| {
        policy::inject(config, Op::Open)?;
        policy::check_bucket(config, identifier)?;
        seed(config)?;
        Ok(Bucket {
            ops: backend_open(config, identifier)?,
            name: identifier.into(),
        })
    })())
}

fn backend_open(config: &Config, identifier: &str) -> Result<AnyBucket, Error> {
    match (config.backend, &config.dir) {
        (BackendKind::Memory, _) => Memory.open(identifier).map(AnyBucket::Memory),
        (BackendKind::Fs, None) => Err(Error::NoStoreDir),
        #[cfg(feature = "fs")]
        (BackendKind::Fs, Some(dir)) => Fs::new(dir, !config.read_only)
            .open(identifier)
            .map(AnyBucket::Fs),
        #[cfg(not(feature = "fs"))]
        (BackendKind::Fs, Some(_)) => Err(Error::BackendUnavailable("fs")),
    }
}

/// Stores the configured seeds, once per instance, under keys that do not hold a value yet.
fn seed(config: &Config) -> Result<(), Error> {
    thread_local! {
        static SEEDED: Cell<bool> = const { Cell::new(false) };
    }
    if config.seeds.is_empty() || SEEDED.get() {
        return Ok(());
    }
    for seed in &config.seeds {
        let bucket = backend_open(config, &seed.bucket)?;
        if !bucket.exists(&seed.key)? {
            bucket.set(seed.key.clone(), seed.value.clone())?;
        }
    }
    SEEDED.set(true);
    Ok(())
}

/// An open bucket, shared by the `bucket` resources of both drafts.
pub struct Bucket {
    ops: AnyBucket,
    name: Rc<str>,
}

/// A key and its value, as `get-many` returns them (`None` for a missing key).
pub type Pair = Option<(String, Vec<u8>)>;

/// One page of keys and where the next one starts.
pub struct Page {
    /// The keys of the page.
    pub keys: Vec<String>,
    /// Where to continue, or `None` when the walk is complete.
    pub next: Option<Cursor>,
}

impl Bucket {
    /// Reads the configuration, starts the trace line, and counts the call for fault
    /// injection; `run` then does the work and ends the trace line with its result.
    fn begin(&self, op: Op, target: Target<'_>) -> Result<(&'static Config, Tracer), Error> {
        let config = policy::config()?;
        Ok((config, Tracer::start(config, op, &self.name, target)))
    }

    /// The checks every operation passes first: injected faults, then read-only mode.
    fn admit(config: &Config, op: Op) -> Result<(), Error> {
        policy::inject(config, op)?;
        policy::check_write(config, op)
    }

    /// Refuses to add `new_keys` more keys to a bucket at `--max-keys`.
    fn check_room(&self, config: &Config, new_keys: u64) -> Result<(), Error> {
        match config.max_keys {
            Some(max) if self.ops.count()?.saturating_add(new_keys) > max => {
                Err(Error::TooManyKeys {
                    bucket: self.name.to_string(),
                    max,
                })
            }
            _ => Ok(()),
        }
    }

    /// Refuses a new key in a bucket at `--max-keys`.
    fn check_room_for(&self, config: &Config, key: &str) -> Result<(), Error> {
        if config.max_keys.is_some() && !self.ops.exists(key)? {
            self.check_room(config, 1)?;
        }
        Ok(())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, Error> {
        let (config, tracer) = self.begin(Op::Get, Target::Key(key))?;
        tracer.finish(Self::admit(config, Op::Get).and_then(|()| self.ops.get(key)))
    }

    /// Stores `value` under `key`.
    pub fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        let (config, tracer) = self.begin(Op::Set, Target::Key(&key))?;
        tracer.finish((|| {
            Self::admit(config, Op::Set)?;
            policy::check_value(config, &key, value.len())?;
            self.check_room_for(config, &key)?;
            self.ops.set(key, value)
        })())
    }

    /// Removes `key`; a missing key is not an error.
    pub fn delete(&self, key: &str) -> Result<(), Error> {
        let (config, tracer) = self.begin(Op::Delete, Target::Key(key))?;
        tracer.finish(Self::admit(config, Op::Delete).and_then(|()| self.ops.delete(key)))
    }

    /// Whether `key` holds a value.
    pub fn exists(&self, key: &str) -> Result<bool, Error> {
        let (config, tracer) = self.begin(Op::Exists, Target::Key(key))?;
        tracer.finish(Self::admit(config, Op::Exists).and_then(|()| self.ops.exists(key)))
    }

    /// The page of keys that starts at `cursor` (`None`: the first page).
    pub fn list_keys(&self, cursor: Option<Cursor>) -> Result<Page, Error> {
        let (config, tracer) = self.begin(Op::ListKeys, Target::Bucket)?;
        tracer.finish((|| {
            Self::admit(config, Op::ListKeys)?;
            let tag = self.ops.tag();
            let from = match cursor {
                None => 0,
                Some(cursor) if cursor.bucket != tag => return Err(Error::ForeignCursor),
                Some(cursor) => cursor.position,
            };
            let mut keys = Vec::new();
            let next = self.ops.keys(from, &mut keys, PAGE_KEYS, PAGE_BYTES)?;
            Ok(Page {
                keys,
                next: next.map(|position| Cursor {
                    bucket: tag,
                    position,
                }),
            })
        })())
    }

    /// Adds `delta` to the decimal number stored under `key` (a missing key counts as 0) and
    /// returns the sum, which is stored in decimal ASCII. A value that is not such a number,
    /// or a sum out of range, is an error and leaves the value as it was.
    pub fn increment<N: Counter>(&self, key: &str, delta: N) -> Result<N, Error> {
        let (config, tracer) = self.begin(Op::Increment, Target::Key(key))?;
        tracer.finish((|| {
            Self::admit(config, Op::Increment)?;
            self.check_room_for(config, key)?;
            let mut sum = N::default();
            self.ops.update(key, &mut |old| {
                let current = match old {
                    None => N::default(),
                    Some(bytes) => std::str::from_utf8(bytes)
                        .ok()
                        .and_then(|text| text.parse::<N>().ok())
                        .ok_or_else(|| Error::NotANumber {
                            key: key.to_owned(),
                            ty: N::WIT_TYPE,
                        })?,
                };
                sum = current.checked_add(delta).ok_or_else(|| Error::Overflow {
                    key: key.to_owned(),
                    ty: N::WIT_TYPE,
                    current: current.to_string(),
                    delta: delta.to_string(),
                })?;
                let value = sum.to_string().into_bytes();
                policy::check_value(config, key, value.len())?;
                Ok(value)
            })?;
            Ok(sum)
        })())
    }

    /// The values of `keys`, in order, each with its key; `None` for a missing key.
    pub fn get_many(&self, keys: Vec<String>) -> Result<Vec<Pair>, Error> {
        let (config, tracer) = self.begin(Op::GetMany, Target::Keys(keys.len()))?;
        tracer.finish((|| {
            Self::admit(config, Op::GetMany)?;
            keys.into_iter()
                .map(|key| Ok(self.ops.get(&key)?.map(|value| (key, value))))
                .collect()
        })())
    }

    /// Stores every pair, in order. Value sizes are checked for the whole batch first, so a
    /// batch with one value too large stores nothing; a batch that reaches `--max-keys` stores
    /// the pairs before the first key that does not fit (batches are not atomic).
    pub fn set_many(&self, pairs: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        let (config, tracer) = self.begin(Op::SetMany, Target::Keys(pairs.len()))?;
        tracer.finish((|| {
            Self::admit(config, Op::SetMany)?;
            for (key, value) in &pairs {
                policy::check_value(config, key, value.len())?;
            }
            pairs.into_iter().try_for_each(|(key, value)| {
                self.check_room_for(config, &key)?;
                self.ops.set(key, value)
            })
        })())
    }

    /// Removes every key.
    pub fn delete_many(&self, keys: Vec<String>) -> Result<(), Error> {
        let (config, tracer) = self.begin(Op::DeleteMany, Target::Keys(keys.len()))?;
        tracer.finish((|| {
            Self::admit(config, Op::DeleteMany)?;
            keys.iter().try_for_each(|key| self.ops.delete(key))
        })())
    }

    /// Starts a compare-and-swap on `key`.
    pub fn cas(&self, key: String) -> Result<Cas, Error> {
        let (config, tracer) = self.begin(Op::CasNew, Target::Key(&key))?;
        tracer.finish((|| {
            Self::admit(config, Op::CasNew)?;
            let seen = self.ops.watch(&key)?;
            Ok(Cas {
                bucket: Bucket {
                    ops: self.ops.clone(),
                    name: self.name.clone(),
                },
                key,
                seen: Cell::new(seen),
            })
        })())
    }
}

/// A number type that `increment` counts in: `u64` for draft, `s64` for draft2.
pub trait Counter: Copy + Default + FromStr + fmt::Display + Outcome {
    /// The type's name in WIT, for messages.
    const WIT_TYPE: &'static str;

    /// `self + delta`, or `None` when out of range.
    fn checked_add(self, delta: Self) -> Option<Self>;
}

impl Counter for u64 {
    const WIT_TYPE: &'static str = "u64";

    fn checked_add(self, delta: Self) -> Option<Self> {
        u64::checked_add(self, delta)
    }
}

impl Counter for i64 {
    const WIT_TYPE: &'static str = "s64";

    fn checked_add(self, delta: Self) -> Option<Self> {
        i64::checked_add(self, delta)
    }
}

/// A compare-and-swap in progress: the version of one key as it was last seen.
pub struct Cas {
    bucket: Bucket,
    key: String,
    seen: Cell<u64>,
}

impl Cas {
    /// The value the key holds now.
    pub fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        let (config, tracer) = self.bucket.begin(Op::CasCurrent, Target::Key(&self.key))?;
        tracer.finish(
            Bucket::admit(config, Op::CasCurrent).and_then(|()| self.bucket.ops.get(&self.key)),
        )
    }

    /// Stores `value` if nothing wrote or deleted the key since this handle last saw it.
    /// `Ok(false)` means the key changed; the handle then holds the latest version, so that the
    /// caller can retry with it.
    pub fn swap(&self, value: Vec<u8>) -> Result<bool, Error> {
        let bucket = &self.bucket;
        let (config, tracer) = bucket.begin(Op::Swap, Target::Key(&self.key))?;
        tracer.finish((|| {
            Bucket::admit(config, Op::Swap)?;
            policy::check_value(config, &self.key, value.len())?;
            bucket.check_room_for(config, &self.key)?;
            match bucket.ops.swap(&self.key, self.seen.get(), value)? {
                Ok(()) => Ok(true),
                Err(now) => {
                    self.seen.set(now);
                    Ok(false)
                }
            }
        })())
    }
}

impl Drop for Cas {
    fn drop(&mut self) {
        self.bucket.ops.unwatch(&self.key);
    }
}

impl Outcome for Page {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = if self.next.is_some() { ", more" } else { "" };
        write!(f, " ({} keys{more})", self.keys.len())
    }
}

impl Outcome for Vec<Pair> {
    fn summary(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let found = self.iter().filter(|pair| pair.is_some()).count();
        write!(f, " ({found} of {} found)", self.len())
    }
}

impl Outcome for Bucket {
    fn summary(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl Outcome for Cas {
    fn summary(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

/// Where a `list-keys` walk continues: a bucket's tag and a position in it.
///
/// Draft cursors are `u64`s (tag in the top 16 bits, position in the low 48); draft2 cursors
/// are the strings `"<tag>.<position>"` in lowercase hex. Tags start at 1, so no cursor
/// handed out is below 2^48.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    bucket: u16,
    position: u64,
}

impl Cursor {
    /// Reads a draft cursor.
    pub fn from_u64(raw: u64) -> Result<Self, Error> {
        Cursor::new((raw >> 48) as u16, raw & (MAX_POSITION - 1))
    }

    /// The draft form of the cursor.
    pub fn to_u64(self) -> u64 {
        (u64::from(self.bucket) << 48) | self.position
    }

    fn new(bucket: u16, position: u64) -> Result<Self, Error> {
        if bucket == 0 || position >= MAX_POSITION {
            return Err(Error::MalformedCursor);
        }
        Ok(Cursor { bucket, position })
    }
}

impl FromStr for Cursor {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let (bucket, position) = text.split_once('.').ok_or(Error::MalformedCursor)?;
        // Only the canonical spelling: no sign, no leading zeros, lowercase.
        let canonical = |part: &str, n: u64| part == format!("{n:x}");
        let bucket_n = u16::from_str_radix(bucket, 16).map_err(|_| Error::MalformedCursor)?;
        let position_n = u64::from_str_radix(position, 16).map_err(|_| Error::MalformedCursor)?;
        if !canonical(bucket, bucket_n.into()) || !canonical(position, position_n) {
            return Err(Error::MalformedCursor);
        }
        Cursor::new(bucket_n, position_n)
    }
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}.{:x}", self.bucket, self.position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_in_both_forms() {
        let cursor = Cursor {
            bucket: 7,
            position: 0xabc,
        };
        assert_eq!(Cursor::from_u64(cursor.to_u64()), Ok(cursor));
        assert_eq!(cursor.to_string(), "7.abc");
        assert_eq!("7.abc".parse(), Ok(cursor));
    }

    #[test]
    fn malformed_cursors_are_rejected() {
        for text in [
            "", ".", "7", "7.", ".1", "0.1", "7.ABC", "+7.1", "07.1", "7.1.1", "x.1",
        ] {
            assert_eq!(
                text.parse::<Cursor>(),
                Err(Error::MalformedCursor),
                "{text:?}"
            );
        }
        for raw in [0, 1, 12345, MAX_POSITION - 1] {
            assert_eq!(Cursor::from_u64(raw), Err(Error::MalformedCursor), "{raw}");
        }
    }

    #[test]
    fn cursors_of_another_bucket_are_refused() {
        let a = open("core-cursor-a").unwrap();
        let b = open("core-cursor-b").unwrap();
        for i in 0..(PAGE_KEYS + 1) {
            a.set(i.to_string(), vec![]).unwrap();
        }
        let page = a.list_keys(None).unwrap();
        assert_eq!(page.keys.len(), PAGE_KEYS);
        let next = page.next.expect("a second page");
        assert_eq!(b.list_keys(Some(next)).err(), Some(Error::ForeignCursor));
        let last = a.list_keys(Some(next)).unwrap();
        assert_eq!(last.keys.len(), 1);
        assert!(last.next.is_none());
    }

    #[test]
    fn increment_counts_from_zero_and_checks_range() {
        let b = open("core-increment").unwrap();
        assert_eq!(b.increment("n", 5u64), Ok(5));
        assert_eq!(b.increment("n", 3u64), Ok(8));
        assert_eq!(b.get("n").unwrap(), Some(b"8".to_vec()));

        b.set("max".into(), u64::MAX.to_string().into_bytes())
            .unwrap();
        assert!(matches!(
            b.increment("max", 1u64),
            Err(Error::Overflow { .. })
        ));
        assert_eq!(
            b.get("max").unwrap(),
            Some(u64::MAX.to_string().into_bytes())
        );

        assert_eq!(b.increment("s", -5i64), Ok(-5));
        assert_eq!(b.get("s").unwrap(), Some(b"-5".to_vec()));
        assert!(matches!(
            b.increment("s", 1u64),
            Err(Error::NotANumber { .. })
        ));
        b.set("min".into(), i64::MIN.to_string().into_bytes())
            .unwrap();
        assert!(matches!(
            b.increment("min", -1i64),
            Err(Error::Overflow { .. })
        ));

        for junk in [&b"abc"[..], b"", b"1.5", b"\xff", b" 1"] {
            b.set("junk".into(), junk.to_vec()).unwrap();
            assert!(matches!(
                b.increment("junk", 1i64),
                Err(Error::NotANumber { .. })
            ));
            assert_eq!(b.get("junk").unwrap(), Some(junk.to_vec()));
        }
    }

    #[test]
    fn cas_handle_catches_up_after_a_conflict() {
        let b = open("core-cas").unwrap();
        b.set("k".into(), b"1".to_vec()).unwrap();
        let cas = b.cas("k".into()).unwrap();
        b.set("k".into(), b"2".to_vec()).unwrap();
        assert_eq!(cas.swap(b"3".to_vec()), Ok(false));
        assert_eq!(cas.current().unwrap(), Some(b"2".to_vec()));
        assert_eq!(cas.swap(b"3".to_vec()), Ok(true));
        assert_eq!(b.get("k").unwrap(), Some(b"3".to_vec()));
    }
}
