//! Shard file names: the parser never panics, accepts only names made of our alphabet (no `/`,
//! no `..`), and reads back exactly the names the backend writes.
#![no_main]

use keyvalue_virt_core::backend::fs::publish::{Name, claim_name, is_hash, temp_name};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(name) = std::str::from_utf8(data)
        && let Some(parsed) = Name::parse(name)
    {
        assert!(
            name.bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'.' | b't'))
        );
        assert!(!name.contains('/') && !name.contains(".."));
        let hash = match parsed {
            Name::Slot(hash) | Name::Claim { hash, .. } | Name::Temp { hash, .. } => hash,
        };
        assert!(is_hash(hash));
    }
    if data.len() >= 32 {
        let word = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let (hash, generation, parent, nonce) = (word(0), word(8), word(16), word(24));
        let hash = format!("{hash:016x}");
        assert_eq!(Name::parse(&hash), Some(Name::Slot(&hash)));
        let claim = claim_name(&hash, generation, parent);
        assert_eq!(
            Name::parse(&claim),
            Some(Name::Claim {
                hash: &hash,
                generation,
                parent,
            })
        );
        let temp = temp_name(&hash, generation, parent, nonce);
        assert_eq!(
            Name::parse(&temp),
            Some(Name::Temp {
                hash: &hash,
                generation,
                parent,
            })
        );
    }
});
