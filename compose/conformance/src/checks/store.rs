//! `store`: get, set, delete and exists on one key; reading one's writes; buckets.

use crate::{Ctx, KvBucket, Outcome, call, clip, holds, missing};

/// `open` of `""` (or `--bucket`'s identifier) succeeds.
pub fn open<B: KvBucket>(ctx: &Ctx) -> Outcome {
    ctx.open::<B>("")?;
    Ok(())
}

/// A key never written holds nothing: `get` is `none`, `exists` is false.
pub fn get_missing<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    missing(&bucket, &ctx.fresh("never-written"))?;
    Ok(())
}

/// A value `set` is what `get` returns, and `exists` says so.
pub fn set_then_get<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("set-then-get");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"hello"))?;
    holds(&bucket, &key, b"hello")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// Each of 100 writes to one key is read back at once.
pub fn read_your_writes<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("read-your-writes");
    for i in 0..100u32 {
        let value = format!("value {i}");
        call(
            &format!("set({}) #{i}", clip(&key)),
            bucket.set(&key, value.as_bytes()),
        )?;
        holds(&bucket, &key, value.as_bytes())?;
    }
    let _ = bucket.delete(&key);
    Ok(())
}

/// The last write wins, whether the new value is longer, shorter or empty.
pub fn overwrite<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("overwrite");
    for value in [&b"first"[..], b"second, longer", b"3", b""] {
        call(
            &format!("set({}, {})", clip(&key), crate::bytes(value)),
            bucket.set(&key, value),
        )?;
        holds(&bucket, &key, value)?;
    }
    let _ = bucket.delete(&key);
    Ok(())
}

/// After `delete`, the key holds nothing.
pub fn delete<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("delete");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"doomed"))?;
    call(&format!("delete({})", clip(&key)), bucket.delete(&key))?;
    missing(&bucket, &key)?;
    Ok(())
}

/// Deleting a key that never held a value is not an error ("it does nothing").
pub fn delete_missing<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("delete-missing");
    call(
        &format!("delete({}) of a key never written", clip(&key)),
        bucket.delete(&key),
    )?;
    missing(&bucket, &key)?;
    Ok(())
}

/// Deleting a key twice is not an error.
pub fn delete_twice<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open("")?;
    let key = ctx.fresh("delete-twice");
    call(&format!("set({})", clip(&key)), bucket.set(&key, b"v"))?;
    call(&format!("delete({})", clip(&key)), bucket.delete(&key))?;
    call(
        &format!("delete({}) again", clip(&key)),
        bucket.delete(&key),
    )?;
    missing(&bucket, &key)?;
    Ok(())
}

/// A second open of the identifier sees the first's writes, both ways, and so does an open
/// after the first handle is dropped.
pub fn reopen_sees_writes<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let first: B = ctx.open("")?;
    let key = ctx.fresh("reopen");
    call(
        &format!("set({}) through the first open", clip(&key)),
        first.set(&key, b"one"),
    )?;
    let second: B = ctx.open("")?;
    holds(&second, &key, b"one").map_err(|e| format!("through a second open: {e}"))?;
    call(
        &format!("set({}) through the second open", clip(&key)),
        second.set(&key, b"two"),
    )?;
    holds(&first, &key, b"two").map_err(|e| format!("through the first open: {e}"))?;
    drop(first);
    drop(second);
    let third: B = ctx.open("")?;
    holds(&third, &key, b"two").map_err(|e| format!("after the handles were dropped: {e}"))?;
    let _ = third.delete(&key);
    Ok(())
}

/// A key written in one bucket is not visible in another, and deleting it there leaves it.
pub fn buckets_are_isolated<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let a: B = ctx.open("conformance-a")?;
    let b: B = ctx.open("conformance-b")?;
    let empty: B = ctx.open("")?;
    let key = ctx.fresh("isolated");
    call(
        &format!("set({}) in bucket \"conformance-a\"", clip(&key)),
        a.set(&key, b"in a"),
    )?;
    missing(&b, &key).map_err(|e| format!("in bucket \"conformance-b\": {e}"))?;
    missing(&empty, &key).map_err(|e| format!("in bucket \"\": {e}"))?;
    call(
        &format!("set({}) in bucket \"conformance-b\"", clip(&key)),
        b.set(&key, b"in b"),
    )?;
    holds(&a, &key, b"in a").map_err(|e| format!("in bucket \"conformance-a\": {e}"))?;
    call(
        &format!("delete({}) in bucket \"conformance-b\"", clip(&key)),
        b.delete(&key),
    )?;
    holds(&a, &key, b"in a").map_err(|e| format!("in bucket \"conformance-a\": {e}"))?;
    let _ = a.delete(&key);
    Ok(())
}
