//! Hostile and damaged files (findings of issue 20): generations at the end of their range,
//! huge files named like slots, symlinks planted in the store, damaged slots among good ones.

use std::fs;
use std::path::PathBuf;

use super::record::{Entry, KEYS, Record};
use super::*;
use crate::backend::contract::{Scratch, walk};

/// The slot file of `key` in `bucket`.
fn slot_file(scratch: &Scratch, bucket: &Bucket, key: &str) -> PathBuf {
    let hash = bucket.key_hash(key);
    scratch
        .store()
        .join(&bucket.dir)
        .join(format!("{:02x}", hash >> 56))
        .join(format!("{hash:016x}"))
}

/// A slot at the last generation there is refuses a change with a named error instead of
/// wrapping to 0 ("never written") or panicking.
#[test]
fn a_slot_at_the_last_generation_refuses_changes_without_wrapping() {
    let s = Scratch::new();
    let b = s.open("b");
    b.set("k".into(), b"v".to_vec()).unwrap();
    let path = slot_file(&s, &b, "k");
    let record = Record {
        kind: KEYS,
        settled: false,
        generation: u64::MAX,
        nonce: 1,
        entries: vec![Entry {
            key: "k".into(),
            value: Some(b"v".to_vec()),
            version: u64::MAX,
        }],
    };
    fs::write(&path, record.encode()).unwrap();
    assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
    for result in [
        b.set("k".into(), b"w".to_vec()),
        b.delete("k"),
        b.update("k", &mut |_| Ok(b"x".to_vec())),
    ] {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("generation"), "{error}");
    }
    assert_eq!(b.get("k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(walk(&b, 10), ["k"]);
}

/// A huge file named like a slot, a bucket's `NAME` or `FORMAT` (sparse: it takes no disk) is a
/// named error that costs no more memory than the largest record, never an allocation of its
/// size.
#[test]
fn huge_files_are_refused_before_anything_is_allocated() {
    const HUGE: u64 = 64 << 30;
    let s = Scratch::new();
    let b = s.open("b");
    b.set("k".into(), b"v".to_vec()).unwrap();
    b.set("ok".into(), b"fine".to_vec()).unwrap();
    let path = slot_file(&s, &b, "k");
    let mut head = fs::read(&path).unwrap();
    head.truncate(record::HEADER);
    fs::write(&path, &head).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(HUGE)
        .unwrap();
    for error in [b.get("k").unwrap_err(), b.exists("k").unwrap_err()] {
        assert!(matches!(error, Error::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("larger than"), "{error}");
    }
    assert_eq!(b.get("ok").unwrap(), Some(b"fine".to_vec()));

    let name = s.store().join(&b.dir).join("NAME");
    fs::OpenOptions::new()
        .write(true)
        .open(&name)
        .unwrap()
        .set_len(HUGE)
        .unwrap();
    let error = s.fs().open("b").err().unwrap();
    assert!(matches!(error, Error::Corrupt { .. }), "{error}");
    assert!(error.to_string().contains("larger than"), "{error}");

    let format = s.store().join("FORMAT");
    fs::OpenOptions::new()
        .write(true)
        .open(&format)
        .unwrap()
        .set_len(HUGE)
        .unwrap();
    let error = s.fs().open("b").err().unwrap();
    assert!(matches!(error, Error::StoreDir { .. }), "{error}");
}
