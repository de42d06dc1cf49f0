//! Any bytes as a ciphertext under a fixed key: strict decryption must return, never panic.
//! Half the inputs are fed through base64 so the AES/padding/length checks get exercised, the
//! other half as raw `Encrypt` text so the base64 checks do.
#![no_main]

use base64::Engine;
use libfuzzer_sys::fuzz_target;
use onecard::wechat::crypto::{AesKey, decrypt, encrypt_with_random};

fuzz_target!(|data: &[u8]| {
    let key = AesKey::parse("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG").expect("key");
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        let b64 = base64::engine::general_purpose::STANDARD.encode(rest);
        let _ = decrypt(&key, "wx2c2769f8efd9abc2", &b64);
    } else {
        let _ = decrypt(&key, "wx2c2769f8efd9abc2", &String::from_utf8_lossy(rest));
    }
    // And our own encryption always decrypts back.
    let ct = encrypt_with_random(&key, [7; 16], "wx2c2769f8efd9abc2", rest);
    assert_eq!(
        decrypt(&key, "wx2c2769f8efd9abc2", &ct).expect("round trip"),
        rest
    );
});
