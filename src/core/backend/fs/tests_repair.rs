//! Repair (issue 20, finding 2): after a slot is damaged, `Fs::repair` must leave nothing of
//! the old lineage able to match again, where deleting the file (the old advice) revived
//! leftovers: a dead claim wedged the key, a late claim published an old value over a newer
//! one, and versions repeated.

use std::fs;
use std::path::Path;
use std::sync::Arc;

use super::create::{make_bucket, make_store};
use super::record::{Entry, KEYS, Record};
use super::repair::sweep_creators;
use super::sys::StdFiles;
use super::tests::{Pausing, damage_file, flip_last, shard_and_hash, slot_file};
use super::*;
use crate::backend::contract::{Scratch, walk};

/// The nonce of the record in the slot file `slot`.
fn nonce_of(slot: &Path) -> u64 {
    Record::decode(&fs::read(slot).unwrap()).unwrap().nonce
}

/// Leftovers of writers killed long ago: a late claim of generation 2 (following the record
/// `first`) whose temporary file holds an old value, and a claim of generation 3 (following
/// `second`) whose temporary file was swept. Both are dead while the slot is past them.
fn plant_leftovers(slot: &Path, first: u64, second: u64) {
    let (shard, hash) = shard_and_hash(slot);
    let hash = hash.as_str();
    let old = Record {
        kind: KEYS,
        settled: false,
        generation: 2,
        nonce: 0xaa,
        entries: vec![Entry {
            key: "n".into(),
            value: Some(b"old".to_vec()),
            version: 0xaa,
            seeded: false,
        }],
    };
    let temp = shard.join(publish::temp_name(hash, 2, first, 0xaa));
    fs::write(&temp, old.encode()).unwrap();
    fs::hard_link(&temp, shard.join(publish::claim_name(hash, 2, first))).unwrap();
    let gone = Record {
        generation: 3,
        nonce: 0xbb,
        ..old
    };
    fs::write(
        shard.join(publish::claim_name(hash, 3, second)),
        gone.encode(),
    )
    .unwrap();
}

/// The key `n` written 5 times, leftovers planted, the slot damaged (or, with `damage` false,
/// left as it is), then `fix` run on it and its first two records' nonces: each of the app's
/// next writes must see the one before it (never a value from before the fix, nor a wedged
/// key), and no version may repeat.
fn leftovers_then(damage: bool, fix: impl Fn(&Fs, &Path)) {
    let s = Scratch::new();
    let b = s.open("b");
    b.set("other".into(), b"o".to_vec()).unwrap();
    let slot = slot_file(&s, &b, "n");
    let mut nonces = Vec::new();
    let mut seen = Vec::new();
    for i in 1..=5 {
        b.set("n".into(), format!("{i}").into_bytes()).unwrap();
        nonces.push(nonce_of(&slot));
        seen.push(b.watch("n").unwrap());
    }
    plant_leftovers(&slot, nonces[0], nonces[1]);
    if damage {
        damage_file(&slot, flip_last);
        assert!(b.get("n").is_err());
    }

    fix(&s.fs(), &slot);
    let mut previous = b.get("n").unwrap();
    for i in 1..=4 {
        let value = format!("new {i}").into_bytes();
        let mut before = None;
        b.update("n", &mut |old| {
            before = Some(old.map(<[u8]>::to_vec));
            Ok(value.clone())
        })
        .unwrap();
        assert_eq!(
            before.unwrap(),
            previous,
            "write {i} found a value from before the fix"
        );
        assert_eq!(b.get("n").unwrap(), Some(value.clone()), "write {i}");
        previous = Some(value);
    }
    let now = b.watch("n").unwrap();
    assert!(
        !seen.contains(&now),
        "version {now} repeats one from before the fix ({seen:?})"
    );
    for &old in &seen {
        assert_eq!(b.swap("n", old, b"stale".to_vec()).unwrap(), Err(now));
    }
    assert_eq!(b.get("other").unwrap(), Some(b"o".to_vec()));
    let mut keys = walk(&b, 10);
    keys.sort();
    assert_eq!(keys, ["n", "other"]);
}

fn damaged_then(fix: impl Fn(&Fs, &Path)) {
    leftovers_then(true, fix);
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

/// The old advice, deleting the damaged file by hand, revived the leftovers in format 2 (a
/// dead claim wedged the key, a late claim published an old value, versions repeated). In
/// format 3 a missing slot is made by a link without a claim, and claims name the record they
/// follow, so nothing of the slot's earlier life matches again.
#[test]
fn deleting_a_damaged_slot_by_hand_revives_nothing() {
    damaged_then(|_, slot| fs::remove_file(slot).unwrap());
}

/// A slot rolled back by hand to a copy of an earlier record (a backup of one file), with the
/// leftovers of its later life still there (among them the finished claim that followed that
/// very record, which format 2 took for a claim to finish and failed on for good): no dead
/// claim wedges the key, no claim that follows another record takes effect, and no version
/// repeats.
#[test]
fn a_slot_rolled_back_by_hand_revives_nothing() {
    let s = Scratch::new();
    let b = s.open("b");
    let slot = slot_file(&s, &b, "n");
    b.set("n".into(), b"0".to_vec()).unwrap();
    let backup = fs::read(&slot).unwrap();
    let watched = b.watch("n").unwrap();
    b.set("n".into(), b"1".to_vec()).unwrap();
    // The record that followed the backup, as its claim would hold it if the writer that
    // finished it was killed before removing the claim: its temporary file is gone.
    let finished = fs::read(&slot).unwrap();
    for i in 2..=5 {
        b.set("n".into(), format!("{i}").into_bytes()).unwrap();
    }
    let after = b.watch("n").unwrap();
    let nonces = [nonce_of(&slot), 0x1234];
    plant_leftovers(&slot, nonces[1], nonces[0]);
    let (_, hash) = shard_and_hash(&slot);
    let hash = hash.as_str();
    let parent = Record::decode(&backup).unwrap().nonce;
    fs::write(
        slot.parent()
            .unwrap()
            .parent()
            .unwrap()
            .join(publish::claim_name(hash, 2, parent)),
        &finished,
    )
    .unwrap();
    fs::write(&slot, &backup).unwrap();
    // The restored record's own version is the one it had; a CAS from it still works once.
    assert_eq!(b.watch("n").unwrap(), watched);
    assert_eq!(b.swap("n", after, b"x".to_vec()).unwrap(), Err(watched));
    for i in 1..=3 {
        let mut before = None;
        b.update("n", &mut |old| {
            before = Some(old.map(<[u8]>::to_vec));
            Ok(format!("new {i}").into_bytes())
        })
        .unwrap();
        let expected = if i == 1 {
            "0".to_owned()
        } else {
            format!("new {}", i - 1)
        };
        assert_eq!(before.unwrap(), Some(expected.into_bytes()), "write {i}");
    }
    let now = b.watch("n").unwrap();
    assert!(now != watched && now != after, "version {now} repeats");
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
    // Each slot's directory went with its damaged record, the link with it.
    assert!(fs::symlink_metadata(&link).is_err());
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
        now != seen,
        "version {now} repeats one from before the damage ({seen})"
    );
    assert_eq!(b.swap("n", seen, b"stale".to_vec()).unwrap(), Err(now));
}

/// The names in the store directory `root` that end in `.t`: temporary files and directories
/// of creators.
fn creator_leftovers(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".t"))
        .collect();
    names.sort_unstable();
    names
}

/// What a process killed while it made the store or a bucket left (`FORMAT`'s temporary file,
/// a bucket's directory aside) is removed by `repair`, which no bucket sweep did; and a
/// creator still running beside `repair`, paused at each of its steps in turn while another
/// process makes the store and the bucket first and `repair` removes what the paused one has
/// made so far, finishes without an error once resumed and reads the winner's store.
#[test]
fn repair_removes_what_killed_creators_left_and_spares_running_ones() {
    const DIR: &str = "00000000000000bb-0";
    let s = Scratch::new();
    let root = s.store();
    fs::write(root.join("FORMAT.00000000000000aa.t"), "x").unwrap();
    let fs = s.fs();
    fs.open("b").unwrap();
    let aside = root.join(format!("{DIR}.00000000000000cc.t"));
    fs::create_dir(&aside).unwrap();
    fs::write(aside.join("NAME"), "x").unwrap();
    make_bucket(&StdFiles::new(&root), DIR, "c", false).unwrap();
    // An aside whose bucket does not exist may still be renamed into place: it stays.
    let pending = root.join("00000000000000dd-0.00000000000000ee.t");
    fs::create_dir(&pending).unwrap();
    assert_eq!(creator_leftovers(&root).len(), 3);
    assert_eq!(fs.repair().unwrap().leftovers, 2);
    assert_eq!(
        creator_leftovers(&root),
        ["00000000000000dd-0.00000000000000ee.t"]
    );

    // With `--sync always` a creator also syncs the directory aside, a step more to pause at.
    for sync in [false, true] {
        for nth in 0.. {
            let s = Scratch::new();
            let root = s.store();
            let files = Arc::new(Pausing {
                inner: StdFiles::new(&root),
                state: Arc::default(),
            });
            let creator = {
                let files = files.clone();
                std::thread::spawn(move || {
                    files.arm(nth);
                    make_store(&*files, sync)?;
                    make_bucket(&*files, DIR, "b", sync)
                })
            };
            let reached = files.wait_paused(&|| creator.is_finished());
            let other = StdFiles::new(&root);
            if reached {
                make_store(&other, false).unwrap();
                make_bucket(&other, DIR, "b", false).unwrap();
                sweep_creators(&other, &other.list("").unwrap().unwrap()).unwrap();
                files.release();
            }
            let made = creator.join().unwrap();
            assert!(
                made.is_ok(),
                "sync {sync}, paused at operation {nth}: {made:?}"
            );
            let winner = fs::read(root.join("FORMAT")).unwrap();
            assert!(create::parse_format(&winner).is_some());
            assert_eq!(
                s.fs().buckets().unwrap(),
                ["b"],
                "sync {sync}, paused at operation {nth}"
            );
            sweep_creators(&other, &other.list("").unwrap().unwrap()).unwrap();
            assert_eq!(
                creator_leftovers(&root),
                Vec::<String>::new(),
                "sync {sync}, paused at operation {nth}"
            );
            if !reached {
                break;
            }
        }
    }
}
