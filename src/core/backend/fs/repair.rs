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
//! The new record is written aside and renamed over the slot, so that an instance running at
//! the same time sees either the damaged file (and fails as before) or the empty record.

use super::publish::{Name, Slot, is_hash, sweep};
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
        if !self.check_root()? {
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
                for name in &names {
                    if is_hash(name)
                        && let Some(problem) = repair_slot(&*self.files, &shard, name, &names)?
                    {
                        report.slots.push(problem);
                    }
                }
                let names = self
                    .files
                    .list(&shard)
                    .map_err(io(&shard))?
                    .unwrap_or_default();
                report.leftovers += sweep(&*self.files, &shard, &names)?;
            }
        }
        Ok(report)
    }
}

/// Replaces the slot `name` of `shard` (whose listing is `names`) by an empty record past
/// every generation it and its leftovers name, if it is damaged; returns what was wrong.
pub fn repair_slot<F: Files>(
    files: &F,
    shard: &str,
    name: &str,
    names: &[String],
) -> Result<Option<String>, Error> {
    let slot = Slot {
        files,
        shard,
        name,
        writable: true,
        sync: true,
    };
    let problem = match slot.read() {
        Ok(_) => return Ok(None),
        Err(error @ Error::Corrupt { .. }) => error.to_string(),
        Err(error) => return Err(error),
    };
    let path = format!("{shard}/{name}");
    // The damaged header may still say how far the slot got.
    let header = files
        .read_head(&path, HEADER)
        .ok()
        .flatten()
        .and_then(|head| Record::peek(&head))
        .map_or(0, |(generation, _)| generation);
    let leftovers = names
        .iter()
        .filter_map(|other| match Name::parse(other) {
            Some(Name::Claim { hash, generation }) | Some(Name::Temp { hash, generation })
                if hash == name =>
            {
                Some(generation)
            }
            _ => None,
        })
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
    let temp = format!("{shard}/{name}.{generation:x}.{nonce:016x}.t");
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
    files
        .sync_dir(shard)
        .map_err(|e| super::create::sync_error(files, shard, e))?;
    Ok(Some(problem))
}
