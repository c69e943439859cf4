//! The publication protocol: how one key file changes, with no locks and no clocks.
//!
//! A *slot* is the directory of one key hash, `<hash>/`, whose record `r` holds the entries
//! of every key with that hash (see [`record`](super::record)). Its *generation* is the number
//! in its record, 0 while it has none, and every record has a random *nonce* (0 stands for "no
//! record"). Beside the record live claims, `<g>.<p>.c`, and temporary files,
//! `<g>.<p>.<nonce>.t`, where `p` is the nonce of the record they follow (numbers in hex).
//! Below, "the slot is at `g`" means that it holds the record of generation `g` *and* nonce
//! `p` that a claim names: one generation of one life of the slot.
//!
//! # Lives of a slot
//!
//! A slot's directory lives from its first record to its last, which holds no entry: a key
//! that was never seeded keeps no tombstone, so the files grow with the live keys, not with
//! every key ever written. A directory is never emptied while it lives (its record is only
//! ever replaced by a rename), so "empty" means "dead", and the two steps that end and start
//! lives are conditional:
//!
//! - A missing slot is made with one step: the writer writes the first record (generation 1)
//!   into a directory of its own, `<hash>.<nonce>.n`, and renames it onto `<hash>`, which
//!   fails while a live directory holds the name. That rename is the change's linearization
//!   point; no claim is involved, so no claim of an earlier life can ever match the new one.
//! - A change that leaves no entry is claimed and renamed like any other (that is the
//!   deletion's linearization point); nothing may follow such an *ended* record. Then anyone
//!   (the writer, or the next one to find it) removes the directory: the ended record through
//!   a handle of the directory it checked, every other file in it (all dead: no claim can be
//!   legal after an ended record), and the directory itself, which fails unless it is empty.
//!   A remover paused for any time can only touch the life it checked: the handle still names
//!   that directory once another life has taken its name, and the names of every other file
//!   hold that life's nonces, which no later life uses.
//!
//! Every path names the slot's current directory when it is used, so a writer paused across
//! lives acts on the new one by name; its temporary files and claims are unique to the life it
//! read (they name a nonce of it), so, as within one life, its claim is never legal there and
//! its renames find nothing.
//!
//! # Changing a slot
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
//! synced the slot's directory *after* the rename took place: when the writer renamed it, or
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
//! far beyond every generation the slot or its leftovers name, which ends its life, and which
//! runs safely beside running instances. With every instance stopped, a slot's record (or the
//! whole store) may also be deleted or restored from a backup while leftovers of its later
//! life remain beside it:
//! - after a deletion, the slot's directory is removed and made again with a new first record
//!   (no claim), whose records have new nonces, so no claim or temporary file of its earlier
//!   life ever matches again;
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
    /// Whether the slot's life is over: it has a record, which holds no entry.
    pub fn ended(&self) -> bool {
        self.generation != 0 && self.entries.is_empty()
    }

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
    /// The slot's directory name (the key hash in hex).
    pub name: &'a str,
    /// Whether the slot is a file of that name (formats 2 and 3, only read) rather than a
    /// directory holding its record.
    pub flat: bool,
    /// Whether this instance may write (finish claims, change the slot).
    pub writable: bool,
    /// Whether writes are synced to disk (`--sync always`).
    pub sync: bool,
}

impl<F: Files> Slot<'_, F> {
    fn path(&self, name: &str) -> String {
        format!("{}/{name}", self.shard)
    }

    /// The slot's directory, relative to the store.
    fn dir(&self) -> String {
        self.path(self.name)
    }

    /// The slot's record, relative to the shard.
    fn record(&self) -> String {
        if self.flat {
            self.name.to_owned()
        } else {
            record_name(self.name)
        }
    }

    fn claim_name(&self, generation: u64, parent: u64) -> String {
        claim_name(self.name, generation, parent)
    }

    fn temp_name(&self, generation: u64, parent: u64, nonce: u64) -> String {
        temp_name(self.name, generation, parent, nonce)
    }

    fn io(&self, name: &str, action: &'static str) -> impl FnOnce(io::Error) -> Error + '_ {
        failed(self.files, &self.path(name), action)
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
        Ok(self.header(&self.record())?.unwrap_or((0, 0)))
    }

    /// The slot's state as its file holds it: every change that has returned, and perhaps
    /// some still under way (see the module docs).
    pub fn read(&self) -> Result<State, Error> {
        let current = self.load(&self.record())?;
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
            path: self.files.show(&self.path(&self.record())),
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
            // No claim may follow an ended life's last record.
            if state.generation == 0
                || state.ended()
                || !self.help(&state, self.next(state.generation)?)?
            {
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
            .rename(&self.path(temp), &self.path(&self.record()))
            .map_err(self.io(&self.record(), "replace"))?;
        if renamed && self.sync {
            self.sync_slot()?;
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
            if state.ended() {
                // The slot's life is over: it has to go before a new one can start.
                self.end()?;
                continue;
            }
            // The new record's nonce is the version of the entries it changes: random, so no
            // version ever repeats, even after a slot is restored or deleted by hand.
            let nonce = self.fresh_nonce();
            let (entries, result) = change(&state, nonce)?;
            let Some(entries) = entries else {
                return Ok(result);
            };
            if state.generation == 0 {
                // Nothing to keep: a missing slot stays missing.
                if entries.is_empty() || self.make(entries, nonce)? {
                    return Ok(result);
                }
                continue;
            }
            let ends = entries.is_empty();
            if self.publish(&state, self.next(state.generation)?, entries, nonce)? {
                if ends {
                    // The change took effect: whatever stops the removal now, the next
                    // writer of the slot finishes it.
                    let _ = self.end();
                }
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
                path: self.files.show(&self.path(&self.record())),
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
            // The slot's directory is gone: its life ended meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(self.io(&temp, "create")(e)),
        };
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
                self.sync_slot()?;
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
                self.sync_slot()?;
            }
            return Ok(true);
        }
        // A late claim: it never takes effect.
        self.remove_quietly(&temp);
        self.remove_quietly(&claim_name);
        Ok(false)
    }

    /// Starts a new life of the missing slot with its first record: writes the record into a
    /// directory of its own beside the slot, then renames that directory onto the slot's name.
    /// The rename is the change's linearization point; it fails while a live slot directory
    /// holds the name (a live one is never empty), so of the writers that found the slot
    /// missing, one wins and the others start over. No claim is involved, and claims name the
    /// record they follow, so nothing of an earlier life can ever match the new one.
    fn make(&self, entries: Vec<Entry>, nonce: u64) -> Result<bool, Error> {
        let aside = aside_name(self.name, nonce);
        let made = match self.files.create_dir(&self.path(&aside)) {
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
                self.files.create_dir(&self.path(&aside))
            }
            made => made,
        };
        made.map_err(self.io(&aside, "create"))?;
        let record = Record {
            kind: KEYS,
            settled: false,
            generation: 1,
            nonce,
            entries,
        };
        let first = format!("{aside}/{RECORD}");
        let written = self
            .files
            .create(&self.path(&first), &record.encode(), self.sync)
            .map_err(self.io(&first, "create"));
        let placed = written.and_then(|_| {
            if self.sync {
                self.sync_dir(&self.path(&aside))?;
            }
            match self.files.rename(&self.path(&aside), &self.dir()) {
                Ok(placed) => Ok(placed),
                Err(e) if taken(&e) => Ok(false),
                Err(e) => Err(self.io(self.name, "create")(e)),
            }
        });
        if !matches!(placed, Ok(true)) {
            // Lost to another writer, or taken away by a sweep: start over. A slot directory
            // left by an ended life goes first, or no new life could take its name.
            self.remove_quietly(&first);
            let _ = self.files.remove_dir(&self.path(&aside));
            if placed.is_ok() && self.writable {
                self.end()?;
            }
            return placed;
        }
        if self.sync {
            self.sync_dir(self.shard)?;
        }
        Ok(true)
    }

    /// Removes the slot's directory if its life is over: its record holds no entry, or it
    /// has none. Nothing may follow an ended record, so every other file in the directory is
    /// dead. The record is removed through a handle of the directory that was checked, so a
    /// remover that pauses for any time can only remove the record of that life: once the
    /// directory is removed and a new life takes its name, the handle still names the old
    /// one. The directory is removed only when empty, and a live one never is.
    pub fn end(&self) -> Result<(), Error> {
        let Some(dir) = self
            .files
            .open_dir(&self.dir())
            .map_err(self.io(self.name, "open"))?
        else {
            return Ok(());
        };
        // An ended record is a header alone; a larger file is a live record.
        match self.files.read_in(&dir, RECORD, HEADER as u64) {
            Ok(Some(bytes)) => match Record::decode(&bytes) {
                Ok(record) if record.kind == KEYS && record.entries.is_empty() => {
                    self.files
                        .remove_in(&dir, RECORD)
                        .map_err(self.io(&self.record(), "remove"))?;
                }
                // Damaged: `repair` mends it.
                _ => return Ok(()),
            },
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::FileTooLarge => return Ok(()),
            Err(e) => return Err(self.io(&self.record(), "read")(e)),
        }
        // The names of another life that took the directory's name since are never the
        // names of this one (they hold that life's nonces), so removing them here is a no-op.
        let names = self
            .files
            .list(&self.dir())
            .map_err(self.io(self.name, "list"))?
            .unwrap_or_default();
        for name in names {
            if name != RECORD && Name::parse_in_slot(&name).is_some() {
                self.files
                    .remove_in(&dir, &name)
                    .map_err(self.io(&format!("{}/{name}", self.name), "remove"))?;
            }
        }
        match self.files.remove_dir(&self.dir()) {
            Ok(_) => Ok(()),
            // A file landed in it meanwhile, or a new life took the name: the next writer of
            // the slot looks again.
            Err(e) if taken(&e) => Ok(()),
            Err(e) => Err(self.io(self.name, "remove")(e)),
        }
    }

    /// Syncs the slot's directory after a rename in it. A directory that is gone was removed
    /// after a later change ended the slot's life, which its own writer synced: that change
    /// replaces this one.
    pub fn sync_slot(&self) -> Result<(), Error> {
        match self.files.sync_dir(&self.dir()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            synced => synced.map_err(|e| super::create::sync_error(self.files, &self.dir(), e)),
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
            path: self.files.show(&self.dir()),
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

/// The name of a slot's record in its directory.
pub const RECORD: &str = "r";

/// Whether an error of a rename or a directory removal says that a non-empty directory is
/// in the way.
fn taken(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::DirectoryNotEmpty | io::ErrorKind::AlreadyExists
    )
}

/// What a name in a shard directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name<'a> {
    /// A slot's directory: the key hash.
    Slot(&'a str),
    /// A new life of the slot being made: `<hash>.<nonce>.n`, renamed onto the slot's name.
    Aside(&'a str),
    /// Such a directory a sweep took away to remove it: `<hash>.<nonce>.x`.
    Away(&'a str),
}

/// What a name in a slot's directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InSlot {
    /// The slot's record, [`RECORD`].
    Record,
    /// A claim, `<g>.<p>.c`.
    Claim {
        /// The generation it claims.
        generation: u64,
        /// The nonce of the record it follows.
        parent: u64,
    },
    /// A temporary file, `<g>.<p>.<nonce>.t`.
    Temp {
        /// The generation of the record it holds.
        generation: u64,
        /// The nonce of the record it follows.
        parent: u64,
    },
}

impl<'a> Name<'a> {
    /// Reads a name of a shard directory; `None` for names that are not ours.
    pub fn parse(name: &'a str) -> Option<Name<'a>> {
        let mut parts = name.split('.');
        let hash = parts.next().filter(|hash| is_hash(hash))?;
        match (parts.next(), parts.next(), parts.next()) {
            (None, _, _) => Some(Name::Slot(hash)),
            (Some(nonce), Some("n"), None) if is_hash(nonce) => Some(Name::Aside(hash)),
            (Some(nonce), Some("x"), None) if is_hash(nonce) => Some(Name::Away(hash)),
            _ => None,
        }
    }

    /// Reads a name of a slot's directory; `None` for names that are not ours.
    pub fn parse_in_slot(name: &str) -> Option<InSlot> {
        if name == RECORD {
            return Some(InSlot::Record);
        }
        let mut parts = name.split('.');
        let generation = parse_hex(parts.next()?)?;
        let parent = parts
            .next()
            .filter(|parent| is_hash(parent))
            .and_then(|parent| u64::from_str_radix(parent, 16).ok())?;
        match (parts.next(), parts.next(), parts.next()) {
            (Some("c"), None, None) => Some(InSlot::Claim { generation, parent }),
            (Some(nonce), Some("t"), None) if is_hash(nonce) => {
                Some(InSlot::Temp { generation, parent })
            }
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

/// The record of the slot `slot`, relative to its shard.
pub fn record_name(slot: &str) -> String {
    format!("{slot}/{RECORD}")
}

/// The claim of generation `generation` of the slot `slot`, following the record whose nonce
/// is `parent`, relative to the shard.
pub fn claim_name(slot: &str, generation: u64, parent: u64) -> String {
    format!("{slot}/{generation:x}.{:016x}.c", epoch(parent))
}

/// The temporary file `nonce` of generation `generation` of the slot `slot`, following the
/// record whose nonce is `parent`, relative to the shard.
pub fn temp_name(slot: &str, generation: u64, parent: u64, nonce: u64) -> String {
    format!(
        "{slot}/{generation:x}.{:016x}.{nonce:016x}.t",
        epoch(parent)
    )
}

/// The directory in which a writer makes a new life of the slot `slot`, relative to the
/// shard.
pub fn aside_name(slot: &str, nonce: u64) -> String {
    format!("{slot}.{nonce:016x}.n")
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

/// What turns an error of `action` on `path` into ours.
fn failed<F: Files>(
    files: &F,
    path: &str,
    action: &'static str,
) -> impl FnOnce(io::Error) -> Error + use<F> {
    let path = files.show(path);
    move |e| Error::FsIo {
        path,
        action,
        cause: e.to_string(),
    }
}

/// Removes the dead claims and temporary files of the slot `hash` of `shard`: every one but
/// those of the generation after the slot's that follow its record (the next change may be
/// under way in them). The directory is listed *before* its record is read, so a record read
/// from a later life never judges names of that life it did not list; names of an earlier
/// life hold that life's nonces, so removing them by name finds nothing in a later one.
/// Returns how many it removed.
pub fn sweep<F: Files>(files: &F, shard: &str, hash: &str) -> Result<usize, Error> {
    let dir = format!("{shard}/{hash}");
    let io = |path: &str, action| failed(files, path, action);
    let Some(names) = files.list(&dir).map_err(io(&dir, "list"))? else {
        return Ok(0);
    };
    let slot = Slot {
        files,
        shard,
        name: hash,
        flat: false,
        writable: true,
        sync: false,
    };
    // A slot that cannot be read keeps its leftovers; reading it reports why.
    let Ok((current, nonce)) = slot.current() else {
        return Ok(0);
    };
    let mut removed = 0;
    for name in names {
        let (generation, parent) = match Name::parse_in_slot(&name) {
            Some(InSlot::Claim { generation, parent } | InSlot::Temp { generation, parent }) => {
                (generation, parent)
            }
            _ => continue,
        };
        // The claim of the next generation, or (beside a slot rolled back by hand) of one a
        // little further, that follows the slot's record.
        let live = generation > current && epoch(nonce) == parent;
        let path = format!("{dir}/{name}");
        if !live && files.remove(&path).map_err(io(&path, "remove"))? {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Removes the directories of new lives that their writers, killed or paused, never placed
/// (among `names`, the listing of `shard`). Each is first renamed away to a name of its own,
/// so that its writer can no longer place it (its rename finds nothing and it starts over),
/// and a writer never places a directory whose record was removed. Returns how many files and
/// directories it removed.
#[cfg(any(test, not(target_arch = "wasm32")))]
pub fn sweep_asides<F: Files>(files: &F, shard: &str, names: &[String]) -> Result<usize, Error> {
    let io = |path: &str, action| failed(files, path, action);
    let mut removed = 0;
    for name in names {
        let away = match Name::parse(name) {
            Some(Name::Aside(hash)) => {
                let away = format!("{hash}.{:016x}.x", files.nonce());
                let from = format!("{shard}/{name}");
                if !files
                    .rename(&from, &format!("{shard}/{away}"))
                    .map_err(io(&from, "rename"))?
                {
                    continue;
                }
                away
            }
            Some(Name::Away(_)) => name.clone(),
            _ => continue,
        };
        let dir = format!("{shard}/{away}");
        for inner in files
            .list(&dir)
            .map_err(io(&dir, "list"))?
            .unwrap_or_default()
        {
            let path = format!("{dir}/{inner}");
            if Name::parse_in_slot(&inner).is_some()
                && files.remove(&path).map_err(io(&path, "remove"))?
            {
                removed += 1;
            }
        }
        match files.remove_dir(&dir) {
            Ok(true) => removed += 1,
            Ok(false) => {}
            // Something not ours is in it: it stays.
            Err(e) if taken(&e) => {}
            Err(e) => return Err(io(&dir, "remove")(e)),
        }
    }
    Ok(removed)
}
