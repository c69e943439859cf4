//! `errors`: hostile inputs get an answer, `ok` or an `error`, never a trap. A trap ends the
//! whole run, so these checks run last; the check after the last line printed is the one that
//! trapped. Where an answer is `ok`, it must still make sense.

use crate::{Ctx, KvBucket, KvCas, Outcome, call, ensure};

/// The bucket the hostile checks use by default.
const BUCKET: &str = "conformance-hostile";

/// `open` of identifiers that are empty-ish, path-like, NUL-laden or 1 MiB long returns.
pub fn hostile_identifiers<B: KvBucket>(_: &Ctx) -> Outcome {
    let huge = "x".repeat(1 << 20);
    for identifier in [
        "\0",
        "../..",
        "/",
        "ключ🔑",
        &huge,
        "a\0b",
        " ",
        "\u{10ffff}",
    ] {
        let _ = B::open(identifier);
    }
    Ok(())
}

/// A 1 MiB key in every call returns; if `set` accepts it, `get` returns the value.
pub fn huge_key<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let huge = "k".repeat(1 << 20);
    let accepted = bucket.set(&huge, b"v").is_ok();
    let got = bucket.get(&huge);
    let _ = bucket.exists(&huge);
    let _ = bucket.increment(&huge, 1);
    let _ = bucket.delete(&huge);
    let _ = bucket.delete(&huge);
    if let (true, Ok(got)) = (accepted, got) {
        ensure(got.as_deref() == Some(&b"v"[..]), || {
            format!(
                "get of a 1 MiB key that set accepted: expected some(b\"v\"), got {}",
                crate::report::option_bytes(got.as_deref())
            )
        })?;
    }
    Ok(())
}

/// Batches of 20,000 keys, and `set-many` of one key 100 times, return; a `get-many` that
/// answers answers every key.
pub fn huge_batches<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let many: Vec<String> = (0..20_000)
        .map(|i| ctx.fresh(&format!("many-{i}")))
        .collect();
    if let Ok(got) = bucket.get_many(&many) {
        ensure(got.len() == many.len(), || {
            format!("get-many of 20000 keys returned {} entries", got.len())
        })?;
        ensure(got.iter().all(Option::is_none), || {
            "get-many of 20000 keys never set returned values".to_owned()
        })?;
    }
    let _ = bucket.delete_many(&many);
    let duplicates: Vec<(String, Vec<u8>)> =
        (0..100).map(|i| (ctx.fresh("many-dup"), vec![i])).collect();
    let _ = bucket.set_many(&duplicates);
    let wide: Vec<(String, Vec<u8>)> = many.iter().map(|k| (k.clone(), Vec::new())).collect();
    let _ = bucket.set_many(&wide);
    let _ = bucket.list_keys(None);
    let _ = bucket.delete_many(&many);
    let _ = bucket.delete(&ctx.fresh("many-dup"));
    Ok(())
}

/// `list-keys` with forged and extreme cursors returns, on an empty bucket and a full one.
pub fn hostile_cursors<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    for cursor in B::forged_cursors() {
        let _ = bucket.list_keys(Some(&cursor));
    }
    let keys: Vec<String> = (0..1200)
        .map(|i| ctx.fresh(&format!("cursor-{i}")))
        .collect();
    let pairs: Vec<(String, Vec<u8>)> = keys.iter().map(|k| (k.clone(), b"c".to_vec())).collect();
    call("set-many of 1200 keys", bucket.set_many(&pairs))?;
    for cursor in B::forged_cursors() {
        let _ = bucket.list_keys(Some(&cursor));
    }
    let _ = bucket.delete_many(&keys);
    Ok(())
}

/// `increment` of values that are almost numbers, or a million digits, by extreme deltas returns.
pub fn hostile_counters<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("counter");
    let million_digits = "9".repeat(1 << 20);
    let values: [&[u8]; 8] = [
        million_digits.as_bytes(),
        b"-0",
        b"0000000000000000000000000001",
        b" 1",
        b"1 ",
        b"+1",
        b"0x10",
        b"\xff\xfe",
    ];
    for value in values {
        call("set", bucket.set(&key, value))?;
        for delta in [B::COUNTER_MIN, -1, 0, 1, B::COUNTER_MAX] {
            if delta >= B::COUNTER_MIN {
                let _ = bucket.increment(&key, delta);
            }
        }
    }
    let _ = bucket.increment(&million_digits, 1);
    let _ = bucket.delete(&million_digits);
    let _ = bucket.delete(&key);
    Ok(())
}

/// Draft2's `cas` with odd keys, a 1 MiB swap, 1,000 handles dropped without a swap, and a handle
/// that outlives its bucket: every call returns.
pub fn hostile_cas<B: KvCas>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let huge = "c".repeat(1 << 20);
    for key in ["", "\0", huge.as_str()] {
        if let Ok(cas) = bucket.cas_new(key) {
            let _ = B::cas_current(&cas);
            let _ = B::swap(cas, &vec![0xab; 1 << 20]);
        }
        let _ = bucket.delete(key);
    }
    let dropped = ctx.fresh("dropped");
    for _ in 0..1000 {
        drop(bucket.cas_new(&dropped));
    }
    let orphan_key = ctx.fresh("orphan");
    let orphan = bucket.cas_new(&orphan_key);
    drop(bucket);
    if let Ok(cas) = orphan {
        let _ = B::cas_current(&cas);
        let _ = B::swap(cas, b"v");
    }
    if let Ok(bucket) = ctx.open::<B>(BUCKET) {
        let _ = bucket.delete(&orphan_key);
    }
    Ok(())
}
