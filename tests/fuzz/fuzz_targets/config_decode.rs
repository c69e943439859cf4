//! The baked configuration's decoder: never panics; what it accepts encodes back to itself.
#![no_main]

use keyvalue_virt_core::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(config) = Config::decode(data) {
        assert_eq!(Config::decode(&config.encode()), Ok(config));
    }
});
