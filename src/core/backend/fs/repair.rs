//! `keyvalue-virt repair DIR`: the way back from a damaged slot that keeps the protocol's
//! argument true.
//!
//! Deleting a damaged slot, or restoring it alone from a backup, moves its generation
//! backwards, and then leftovers of the old lineage match again: a dead claim wedges the key,
//! a late claim publishes an old value over a newer one, and versions repeat, so a CAS can
//! succeed when it must fail. Repair instead replaces the slot by an empty record whose
//! generation lies [`JUMP`] beyond every generation the slot or its leftovers ever named. The
//! slot's generations still only grow, so every leftover is dead (the sweep that follows
//! removes it) and no version repeats; the damaged file's keys are lost (they could not be
//! read), every other key is untouched.
//!
//! Instances may keep running. Repair lists the shard once it has seen the damage, removes
//! the slot's claims and temporary files (a finisher paused since before the damage then
//! finds nothing to rename, and a writer that makes a new one checks the slot afterwards and
//! finds it damaged), and reads the slot again: a change under way may have renamed a good
//! record over the damaged one meanwhile, and then the slot is left alone. Only then is the
//! new record written aside and renamed over the slot: nothing else can rename over it any
//! more, so its generation never goes back. Writes to the slot's keys that race with the
//! damage may be lost with them.
//!
//! Repair also removes what processes killed while making the store or a bucket left beside
//! them ([`sweep_creators`]): no sweep of a bucket's shards sees those.

use super::publish::{InSlot, Name, RECORD, Slot, is_hash, sweep, sweep_asides};
use super::record::{HEADER, KEYS, Record};
use super::sys::Files;
use super::{Fs, parse_bucket_dir};
use crate::error::Error;
use crate::prelude::*;

/// How far past the highest generation it can find a repaired slot starts: more changes
/// than one slot takes in decades, so that it also clears generations that only the damaged
/// header knew.
pub const JUMP: u64 = 1 << 40;

/// What [`Fs::repair`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Repair {
    /// The slots replaced by an empty record, each with what was wrong with it.
    pub slots: Vec<String>,
    /// How many dead leftovers (claims, temporary files) were removed.
    pub leftovers: usize,
    /// Damaged files that repair cannot mend (a bucket's `NAME`), with what to do.
    pub unmended: Vec<String>,
}

impl Fs {
    /// Replaces every damaged slot of the store by an empty record past all its generations,
    /// and removes the dead leftovers of every shard (see the module docs).
    pub fn repair(&self) -> Result<Repair, Error> {
        let mut report = Repair::default();
        if self.check_root()?.is_none() {
            return Ok(report);
        }
        let io = |path: &str| {
            let path = self.files.show(path);
            move |e: super::io::Error| Error::FsIo {
                path,
                action: "list",
                cause: e.to_string(),
            }
        };
        let mut dirs = self.files.list("").map_err(io(""))?.unwrap_or_default();
        dirs.sort_unstable();
        report.leftovers += sweep_creators(&*self.files, &dirs)?;
        for dir in dirs {
            if parse_bucket_dir(&dir).is_none() {
                continue;
            }
            match self.bucket_name(&dir) {
                Ok(_) => {}
                Err(Error::Corrupt { .. }) => report.unmended.push(format!(
                    "`{}`: the bucket's name is damaged, so its keys cannot be opened by name; \
                     export the other buckets, or remove the directory to drop the bucket",
                    self.files.show(&dir)
                )),
                Err(error) => return Err(error),
            }
            let mut shards = self.files.list(&dir).map_err(io(&dir))?.unwrap_or_default();
            shards.retain(|name| name.len() == 2 && name.bytes().all(|b| b.is_ascii_hexdigit()));
            shards.sort_unstable();
            for shard in shards {
                let shard = format!("{dir}/{shard}");
                let names = self
                    .files
                    .list(&shard)
                    .map_err(io(&shard))?
                    .unwrap_or_default();
                report.leftovers += sweep_asides(&*self.files, &shard, &names)?;
                for name in &names {
                    if !is_hash(name) {
                        continue;
                    }
                    if let Some((problem, removed)) = repair_slot(&*self.files, &shard, name)? {
                        report.slots.push(problem);
                        report.leftovers += removed;
                    }
                    report.leftovers += sweep(&*self.files, &shard, name)?;
                    // A slot whose life ended, left by a writer that stopped before it
                    // removed it.
                    let slot = Slot {
                        files: &*self.files,
                        shard: &shard,
                        name,
                        flat: false,
                        writable: true,
                        sync: true,
                    };
                    if slot
                        .read()
                        .is_ok_and(|state| state.generation == 0 || state.ended())
                    {
                        slot.end()?;
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Removes, among `names` (the listing of the store directory), what killed processes left
/// while making the store or a bucket: `FORMAT`'s temporary files once `FORMAT` exists, and
/// a bucket's directory aside (with its `NAME`) once the bucket's own directory exists. Neither
/// can take effect any more: a link onto `FORMAT` fails, and so does a rename onto a bucket
/// directory, which holds its `NAME` and so is never empty. A creator still running finds its
/// files gone and reads what the winner made (see `create`). Returns how many it removed.
pub fn sweep_creators<F: Files>(files: &F, names: &[String]) -> Result<usize, Error> {
    let exists = |name: &str| names.iter().any(|other| other == name);
    let remove = |path: &str, dir: bool| {
        let removed = if dir {
            files.remove_dir(path)
        } else {
            files.remove(path)
        };
        removed.map_err(|e| Error::FsIo {
            path: files.show(path),
            action: "remove",
            cause: e.to_string(),
        })
    };
    let mut removed = 0;
    for name in names {
        let Some((made, nonce)) = name.strip_suffix(".t").and_then(|n| n.rsplit_once('.')) else {
            continue;
        };
        if !is_hash(nonce) || !exists(made) {
            continue;
        }
        if made == "FORMAT" {
            removed += usize::from(remove(name, false)?);
        } else if parse_bucket_dir(made).is_some() {
            remove(&format!("{name}/NAME"), false)?;
            removed += usize::from(remove(name, true)?);
        }
    }
    Ok(removed)
}

/// Replaces the record of the slot `name` of `shard` by an empty record past every generation
/// it and its leftovers name, if it is damaged, which ends the slot's life: its directory is
/// removed. Returns what was wrong and how many leftovers it removed.
pub fn repair_slot<F: Files>(
    files: &F,
    shard: &str,
    name: &str,
) -> Result<Option<(String, usize)>, Error> {
    let slot = Slot {
        files,
        shard,
        name,
        flat: false,
        writable: true,
        sync: true,
    };
    let problem = match slot.read() {
        Ok(_) => return Ok(None),
        Err(error @ Error::Corrupt { .. }) => error.to_string(),
        Err(error) => return Err(error),
    };
    let dir = format!("{shard}/{name}");
    let path = format!("{dir}/{RECORD}");
    // Listed after the damage was seen: every temporary file that could still be renamed
    // over the slot is here (a writer that makes one later checks the slot after making it,
    // and finds it damaged).
    let names = files
        .list(&dir)
        .map_err(|e| Error::FsIo {
            path: files.show(&dir),
            action: "list",
            cause: e.to_string(),
        })?
        .unwrap_or_default();
    let leftovers: Vec<(&String, u64)> = names
        .iter()
        .filter_map(|other| match Name::parse_in_slot(other) {
            Some(InSlot::Claim { generation, .. } | InSlot::Temp { generation, .. }) => {
                Some((other, generation))
            }
            _ => None,
        })
        .collect();
    // Removed first, so that a finisher paused since before the damage finds its temporary
    // file gone rather than renaming it over the repaired slot.
    for (leftover, _) in &leftovers {
        let leftover = format!("{dir}/{leftover}");
        files.remove(&leftover).map_err(|e| Error::FsIo {
            path: files.show(&leftover),
            action: "remove",
            cause: e.to_string(),
        })?;
    }
    // A change under way when the damage came may have renamed a good record over it before
    // its temporary file could be removed: then the slot is healthy again, and writers rely on
    // its generation.
    if slot.read().is_ok() {
        return Ok(None);
    }
    // The damaged header may still say how far the slot got.
    let header = files
        .read_head(&path, HEADER)
        .ok()
        .flatten()
        .and_then(|head| Record::peek(&head))
        .map_or(0, |(generation, _)| generation);
    let removed = leftovers.len();
    let leftovers = leftovers
        .iter()
        .map(|&(_, generation)| generation)
        .max()
        .unwrap_or(0);
    let generation = header
        .max(leftovers)
        .checked_add(JUMP)
        .ok_or_else(|| Error::Corrupt {
            path: files.show(&path),
            problem: "its generations are too close to the last there is to repair it; \
                      export the bucket and import it into a new store"
                .into(),
        })?;
    let nonce = files.nonce();
    let record = Record {
        kind: KEYS,
        settled: false,
        generation,
        nonce,
        entries: Vec::new(),
    };
    let temp = format!("{dir}/{generation:x}.{:016x}.{nonce:016x}.t", 0);
    let fail = |action: &'static str| {
        let path = files.show(&path);
        move |e: super::io::Error| Error::FsIo {
            path,
            action,
            cause: e.to_string(),
        }
    };
    files
        .create(&temp, &record.encode(), true)
        .map_err(fail("write the repaired record of"))?;
    files.rename(&temp, &path).map_err(fail("replace"))?;
    // A writer may have found the ended record and removed the directory already.
    slot.sync_slot()?;
    // The empty record ended the slot's life.
    slot.end()?;
    Ok(Some((problem, removed)))
}
