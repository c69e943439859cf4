//! `list-keys` on Redis: pages of `SCAN` batches.
//!
//! # Why a walk misses no key and repeats none
//! `SCAN` promises that a walk that passes each returned cursor to the next step returns every
//! key present for the whole walk; a step may be repeated from the same cursor with another
//! `COUNT`, since a step changes nothing on the server. So a page is made of *whole* batches:
//! it asks for about as many keys as it has room for; a batch that would overflow the page is
//! asked again from the same cursor with a smaller `COUNT` (down to 1: one bucket of the
//! server's table), and a page that has keys ends *before* a batch that does not fit, at that
//! batch's cursor. Pages therefore end at cursors the server returned, and the walk is a plain
//! `SCAN` walk: deletes and inserts between pages cannot make it skip or repeat a key (cutting
//! a batch could: `SCAN` from the same cursor reaches further after deletes and less far after
//! inserts). A page may hold fewer keys than the limits allow. The one exception: a single
//! bucket holding more than a whole page (more than `max_keys` keys, or keys longer than the
//! byte budget together) is cut, ordered by a 12-bit hash of each key, and resumed by hash;
//! that resume is exact unless the bucket is emptied or a key lands in a bucket before it in
//! between. With the component's pages (1,000 keys, 1 MiB) it takes keys of over 512 KiB.
//! If the server shrinks its table mid-walk, `SCAN` itself may return a key twice.

use super::client::{Client, Route, describe};
use super::net::Deadline;
use super::resp::Reply;
use super::{Bucket, fnv};
use crate::backend::MAX_POSITION;
use crate::error::Error;
use crate::prelude::*;

/// How many keys one `SCAN` looks at, at most.
pub const SCAN_COUNT: usize = 1000;
/// Bits of a position: the node, the Redis cursor, and the hash to resume from.
const NODE_BITS: u32 = 6;
const CURSOR_BITS: u32 = 30;
const HASH_BITS: u32 = 12;
const _: () = assert!(1u64 << (NODE_BITS + CURSOR_BITS + HASH_BITS) == MAX_POSITION);

/// The page of `bucket`'s keys that starts at position `from` (see [`BucketOps::keys`]).
pub fn page(
    bucket: &Bucket,
    from: u64,
    page: &mut Vec<String>,
    max_keys: usize,
    max_bytes: usize,
) -> Result<Option<u64>, Error> {
    let inner = &bucket.0;
    let deadline = inner.client.deadline();
    let nodes = inner.client.primaries(&deadline)?;
    let mut node = (from >> (CURSOR_BITS + HASH_BITS)) as usize;
    let mut cursor = (from >> HASH_BITS) & ((1 << CURSOR_BITS) - 1);
    let mut resume = from & ((1 << HASH_BITS) - 1);
    let max_keys = max_keys.max(1);
    let (mut taken, mut bytes) = (0, 0);
    // The most keys asked of the next `SCAN` from `cursor`: lowered while batches overflow.
    let mut limit = SCAN_COUNT;
    while node < nodes.len() {
        // A full page looks ahead for a key, so that it ends the walk if none is left.
        let full = taken >= max_keys || bytes >= max_bytes;
        let average = inner.average.get().max(1);
        let room = match full {
            true => max_keys.min((max_bytes / average).saturating_add(1)),
            false => (max_keys - taken).min(((max_bytes - bytes) / average).saturating_add(1)),
        };
        let count = limit.min(room).max(1);
        let (next, raw) = scan(
            &inner.client,
            nodes[node],
            cursor,
            &inner.pattern,
            count,
            &deadline,
        )?;
        let mut batch: Vec<(u64, String)> = raw
            .into_iter()
            .filter_map(|key| {
                let key = String::from_utf8(key.get(inner.prefix.len()..)?.to_vec()).ok()?;
                Some((key_hash(&key), key))
            })
            .filter(|(hash, _)| *hash >= resume)
            .collect();
        batch.sort();
        if let Some(total) = batch.iter().map(|(_, key)| key.len()).reduce(|a, b| a + b) {
            inner.average.set(total / batch.len());
        }
        if full && !batch.is_empty() {
            return position(node, cursor, resume).map(Some);
        }
        let fits = |start_keys: usize, start_bytes: usize, batch: &[(u64, String)]| {
            let longest = batch.iter().map(|(_, key)| key.len()).max().unwrap_or(0);
            let sum: usize = batch.iter().map(|(_, key)| key.len()).sum();
            start_keys + batch.len() <= max_keys && start_bytes + sum - longest < max_bytes
        };
        if !full && !fits(taken, bytes, &batch) {
            if count > 1 {
                // Ask again from the same cursor for fewer keys: only whole batches make
                // pages, so that the walk keeps `SCAN`'s guarantee (module documentation).
                let fitting = (0..batch.len())
                    .take_while(|&n| fits(taken, bytes, &batch[..=n]))
                    .count();
                limit = (count / 2).min(fitting * 3 / 4).max(1);
                continue;
            }
            if taken > 0 {
                return position(node, cursor, resume).map(Some);
            }
            // One bucket of the server's table holds more than a page: cut it by hash.
            let mut rest = batch.into_iter().peekable();
            while let Some(&(hash, _)) = rest.peek() {
                let group: Vec<String> = core::iter::from_fn(|| rest.next_if(|(h, _)| *h == hash))
                    .map(|(_, key)| key)
                    .collect();
                if taken > 0 && (taken + group.len() > max_keys || bytes >= max_bytes) {
                    return position(node, cursor, hash).map(Some);
                }
                for key in group {
                    bytes += key.len();
                    page.push(key);
                    taken += 1;
                }
            }
        } else {
            for (_, key) in batch {
                bytes += key.len();
                page.push(key);
                taken += 1;
            }
        }
        resume = 0;
        limit = SCAN_COUNT;
        if next == 0 {
            node += 1;
            cursor = 0;
        } else {
            cursor = next;
        }
    }
    Ok(None)
}

/// The 12-bit hash that orders keys inside one `SCAN` batch.
fn key_hash(key: &str) -> u64 {
    // FNV's high bits barely change between short keys: mix them first (MurmurHash3's fmix64).
    let mut hash = fnv(key.as_bytes());
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    hash ^= hash >> 33;
    hash >> (64 - HASH_BITS)
}

/// One `SCAN` step on `node`: the next cursor and the keys.
pub fn scan(
    client: &Client,
    node: usize,
    cursor: u64,
    pattern: &[u8],
    count: usize,
    deadline: &Deadline,
) -> Result<(u64, Vec<Vec<u8>>), Error> {
    let cursor_text = cursor.to_string();
    let count = count.clamp(1, SCAN_COUNT).to_string();
    let args: [&[u8]; 6] = [
        b"SCAN",
        cursor_text.as_bytes(),
        b"MATCH",
        pattern,
        b"COUNT",
        count.as_bytes(),
    ];
    let reply = client.call(Route::Node(node), &args, false, deadline)?;
    if let Reply::Array(Some(parts)) = &reply
        && let [Reply::Bulk(Some(next)), Reply::Array(Some(keys))] = parts.as_slice()
        && let Some(next) = core::str::from_utf8(next).ok().and_then(|n| n.parse().ok())
    {
        let keys = keys
            .iter()
            .filter_map(|key| match key {
                Reply::Bulk(Some(key)) => Some(key.clone()),
                _ => None,
            })
            .collect();
        return Ok((next, keys));
    }
    Err(client.error(
        Route::Node(node),
        format!("unexpected reply to SCAN: {}", describe(&reply)),
    ))
}

fn position(node: usize, cursor: u64, hash: u64) -> Result<u64, Error> {
    if node >= 1 << NODE_BITS || cursor >= 1 << CURSOR_BITS {
        return Err(Error::Redis {
            server: "(listing)".into(),
            problem: "the database is too large to list with this backend (more than 2^30 hash-table slots or 64 primaries)".into(),
        });
    }
    Ok((node as u64) << (CURSOR_BITS + HASH_BITS) | cursor << HASH_BITS | hash)
}
