//! `values`: a value is any list of bytes: empty, binary, large.

use crate::{Ctx, Fault, KvBucket, Outcome, bytes, call, clip, error, holds};

/// The bucket the value checks use by default.
const BUCKET: &str = "conformance-values";

/// An empty value is a value: `get` returns `some([])`, not `none`, and `exists` is true.
pub fn empty<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("empty-value");
    call(
        &format!("set({}, b\"\")", clip(&key)),
        bucket.set(&key, b""),
    )?;
    holds(&bucket, &key, b"")?;
    let _ = bucket.delete(&key);
    Ok(())
}

/// Every byte value, and bytes that are not UTF-8, round-trip.
pub fn binary<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("binary-value");
    let all: Vec<u8> = (0..=255).collect();
    for value in [&all[..], &[0xff, 0xfe, 0], &[0], &[0xc3, 0x28]] {
        call(
            &format!("set({}, {})", clip(&key), bytes(value)),
            bucket.set(&key, value),
        )?;
        holds(&bucket, &key, value)?;
    }
    let _ = bucket.delete(&key);
    Ok(())
}

/// Values of 1 MiB and 8 MiB round-trip; a store may refuse a large value with an error (the
/// drafts set no size), which skips the check.
pub fn large<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let key = ctx.fresh("large-value");
    for size in [1usize << 20, 8 << 20] {
        let value: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        if let Err(e) = bucket.set(&key, &value) {
            let _ = bucket.delete(&key);
            return Err(Fault::Skip(format!(
                "set({}) of {size} bytes: the store refused it with {} (the drafts set no size limit)",
                clip(&key),
                error(&e)
            )));
        }
        holds(&bucket, &key, &value)?;
    }
    let _ = bucket.delete(&key);
    Ok(())
}
