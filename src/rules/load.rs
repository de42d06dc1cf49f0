//! Read a rules directory, validate it whole, and build a [`RuleTable`] — or return every
//! problem found as `file:line:col: message` diagnostics.
//!
//! Why it exists: an operator's typo must be caught before it goes live, with a pointer to the
//! exact spot, and all problems of one edit reported at once (not one per attempt). It owns the
//! interpretation of the file model: keyword normalisation, regex compilation, time windows,
//! template compilation and the field check against the [`ActionCatalog`], duplicate detection
//! across files, the `[messages]` tables and the `[words]` lists.
//!
//! It never builds a partial table: one diagnostic and the load fails.

mod hints;
mod locations;
mod read;
mod replies;
#[cfg(test)]
pub(crate) mod tests;
mod validate;
mod windows;
mod words;

pub(crate) use words::WordLists;

pub(crate) use windows::parse_hhmm;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::Environment;

use super::model::RuleFile;
use super::table::{MatchKind, RuleTable, Window};
use super::template::{ReplyItem, ReplyMode, new_env};
use super::{ActionCatalog, Diagnostic};
use locations::{LineIndex, Loc, Source};

pub(crate) use read::read_dir;

/// WeChat's admin auto-reply default: the default reply fires at most once per 60 minutes.
pub const DEFAULT_COOLDOWN_MINUTES: u64 = 60;

/// Load and validate every `*.toml` file in `dir` (not recursive; names starting with `.` are
/// ignored; files are read in name order, which is also the tie-break order of rules).
pub fn load_dir(dir: &Path, catalog: &dyn ActionCatalog) -> Result<RuleTable, Vec<Diagnostic>> {
    let files = read_dir(dir)?;
    build(dir, files, catalog)
}

/// Validate and build from already-read files (tests and `check_dir` use this too).
pub(crate) fn build(
    dir: &Path,
    files: Vec<(PathBuf, String)>,
    catalog: &dyn ActionCatalog,
) -> Result<RuleTable, Vec<Diagnostic>> {
    let env = new_env();
    let globals = env.globals().map(|(k, _)| k.to_owned()).collect();
    let mut v = Validator {
        dir: dir.to_path_buf(),
        sources: Vec::new(),
        diags: Vec::new(),
        warnings: Vec::new(),
        env,
        globals,
        seq: 0,
    };
    let mut parsed: Vec<(usize, RuleFile)> = Vec::new();
    for (path, text) in files {
        let idx = v.sources.len();
        let lines = LineIndex::new(&text);
        v.sources.push(Source { path, text, lines });
        let src = &v.sources[idx];
        match toml::from_str::<RuleFile>(&src.text) {
            Ok(file) => parsed.push((idx, file)),
            Err(e) => {
                let raw = e.message().trim();
                let (offset, message) = hints::toml_hint(&src.text, e.span(), raw)
                    .unwrap_or_else(|| (e.span().map_or(0, |s| s.start), raw.to_owned()));
                let (line, col) = src.lines.line_col(&src.text, offset);
                let diag = Diagnostic {
                    file: src.path.clone(),
                    line,
                    col,
                    message,
                };
                v.diags.push(diag);
            }
        }
    }
    let table = v.validate(parsed, catalog);
    match table {
        Some(mut t) if v.diags.is_empty() => {
            t.set_warnings(std::mem::take(&mut v.warnings));
            Ok(t)
        }
        _ => {
            if v.diags.is_empty() {
                v.diags.push(Diagnostic {
                    file: v.dir.clone(),
                    line: 1,
                    col: 1,
                    message: "the rule table could not be built".into(),
                });
            }
            // Operators read them top to bottom, file by file.
            v.diags
                .sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            Err(v.diags)
        }
    }
}

/// The key under which duplicate triggers are detected.
#[derive(Clone, PartialEq, Eq, Hash)]
enum TriggerKey {
    Text(MatchKind, String),
    Click(String),
    Scan(String),
    Subscribe,
    Default,
}

impl TriggerKey {
    fn describe(&self) -> String {
        match self {
            TriggerKey::Text(kind, k) => format!("{} keyword `{k}`", kind.as_str()),
            TriggerKey::Click(k) => format!("menu click key `{k}`"),
            TriggerKey::Scan(k) => format!("scan key `{k}`"),
            TriggerKey::Subscribe => "subscribe rule".into(),
            TriggerKey::Default => "default rule".into(),
        }
    }
}

struct Validator {
    dir: PathBuf,
    sources: Vec<Source>,
    diags: Vec<Diagnostic>,
    /// Problems that do not stop the table, e.g. overlapping windows on one keyword.
    warnings: Vec<Diagnostic>,
    /// Every template of the table (replies and messages), compiled once.
    env: Environment<'static>,
    /// Names minijinja itself defines (`range`, `dict`, …): not fields an action must provide.
    globals: BTreeSet<String>,
    /// Makes template names unique.
    seq: usize,
}

/// A rule that passed its own checks, waiting for the cross-file checks.
struct Pending {
    id: Arc<str>,
    name: Option<String>,
    origin: String,
    priority: i32,
    windows: Vec<Window>,
    requires_binding: bool,
    action: Option<Arc<str>>,
    fields: &'static [&'static str],
    mode: ReplyMode,
    items: Vec<ReplyItem>,
    enabled: bool,
    has_windows: bool,
    triggers: Vec<(TriggerKey, Loc)>,
    regexes: Vec<regex::Regex>,
}

struct TemplateCtx<'a> {
    action: Option<&'a str>,
    /// Off when the rule names an unknown action: every field would be "not provided", which
    /// only repeats that error.
    check_fields: bool,
    /// Off when one of the rule's regexes is broken: its capture count is unknown.
    check_captures: bool,
    fields: &'static [&'static str],
    max_captures: usize,
}
