//! Any signed-request attempt as an upstream receives it (`onecard_fuzz::upstream_request`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, &str, [&str; 5], &[u8])| {
    let (method, path, headers, body) = input;
    onecard_fuzz::upstream_request(method, path, headers, body);
});
