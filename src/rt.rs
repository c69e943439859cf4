//! What std would provide the component: the allocator, the canonical ABI's `cabi_realloc`
//! (through which the runtime hands the component every string and list it passes in), and
//! the panic handler.

use core::alloc::Layout;

/// The heap: dlmalloc, as std uses on wasm32, over pages it adds with `memory.grow`. It never
/// touches memory it did not grow, so the pages the CLI appends for the baked configuration
/// (see `keyvalue_virt_core::config`) stay intact.
#[global_allocator]
static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

/// Allocates (`old_len == 0`) or resizes a block for the runtime, as the canonical ABI
/// specifies; without memory it traps, as there is no error to return at this point.
///
/// # Safety
///
/// Called only by the runtime, with a block this function returned (or null and 0), its length
/// and alignment, as the canonical ABI guarantees.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cabi_realloc(
    old: *mut u8,
    old_len: usize,
    align: usize,
    new_len: usize,
) -> *mut u8 {
    if new_len == 0 {
        // A valid, aligned, dangling pointer for an empty list or string.
        return align as *mut u8;
    }
    // SAFETY: the canonical ABI passes a power-of-two alignment and, for a resize, the block
    // and layout of an earlier call.
    let block = unsafe {
        if old_len == 0 {
            alloc::alloc::alloc(Layout::from_size_align_unchecked(new_len, align))
        } else {
            alloc::alloc::realloc(
                old,
                Layout::from_size_align_unchecked(old_len, align),
                new_len,
            )
        }
    };
    if block.is_null() {
        core::arch::wasm32::unreachable();
    }
    block
}

/// The component's code rules panics out (every failure is a `wasi:keyvalue` error); one that
/// happens anyway traps, as `panic = "abort"` would with std.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

/// `memcmp`, which the compiler calls to compare byte strings (key lookups, for one) and which
/// wasi-libc would otherwise provide: the lexicographic order of the first `len` bytes at `a`
/// and `b`, as a negative, zero or positive number. (Copies and fills need no such function:
/// they compile to `memory.copy` and `memory.fill`.)
///
/// # Safety
///
/// `a` and `b` must be valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, len: usize) -> i32 {
    for i in 0..len {
        // SAFETY: `i < len`, and the caller guarantees `len` readable bytes at each pointer.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
    }
    0
}
