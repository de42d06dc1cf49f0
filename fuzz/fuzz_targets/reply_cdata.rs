//! Any text as reply content: the passive reply XML must parse back to the same text (minus
//! the control characters XML forbids, and with CR normalized by XML's line-end rule).
#![no_main]

use libfuzzer_sys::fuzz_target;
use onecard::wechat::Reply;
use onecard::wechat::reply::{parse_passive, passive_xml};

fuzz_target!(|text: &str| {
    let xml = passive_xml("oUser", "gh_account", 1, &Reply::Text(text.to_owned()));
    let (to, reply) = parse_passive(&xml).expect("own reply parses");
    assert_eq!(to, "oUser");
    // Controls are dropped first (by the writer), then XML's line-end rule applies (reader).
    let kept: String = text
        .chars()
        .filter(|&c| !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}'))
        .collect();
    let expected = kept.replace("\r\n", "\n").replace('\r', "\n");
    assert_eq!(reply, Reply::Text(expected));
});
