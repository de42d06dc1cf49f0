//! Any bytes as a decrypted callback body (`onecard_fuzz::inbound_xml`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| onecard_fuzz::inbound_xml(data));
