//! Repair (issue 20, finding 2): after a slot is damaged, `Fs::repair` must leave nothing of
//! the old lineage able to match again, where deleting the file (the old advice) revived
//! leftovers: a dead claim wedged the key, a late claim published an old value over a newer
//! one, and versions repeated.

use std::fs;
use std::path::{Path, PathBuf};

use super::record::{Entry, KEYS, Record};
use super::*;
use crate::backend::contract::{Scratch, walk};

fn slot_file(scratch: &Scratch, bucket: &Bucket, key: &str) -> PathBuf {
    let hash = bucket.key_hash(key);
    scratch
        .store()
        .join(&bucket.dir)
        .join(format!("{:02x}", hash >> 56))
        .join(format!("{hash:016x}"))
}

/// Leftovers of writers killed long ago: a claim of generation 2 whose temporary file holds
/// an old value, and a claim of generation 3 whose temporary file was swept. Both are dead
/// while the slot is past them.
fn plant_leftovers(slot: &Path) {
    let shard = slot.parent().unwrap();
    let hash = slot.file_name().unwrap().to_str().unwrap();
    let old = Record {
        kind: KEYS,
        settled: false,
        generation: 2,
        nonce: 0xaa,
        entries: vec![Entry {
            key: "n".into(),
            value: Some(b"old".to_vec()),
            version: 2,
        }],
    };
    let temp = shard.join(format!("{hash}.2.{:016x}.t", 0xaa));
    fs::write(&temp, old.encode()).unwrap();
    fs::hard_link(&temp, shard.join(format!("{hash}.2.c"))).unwrap();
    let gone = Record {
        generation: 3,
        nonce: 0xbb,
        ..old
    };
    fs::write(shard.join(format!("{hash}.3.c")), gone.encode()).unwrap();
}

/// The key `n` written 5 times, leftovers planted, the slot damaged, then `fix` run: the app's
/// next writes must all take effect, never the old value, and versions must not repeat.
fn damaged_then(fix: impl Fn(&Fs, &Path)) {
    let s = Scratch::new();
    let b = s.open("b");
    b.set("other".into(), b"o".to_vec()).unwrap();
    for i in 1..=5 {
        b.set("n".into(), format!("{i}").into_bytes()).unwrap();
    }
    let seen = b.watch("n").unwrap();
    let slot = slot_file(&s, &b, "n");
    plant_leftovers(&slot);
    let mut bytes = fs::read(&slot).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    fs::write(&slot, bytes).unwrap();
    assert!(b.get("n").is_err());

    fix(&s.fs(), &slot);
    for i in 1..=4 {
        let value = format!("new {i}").into_bytes();
        b.set("n".into(), value.clone()).unwrap();
        assert_eq!(b.get("n").unwrap(), Some(value), "write {i}");
    }
    let now = b.watch("n").unwrap();
    assert!(
        now > seen,
        "version {now} repeats one from before the damage ({seen})"
    );
    assert_eq!(b.swap("n", seen, b"stale".to_vec()).unwrap(), Err(now));
    assert_eq!(b.get("other").unwrap(), Some(b"o".to_vec()));
    let mut keys = walk(&b, 10);
    keys.sort();
    assert_eq!(keys, ["n", "other"]);
}

#[test]
fn repair_leaves_no_leftover_able_to_match_again() {
    damaged_then(|fs, slot| {
        let report = fs.repair().unwrap();
        assert_eq!(report.slots.len(), 1, "{report:?}");
        assert!(
            report.slots[0].contains(&*slot.to_string_lossy()),
            "{report:?}"
        );
        assert!(report.leftovers >= 2, "{report:?}");
        assert!(report.unmended.is_empty(), "{report:?}");
        // A second run finds nothing to do.
        assert_eq!(fs.repair().unwrap(), Default::default());
    });
}

/// The old advice, kept to show what it did: deleting the file revives the leftovers.
#[test]
fn deleting_a_damaged_slot_by_hand_revives_its_leftovers() {
    let result = std::panic::catch_unwind(|| {
        damaged_then(|_, slot| fs::remove_file(slot).unwrap());
    });
    assert!(
        result.is_err(),
        "deleting the slot was expected to go wrong"
    );
}

/// A slot that is empty, a link, or far too large is repaired the same way; a damaged
/// bucket name is reported, not touched.
#[cfg(unix)]
#[test]
fn repair_mends_every_kind_of_damaged_slot() {
    let s = Scratch::new();
    let b = s.open("b");
    for key in ["a", "b", "c", "d"] {
        b.set(key.into(), b"v".to_vec()).unwrap();
    }
    fs::write(slot_file(&s, &b, "a"), b"").unwrap();
    let link = slot_file(&s, &b, "b");
    fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(s.0.join("elsewhere"), &link).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(slot_file(&s, &b, "c"))
        .unwrap()
        .set_len(8 << 30)
        .unwrap();
    let report = s.fs().repair().unwrap();
    assert_eq!(report.slots.len(), 3, "{report:?}");
    assert!(!fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(walk(&b, 10), ["d"]);
    for key in ["a", "b", "c"] {
        assert_eq!(b.get(key).unwrap(), None);
        b.set(key.into(), b"back".to_vec()).unwrap();
    }
    assert_eq!(walk(&b, 10).len(), 4);

    fs::write(s.store().join(&b.dir).join("NAME"), b"damaged").unwrap();
    let report = s.fs().repair().unwrap();
    assert_eq!(report.unmended.len(), 1, "{report:?}");
}

/// A slot damaged whole (its header too) with its leftovers swept: repair cannot know how far
/// it got, and still no version repeats.
#[test]
fn versions_do_not_repeat_when_the_damage_hides_the_generation() {
    let s = Scratch::new();
    let b = s.open("b");
    for i in 0..50 {
        b.set("n".into(), format!("{i}").into_bytes()).unwrap();
    }
    let seen = b.watch("n").unwrap();
    let slot = slot_file(&s, &b, "n");
    fs::write(&slot, vec![0x55; 200]).unwrap();
    walk(&b, 10);
    let report = s.fs().repair().unwrap();
    assert_eq!(report.slots.len(), 1, "{report:?}");
    for i in 0..3 {
        b.set("n".into(), format!("again {i}").into_bytes())
            .unwrap();
    }
    let now = b.watch("n").unwrap();
    assert!(
        now > seen,
        "version {now} repeats one from before the damage ({seen})"
    );
    assert_eq!(b.swap("n", seen, b"stale".to_vec()).unwrap(), Err(now));
}
