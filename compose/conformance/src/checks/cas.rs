//! `cas` (draft2): `cas.new` takes a handle on a key, `current` reads it, `swap` stores a value
//! unless the value "was too old", and then returns `cas-failed` with a handle "updated to the
//! latest version". A store may compare versions or values ("implementors can map the underlying
//! functionality (transactions, versions, etc) as desired"): where the two differ (the same value
//! written again, a key created and deleted) a swap that succeeds is reported as `skip`.

use crate::{
    CasError, Ctx, Fault, KvCas, Outcome, bytes, call, clip, ensure, error, holds, missing,
};

/// The bucket the CAS checks use by default.
const BUCKET: &str = "conformance-cas";

/// What a `swap` did.
enum Swap<C> {
    Stored,
    CasFailed(C),
}

fn new_cas<B: KvCas>(bucket: &B, key: &str) -> Result<B::Cas, String> {
    call(&format!("cas.new({})", clip(key)), bucket.cas_new(key))
}

fn expect_current<B: KvCas>(
    what: &str,
    cas: &B::Cas,
    expected: Option<&[u8]>,
) -> Result<(), String> {
    let got = call(&format!("{what}: current()"), B::cas_current(cas))?;
    ensure(got.as_deref() == expected, || {
        format!(
            "{what}: current() expected {}, got {}",
            crate::report::option_bytes(expected),
            crate::report::option_bytes(got.as_deref())
        )
    })
}

/// Swaps `value` in; a store error is a failure of the check.
fn swap<B: KvCas>(what: &str, cas: B::Cas, value: &[u8]) -> Result<Swap<B::Cas>, String> {
    match B::swap(cas, value) {
        Ok(()) => Ok(Swap::Stored),
        Err(CasError::CasFailed(fresh)) => Ok(Swap::CasFailed(fresh)),
        Err(CasError::StoreError(e)) => Err(format!(
            "{what}: swap({}) returned store-error({})",
            bytes(value),
            error(&e)
        )),
    }
}

fn swap_stored<B: KvCas>(what: &str, cas: B::Cas, value: &[u8]) -> Result<(), String> {
    match swap::<B>(what, cas, value)? {
        Swap::Stored => Ok(()),
        Swap::CasFailed(_) => Err(format!(
            "{what}: swap({}) expected ok, got cas-failed",
            bytes(value)
        )),
    }
}

fn swap_failed<B: KvCas>(what: &str, cas: B::Cas, value: &[u8]) -> Result<B::Cas, String> {
    match swap::<B>(what, cas, value)? {
        Swap::CasFailed(fresh) => Ok(fresh),
        Swap::Stored => Err(format!(
            "{what}: swap({}) expected cas-failed (the key changed since cas.new), got ok",
            bytes(value)
        )),
    }
}

/// `current` returns the key's value when the handle was made, or `none` for a missing key.
pub fn current<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-current");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    expect_current::<B>(
        "a key holding b\"v1\"",
        &new_cas(&bucket, &key)?,
        Some(b"v1"),
    )?;
    let absent = ctx.fresh("cas-current-missing");
    expect_current::<B>("a missing key", &new_cas(&bucket, &absent)?, None)?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// A swap on a key nothing wrote since `cas.new` stores its value.
pub fn swap_unchanged<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-plain");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    swap_stored::<B>("unchanged key", new_cas(&bucket, &key)?, b"v2")?;
    holds(&bucket, &key, b"v2")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// A swap on a key that was missing and still is creates it.
pub fn swap_creates_missing_key<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-create");
    swap_stored::<B>("missing key", new_cas(&bucket, &key)?, b"created")?;
    holds(&bucket, &key, b"created")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// A `set` after `cas.new` makes the swap fail and store nothing; the handle it returns reads the
/// new value and swaps.
pub fn swap_after_write_fails<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-conflict");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    let cas = new_cas(&bucket, &key)?;
    call("rival set", bucket.set(&key, b"rival"))?;
    let fresh = swap_failed::<B>("set after cas.new", cas, b"mine")?;
    holds(&bucket, &key, b"rival").map_err(|e| format!("after the failed swap: {e}"))?;
    expect_current::<B>("the handle cas-failed returned", &fresh, Some(b"rival"))?;
    swap_stored::<B>("retry with the handle cas-failed returned", fresh, b"mine")?;
    holds(&bucket, &key, b"mine")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// A `delete` after `cas.new` makes the swap fail; the returned handle sees `none` and swaps.
pub fn swap_after_delete_fails<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-deleted");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    let cas = new_cas(&bucket, &key)?;
    call("rival delete", bucket.delete(&key))?;
    let fresh = swap_failed::<B>("delete after cas.new", cas, b"mine")?;
    missing(&bucket, &key).map_err(|e| format!("after the failed swap: {e}"))?;
    expect_current::<B>("the handle cas-failed returned", &fresh, None)?;
    swap_stored::<B>("retry with the handle cas-failed returned", fresh, b"mine")?;
    holds(&bucket, &key, b"mine")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// An `increment` of a missing key after `cas.new` (which creates the key) makes the swap fail.
pub fn swap_after_increment_fails<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-increment");
    let cas = new_cas(&bucket, &key)?;
    call("rival increment", bucket.increment(&key, 1))?;
    swap_failed::<B>("increment after cas.new", cas, b"mine")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// An `increment` of a key that holds a counter, after `cas.new`, makes the swap fail and store
/// nothing; the handle it returns reads the new count and swaps. (An increment of a missing key
/// creates it, which a store may track on another path than an increment of an existing one.)
pub fn swap_after_increment_of_counter_fails<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-counter-increment");
    let start = call(
        &format!("increment({}, 5)", clip(&key)),
        bucket.increment(&key, 5),
    )?;
    let cas = new_cas(&bucket, &key)?;
    let now = call("rival increment", bucket.increment(&key, 1))?;
    ensure(now == start + 1, || {
        format!(
            "rival increment({}, 1): expected {}, got {now}",
            clip(&key),
            start + 1
        )
    })?;
    // The counter as stored, whatever form the store gives it.
    let stored = call(&format!("get({})", clip(&key)), bucket.get(&key))?;
    let fresh = swap_failed::<B>(
        "increment of an existing counter after cas.new",
        cas,
        b"mine",
    )?;
    let after = call(&format!("get({})", clip(&key)), bucket.get(&key))?;
    ensure(after == stored, || {
        format!(
            "after the failed swap: get returned {}, expected {} (the swap stored?)",
            crate::report::option_bytes(after.as_deref()),
            crate::report::option_bytes(stored.as_deref())
        )
    })?;
    expect_current::<B>("the handle cas-failed returned", &fresh, stored.as_deref())?;
    swap_stored::<B>("retry with the handle cas-failed returned", fresh, b"mine")?;
    holds(&bucket, &key, b"mine")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// A `set-many` or `delete-many` of the key after `cas.new` makes the swap fail.
pub fn swap_after_batch_fails<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-batch");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    let cas = new_cas(&bucket, &key)?;
    call(
        "rival set-many",
        bucket.set_many(&[(key.clone(), b"rival".to_vec())]),
    )?;
    swap_failed::<B>("set-many after cas.new", cas, b"mine")?;
    let cas = new_cas(&bucket, &key)?;
    call(
        "rival delete-many",
        bucket.delete_many(std::slice::from_ref(&key)),
    )?;
    swap_failed::<B>("delete-many after cas.new", cas, b"mine")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// The same value written again after `cas.new`: a store that compares versions fails the swap,
/// one that compares values stores it (a choice the draft leaves open, reported as `skip`).
pub fn same_value_rewritten<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-same-value");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    let cas = new_cas(&bucket, &key)?;
    call("rival set of the same value", bucket.set(&key, b"v1"))?;
    let outcome = match swap::<B>("the same value set after cas.new", cas, b"mine")? {
        Swap::CasFailed(fresh) => {
            holds(&bucket, &key, b"v1")?;
            swap_stored::<B>("retry with the handle cas-failed returned", fresh, b"mine")?;
            holds(&bucket, &key, b"mine")?;
            Ok(())
        }
        Swap::Stored => Err(Fault::Skip(
            "the swap succeeded although the key was written since cas.new (with the same \
             value): the store compares values, not versions"
                .to_owned(),
        )),
    };
    let _ = bucket.delete(&key);
    outcome
}

/// A key missing at `cas.new`, then created and deleted: a store that compares versions fails
/// the swap, one that compares values stores it (reported as `skip`).
pub fn created_and_deleted<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-aba");
    let cas = new_cas(&bucket, &key)?;
    call("rival set", bucket.set(&key, b"rival"))?;
    call("rival delete", bucket.delete(&key))?;
    let outcome = match swap::<B>(
        "a missing key created and deleted since cas.new",
        cas,
        b"mine",
    )? {
        Swap::CasFailed(fresh) => {
            missing(&bucket, &key)?;
            swap_stored::<B>("retry with the handle cas-failed returned", fresh, b"mine")?;
            holds(&bucket, &key, b"mine")?;
            Ok(())
        }
        Swap::Stored => Err(Fault::Skip(
            "the swap succeeded although the key was created and deleted since cas.new: the \
             store compares values, not versions"
                .to_owned(),
        )),
    };
    let _ = bucket.delete(&key);
    outcome
}

/// Writes to other keys (and, with several buckets, to the same key in another bucket) do not
/// make a swap fail.
pub fn other_keys_do_not_conflict<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-isolated");
    let other_key = ctx.fresh("cas-isolated-other");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v1"))?;
    let cas = new_cas(&bucket, &key)?;
    call("set of another key", bucket.set(&other_key, b"x"))?;
    if ctx.bucket.is_none() {
        let other: B = ctx.open("conformance-cas-other")?;
        call("set of the key in another bucket", other.set(&key, b"x"))?;
        let _ = other.delete(&key);
    }
    swap_stored::<B>("writes to other keys since cas.new", cas, b"mine")?;
    holds(&bucket, &key, b"mine")?;
    let _ = bucket.delete_many(&[key, other_key]);
    Ok(())
}

/// Handles are independent: of two handles on one key, dropping one leaves the other able to
/// swap, and dropping handles on one key leaves a handle on another key able to swap (a store
/// that counts the handles of a key, to know when to stop tracking it, must count right).
pub fn handles_are_independent<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let a = ctx.fresh("cas-handles-a");
    let b = ctx.fresh("cas-handles-b");
    call(&format!("set({})", clip(&a)), bucket.set(&a, b"a1"))?;
    call(&format!("set({})", clip(&b)), bucket.set(&b, b"b1"))?;
    let first = new_cas(&bucket, &a)?;
    let second = new_cas(&bucket, &a)?;
    let other = new_cas(&bucket, &b)?;
    drop(first);
    swap_stored::<B>(
        "the second of two handles on a key, after the first was dropped",
        second,
        b"a2",
    )?;
    holds(&bucket, &a, b"a2")?;
    swap_stored::<B>(
        "a handle on another key, after both handles on the first were dropped",
        other,
        b"b2",
    )?;
    holds(&bucket, &b, b"b2")?;
    let _ = bucket.delete_many(&[a, b]);
    Ok(())
}

/// A counter incremented 100 times by CAS retry loops, with a rival write before every tenth
/// swap (a `set` of the next count, as text), ends at exactly 110.
pub fn retry_loop<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("cas-counter");
    let mut retries = 0;
    for i in 0..100 {
        let mut cas = new_cas(&bucket, &key)?;
        let mut rival = i % 10 == 0;
        loop {
            let n: i128 = match call("current()", B::cas_current(&cas))? {
                None => 0,
                Some(value) => std::str::from_utf8(&value)
                    .ok()
                    .and_then(|text| text.parse().ok())
                    .ok_or_else(|| {
                        format!(
                            "the counter holds {}, which this loop never wrote",
                            bytes(&value)
                        )
                    })?,
            };
            if std::mem::take(&mut rival) {
                // Written as text, so that the loop reads it whatever form increment uses.
                call(
                    "rival set",
                    bucket.set(&key, (n + 1).to_string().as_bytes()),
                )?;
            }
            match swap::<B>(
                &format!("cas increment #{i}"),
                cas,
                (n + 1).to_string().as_bytes(),
            )? {
                Swap::Stored => break,
                Swap::CasFailed(fresh) => {
                    retries += 1;
                    ensure(retries <= 1000, || {
                        "cas retry loop: over 1000 cas-failed for 100 increments".to_owned()
                    })?;
                    cas = fresh;
                }
            }
        }
    }
    holds(&bucket, &key, b"110")
        .map_err(|e| format!("after 100 cas increments and 10 rival ones: {e}"))?;
    let _ = bucket.delete(&key);
    Ok(())
}
