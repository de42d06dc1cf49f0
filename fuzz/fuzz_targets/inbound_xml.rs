//! Any bytes as a decrypted callback body: `InboundMessage::parse` must return, never panic,
//! and whatever it accepts must survive `to_xml` → `parse` unchanged in kind and sender.
#![no_main]

use libfuzzer_sys::fuzz_target;
use onecard::wechat::InboundMessage;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = InboundMessage::parse(data) {
        let again = InboundMessage::parse(m.to_xml().as_bytes()).expect("own XML parses");
        assert_eq!(again.from_user, m.from_user);
        assert_eq!(again.kind_label(), m.kind_label());
    }
});
