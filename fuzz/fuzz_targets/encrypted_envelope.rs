//! Any bytes as a WeChat ciphertext under a fixed key (`onecard_fuzz::encrypted_envelope`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| onecard_fuzz::encrypted_envelope(data));
