//! The fs backend's record decoder: never panics, never allocates beyond what the bytes hold;
//! what it accepts encodes back to the same entries.
#![no_main]

use keyvalue_virt_core::backend::fs::record::Record;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = Record::decode(data) {
        let again = Record::decode(&record.encode()).expect("an encoded record decodes");
        assert_eq!(again.entries, record.entries);
        assert_eq!(again.generation, record.generation);
        assert_eq!(Record::peek(data), Some((record.generation, record.nonce)));
    }
});
