//! The record format of formats 2 to 4 (formats 3 and 4 changed names and placement, and 4
//! added the seeded flag of an entry):
//! what a key file, a claim and a temporary file hold.
//!
//! ```text
//! offset  size  field
//!      0     4  magic `kvr2`
//!      4     1  kind: `k` keys (the entries of one key hash), `n` a bucket's name
//!      5     1  settled mark: 0, or 1 once a finisher has checked that the claim was legal
//!      6     2  zero
//!      8     8  generation of the file this record is (or becomes)
//!     16     8  nonce: a random number that names the temporary file it was written to
//!     24     4  entry count
//!     28     4  zero
//!     32     8  body length in bytes
//!     40     8  FNV-1a 64 checksum of bytes 0..40 (settled mark read as 0) and the body
//!     48        body: the entries
//! ```
//!
//! An entry is a key length (`u32`), a state (`u8`: `v` a value, `d` deleted), a flag (`u8`: 1
//! once the key was seeded, so that its tombstone is kept), 2 zero bytes,
//! its version (`u64`: in format 3 the nonce of the record that last changed it, in format 2
//! its generation), the value length (`u64`), then
//! the key and the value. A bucket's name record has one entry whose key is the name. All
//! integers are little-endian.
//!
//! A file is read only if it is at most [`MAX_RECORD`] bytes (checked before anything of its
//! size is allocated), and a decoder checks every length against the bytes it holds before it
//! allocates, so a damaged or planted file is an error that names it, never a large allocation
//! or a trap.

use crate::prelude::*;

/// The magic number at the start of every record.
pub const MAGIC: &[u8; 4] = b"kvr2";
/// Where the kind byte is.
pub const KIND: usize = 4;
/// Where the settled mark is: the one byte a finisher changes in place.
pub const SETTLED: usize = 5;
const GENERATION: usize = 8;
const NONCE: usize = 16;
const COUNT: usize = 24;
const BODY_LEN: usize = 32;
const CHECKSUM: usize = 40;
/// The header's length.
pub const HEADER: usize = 48;
/// The largest record a file may hold, in bytes: larger files are refused before they are
/// read, and changes that would make one fail.
pub const MAX_RECORD: u64 = 1 << 30;
/// An entry's fixed part, before its key and value.
const ENTRY: usize = 24;

/// The kind of a record that holds the entries of one key hash.
pub const KEYS: u8 = b'k';
/// The kind of a record that holds a bucket's name.
pub const NAME: u8 = b'n';

const VALUE: u8 = b'v';
const DELETED: u8 = b'd';

/// FNV-1a, 64 bits: stable across builds and platforms, which file names and checksums need.
pub fn fnv1a64(bytes: &[u8], hash: u64) -> u64 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where FNV-1a 64 starts.
pub const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// SipHash-1-3 of `bytes` under the key `(k0, k1)`: the keyed hash that places keys in slots
/// (format 3), so that without the store's key nobody can choose keys that share a slot.
pub fn siphash13(k0: u64, k1: u64, bytes: &[u8]) -> u64 {
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let m = u64::from_le_bytes(word);
        v[3] ^= m;
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0; 8];
    let tail = chunks.remainder();
    last[..tail.len()].copy_from_slice(tail);
    let m = u64::from_le_bytes(last) | ((bytes.len() as u64) << 56);
    v[3] ^= m;
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    round(&mut v);
    round(&mut v);
    round(&mut v);
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// One key's entry: its value, or a tombstone that remembers that it was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value; `None` for a deleted key.
    pub value: Option<Vec<u8>>,
    /// Its version: the nonce of the record that last changed it (format 2: its generation).
    pub version: u64,
    /// Whether the key was ever seeded (`create`): then its tombstone is kept once it is
    /// deleted, so that the seed does not come back. Other tombstones go with the change that
    /// makes them.
    pub seeded: bool,
}

/// A decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// [`KEYS`] or [`NAME`].
    pub kind: u8,
    /// Whether a finisher has marked the record settled (meaningful in temporary files).
    pub settled: bool,
    /// The generation this record is.
    pub generation: u64,
    /// The nonce of the temporary file the record was written to.
    pub nonce: u64,
    /// The entries.
    pub entries: Vec<Entry>,
}

impl Record {
    /// Encodes the record, with the settled mark cleared.
    pub fn encode(&self) -> Vec<u8> {
        let body_len: usize = self
            .entries
            .iter()
            .map(|entry| ENTRY + entry.key.len() + entry.value.as_ref().map_or(0, Vec::len))
            .sum();
        let mut out = Vec::with_capacity(HEADER + body_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[self.kind, 0, 0, 0]);
        out.extend_from_slice(&self.generation.to_le_bytes());
        out.extend_from_slice(&self.nonce.to_le_bytes());
        out.extend_from_slice(&(self.entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&(body_len as u64).to_le_bytes());
        out.extend_from_slice(&[0; 8]);
        for entry in &self.entries {
            let value = entry.value.as_deref().unwrap_or_default();
            let state = if entry.value.is_some() {
                VALUE
            } else {
                DELETED
            };
            out.extend_from_slice(&(entry.key.len() as u32).to_le_bytes());
            out.extend_from_slice(&[state, u8::from(entry.seeded), 0, 0]);
            out.extend_from_slice(&entry.version.to_le_bytes());
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(entry.key.as_bytes());
            out.extend_from_slice(value);
        }
        let sum = checksum(&out);
        out[CHECKSUM..HEADER].copy_from_slice(&sum.to_le_bytes());
        out
    }

    /// Decodes a whole file; the error says what is wrong with it.
    pub fn decode(bytes: &[u8]) -> Result<Record, String> {
        if bytes.len() < HEADER {
            return Err(format!(
                "{} bytes, too short for a record: truncated or not ours",
                bytes.len()
            ));
        }
        if &bytes[..4] != MAGIC {
            return Err("not a keyvalue-virt record (unknown magic)".into());
        }
        let body_len = u64_at(bytes, BODY_LEN);
        if body_len != (bytes.len() - HEADER) as u64 {
            return Err(format!(
                "{} bytes, but its header announces a {body_len}-byte body: truncated or damaged",
                bytes.len()
            ));
        }
        if u64_at(bytes, CHECKSUM) != checksum(bytes) {
            return Err("checksum mismatch: the data is damaged".into());
        }
        let count = u32::from_le_bytes(array(bytes, COUNT)) as usize;
        let mut body = &bytes[HEADER..];
        // Each entry takes at least ENTRY bytes, so the count cannot ask for more room than
        // the file has.
        if count > body.len() / ENTRY {
            return Err(format!(
                "announces {count} entries in a {body_len}-byte body"
            ));
        }
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            let (entry, rest) = decode_entry(body)?;
            entries.push(entry);
            body = rest;
        }
        if !body.is_empty() {
            return Err("unexpected bytes after the last entry".into());
        }
        Ok(Record {
            kind: bytes[KIND],
            settled: bytes[SETTLED] != 0,
            generation: u64_at(bytes, GENERATION),
            nonce: u64_at(bytes, NONCE),
            entries,
        })
    }

    /// The generation and nonce of a record, from its header alone (for names and sweeps).
    pub fn peek(bytes: &[u8]) -> Option<(u64, u64)> {
        (bytes.len() >= HEADER && &bytes[..4] == MAGIC)
            .then(|| (u64_at(bytes, GENERATION), u64_at(bytes, NONCE)))
    }
}

fn decode_entry(body: &[u8]) -> Result<(Entry, &[u8]), String> {
    if body.len() < ENTRY {
        return Err("an entry is cut short".into());
    }
    let key_len = u32::from_le_bytes(array(body, 0)) as u64;
    let state = body[4];
    let seeded = match body[5] {
        0 => false,
        1 => true,
        flag => return Err(format!("an entry has the unknown flag {flag}")),
    };
    let version = u64_at(body, 8);
    let value_len = u64_at(body, 16);
    let rest = &body[ENTRY..];
    let total = key_len.checked_add(value_len);
    if total.is_none_or(|total| total > rest.len() as u64) {
        return Err(format!(
            "an entry announces a {key_len}-byte key and a {value_len}-byte value, more than \
             the file holds"
        ));
    }
    let (key, rest) = rest.split_at(key_len as usize);
    let (value, rest) = rest.split_at(value_len as usize);
    let key = String::from_utf8(key.to_vec()).map_err(|_| "a stored key is not UTF-8")?;
    let value = match state {
        VALUE => Some(value.to_vec()),
        DELETED if value.is_empty() => None,
        _ => return Err(format!("an entry has the unknown state {state}")),
    };
    Ok((
        Entry {
            key,
            value,
            version,
            seeded,
        },
        rest,
    ))
}

/// The checksum of a record: its header up to the checksum, with the settled mark read as 0,
/// then its body.
fn checksum(bytes: &[u8]) -> u64 {
    let mut header = [0; CHECKSUM];
    header.copy_from_slice(&bytes[..CHECKSUM]);
    header[SETTLED] = 0;
    fnv1a64(&bytes[HEADER..], fnv1a64(&header, FNV_START))
}

fn array<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&bytes[at..at + N]);
    out
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array(bytes, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            kind: KEYS,
            settled: false,
            generation: 7,
            nonce: 0xdead_beef,
            entries: vec![
                Entry {
                    key: "k\0/..".into(),
                    value: Some(vec![0, 255, 1]),
                    version: 7,
                    seeded: false,
                },
                Entry {
                    key: String::new(),
                    value: None,
                    version: 3,
                    seeded: true,
                },
                Entry {
                    key: "é".into(),
                    value: Some(Vec::new()),
                    version: 5,
                    seeded: false,
                },
            ],
        }
    }

    #[test]
    #[allow(deprecated)]
    fn siphash13_matches_the_standard_library() {
        use core::hash::Hasher;
        // std's `DefaultHasher::new()` is SipHash-1-3 under the zero key; `write` adds no
        // length prefix, so it hashes exactly the bytes.
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            let mut std = std::collections::hash_map::DefaultHasher::new();
            std.write(&bytes);
            assert_eq!(siphash13(0, 0, &bytes), std.finish(), "{len} bytes");
        }
        assert_ne!(siphash13(1, 0, b"k"), siphash13(0, 0, b"k"));
        assert_ne!(siphash13(0, 1, b"k"), siphash13(0, 0, b"k"));
    }

    #[test]
    fn records_round_trip() {
        let bytes = sample().encode();
        assert_eq!(Record::decode(&bytes), Ok(sample()));
        assert_eq!(Record::peek(&bytes), Some((7, 0xdead_beef)));
    }

    #[test]
    fn the_settled_mark_is_outside_the_checksum() {
        let mut bytes = sample().encode();
        bytes[SETTLED] = 1;
        let record = Record::decode(&bytes).unwrap();
        assert!(record.settled);
        assert_eq!(record.entries, sample().entries);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error_or_the_same_record() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Record::decode(&bytes[..len]).is_err(), "{len} bytes");
        }
        for i in 0..bytes.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut damaged = bytes.clone();
                damaged[i] ^= flip;
                match Record::decode(&damaged) {
                    Err(_) => {}
                    Ok(record) => {
                        assert_eq!(i, SETTLED, "a flip at {i} went unnoticed");
                        assert_eq!(record.entries, sample().entries);
                    }
                }
            }
        }
    }

    #[test]
    fn huge_announced_lengths_are_refused_before_any_allocation() {
        let mut record = sample();
        record.entries.truncate(1);
        let mut bytes = record.encode();
        // A key length of 4 GiB - 1 in the first entry, with the checksum made right again.
        bytes[HEADER..HEADER + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let sum = checksum(&bytes);
        bytes[CHECKSUM..HEADER].copy_from_slice(&sum.to_le_bytes());
        let error = Record::decode(&bytes).unwrap_err();
        assert!(error.contains("more than the file holds"), "{error}");
        // An entry count far beyond what the body can hold.
        let mut bytes = record.encode();
        bytes[COUNT..COUNT + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let sum = checksum(&bytes);
        bytes[CHECKSUM..HEADER].copy_from_slice(&sum.to_le_bytes());
        assert!(Record::decode(&bytes).unwrap_err().contains("entries"));
    }
}
