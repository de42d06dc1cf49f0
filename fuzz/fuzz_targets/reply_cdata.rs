//! Any text as passive reply content (`onecard_fuzz::reply_cdata`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| onecard_fuzz::reply_cdata(text));
