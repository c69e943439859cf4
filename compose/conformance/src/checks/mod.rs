//! The checks, one module per area; the order of [`draft_checks`] is the order they run in (the
//! hostile inputs last, as a trap ends the run).

use crate::{Ctx, KvBucket, KvCas, Outcome};

mod batch;
mod cas;
mod errors;
mod increment;
mod keys;
mod list;
mod store;
mod values;

/// What a check needs of the host beyond the drafts' promises; without it the check is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Several bucket identifiers (not possible under `--bucket`).
    SeveralBuckets,
    /// Another open of an identifier sees the data written through the first (not under
    /// `--no-persistence`).
    Persistence,
}

/// One check: its stable name (`AREA.what`, kebab-case), what it needs, and its code.
pub struct Check {
    /// The name, `store.read-your-writes`.
    pub name: &'static str,
    /// What the host must allow for the check to run.
    pub needs: &'static [Need],
    /// Runs the check.
    pub run: fn(&Ctx) -> Outcome,
}

impl Check {
    /// Why the check cannot run under `ctx`, if it cannot.
    pub fn unmet_need(&self, ctx: &Ctx) -> Option<String> {
        self.needs.iter().find_map(|need| match need {
            Need::SeveralBuckets => ctx.bucket.as_ref().map(|id| {
                format!(
                    "needs several buckets; --bucket allows only {}",
                    crate::clip(id)
                )
            }),
            Need::Persistence if ctx.no_persistence => Some(
                "needs a second open of an identifier to see the data written through the \
                 first; --no-persistence says it does not"
                    .to_owned(),
            ),
            Need::Persistence => None,
        })
    }
}

const ANY: &[Need] = &[];
const BUCKETS: &[Need] = &[Need::SeveralBuckets];
const REOPEN: &[Need] = &[Need::Persistence];

/// Builds a list of [`Check`]s from `name => function` pairs with optional needs.
macro_rules! checks {
    ($($name:literal => $run:expr $(, $needs:expr)?;)*) => {
        vec![$(Check { name: $name, needs: checks!(@needs $($needs)?), run: $run },)*]
    };
    (@needs) => { ANY };
    (@needs $needs:expr) => { $needs };
}

/// The checks of every draft, before the hostile inputs.
fn common<B: KvBucket>() -> Vec<Check> {
    let mut list = checks! {
        "store.open" => store::open::<B>;
        "store.get-missing" => store::get_missing::<B>;
        "store.set-then-get" => store::set_then_get::<B>;
        "store.read-your-writes" => store::read_your_writes::<B>;
        "store.overwrite" => store::overwrite::<B>;
        "store.delete" => store::delete::<B>;
        "store.delete-missing" => store::delete_missing::<B>;
        "store.delete-twice" => store::delete_twice::<B>;
        "store.reopen-sees-writes" => store::reopen_sees_writes::<B>, REOPEN;
        "store.buckets-are-isolated" => store::buckets_are_isolated::<B>, BUCKETS;
        "keys.empty" => keys::empty::<B>;
        "keys.empty-everywhere" => keys::empty_everywhere::<B>;
        "keys.slashes-and-dots" => keys::slashes_and_dots::<B>;
        "keys.unicode" => keys::unicode::<B>;
        "keys.nul" => keys::nul::<B>;
        "keys.long" => keys::long::<B>;
        "keys.distinct" => keys::distinct::<B>;
        "keys.listed-as-written" => keys::listed_as_written::<B>;
        "values.empty" => values::empty::<B>;
        "values.binary" => values::binary::<B>;
        "values.large" => values::large::<B>;
        "list.every-bucket-pages" => list::every_bucket_pages::<B>, BUCKETS;
        "list.ends-at-last-key" => list::ends_at_last_key::<B>;
        "list.empty-bucket" => list::empty_bucket::<B>;
        "list.walk-complete" => list::walk_complete::<B>;
        "list.walk-after-deletes" => list::walk_after_deletes::<B>;
        "list.walk-during-writes" => list::walk_during_writes::<B>;
        "list.pages-bounded" => list::pages_bounded::<B>;
        "list.walk-large-keys" => list::walk_large_keys::<B>;
        "list.drain-walk" => list::drain_walk::<B>;
        "list.forged-cursor" => list::forged_cursor::<B>;
        "list.foreign-cursor" => list::foreign_cursor::<B>, BUCKETS;
        "increment.missing-key" => increment::missing_key::<B>;
        "increment.accumulates" => increment::accumulates::<B>;
        "increment.decimal-text" => increment::decimal_text::<B>;
        "increment.overflow" => increment::overflow::<B>;
        "increment.non-numeric" => increment::non_numeric::<B>;
    };
    if B::COUNTER_MIN < 0 {
        list.extend(checks! {
            "increment.negative" => increment::negative::<B>;
            "increment.underflow" => increment::underflow::<B>;
        });
    }
    list.extend(checks! {
        "batch.set-many-then-get" => batch::set_many_then_get::<B>;
        "batch.get-many-order" => batch::get_many_order::<B>;
        "batch.empty-lists" => batch::empty_lists::<B>;
        "batch.delete-many" => batch::delete_many::<B>;
        "batch.duplicate-keys" => batch::duplicate_keys::<B>;
    });
    list
}

/// The hostile inputs of every draft.
fn hostile<B: KvBucket>() -> Vec<Check> {
    checks! {
        "errors.hostile-identifiers" => errors::hostile_identifiers::<B>;
        "errors.huge-key" => errors::huge_key::<B>;
        "errors.huge-batches" => errors::huge_batches::<B>;
        "errors.hostile-cursors" => errors::hostile_cursors::<B>;
        "errors.hostile-counters" => errors::hostile_counters::<B>;
    }
}

/// Every check of a draft without compare-and-swap (`0.2.0-draft`), in the order they run.
pub fn draft_checks<B: KvBucket>() -> Vec<Check> {
    let mut list = common::<B>();
    list.extend(hostile::<B>());
    list
}

/// Every check of draft2 (either shape), in the order they run.
pub fn draft2_checks<B: KvCas>() -> Vec<Check> {
    let mut list = common::<B>();
    list.extend(checks! {
        "cas.current" => cas::current::<B>;
        "cas.swap-unchanged" => cas::swap_unchanged::<B>;
        "cas.swap-creates-missing-key" => cas::swap_creates_missing_key::<B>;
        "cas.swap-after-write-fails" => cas::swap_after_write_fails::<B>;
        "cas.swap-after-delete-fails" => cas::swap_after_delete_fails::<B>;
        "cas.swap-after-increment-fails" => cas::swap_after_increment_fails::<B>;
        "cas.swap-after-counter-increment-fails" => cas::swap_after_increment_of_counter_fails::<B>;
        "cas.swap-after-batch-fails" => cas::swap_after_batch_fails::<B>;
        "cas.same-value-rewritten" => cas::same_value_rewritten::<B>;
        "cas.created-and-deleted" => cas::created_and_deleted::<B>;
        "cas.other-keys-do-not-conflict" => cas::other_keys_do_not_conflict::<B>;
        "cas.handles-are-independent" => cas::handles_are_independent::<B>;
        "cas.retry-loop" => cas::retry_loop::<B>;
    });
    list.extend(hostile::<B>());
    list.extend(checks! {
        "errors.hostile-cas" => errors::hostile_cas::<B>;
    });
    list
}
