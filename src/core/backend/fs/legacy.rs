//! Format 2 stores, made by hand for tests: this build reads them only to export them, and
//! the tests of that path need one without the code that wrote them.

use std::path::Path;

use super::FORMAT_2;
use super::record::{Entry, FNV_START, KEYS, NAME, Record, fnv1a64};
use crate::prelude::*;

/// A bucket of a hand-made store: its name, and its keys with their values.
pub type FixtureBucket<'a> = (&'a str, &'a [(&'a str, &'a [u8])]);

/// Writes a format 2 store in the empty directory `dir` holding `buckets` (each a name and its
/// keys with their values), laid out as format 2 lays it out: FNV-1a names, generation 1.
pub fn write_format_2_store(dir: &Path, buckets: &[FixtureBucket<'_>]) -> std::io::Result<()> {
    std::fs::write(dir.join("FORMAT"), FORMAT_2)?;
    for (bucket, keys) in buckets {
        let bucket_dir = dir.join(format!("{:016x}-0", fnv1a64(bucket.as_bytes(), FNV_START)));
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
            }],
        };
        std::fs::write(bucket_dir.join("NAME"), name.encode())?;
        for (key, value) in *keys {
            let hash = fnv1a64(key.as_bytes(), FNV_START);
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
                }],
            };
            std::fs::write(shard.join(format!("{hash:016x}")), slot.encode())?;
        }
    }
    Ok(())
}
