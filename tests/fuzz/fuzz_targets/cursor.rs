//! Cursor decoders of both drafts: never panic; what they accept prints back to itself.
#![no_main]

use keyvalue_virt_core::Cursor;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(cursor) = text.parse::<Cursor>()
    {
        assert_eq!(cursor.to_string(), text);
        assert_eq!(Cursor::from_u64(cursor.to_u64()), Ok(cursor));
    }
    if data.len() >= 8 {
        let raw = u64::from_le_bytes(data[..8].try_into().unwrap());
        if let Ok(cursor) = Cursor::from_u64(raw) {
            assert_eq!(cursor.to_u64(), raw);
            assert_eq!(cursor.to_string().parse(), Ok(cursor));
        }
    }
});
