//! `increment`: "If the key does not exist in the store, it creates a new key-value pair with the
//! value set to the given delta"; it returns the new value; and atomic operations "either
//! completed successfully or did nothing at all". The drafts do not say how a counter is stored
//! nor what a value that is not a number counts as: those checks report the choice as `skip`.
//! Counters are read back through `increment(key, 0)` wherever the stored form does not matter.

use crate::{Ctx, Fault, KvBucket, Outcome, bytes, call, clip, ensure, error};

/// The bucket the increment checks use by default.
const BUCKET: &str = "conformance-increment";

/// Increments `key` by `delta` and checks the new value is `expected`.
fn add<B: KvBucket>(bucket: &B, key: &str, delta: i128, expected: i128) -> Result<(), String> {
    let what = format!("increment({}, {delta})", clip(key));
    let got = call(&what, bucket.increment(key, delta))?;
    ensure(got == expected, || {
        format!("{what}: expected {expected}, got {got}")
    })
}

/// Increments `key` by `delta`, which must fail (the sum does not fit), and checks the counter is
/// still `before`.
fn refused<B: KvBucket>(bucket: &B, key: &str, delta: i128, before: i128) -> Result<(), String> {
    let what = format!("increment({}, {delta}) of {before}", clip(key));
    if let Ok(got) = bucket.increment(key, delta) {
        return Err(format!(
            "{what}: expected an error (the sum does not fit the draft's type), got ok({got})"
        ));
    }
    add(bucket, key, 0, before).map_err(|e| format!("after the failed {what}: {e}"))
}

/// A missing key counts as 0: the first increment returns the delta and creates the key.
pub fn missing_key<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-new");
    add(&bucket, &key, 7, 7)?;
    let exists = call(&format!("exists({})", clip(&key)), bucket.exists(&key))?;
    ensure(exists, || {
        format!(
            "exists({}) after increment of a missing key: expected true, got false",
            clip(&key)
        )
    })?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// Increments add up, by 0 too, and 50 increments by 1 count 50.
pub fn accumulates<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-sum");
    add(&bucket, &key, 7, 7)?;
    add(&bucket, &key, 5, 12)?;
    add(&bucket, &key, 0, 12)?;
    add(&bucket, &key, 100, 112)?;
    let loop_key = ctx.fresh("counter-loop");
    for i in 1..=50 {
        add(&bucket, &loop_key, 1, i)?;
    }
    let _ = bucket.delete_many(&[key, loop_key]);
    Ok(())
}

/// The common convention (wasmtime, Spin, Redis `INCRBY`): a counter is its decimal text, so
/// `get` reads `b"7"` and a value `set` to `b"41"` increments to 42. The drafts do not require
/// it; another form is reported as `skip`.
pub fn decimal_text<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-text");
    add(&bucket, &key, 7, 7)?;
    let stored = call(&format!("get({})", clip(&key)), bucket.get(&key))?;
    let mut other = Vec::new();
    if stored.as_deref() != Some(b"7") {
        other.push(format!(
            "after increment to 7, get returned {}",
            crate::report::option_bytes(stored.as_deref())
        ));
    }
    call(
        &format!("set({}, b\"41\")", clip(&key)),
        bucket.set(&key, b"41"),
    )?;
    match bucket.increment(&key, 1) {
        Ok(42) => {}
        Ok(n) => other.push(format!("increment of b\"41\" by 1 returned ok({n})")),
        Err(e) => other.push(format!("increment of b\"41\" by 1 returned {}", error(&e))),
    }
    let _ = bucket.delete(&key);
    if other.is_empty() {
        Ok(())
    } else {
        Err(Fault::Skip(format!(
            "the counter is not stored as decimal text (the drafts leave the form open): {}",
            other.join("; ")
        )))
    }
}

/// A sum past the largest counter (`u64::MAX` in draft, `s64::MAX` in draft2) is an error and
/// leaves the counter as it was.
pub fn overflow<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-max");
    add(&bucket, &key, B::COUNTER_MAX, B::COUNTER_MAX)?;
    refused(&bucket, &key, 1, B::COUNTER_MAX)?;
    let one = ctx.fresh("counter-one");
    add(&bucket, &one, 1, 1)?;
    refused(&bucket, &one, B::COUNTER_MAX, 1)?;
    let _ = bucket.delete_many(&[key, one]);
    Ok(())
}

/// Negative deltas (draft2): 10 - 3 is 7, a missing key decremented goes below 0 and back.
pub fn negative<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-down");
    add(&bucket, &key, 10, 10)?;
    add(&bucket, &key, -3, 7)?;
    let below = ctx.fresh("counter-below");
    add(&bucket, &below, -5, -5)?;
    add(&bucket, &below, 2, -3)?;
    add(&bucket, &below, 3, 0)?;
    let _ = bucket.delete_many(&[key, below]);
    Ok(())
}

/// A sum below the smallest counter (draft2: `s64::MIN`) is an error and leaves the counter.
pub fn underflow<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-min");
    add(&bucket, &key, B::COUNTER_MIN, B::COUNTER_MIN)?;
    refused(&bucket, &key, -1, B::COUNTER_MIN)?;
    let minus_two = ctx.fresh("counter-minus-two");
    add(&bucket, &minus_two, -2, -2)?;
    refused(&bucket, &minus_two, B::COUNTER_MIN, -2)?;
    let _ = bucket.delete_many(&[key, minus_two]);
    Ok(())
}

/// `increment` of a value that is not a number (`b"abc"`, `b""`, `b"1.5"`, `[0xff]`, and `b"-5"`
/// in draft) either fails and leaves the value as it was, or succeeds (a choice the drafts allow,
/// reported as `skip`); failing after changing the value breaks atomicity.
pub fn non_numeric<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter-text-value");
    let mut values: Vec<&[u8]> = vec![b"abc", b"", b"1.5", &[0xff], b"1e3"];
    if B::COUNTER_MIN == 0 {
        values.push(b"-5");
    }
    let mut accepted = Vec::new();
    for value in values {
        call(
            &format!("set({}, {})", clip(&key), bytes(value)),
            bucket.set(&key, value),
        )?;
        let what = format!("increment({}, 1) of {}", clip(&key), bytes(value));
        match bucket.increment(&key, 1) {
            Ok(n) => accepted.push(format!("{what} returned ok({n})")),
            Err(_) => {
                let after = call(&format!("get({})", clip(&key)), bucket.get(&key))?;
                ensure(after.as_deref() == Some(value), || {
                    format!(
                        "{what} failed but changed the value to {} (an atomic operation that \
                         fails must do nothing)",
                        crate::report::option_bytes(after.as_deref())
                    )
                })?;
            }
        }
    }
    let _ = bucket.delete(&key);
    if accepted.is_empty() {
        Ok(())
    } else {
        Err(Fault::Skip(format!(
            "values that are not numbers are counted (the drafts do not say what they count as): {}",
            accepted.join("; ")
        )))
    }
}
