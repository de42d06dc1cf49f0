//! Any upstream answer as our adapters receive it (`onecard_fuzz::upstream_response`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u16, &str, &str, &[u8], &str)| {
    let (status, request_id, timestamp, body, signature) = input;
    onecard_fuzz::upstream_response(status, request_id, timestamp, body, signature);
});
