//! Reads the configuration the CLI baked into this component (see [`crate::config`]).

use crate::config::{Config, SLOT_MAGIC};
use crate::prelude::*;

#[repr(C)]
struct Slot {
    magic: [u8; 16],
    address: u32,
    len: u32,
}

// The CLI rewrites `address` and `len` in the component's data; `#[used]` keeps the slot, and
// volatile reads keep the compiler from assuming they are still 0.
#[used]
static SLOT: Slot = Slot {
    magic: *SLOT_MAGIC,
    address: 0,
    len: 0,
};

/// The baked configuration, decoded once; the defaults when nothing is baked. A configuration
/// that cannot be read is an error that every operation reports, never a trap.
pub fn config() -> Result<&'static Config, &'static str> {
    #[cfg(not(target_arch = "wasm32"))]
    static CONFIG: std::sync::OnceLock<Result<Config, String>> = std::sync::OnceLock::new();
    #[cfg(target_arch = "wasm32")]
    static CONFIG: crate::local::Local<core::cell::OnceCell<Result<Config, String>>> =
        crate::local::Local::new(core::cell::OnceCell::new());
    CONFIG
        .get_or_init(load)
        .as_ref()
        .map_err(|message| message.as_str())
}

fn load() -> Result<Config, String> {
    // SAFETY: the slot is a live static; the reads are volatile only to defeat constant folding.
    let (address, len) = unsafe {
        (
            core::ptr::read_volatile(&raw const SLOT.address),
            core::ptr::read_volatile(&raw const SLOT.len),
        )
    };
    if len == 0 {
        return Ok(Config::default());
    }
    let end = u64::from(address) + u64::from(len);
    if end > memory_bytes() {
        return Err(format!(
            "the baked configuration lies outside memory ({len} bytes at {address}); rebuild \
             the component with `keyvalue-virt build`"
        ));
    }
    // SAFETY: the range is inside linear memory (checked above), in pages the CLI added past
    // the heap, which the allocator never hands out.
    let bytes = unsafe { core::slice::from_raw_parts(address as usize as *const u8, len as usize) };
    Config::decode(bytes).map_err(|problem| {
        format!(
            "the baked configuration is corrupt ({problem}); rebuild the component with \
             `keyvalue-virt build`"
        )
    })
}

#[cfg(target_arch = "wasm32")]
fn memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65536
}

#[cfg(not(target_arch = "wasm32"))]
fn memory_bytes() -> u64 {
    0
}
