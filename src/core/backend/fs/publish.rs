//! The publication protocol: how one key file changes, with no locks and no clocks.
//!
//! A *slot* is the file of one key hash, `<hash>`, holding the entries of every key with that
//! hash (see [`record`](super::record)). Its *generation* is the number in its record, 0 while
//! it does not exist, and every record has a random *nonce* (0 stands for "no record"). Beside
//! it live claims, `<hash>.<g>.<p>.c`, and temporary files, `<hash>.<g>.<p>.<nonce>.t`, where
//! `p` is the nonce of the record they follow (numbers in hex). Below, "the slot is at `g`"
//! means that it holds the record of generation `g` *and* nonce `p` that a claim names: one
//! generation of one life of the slot.
//!
//! # Changing a slot
//!
//! A missing slot is made with one step: the writer writes the first record (generation 1)
//! to a temporary file and links it as `<hash>`, which fails if the name exists. That link is
//! the change's linearization point; no claim is involved, so no claim of the slot's earlier
//! life (before a deletion) can ever match the new one.
//!
//! A writer reads an existing slot, settled (below), at generation `g` with nonce `p` and
//! computes the new entries. Then:
//!
//! 1. it writes the new record, generation `g + 1`, to a new temporary file `T` (its nonce is
//!    random, so no two writers ever share a name) and syncs it (`--sync always`);
//! 2. it *claims* generation `g + 1` by linking `T` as `<hash>.<g+1>.<p>.c`, which fails if
//!    that name exists: of all writers that read the record `p`, at most one claims `g + 1`;
//! 3. it reads the slot's generation and nonce again. If they are still `g` and `p`, the claim
//!    is *legal* (it was made while the slot was at `g`), and the writer *finishes* it: it
//!    marks `T` settled,
//!    renames `T` over the slot (a missing `T` means a helper did it) and removes the claim.
//!    If the slot has moved on, the writer reads the settled mark through the handle it kept
//!    open on `T`: a marked claim was legal and finished by a helper; an unmarked one was made
//!    late, on a claim name freed after an earlier writer's claim was finished, and is
//!    abandoned: the writer removes `T` and starts over.
//!
//! Before it computes, a writer reads the slot at generation `g` and looks for the claim
//! `g + 1` that follows its record (no other writer can claim `g + 1` while it stands). If there is one, it reads the
//! slot again: still `g` means the claim existed while the slot was at `g`, so it is legal,
//! and the writer finishes it as above; then it reads again. A reader (`get`, `exists`,
//! `list-keys`) only reads the slot file: one read, no claim to look for.
//!
//! # Why nothing is lost
//!
//! - A claim named `g + 1` that exists while the slot is at `g` was made by a writer that read
//!   `g` (the slot only grows), so it is legal; only one such claim exists, and the slot can
//!   reach `g + 1` only by the rename of its `T`. So the slot's generations follow one chain
//!   of legal claims, each computed from the one before: no update is lost or reordered.
//! - Renames name the temporary file, never the claim: a temporary name is used once and
//!   vanishes when it is renamed, so a finisher that paused for any time cannot move an old
//!   record over a newer one; at worst its rename finds nothing.
//! - A late claim (the writer paused between reading `g` and claiming `g + 1` while the slot
//!   moved on and `g + 1`'s claim was removed) can never be finished, since the slot is never
//!   at `g` again; its writer sees no mark and starts over.
//! - Finishers mark `T` before they rename it, and only after checking that the claim is
//!   legal, so a writer that finds the slot moved on knows from the mark alone whether its
//!   claim took effect.
//!
//! **Linearization points.** A change takes effect when its record is renamed over the slot,
//! by its writer or by a helper; a writer returns only after that has happened (it renamed the
//! record itself, or found the slot moved on and its record marked). A read takes effect when
//! it reads the slot file. A change whose writer paused or died after claiming takes effect
//! when the next writer finishes it, or never if none comes; until then readers see the slot
//! without it, which is right for a change that has not returned.
//!
//! **Durability** (`--sync always`). A record is synced before it is claimed, so whoever
//! renames it renames a durable file. A write is acknowledged only after its writer has
//! synced the shard directory *after* the rename took place: when the writer renamed it, or
//! when it finds the rename already done by a helper (its own rename finds nothing, or the
//! slot has moved on and the mark is set). The helper's own sync may not have happened yet
//! (it may be paused before it), so the writer never relies on it.
//!
//! **Pauses and crashes.** Nothing waits: a writer that pauses or dies after step 2 leaves a
//! legal claim that the next operation finishes; before step 2, an unclaimed temporary file
//! that changes nothing. Claims and temporary files of generations up to the slot's are dead
//! and anyone may remove them ([`sweep`]); a temporary file of the next generation may be
//! about to be claimed and is left alone until the slot moves past it.
//!
//! **Machine crashes.** With `--sync never`, a machine crash can leave files whose data never
//! reached the disk: empty, or zeros. A claim is always linked from a complete file, so a
//! claim that does not hold a whole record of its generation is such a leftover: it can never
//! be finished, and the next writer removes it (a writer reads a claim whole before finishing
//! it). A slot left so is damaged: its keys fail with `Corrupt`, and every other key works
//! ([`damage`](super::damage)). So `--sync never` is atomic across processes and process
//! crashes, not across a machine crash: the latest writes may be lost, a slot written just
//! before it may be left damaged, and nothing else.
//!
//! **Repair and restore.** The argument needs a slot's generation never to go back while
//! instances run. A damaged slot is mended by `keyvalue-virt repair`
//! ([`repair`](super::repair)), which renames over it an empty record whose generation lies
//! far beyond every generation the slot or its leftovers name, and which runs safely beside
//! running instances. With every instance stopped, a slot (or the whole store) may also be
//! deleted or restored from a backup while leftovers of its later life remain beside it:
//! - after a deletion, the slot is made again by a link (no claim), and its new records have
//!   new nonces, so no claim or temporary file of its earlier life ever matches again;
//! - after a rollback to an earlier record, only a claim that followed exactly that record
//!   can match: a change computed from the state the slot now holds, left by a writer that
//!   crashed (at most one, and it takes effect before any later change, as if it ran just
//!   after the restore); a claim of the right generation whose temporary file is gone (one
//!   that was finished before the rollback, whose finisher died before removing it) can
//!   never be finished, and removing it by name could remove a claim made in its place, so
//!   a writer moves the slot past it instead: it claims the generation after it, following
//!   the same record, with a change that keeps every entry, and that dead claim is swept;
//! - versions are record nonces, so no version handed out before repeats after.
//!
//! Running instances must not see a slot go back: a writer paused just before its rename
//! could rename its record over the restored one.
//!
//! **Limits.** Generations never wrap: a slot at generation `u64::MAX` (only a hand-made file
//! gets there) refuses every change with a `Corrupt` error, so "never written" (0) can never
//! come back and no claim name is reused.

use super::io;

use super::record::{Entry, HEADER, KEYS, KIND, MAX_RECORD, Record, SETTLED};
use super::sys::{Files, Link};
use crate::error::Error;
use crate::prelude::*;

/// How many times an operation starts over (each time because another instance changed the
/// slot first) before it gives up with an error. Contention alone never gets near it.
const MAX_ROUNDS: u32 = 100_000;

/// How many claims that can never be finished (left beside a slot rolled back by hand) a
/// writer moves the slot past before it gives up with an error.
const MAX_JUMPS: u64 = 16;

/// The settled state of a slot.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The slot's generation (0 while the slot does not exist).
    pub generation: u64,
    /// The nonce of the slot's record (0 while the slot does not exist): what names the claims
    /// that may follow it.
    pub nonce: u64,
    /// Its entries.
    pub entries: Vec<Entry>,
}

impl State {
    /// The entry of `key`, if the slot has one (a value or a tombstone).
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|entry| entry.key == key)
    }
}

/// One slot of a shard directory, and how to change it.
pub struct Slot<'a, F: Files> {
    /// The store's files.
    pub files: &'a F,
    /// The shard directory, relative to the store.
    pub shard: &'a str,
    /// The slot's file name (the key hash in hex).
    pub name: &'a str,
    /// Whether this instance may write (finish claims, change the slot).
    pub writable: bool,
    /// Whether writes are synced to disk (`--sync always`).
    pub sync: bool,
}

impl<F: Files> Slot<'_, F> {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.shard)
    }

    fn claim_name(&self, generation: u64, parent: u64) -> String {
        claim_name(self.name, generation, parent)
    }

    fn temp_name(&self, generation: u64, parent: u64, nonce: u64) -> String {
        temp_name(self.name, generation, parent, nonce)
    }

    fn io(&self, name: &str, action: &'static str) -> impl FnOnce(io::Error) -> Error + '_ {
        let path = self.files.show(&self.path(name));
        move |e| Error::FsIo {
            path,
            action,
            cause: e.to_string(),
        }
    }

    /// The record in the file `name`, or `None` when there is no such file.
    fn load(&self, name: &str) -> Result<Option<Record>, Error> {
        let Some(bytes) = read_record(self.files, &self.path(name), MAX_RECORD)? else {
            return Ok(None);
        };
        let record = Record::decode(&bytes).map_err(|problem| Error::Corrupt {
            path: self.files.show(&self.path(name)),
            problem,
        })?;
        if record.kind != KEYS {
            return Err(Error::Corrupt {
                path: self.files.show(&self.path(name)),
                problem: "not a key record".into(),
            });
        }
        Ok(Some(record))
    }

    /// The generation and nonce in the header of the record `name`, read without its entries
    /// (`None` when there is no such file).
    fn header(&self, name: &str) -> Result<Option<(u64, u64)>, Error> {
        let Some(head) = self
            .files
            .read_head(&self.path(name), HEADER)
            .map_err(self.io(name, "read"))?
        else {
            return Ok(None);
        };
        match Record::peek(&head) {
            Some(fields) if head[KIND] == KEYS => Ok(Some(fields)),
            _ => Err(Error::Corrupt {
                path: self.files.show(&self.path(name)),
                problem: "not a keyvalue-virt key record".into(),
            }),
        }
    }

    /// The slot's generation and record nonce as its file says ((0, 0) when there is no
    /// file), unsettled.
    fn current(&self) -> Result<(u64, u64), Error> {
        Ok(self.header(self.name)?.unwrap_or((0, 0)))
    }

    /// The slot's state as its file holds it: every change that has returned, and perhaps
    /// some still under way (see the module docs).
    pub fn read(&self) -> Result<State, Error> {
        let current = self.load(self.name)?;
        Ok(State {
            generation: current.as_ref().map_or(0, |record| record.generation),
            nonce: current.as_ref().map_or(0, |record| record.nonce),
            entries: current.map(|record| record.entries).unwrap_or_default(),
        })
    }

    /// The generation after `generation`, or a `Corrupt` error at the last one (only a
    /// hand-made file gets there: a change a nanosecond would take 584 years to reach it).
    fn next(&self, generation: u64) -> Result<u64, Error> {
        generation.checked_add(1).ok_or_else(|| Error::Corrupt {
            path: self.files.show(&self.path(self.name)),
            problem: format!(
                "its generation is {generation}, the last there is, so no change can follow \
                 it; export the bucket and import it into a new store"
            ),
        })
    }

    /// The slot's state for a writer: any legal claim of the next generation finished first,
    /// since no other claim of it can be made until it is. A missing slot has no claims: it
    /// is made by a link that needs none.
    fn settled(&self) -> Result<State, Error> {
        for _ in 0..MAX_ROUNDS {
            let state = self.read()?;
            if state.generation == 0 || !self.help(&state, self.next(state.generation)?)? {
                return Ok(state);
            }
        }
        Err(self.busy())
    }

    /// Finishes the claim of generation `at` that follows the record of `state`, if there is
    /// one and the slot still holds that record; returns whether there was one.
    fn help(&self, state: &State, at: u64) -> Result<bool, Error> {
        let claim_name = self.claim_name(at, state.nonce);
        let nonce = match self.load(&claim_name) {
            Ok(None) => return Ok(false),
            Ok(Some(claim)) if claim.generation == at => claim.nonce,
            Ok(Some(_)) | Err(Error::Corrupt { .. }) => {
                // Not a whole record of this generation: no writer ever links one, so a
                // machine crash (or a hand) left it and it can never be finished.
                self.files
                    .remove(&self.path(&claim_name))
                    .map_err(self.io(&claim_name, "remove"))?;
                return Ok(true);
            }
            Err(e) => return Err(e),
        };
        // The claim existed while the slot held this record, so it is legal.
        if self.current()? != (state.generation, state.nonce) {
            return Ok(true);
        }
        let temp = self.temp_name(at, state.nonce, nonce);
        let (marked, renamed) = self.settle(&temp)?;
        if !marked && !renamed && self.current()? == (state.generation, state.nonce) {
            // Its temporary file is gone, yet the slot still holds the record it follows:
            // the file left by the rename that finished it once, so the slot was rolled back
            // to that record by hand, and this claim can never be finished. Removing it by
            // name could remove a claim made in its place meanwhile; instead the slot moves
            // past it, by a change that keeps every entry, claimed at the next generation.
            if at - state.generation >= MAX_JUMPS {
                return Err(Error::Corrupt {
                    path: self.files.show(&self.path(&claim_name)),
                    problem: format!(
                        "{MAX_JUMPS} claims that can never be finished follow the slot's \
                         record: run `keyvalue-virt repair` with every instance stopped"
                    ),
                });
            }
            let over = self.next(at)?;
            if !self.help(state, over)? {
                let nonce = self.fresh_nonce();
                self.publish(state, over, state.entries.clone(), nonce)?;
            }
            return Ok(true);
        }
        // The slot has moved past the claim, so its name is dead.
        self.files
            .remove(&self.path(&claim_name))
            .map_err(self.io(&claim_name, "remove"))?;
        Ok(true)
    }

    /// A nonce for a new record: random, never 0 (which stands for "no record").
    fn fresh_nonce(&self) -> u64 {
        match self.files.nonce() {
            0 => 1,
            nonce => nonce,
        }
    }

    /// Marks the temporary file `temp` of a legal claim settled, then renames it over the
    /// slot (syncing the shard if asked); returns whether each step found the file.
    fn settle(&self, temp: &str) -> Result<(bool, bool), Error> {
        let marked = self
            .files
            .write_byte(&self.path(temp), SETTLED as u64, 1)
            .map_err(self.io(temp, "mark"))?;
        let renamed = self
            .files
            .rename(&self.path(temp), &self.path(self.name))
            .map_err(self.io(self.name, "replace"))?;
        if renamed && self.sync {
            self.sync_dir(self.shard)?;
        }
        Ok((marked, renamed))
    }

    /// Changes the slot: `change` gets the settled state and the generation a change will
    /// have (to stamp the entries it changes), and returns the new entries (`None`: leave the
    /// slot as it is) and the operation's result. `change` may run several times, each time
    /// on a newer state; the result of the run that took effect is returned.
    pub fn change<T>(
        &self,
        mut change: impl FnMut(&State, u64) -> Result<(Option<Vec<Entry>>, T), Error>,
    ) -> Result<T, Error> {
        for _ in 0..MAX_ROUNDS {
            let state = self.settled()?;
            // The new record's nonce is the version of the entries it changes: random, so no
            // version ever repeats, even after a slot is restored or deleted by hand.
            let nonce = self.fresh_nonce();
            let (entries, result) = change(&state, nonce)?;
            let Some(entries) = entries else {
                return Ok(result);
            };
            let next = if state.generation == 0 {
                1
            } else {
                self.next(state.generation)?
            };
            if self.publish(&state, next, entries, nonce)? {
                return Ok(result);
            }
        }
        Err(self.busy())
    }

    /// Steps 1 to 3 of the module docs: `true` once the record of generation `next` with
    /// `entries` and `nonce` that follows `state` took effect, `false` when another change
    /// came first.
    fn publish(
        &self,
        state: &State,
        next: u64,
        entries: Vec<Entry>,
        nonce: u64,
    ) -> Result<bool, Error> {
        let generation = state.generation;
        let record = Record {
            kind: KEYS,
            settled: false,
            generation: next,
            nonce,
            entries,
        };
        let temp = self.temp_name(next, state.nonce, nonce);
        let bytes = record.encode();
        if bytes.len() as u64 > MAX_RECORD {
            return Err(Error::FsIo {
                path: self.files.show(&self.path(self.name)),
                action: "write",
                cause: format!(
                    "its record would be {} bytes, more than the {MAX_RECORD} a slot may hold: \
                     store smaller values (or limit them with --max-value-size)",
                    bytes.len()
                ),
            });
        }
        let handle = match self.files.create(&self.path(&temp), &bytes, self.sync) {
            Ok(handle) => handle,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // The shard directory is missing: make it, durably, then try again.
                let made = self
                    .files
                    .create_dir(self.shard)
                    .map_err(self.io("", "create the shard directory"))?;
                if made && self.sync {
                    let bucket = self.shard.rsplit_once('/').map_or("", |(dir, _)| dir);
                    self.sync_dir(bucket)?;
                }
                self.files
                    .create(&self.path(&temp), &bytes, self.sync)
                    .map_err(self.io(&temp, "create"))?
            }
            Err(e) => return Err(self.io(&temp, "create")(e)),
        };
        if generation == 0 {
            return self.make(&temp);
        }
        let claim_name = self.claim_name(next, state.nonce);
        let linked = self.files.link(&self.path(&temp), &self.path(&claim_name));
        match linked.map_err(|e| {
            self.remove_quietly(&temp);
            super::create::link_error(self.files, &self.path(&claim_name), e)
        })? {
            Link::Made => {}
            Link::Taken | Link::SourceGone => {
                // Another writer claimed `next`, or the slot moved past it and someone swept
                // the temporary file: start over.
                self.remove_quietly(&temp);
                return Ok(false);
            }
        }
        if self.current()? == (generation, state.nonce) {
            // A missing file means a helper finished the claim first; it may not have synced
            // the directory yet, and the write is acknowledged only once it is durable.
            let (_, renamed) = self.settle(&temp)?;
            if !renamed && self.sync {
                self.sync_dir(self.shard)?;
            }
            self.remove_quietly(&claim_name);
            return Ok(true);
        }
        let settled = self
            .files
            .read_byte(&handle, SETTLED as u64)
            .map_err(self.io(&temp, "read the mark of"))?;
        if settled != 0 {
            if self.sync {
                self.sync_dir(self.shard)?;
            }
            return Ok(true);
        }
        // A late claim: it never takes effect.
        self.remove_quietly(&temp);
        self.remove_quietly(&claim_name);
        Ok(false)
    }

    /// Makes the missing slot from the temporary file `temp` with one link, which fails if
    /// the name exists: the first record of a slot needs no claim, so no claim of a slot's
    /// earlier life can ever match a new one.
    fn make(&self, temp: &str) -> Result<bool, Error> {
        let linked = self.files.link(&self.path(temp), &self.path(self.name));
        // Whatever happened, the temporary name is no longer needed: the slot, if it was
        // made, is a second name of the same file.
        self.remove_quietly(temp);
        match linked.map_err(|e| super::create::link_error(self.files, &self.path(self.name), e))? {
            Link::Made => {
                if self.sync {
                    self.sync_dir(self.shard)?;
                }
                Ok(true)
            }
            // Another writer made the slot first, or swept the file: start over.
            Link::Taken | Link::SourceGone => Ok(false),
        }
    }

    /// Syncs the directory `path`: a failure fails the operation, since `--sync always`
    /// promises durability.
    fn sync_dir(&self, path: &str) -> Result<(), Error> {
        self.files
            .sync_dir(path)
            .map_err(|e| super::create::sync_error(self.files, path, e))
    }

    /// Removes a file that is dead whatever happens to it; a failure only leaves it for a
    /// later sweep.
    fn remove_quietly(&self, name: &str) {
        let _ = self.files.remove(&self.path(name));
    }

    fn busy(&self) -> Error {
        Error::FsIo {
            path: self.files.show(&self.path(self.name)),
            action: "change",
            cause: format!(
                "other instances changed it first {MAX_ROUNDS} times in a row (or its claims \
                 were changed by hand)"
            ),
        }
    }
}

/// The file `path`, at most `max` bytes (a larger one is `Corrupt`), or `None` when there is
/// none.
pub fn read_record<F: Files>(files: &F, path: &str, max: u64) -> Result<Option<Vec<u8>>, Error> {
    files.read(path, max).map_err(|e| {
        if e.kind() == io::ErrorKind::FileTooLarge {
            Error::Corrupt {
                path: files.show(path),
                problem: format!("{e}, larger than any record of ours"),
            }
        } else if e.kind() == io::ErrorKind::InvalidData {
            // Not a file of ours (natively, a symbolic link).
            Error::Corrupt {
                path: files.show(path),
                problem: e.to_string(),
            }
        } else {
            Error::FsIo {
                path: files.show(path),
                action: "read",
                cause: e.to_string(),
            }
        }
    })
}

/// What a name in a shard directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A slot: the key hash.
    Slot(&'a str),
    /// A claim.
    Claim {
        /// The slot's hash.
        hash: &'a str,
        /// The generation it claims.
        generation: u64,
        /// The nonce of the record it follows.
        parent: u64,
    },
    /// A temporary file.
    Temp {
        /// The slot's hash.
        hash: &'a str,
        /// The generation of the record it holds.
        generation: u64,
        /// The nonce of the record it follows.
        parent: u64,
    },
}

impl<'a> Name<'a> {
    /// Reads a file name of a shard; `None` for names that are not ours.
    pub fn parse(name: &'a str) -> Option<Name<'a>> {
        let mut parts = name.split('.');
        let hash = parts.next().filter(|hash| is_hash(hash))?;
        let generation = match parts.next() {
            None => return Some(Name::Slot(hash)),
            Some(digits) => parse_hex(digits)?,
        };
        let parent = parts
            .next()
            .filter(|parent| is_hash(parent))
            .and_then(|parent| u64::from_str_radix(parent, 16).ok())?;
        match (parts.next(), parts.next(), parts.next()) {
            (Some("c"), None, None) => Some(Name::Claim {
                hash,
                generation,
                parent,
            }),
            (Some(nonce), Some("t"), None) if is_hash(nonce) => Some(Name::Temp {
                hash,
                generation,
                parent,
            }),
            _ => None,
        }
    }
}

/// The part of a claim's or temporary file's name that ties it to the record it follows.
/// Dropping it (naming claims by generation alone, as format 2 did) lets leftovers of a
/// slot's earlier life match again after a restore or a deletion: the shuttle model catches
/// that mutation.
fn epoch(parent: u64) -> u64 {
    parent
}

/// The name of the claim of generation `generation` of the slot `slot`, following the record
/// whose nonce is `parent`.
pub fn claim_name(slot: &str, generation: u64, parent: u64) -> String {
    format!("{slot}.{generation:x}.{:016x}.c", epoch(parent))
}

/// The name of the temporary file `nonce` of generation `generation` of the slot `slot`,
/// following the record whose nonce is `parent`.
pub fn temp_name(slot: &str, generation: u64, parent: u64, nonce: u64) -> String {
    format!(
        "{slot}.{generation:x}.{:016x}.{nonce:016x}.t",
        epoch(parent)
    )
}

/// Whether `name` is a key hash as file names spell it: 16 lowercase hex digits.
pub fn is_hash(name: &str) -> bool {
    name.len() == 16 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn parse_hex(digits: &str) -> Option<u64> {
    let canonical = !digits.is_empty()
        && digits.len() <= 16
        && digits
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && (digits == "0" || !digits.starts_with('0'));
    canonical
        .then(|| u64::from_str_radix(digits, 16).ok())
        .flatten()
}

/// Removes the dead claims and temporary files among `names` (the listing of `shard`): every
/// one but those of the generation after their slot's that follow the slot's record (the
/// next change may be under way in them). Returns how many it removed.
pub fn sweep<F: Files>(files: &F, shard: &str, names: &[String]) -> Result<usize, Error> {
    let mut removed = 0;
    let mut currents: Vec<(&str, Option<(u64, u64)>)> = Vec::new();
    for name in names {
        let (hash, generation, parent) = match Name::parse(name) {
            Some(Name::Claim {
                hash,
                generation,
                parent,
            })
            | Some(Name::Temp {
                hash,
                generation,
                parent,
            }) => (hash, generation, parent),
            _ => continue,
        };
        let current = match currents.iter().find(|(h, _)| *h == hash) {
            Some(&(_, current)) => current,
            None => {
                let slot = Slot {
                    files,
                    shard,
                    name: hash,
                    writable: true,
                    sync: false,
                };
                // A slot that cannot be read keeps its leftovers; reading it reports why.
                let current = slot.current().ok();
                currents.push((hash, current));
                current
            }
        };
        let Some((current, nonce)) = current else {
            continue;
        };
        // The claim of the next generation, or (beside a slot rolled back by hand) of one a
        // little further, that follows the slot's record.
        let live = generation > current && epoch(nonce) == parent;
        if !live
            && files
                .remove(&format!("{shard}/{name}"))
                .map_err(|e| Error::FsIo {
                    path: files.show(&format!("{shard}/{name}")),
                    action: "remove",
                    cause: e.to_string(),
                })?
        {
            removed += 1;
        }
    }
    Ok(removed)
}
