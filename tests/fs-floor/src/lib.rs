//! The fs backend's floor for benchmarks: a component that exports `wasi:keyvalue@0.2.0-draft`
//! and whose `get` makes the WASI calls the fs backend's `get` makes (`open-at` of a file three
//! directories below the granted one, as a slot's record is, one `read` of 4 KiB at offset 0, more reads until an
//! empty one only if that one came back full, and the descriptor's drop) and nothing else: no record, no checksum, no
//! key comparison. The file holds the value as it is. `set` writes it (`create-directory-at`
//! for its directories, `open-at` with `create | truncate`, `write`); it is not a floor for
//! `set` (the backend's `set` publishes a record, which takes more calls). Everything else
//! does nothing, as in `tests/null-virt`.
//!
//! The bench (`cargo bench --bench calls`) plugs the bench app with it, grants the same kind
//! of directory as the fs backend's, and times `get` against keyvalue-virt's: what our `get`
//! costs beyond the runtime's WASI calls.

// Only a component: built natively (`cargo build --workspace`) the crate is empty, since the
// component's imports would not link.
#![cfg(target_arch = "wasm32")]

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package keyvalue-virt:fs-floor;
            world fs-floor {
                import wasi:filesystem/preopens@0.2.0;
                export wasi:keyvalue/store@0.2.0-draft;
                export wasi:keyvalue/atomics@0.2.0-draft;
                export wasi:keyvalue/batch@0.2.0-draft;
            }
        ",
        path: [
            "../../wit/deps/io-0.2.0",
            "../../wit/deps/clocks-0.2.0",
            "../../wit/deps/filesystem-0.2.0",
            "../../wit/deps/keyvalue-0.2.0-draft",
        ],
        world: "keyvalue-virt:fs-floor/fs-floor",
        generate_all,
    });

    use super::Floor;
    export!(Floor);
}

use std::cell::OnceCell;

use bindings::exports::wasi::keyvalue::{atomics, batch, store};
use bindings::wasi::filesystem::preopens::get_directories;
use bindings::wasi::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, OpenFlags, PathFlags,
};

struct Floor;

/// What the first read asks for, as the fs backend's does.
const FIRST_READ: u64 = 4 << 10;
/// What each further read asks for, as the fs backend's do.
const CHUNK: u64 = 1 << 20;

thread_local! {
    /// The first granted directory, looked up once (as the fs backend does).
    static DIR: OnceCell<Option<Descriptor>> = const { OnceCell::new() };
}

/// Runs `f` on the first granted directory.
fn with_dir<T>(f: impl FnOnce(&Descriptor) -> Result<T, store::Error>) -> Result<T, store::Error> {
    DIR.with(|cell| {
        match cell.get_or_init(|| get_directories().into_iter().next().map(|(dir, _)| dir)) {
            Some(dir) => f(dir),
            None => Err(store::Error::Other(
                "the fs floor needs a granted directory".into(),
            )),
        }
    })
}

/// The directory and the file name of `key`: FNV-1a, as deep as the fs backend's slots.
/// The directories that hold `key`'s file, outermost first, and the file.
fn path(bucket: &str, key: &str) -> ([String; 3], String) {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    let bucket = format!("floor-{bucket}");
    let shard = format!("{bucket}/{:02x}", hash >> 56);
    let slot = format!("{shard}/{hash:016x}");
    let file = format!("{slot}/r");
    ([bucket, shard, slot], file)
}

fn failed(what: &str, code: ErrorCode) -> store::Error {
    store::Error::Other(format!("{what}: {code:?}"))
}

/// A bucket: a directory below the granted one.
struct Bucket {
    name: String,
}

impl store::Guest for Floor {
    type Bucket = Bucket;

    fn open(name: String) -> Result<store::Bucket, store::Error> {
        Ok(store::Bucket::new(Bucket { name }))
    }
}

impl store::GuestBucket for Bucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, store::Error> {
        let (_, file) = path(&self.name, &key);
        with_dir(|dir| {
            let file = match dir.open_at(
                PathFlags::empty(),
                &file,
                OpenFlags::empty(),
                DescriptorFlags::READ,
            ) {
                Ok(file) => file,
                Err(ErrorCode::NoEntry) => return Ok(None),
                Err(code) => return Err(failed("open-at", code)),
            };
            let (mut bytes, _) = file.read(FIRST_READ, 0).map_err(|e| failed("read", e))?;
            if bytes.len() as u64 == FIRST_READ {
                loop {
                    let (more, end) = file
                        .read(CHUNK, bytes.len() as u64)
                        .map_err(|e| failed("read", e))?;
                    bytes.extend_from_slice(&more);
                    if end || more.is_empty() {
                        break;
                    }
                }
            }
            Ok(Some(bytes))
        })
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), store::Error> {
        let (parents, file) = path(&self.name, &key);
        with_dir(|dir| {
            for made in parents {
                match dir.create_directory_at(&made) {
                    Ok(()) | Err(ErrorCode::Exist) => {}
                    Err(code) => return Err(failed("create-directory-at", code)),
                }
            }
            let file = dir
                .open_at(
                    PathFlags::empty(),
                    &file,
                    OpenFlags::CREATE | OpenFlags::TRUNCATE,
                    DescriptorFlags::WRITE,
                )
                .map_err(|e| failed("open-at", e))?;
            let mut at = 0;
            while (at as usize) < value.len() {
                at += file
                    .write(&value[at as usize..], at)
                    .map_err(|e| failed("write", e))?;
            }
            Ok(())
        })
    }

    fn delete(&self, _: String) -> Result<(), store::Error> {
        Ok(())
    }

    fn exists(&self, _: String) -> Result<bool, store::Error> {
        Ok(true)
    }

    fn list_keys(&self, _: Option<u64>) -> Result<store::KeyResponse, store::Error> {
        Ok(store::KeyResponse {
            keys: Vec::new(),
            cursor: None,
        })
    }
}

impl atomics::Guest for Floor {
    fn increment(_: store::BucketBorrow<'_>, _: String, delta: u64) -> Result<u64, store::Error> {
        Ok(delta)
    }
}

impl batch::Guest for Floor {
    fn get_many(
        _: store::BucketBorrow<'_>,
        _: Vec<String>,
    ) -> Result<Vec<Option<(String, Vec<u8>)>>, store::Error> {
        Ok(Vec::new())
    }

    fn set_many(_: store::BucketBorrow<'_>, _: Vec<(String, Vec<u8>)>) -> Result<(), store::Error> {
        Ok(())
    }

    fn delete_many(_: store::BucketBorrow<'_>, _: Vec<String>) -> Result<(), store::Error> {
        Ok(())
    }
}
