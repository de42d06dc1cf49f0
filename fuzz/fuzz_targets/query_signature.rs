//! Arbitrary callback query strings and bodies (`onecard_fuzz::query_signature`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| onecard_fuzz::query_signature(data));
