//! Stores of formats 2 and 3, made by hand for tests: this build reads them only to export
//! them, and the tests of that path need one without the code that wrote them.

use std::path::Path;

use super::FORMAT_2;
use super::create::FORMAT_3;
use super::record::{Entry, FNV_START, KEYS, NAME, Record, fnv1a64, siphash13};
use crate::prelude::*;

/// A bucket of a hand-made store: its name, and its keys with their values.
pub type FixtureBucket<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);

/// Writes a format 2 store in the empty directory `dir` holding `buckets` (each a name and its
/// keys with their values), laid out as format 2 lays it out: FNV-1a names, generation 1.
pub fn write_format_2_store(dir: &Path, buckets: &[FixtureBucket<'_>]) -> std::io::Result<()> {
    write_flat_store(
        dir,
        FORMAT_2,
        |name| fnv1a64(name.as_bytes(), FNV_START),
        buckets,
    )
}

/// Writes a format 3 store (a file per slot, SipHash-1-3 names under the key `(k0, k1)`) in
/// the empty directory `dir` holding `buckets`.
pub fn write_format_3_store(
    dir: &Path,
    (k0, k1): (u64, u64),
    buckets: &[FixtureBucket<'_>],
) -> std::io::Result<()> {
    let mut format = FORMAT_3.to_vec();
    format.extend_from_slice(format!("key {k0:016x}{k1:016x}\n").as_bytes());
    write_flat_store(
        dir,
        &format,
        |name| siphash13(k0, k1, name.as_bytes()),
        buckets,
    )
}

fn write_flat_store(
    dir: &Path,
    format: &[u8],
    hash: impl Fn(&str) -> u64,
    buckets: &[FixtureBucket<'_>],
) -> std::io::Result<()> {
    std::fs::write(dir.join("FORMAT"), format)?;
    for (bucket, keys) in buckets {
        let bucket_dir = dir.join(format!("{:016x}-0", hash(bucket)));
        std::fs::create_dir(&bucket_dir)?;
        let name = Record {
            kind: NAME,
            settled: false,
            generation: 1,
            nonce: 0,
            entries: vec![Entry {
                key: (*bucket).to_owned(),
                value: None,
                version: 1,
                seeded: false,
            }],
        };
        std::fs::write(bucket_dir.join("NAME"), name.encode())?;
        for (key, value) in *keys {
            let hash = hash(key);
            let shard = bucket_dir.join(format!("{:02x}", hash >> 56));
            std::fs::create_dir_all(&shard)?;
            let slot = Record {
                kind: KEYS,
                settled: false,
                generation: 1,
                nonce: 1,
                entries: vec![Entry {
                    key: (*key).to_owned(),
                    value: Some(value.to_vec()),
                    version: 1,
                    seeded: false,
                }],
            };
            std::fs::write(shard.join(format!("{hash:016x}")), slot.encode())?;
        }
    }
    Ok(())
}
