//! `list`: `list-keys` paging and cursors. A walk from `none` to a `none` cursor must list every
//! key once and nothing else. The drafts let a page hold "any number of keys" but "never more data
//! than is reasonable (... several MB)", in no particular order. Checks that share a bucket with
//! data they did not write take a walk first and allow its keys.

use std::collections::{HashMap, HashSet};

use crate::report::{cursor as show_cursor, keys as show_keys};
use crate::{Ctx, Fault, KvBucket, Outcome, call, clip, ensure, list_all};

/// The bucket the list checks use by default.
const BUCKET: &str = "conformance-list";

/// Most pages a walk may take before a check gives up on it.
const MAX_PAGES: usize = 100_000;

/// Most key bytes one page may carry: the drafts' "several MB on a large machine".
const MAX_PAGE_BYTES: usize = 8 << 20;

/// A complete walk of `bucket`'s keys.
pub(super) fn walk<B: KvBucket>(bucket: &B) -> Result<Vec<String>, String> {
    Ok(list_all(bucket, MAX_PAGES)?.0)
}

/// Sets every key of `keys` (value: the key), with `set`.
fn set_all<B: KvBucket>(bucket: &B, keys: &[String]) -> Result<(), String> {
    for key in keys {
        call(
            &format!("set({})", clip(key)),
            bucket.set(key, key.as_bytes()),
        )?;
    }
    Ok(())
}

/// Checks a walk's keys: each of `must` listed exactly once, no key listed twice, and every key
/// listed one of `must`, `may` or `before`.
fn check_walk(
    what: &str,
    listed: &[String],
    must: &HashSet<&String>,
    may: &HashSet<&String>,
    before: &[String],
) -> Result<(), String> {
    let mut counts: HashMap<&String, usize> = HashMap::new();
    for key in listed {
        *counts.entry(key).or_default() += 1;
    }
    let before: HashSet<&String> = before.iter().collect();
    for (key, n) in &counts {
        ensure(*n == 1, || {
            format!("{what}: key {} listed {n} times", clip(key))
        })?;
        ensure(
            must.contains(key) || may.contains(key) || before.contains(key),
            || {
                format!(
                    "{what}: listed {}, which was never set or was deleted",
                    clip(key)
                )
            },
        )?;
    }
    let lost: Vec<&String> = must
        .iter()
        .filter(|k| !counts.contains_key(*k))
        .copied()
        .collect();
    ensure(lost.is_empty(), || {
        format!(
            "{what}: {} keys set were not listed: {}",
            lost.len(),
            show_keys(lost.iter().copied())
        )
    })
}

/// Each of three fresh buckets pages its keys: a walk over 1,500 keys in each lists every key
/// once. It runs first of its area, so that with `--only list` these are the first buckets the
/// instance opens (a store whose first buckets cannot hand out cursors shows).
pub fn every_bucket_pages<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let buckets = (0..3)
        .map(|i| ctx.open::<B>(&ctx.fresh(&format!("conformance-pages-{i}"))))
        .collect::<Result<Vec<B>, String>>()?;
    for (i, bucket) in buckets.iter().enumerate() {
        let keys: Vec<String> = (0..1500)
            .map(|j| ctx.fresh(&format!("pages-{i}-{j:04}")))
            .collect();
        set_all(bucket, &keys)?;
        let result = walk(bucket).and_then(|listed| {
            check_walk(
                &format!("walk over the 1500 keys of fresh bucket #{}", i + 1),
                &listed,
                &keys.iter().collect(),
                &HashSet::new(),
                &[],
            )
        });
        let _ = bucket.delete_many(&keys);
        result?;
    }
    Ok(())
}

/// A bucket that was never written lists no keys, and the walk ends at once.
pub fn empty_bucket<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(&ctx.fresh("conformance-empty"))?;
    let (keys, pages) = list_all(&bucket, MAX_PAGES)?;
    if !keys.is_empty() && ctx.bucket.is_some() {
        return Err(Fault::Skip(format!(
            "bucket {} already holds {} keys; this check needs an empty bucket",
            clip(&ctx.identifier("")),
            keys.len()
        )));
    }
    ensure(keys.is_empty(), || {
        format!(
            "list-keys of a bucket never written: expected no keys, got {}",
            show_keys(&keys)
        )
    })?;
    ensure(pages == 1, || {
        format!(
            "list-keys of an empty bucket: expected cursor none on the first page, took {pages} pages"
        )
    })?;
    Ok(())
}

/// A walk over 2,500 keys lists each exactly once, and nothing else.
pub fn walk_complete<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let before = walk(&bucket)?;
    let keys: Vec<String> = (0..2500)
        .map(|i| ctx.fresh(&format!("walk-{i:04}")))
        .collect();
    set_all(&bucket, &keys)?;
    let listed = walk(&bucket)?;
    let must: HashSet<&String> = keys.iter().collect();
    check_walk(
        "walk over 2500 keys",
        &listed,
        &must,
        &HashSet::new(),
        &before,
    )?;
    let _ = bucket.delete_many(&keys);
    Ok(())
}

/// After deleting half of 1,000 keys, a walk lists the other half and none of the deleted.
pub fn walk_after_deletes<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let keys: Vec<String> = (0..1000)
        .map(|i| ctx.fresh(&format!("deleted-{i:04}")))
        .collect();
    set_all(&bucket, &keys)?;
    let before = walk(&bucket)?;
    let deleted: Vec<&String> = keys.iter().step_by(2).collect();
    let kept: HashSet<&String> = keys.iter().skip(1).step_by(2).collect();
    for key in &deleted {
        call(&format!("delete({})", clip(key)), bucket.delete(key))?;
    }
    let listed = walk(&bucket)?;
    let deleted: HashSet<&String> = deleted.into_iter().collect();
    let before: Vec<String> = before
        .into_iter()
        .filter(|k| !deleted.contains(k))
        .collect();
    check_walk(
        "walk after deleting 500 of 1000 keys",
        &listed,
        &kept,
        &HashSet::new(),
        &before,
    )?;
    let _ = bucket.delete_many(&keys);
    Ok(())
}

/// A walk over 5,000 keys, with keys deleted and added between its pages (50 new keys, or fewer
/// than half the page for a store with small pages), lists every key that
/// was never touched exactly once, lists no key twice, and lists no key never set.
pub fn walk_during_writes<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let before = walk(&bucket)?;
    let originals: Vec<String> = (0..5000)
        .map(|i| ctx.fresh(&format!("during-{i:04}")))
        .collect();
    set_all(&bucket, &originals)?;
    let mut touched: HashSet<String> = HashSet::new();
    let mut written: Vec<String> = Vec::new();
    let mut listed = Vec::new();
    let mut cursor: Option<B::Cursor> = None;
    let mut pages = 0;
    loop {
        pages += 1;
        ensure(pages <= MAX_PAGES, || {
            format!("walk during writes: did not end after {MAX_PAGES} pages")
        })?;
        let what = format!("list-keys({}) (page {pages})", show_cursor(cursor.as_ref()));
        let (keys, next) = call(&what, bucket.list_keys(cursor.as_ref()))?;
        // Fewer new keys than the page listed, so that the walk gains on them whatever the
        // store's page size (the drafts fix none): half of those new keys land past the cursor.
        let new_keys = (keys.len() / 2).min(50);
        listed.extend(keys);
        let Some(next) = next else { break };
        cursor = Some(next);
        // Touch keys spread over the whole range, both already listed and not yet listed ones.
        for i in (pages % 97..originals.len()).step_by(97) {
            call("delete during the walk", bucket.delete(&originals[i]))?;
            touched.insert(originals[i].clone());
        }
        for j in 0..new_keys {
            let key = ctx.fresh(&format!("during-new-{pages}-{j}"));
            call("set during the walk", bucket.set(&key, b"new"))?;
            touched.insert(key.clone());
            written.push(key);
        }
    }
    let cleanup: Vec<String> = originals.iter().chain(&written).cloned().collect();
    let _ = bucket.delete_many(&cleanup);
    if pages == 1 {
        return Err(Fault::Skip(format!(
            "the walk ended after its first page ({} keys; 5000 were set), so nothing was written \
             during a walk",
            listed.len()
        )));
    }
    let must: HashSet<&String> = originals.iter().filter(|k| !touched.contains(*k)).collect();
    let may: HashSet<&String> = originals.iter().chain(&written).collect();
    check_walk(
        &format!("walk of {pages} pages with writes between them"),
        &listed,
        &must,
        &may,
        &before,
    )?;
    Ok(())
}

/// No page carries more than 8 MiB of keys: a walk over 1,024 keys of 16 KiB (16 MiB) takes
/// several pages. The keys are large enough that a page bounded only by a count of keys (say
/// 1,000) breaks the bound too. A store that refuses such keys is skipped.
pub fn pages_bounded<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let keys: Vec<String> = (0..1024)
        .map(|i| {
            let mut key = ctx.fresh(&format!("wide-{i:04}-"));
            key.extend(std::iter::repeat_n('w', 16384 - key.len()));
            key
        })
        .collect();
    for key in &keys {
        if let Err(e) = bucket.set(key, b"w") {
            let _ = bucket.delete_many(&keys);
            return Err(Fault::Skip(format!(
                "set of a 16 KiB key: the store refused it with {}",
                crate::error(&e)
            )));
        }
    }
    let mut cursor: Option<B::Cursor> = None;
    let mut result = Ok(());
    for page in 1..=MAX_PAGES {
        let what = format!("list-keys({}) (page {page})", show_cursor(cursor.as_ref()));
        let (listed, next) = match call(&what, bucket.list_keys(cursor.as_ref())) {
            Ok(answer) => answer,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let size: usize = listed.iter().map(String::len).sum();
        if size > MAX_PAGE_BYTES {
            result = Err(format!(
                "{what}: one page of {} keys carries {size} bytes of keys (16 MiB stored); the \
                 drafts ask for no more than is reasonable (\"several MB\"), this check allows \
                 {MAX_PAGE_BYTES}",
                listed.len()
            ));
            break;
        }
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let _ = bucket.delete_many(&keys);
    Ok(result?)
}

/// The pages of a walk from `none` to a `none` cursor, in order.
fn pages<B: KvBucket>(bucket: &B) -> Result<Vec<Vec<String>>, String> {
    let mut pages = Vec::new();
    let mut cursor: Option<B::Cursor> = None;
    loop {
        ensure(pages.len() < MAX_PAGES, || {
            format!("list-keys: the walk did not end after {MAX_PAGES} pages")
        })?;
        let what = format!(
            "list-keys({}) (page {})",
            show_cursor(cursor.as_ref()),
            pages.len() + 1
        );
        let (keys, next) = call(&what, bucket.list_keys(cursor.as_ref()))?;
        pages.push(keys);
        match next {
            None => return Ok(pages),
            Some(next) if cursor.as_ref() == Some(&next) => {
                return Err(format!(
                    "{what}: returned the cursor it was given; the walk would never end"
                ));
            }
            Some(next) => cursor = Some(next),
        }
    }
}

/// The walk ends with the page that holds the last key: no page after it comes back empty.
///
/// The drafts say of the cursor "If this is `null`, then there are no more keys to fetch", and
/// that an implementation "can return any number of keys in a single response". `none` thus
/// promises that nothing is left; it is not promised on the page that happens to hold the last
/// key. A walk that ends with an extra empty page lists every key exactly once and ends, so it
/// keeps every promise, at the cost of one more call: it is reported as `skip` (a choice the
/// drafts leave open), not `FAIL`. Looked at three times on one fresh bucket: after 2,000 keys
/// were written, after the last 1,000 written were deleted again, and after every key was
/// deleted (the walk of an empty bucket is one page). A page size that divides 1,000 then fills
/// the last page exactly, with nothing or only deleted keys after it: a store that sends a
/// cursor with every full page shows.
pub fn ends_at_last_key<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(&ctx.fresh("conformance-last-page"))?;
    let keys: Vec<String> = (0..2000)
        .map(|i| ctx.fresh(&format!("last-page-{i:04}")))
        .collect();
    let result = (|| -> Outcome {
        let before = walk(&bucket)?;
        set_all(&bucket, &keys)?;
        let mut trailing = Vec::new();
        let mut look = |when: &str| -> Result<(), String> {
            let pages = pages(&bucket)?;
            let n = pages.len();
            if n > 1 && pages.last().is_some_and(Vec::is_empty) {
                let listed: usize = pages.iter().map(Vec::len).sum();
                trailing.push(format!(
                    "{when}: the walk's last page (page {n}) was empty; page {} carried the \
                     last of the {listed} keys and a cursor",
                    n - 1
                ));
            }
            Ok(())
        };
        look("after setting 2000 keys")?;
        for key in &keys[1000..] {
            call(&format!("delete({})", clip(key)), bucket.delete(key))?;
        }
        look("after deleting the last 1000 keys set")?;
        for key in &keys[..1000] {
            call(&format!("delete({})", clip(key)), bucket.delete(key))?;
        }
        let pages = pages(&bucket)?;
        if before.is_empty() {
            let listed: Vec<&String> = pages.iter().flatten().collect();
            ensure(listed.is_empty(), || {
                format!(
                    "walk after deleting every key set: expected no keys, got {}",
                    show_keys(listed.iter().copied())
                )
            })?;
            if pages.len() > 1 {
                trailing.push(format!(
                    "after deleting every key: the walk of the empty bucket took {} pages",
                    pages.len()
                ));
            }
        }
        if trailing.is_empty() {
            Ok(())
        } else {
            Err(Fault::Skip(format!(
                "the walk ends with an extra empty page (the drafts allow it; it costs a \
                 call): {}",
                trailing.join("; ")
            )))
        }
    })();
    let _ = bucket.delete_many(&keys);
    result
}

/// `n` keys of `min` to `min + spread` bytes, of sizes spread over that range, so that some key
/// crosses whatever byte limit cuts a page.
fn large_keys(ctx: &Ctx, name: &str, n: usize, min: usize, spread: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let mut key = ctx.fresh(&format!("{name}-{i:04}-"));
            let size = min + (i * 7919) % spread;
            let fill = name.chars().next().unwrap_or('k');
            key.extend(std::iter::repeat_n(fill, size.saturating_sub(key.len())));
            key
        })
        .collect()
}

/// A walk over 1,000 keys of 3 to 13 KB (8 MB of keys), whose pages a store must cut by size
/// rather than by count, lists each key exactly once: the key that crosses a page's byte limit
/// is on that page or on the next, never on neither. A store that refuses such keys is skipped.
pub fn walk_large_keys<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let before = walk(&bucket)?;
    let keys = large_keys(ctx, "large", 1000, 3000, 10_000);
    let result = (|| -> Outcome {
        for key in &keys {
            bucket.set(key, b"l").map_err(|e| {
                Fault::Skip(format!(
                    "set of a key of {} bytes: the store refused it with {}",
                    key.len(),
                    crate::error(&e)
                ))
            })?;
        }
        let (listed, pages) = list_all(&bucket, MAX_PAGES)?;
        let must: HashSet<&String> = keys.iter().collect();
        check_walk(
            &format!("walk of {pages} pages over 1000 keys of 3 to 13 KB"),
            &listed,
            &must,
            &HashSet::new(),
            &before,
        )?;
        Ok(())
    })();
    let _ = bucket.delete_many(&keys);
    result
}

/// A bucket drained page by page: 2,000 keys of 2 to 6 KB, each page's keys deleted as soon as
/// it is listed, and then the same drain with new keys set after each page (20, or fewer than
/// half the page for a store with small pages, so the walk gains on them). Every key that
/// exists for the whole walk (here: every key set before it, as a key is deleted only once
/// listed) is listed exactly once, no key twice, and no key that was never set. A store that
/// cuts pages inside a batch of its own and resumes it by position (Redis `SCAN`) skips keys
/// here, as the deletes move what the batch reaches (issue 19).
pub fn drain_walk<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(&ctx.fresh("conformance-drain"))?;
    let mut cleanup = Vec::new();
    let result = (|| -> Outcome {
        let before = walk(&bucket)?;
        for (round, inserts) in [("drain", 0), ("drain with inserts", 20)] {
            let keys = large_keys(ctx, &round.replace(' ', "-"), 2000, 2000, 4000);
            cleanup.extend(keys.iter().cloned());
            for key in &keys {
                bucket.set(key, b"d").map_err(|e| {
                    Fault::Skip(format!(
                        "set of a key of {} bytes: the store refused it with {}",
                        key.len(),
                        crate::error(&e)
                    ))
                })?;
            }
            let mut written = Vec::new();
            let mut listed = Vec::new();
            let mut cursor: Option<B::Cursor> = None;
            let mut pages = 0;
            loop {
                pages += 1;
                ensure(pages <= MAX_PAGES, || {
                    format!("{round}: the walk did not end after {MAX_PAGES} pages")
                })?;
                let what = format!(
                    "{round}: list-keys({}) (page {pages})",
                    show_cursor(cursor.as_ref())
                );
                let (page, next) = call(&what, bucket.list_keys(cursor.as_ref()))?;
                // Fewer new keys than the page listed, so that the walk gains on them
                // whatever the store's page size.
                let new_keys = inserts.min(page.len() / 2);
                // Delete what the page listed, except keys this check did not write.
                let own: Vec<String> = page
                    .iter()
                    .filter(|k| !before.contains(k))
                    .cloned()
                    .collect();
                call(
                    &format!("{round}: delete-many of page {pages}"),
                    bucket.delete_many(&own),
                )?;
                listed.extend(page);
                let Some(next) = next else { break };
                cursor = Some(next);
                for j in 0..new_keys {
                    let key = ctx.fresh(&format!("{round}-new-{pages}-{j}"));
                    let key = format!("{key}-{}", "n".repeat(3000));
                    call(
                        &format!("{round}: set during the walk"),
                        bucket.set(&key, b"n"),
                    )?;
                    cleanup.push(key.clone());
                    written.push(key);
                }
            }
            if pages == 1 {
                return Err(Fault::Skip(format!(
                    "{round}: the walk ended after its first page ({} keys; 2000 of 2 to 6 KB \
                     were set), so nothing was deleted during a walk",
                    listed.len()
                )));
            }
            let must: HashSet<&String> = keys.iter().collect();
            let may: HashSet<&String> = written.iter().collect();
            check_walk(
                &format!("{round}: walk of {pages} pages, each deleted once listed"),
                &listed,
                &must,
                &may,
                &before,
            )?;
        }
        Ok(())
    })();
    let _ = bucket.delete_many(&cleanup);
    result
}

/// `list-keys` with cursors it never returned (garbage, extremes, well-formed numbers) returns
/// an error or a page of the bucket's own keys; it does not trap or invent keys.
pub fn forged_cursor<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let bucket: B = ctx.open(BUCKET)?;
    let keys: Vec<String> = (0..50)
        .map(|i| ctx.fresh(&format!("forged-{i:02}")))
        .collect();
    set_all(&bucket, &keys)?;
    let own: HashSet<String> = walk(&bucket)?.into_iter().collect();
    for cursor in B::forged_cursors() {
        let what = format!("list-keys({})", show_cursor(Some(&cursor)));
        if let Ok((listed, _)) = bucket.list_keys(Some(&cursor)) {
            let strange: Vec<&String> = listed.iter().filter(|k| !own.contains(*k)).collect();
            ensure(strange.is_empty(), || {
                format!(
                    "{what}: listed keys the bucket does not hold: {}",
                    show_keys(strange.iter().copied())
                )
            })?;
        }
    }
    let _ = bucket.delete_many(&keys);
    Ok(())
}

/// A cursor of one bucket passed to another returns an error or a page of that bucket's own keys,
/// and leaves the first walk able to go on.
pub fn foreign_cursor<B: KvBucket>(ctx: &Ctx) -> Outcome {
    let a: B = ctx.open("conformance-cursor-a")?;
    let b: B = ctx.open("conformance-cursor-b")?;
    let a_keys: Vec<String> = (0..1500).map(|i| ctx.fresh(&format!("a-{i:04}"))).collect();
    let b_keys: Vec<String> = (0..1500).map(|i| ctx.fresh(&format!("b-{i:04}"))).collect();
    set_all(&a, &a_keys)?;
    set_all(&b, &b_keys)?;
    let result = (|| -> Outcome {
        let a_own: HashSet<String> = walk(&a)?.into_iter().collect();
        let b_own: HashSet<String> = walk(&b)?.into_iter().collect();
        let (first, cursor) = call(
            "list-keys(none) of bucket \"conformance-cursor-a\"",
            a.list_keys(None),
        )?;
        let Some(cursor) = cursor else {
            return Err(Fault::Skip(format!(
                "list-keys of a bucket of 1500 keys ended the walk after its first page ({} \
                 keys): no cursor to pass to another bucket",
                first.len()
            )));
        };
        let what = format!(
            "list-keys({}) of bucket \"conformance-cursor-b\", with a cursor of \"conformance-cursor-a\"",
            show_cursor(Some(&cursor))
        );
        if let Ok((listed, _)) = b.list_keys(Some(&cursor)) {
            let strange: Vec<&String> = listed.iter().filter(|k| !b_own.contains(*k)).collect();
            ensure(strange.is_empty(), || {
                format!(
                    "{what}: listed keys bucket b does not hold: {}",
                    show_keys(strange.iter().copied())
                )
            })?;
        }
        let what = format!(
            "list-keys({}) of bucket \"conformance-cursor-a\" after that",
            show_cursor(Some(&cursor))
        );
        let (listed, _) = call(&what, a.list_keys(Some(&cursor)))?;
        let strange: Vec<&String> = listed.iter().filter(|k| !a_own.contains(*k)).collect();
        ensure(strange.is_empty(), || {
            format!(
                "{what}: listed keys bucket a does not hold: {}",
                show_keys(strange.iter().copied())
            )
        })?;
        Ok(())
    })();
    let _ = a.delete_many(&a_keys);
    let _ = b.delete_many(&b_keys);
    result
}
