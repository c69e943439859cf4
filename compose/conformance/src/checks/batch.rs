//! `batch`: `get-many`, `set-many` and `delete-many` behave as the single operations, on empty
//! lists, missing keys and duplicates; "you should be able to read your writes". The drafts do not
//! promise an order within `set-many`, so of a key given twice either value may stay.

use crate::{Ctx, KvBucket, Outcome, call, clip, ensure, holds, missing};

/// The bucket the batch checks use by default.
const BUCKET: &str = "conformance-batch";

fn pairs(ctx: &Ctx, name: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                ctx.fresh(&format!("{name}-{i}")),
                format!("value {i}").into_bytes(),
            )
        })
        .collect()
}

fn keys_of(pairs: &[(String, Vec<u8>)]) -> Vec<String> {
    pairs.iter().map(|(k, _)| k.clone()).collect()
}

/// Pairs stored by `set-many` are read back by `get`, and values stored by `set` by `get-many`.
pub fn set_many_then_get<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let pairs = pairs(ctx, "set-many", 10);
    call("set-many of 10 pairs", bucket.set_many(&pairs))?;
    for (key, value) in &pairs {
        holds(&bucket, key, value).map_err(|e| format!("after set-many: {e}"))?;
    }
    let single = ctx.fresh("set-single");
    call(
        &format!("set({})", clip(&single)),
        bucket.set(&single, b"single"),
    )?;
    let got = call(
        "get-many of one key set by set",
        bucket.get_many(std::slice::from_ref(&single)),
    )?;
    ensure(got == [Some((single.clone(), b"single".to_vec()))], || {
        format!(
            "get-many([{}]) after set: expected [some((key, b\"single\"))], got {got:?}",
            clip(&single)
        )
    })?;
    let mut all = keys_of(&pairs);
    all.push(single);
    let _ = bucket.delete_many(&all);
    Ok(())
}

/// `get-many` answers each key asked, in order, duplicates included: the key and its value, or
/// `none` for a key without a value.
pub fn get_many_order<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let pairs = pairs(ctx, "order", 5);
    call("set-many of 5 pairs", bucket.set_many(&pairs))?;
    let absent = ctx.fresh("order-missing");
    let asked: Vec<String> = [3, 5, 0, 4, 3, 5, 0]
        .iter()
        .map(|&i| pairs.get(i).map_or(absent.clone(), |(k, _)| k.clone()))
        .collect();
    let got = call(
        "get-many of 7 keys (2 missing, duplicates)",
        bucket.get_many(&asked),
    )?;
    ensure(got.len() == asked.len(), || {
        format!(
            "get-many of {} keys returned {} entries; expected one per key",
            asked.len(),
            got.len()
        )
    })?;
    for (i, (key, entry)) in asked.iter().zip(&got).enumerate() {
        let expected = pairs.iter().find(|(k, _)| k == key);
        match (entry, expected) {
            (None, None) => {}
            (Some((k, v)), Some((_, value))) => {
                ensure(k == key, || {
                    format!(
                        "get-many entry #{i}: asked {}, the entry names {}",
                        clip(key),
                        clip(k)
                    )
                })?;
                ensure(v == value, || {
                    format!(
                        "get-many entry #{i} ({}): expected {}, got {}",
                        clip(key),
                        crate::bytes(value),
                        crate::bytes(v)
                    )
                })?;
            }
            (None, Some(_)) => {
                return Err(format!(
                    "get-many entry #{i} ({}): expected the value, got none",
                    clip(key)
                )
                .into());
            }
            (Some((_, v)), None) => {
                return Err(format!(
                    "get-many entry #{i} ({}, never set): expected none, got some({})",
                    clip(key),
                    crate::bytes(v)
                )
                .into());
            }
        }
    }
    let _ = bucket.delete_many(&keys_of(&pairs));
    Ok(())
}

/// Empty lists: `get-many` of none returns none; `set-many` and `delete-many` of none succeed.
pub fn empty_lists<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let got = call("get-many([])", bucket.get_many(&[]))?;
    ensure(got.is_empty(), || {
        format!("get-many([]): expected [], got {} entries", got.len())
    })?;
    call("set-many([])", bucket.set_many(&[]))?;
    call("delete-many([])", bucket.delete_many(&[]))?;
    Ok(())
}

/// `delete-many` removes each key given, skips missing ones and duplicates, and leaves the rest.
/// Each list ends with a live key given only there, so that a loop that stops one key short
/// shows: `[b, missing, b, c]`, then the one-key list `[d]`.
pub fn delete_many<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let pairs = pairs(ctx, "delete-many", 6);
    call("set-many of 6 pairs", bucket.set_many(&pairs))?;
    let mut doomed = vec![
        pairs[1].0.clone(),
        ctx.fresh("delete-many-missing"),
        pairs[1].0.clone(),
        pairs[2].0.clone(),
    ];
    call(
        "delete-many of 4 keys (one missing, one twice, a live one last)",
        bucket.delete_many(&doomed),
    )?;
    for key in &doomed {
        missing(&bucket, key).map_err(|e| format!("after delete-many of 4 keys: {e}"))?;
    }
    let last = pairs[3].0.clone();
    call(
        "delete-many of one live key",
        bucket.delete_many(std::slice::from_ref(&last)),
    )?;
    missing(&bucket, &last).map_err(|e| format!("after delete-many of one key: {e}"))?;
    doomed.push(last);
    for key in &doomed {
        missing(&bucket, key).map_err(|e| format!("after delete-many: {e}"))?;
    }
    for (key, value) in pairs.iter().filter(|(k, _)| !doomed.contains(k)) {
        holds(&bucket, key, value).map_err(|e| format!("a key delete-many was not given: {e}"))?;
    }
    let got = call("get-many of the deleted keys", bucket.get_many(&doomed))?;
    ensure(got.iter().all(Option::is_none), || {
        format!("get-many of keys delete-many removed: expected all none, got {got:?}")
    })?;
    let _ = bucket.delete_many(&keys_of(&pairs));
    Ok(())
}

/// A key given twice to `set-many` ends with one of its two values.
pub fn duplicate_keys<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("duplicate");
    let pairs = [
        (key.clone(), b"first".to_vec()),
        (key.clone(), b"second".to_vec()),
    ];
    call("set-many with one key twice", bucket.set_many(&pairs))?;
    let got = call(&format!("get({})", clip(&key)), bucket.get(&key))?;
    ensure(matches!(got.as_deref(), Some(b"first" | b"second")), || {
        format!(
            "get({}) after set-many of b\"first\" then b\"second\": expected one of them, got {}",
            clip(&key),
            crate::report::option_bytes(got.as_deref())
        )
    })?;
    let _ = bucket.delete(&key);
    Ok(())
}
