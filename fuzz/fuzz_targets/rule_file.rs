//! Any text as a rule file beside the shipped message tables (`onecard_fuzz::rule_file`).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One directory for the whole run: the message tables are copied once, the rule file is
/// rewritten per input.
fn rules_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, dir) = DIR.get_or_init(|| {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().join("rules");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/rules");
        onecard_fuzz::prepare_rules_dir(&shipped, &dir);
        (tmp, dir)
    });
    dir
}

fuzz_target!(|text: &str| onecard_fuzz::rule_file(rules_dir(), text));
