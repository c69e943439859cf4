//! Hostile and damaged files (findings of issue 20): generations at the end of their range,
//! huge files named like slots, symlinks planted in the store, damaged slots among good ones.

use std::fs;

use super::record::{Entry, KEYS, Record};
use super::tests::{damage_file, flip_last, shard_and_hash, slot_file};
use super::*;
use crate::backend::contract::{Scratch, walk};

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
            seeded: false,
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

/// A planted claim whose temporary file is a symbolic link to a file outside the store: a
/// native `set` neither writes to that file nor turns the slot into a link, and a slot that
/// is a link is an error, never read through.
#[cfg(unix)]
#[test]
fn planted_symbolic_links_are_never_followed() {
    let s = Scratch::new();
    let b = s.open("b");
    b.set("k".into(), b"1".to_vec()).unwrap();
    let slot = slot_file(&s, &b, "k");
    let (shard, hash) = shard_and_hash(&slot);
    let outside = s.0.join("outside");
    let secret = b"a file outside the store, which must stay as it is".to_vec();
    fs::write(&outside, &secret).unwrap();

    let nonce = 0x00aa_bbcc_u64;
    let claim = Record {
        kind: KEYS,
        settled: false,
        generation: 2,
        nonce,
        entries: Vec::new(),
    };
    let parent = Record::decode(&fs::read(&slot).unwrap()).unwrap().nonce;
    fs::write(
        shard.join(publish::claim_name(&hash, 2, parent)),
        claim.encode(),
    )
    .unwrap();
    let temp = shard.join(publish::temp_name(&hash, 2, parent, nonce));
    std::os::unix::fs::symlink(&outside, &temp).unwrap();
    let _ = b.set("k".into(), b"2".to_vec());
    assert_eq!(
        fs::read(&outside).unwrap(),
        secret,
        "written through the link"
    );
    assert!(!fs::symlink_metadata(&slot).unwrap().is_symlink());

    // A slot that is a link is refused, not read through.
    fs::remove_file(&slot).unwrap();
    std::os::unix::fs::symlink(&outside, &slot).unwrap();
    assert!(b.get("k").is_err());
    let _ = b.set("k".into(), b"3".to_vec());
    assert_eq!(
        fs::read(&outside).unwrap(),
        secret,
        "written through the link"
    );

    // A shard directory that is a link is refused too.
    let other = s.0.join("elsewhere");
    fs::create_dir(&other).unwrap();
    fs::remove_dir_all(&shard).unwrap();
    std::os::unix::fs::symlink(&other, shard).unwrap();
    let _ = b.set("k".into(), b"4".to_vec());
    assert!(b.get("k").is_err());
    assert_eq!(
        fs::read_dir(&other).unwrap().count(),
        0,
        "wrote through the link"
    );
}

/// One damaged slot among 50 costs only its own key: a walk lists the 49 others, the count
/// behind `--max-keys` counts them (so a new key can still be added), and the damage is
/// reported.
#[test]
fn one_damaged_slot_costs_only_its_own_keys() {
    let s = Scratch::new();
    let b = s.open("b");
    for i in 0..50 {
        b.set(format!("k{i}"), vec![i]).unwrap();
    }
    let path = slot_file(&s, &b, "k7");
    damage_file(&path, flip_last);

    let mut expected: Vec<String> = (0..50)
        .filter(|&i| i != 7)
        .map(|i| format!("k{i}"))
        .collect();
    expected.sort();
    for page in [1, 4, 100] {
        let mut listed = walk(&b, page);
        listed.sort();
        assert_eq!(listed, expected, "pages of {page}");
    }
    // What `--max-keys` does before a new key: count, then write.
    assert_eq!(b.count().unwrap(), 49);
    b.set("new".into(), b"v".to_vec()).unwrap();
    assert_eq!(b.count().unwrap(), 50);
    assert!(b.get("k7").is_err());
    assert_eq!(b.get("k8").unwrap(), Some(vec![8]));
    let reported = damage::damaged();
    assert_eq!(reported.len(), 1, "{reported:?}");
    assert!(
        reported[0].contains(&*path.to_string_lossy()),
        "{reported:?}"
    );
}

/// What a machine crash under `--sync never` can leave (the data of files not yet written
/// out): a claim that is empty or zeros does not wedge its key (it can never be finished, so
/// the next write removes it), and an empty slot costs only its own keys.
#[test]
fn empty_files_left_by_a_machine_crash_wedge_nothing() {
    let s = Scratch::new();
    let b = s.open("b");
    b.set("k".into(), b"1".to_vec()).unwrap();
    b.set("other".into(), b"o".to_vec()).unwrap();
    let slot = slot_file(&s, &b, "k");
    let (shard, hash) = shard_and_hash(&slot);
    for (generation, claim) in [(2, Vec::new()), (3, vec![0; record::HEADER + 30])] {
        let parent = Record::decode(&fs::read(&slot).unwrap()).unwrap().nonce;
        fs::write(
            shard.join(publish::claim_name(&hash, generation, parent)),
            &claim,
        )
        .unwrap();
        fs::write(
            shard.join(publish::temp_name(&hash, generation, parent, 0xcc)),
            &claim,
        )
        .unwrap();
        let value = format!("after {generation}");
        b.set("k".into(), value.clone().into_bytes()).unwrap();
        assert_eq!(b.get("k").unwrap(), Some(value.into_bytes()));
    }
    assert_eq!(walk(&b, 10).len(), 2);

    fs::write(&slot, b"").unwrap();
    assert!(matches!(b.get("k").unwrap_err(), Error::Corrupt { .. }));
    assert_eq!(walk(&b, 10), ["other"]);
    b.set("new".into(), b"n".to_vec()).unwrap();
    assert_eq!(b.get("other").unwrap(), Some(b"o".to_vec()));
}

/// A bucket name too long for the largest `NAME` record is refused when the bucket would be
/// made, so that every bucket made can be read back.
#[test]
fn a_bucket_name_too_long_to_read_back_is_refused() {
    let s = Scratch::new();
    let long = "b".repeat((create::MAX_NAME_RECORD + 1) as usize);
    let error = s.fs().open(&long).err().unwrap();
    assert!(
        error.to_string().contains("shorter bucket identifier"),
        "{error}"
    );
    let mut left: Vec<_> = fs::read_dir(s.store())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left, ["FORMAT"]);
    let fine = "b".repeat(100_000);
    s.open(&fine).set("k".into(), b"v".to_vec()).unwrap();
    assert_eq!(s.open(&fine).get("k").unwrap(), Some(b"v".to_vec()));
}
