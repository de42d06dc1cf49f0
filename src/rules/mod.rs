//! Operator-edited reply rules: load, validate, match, render and hot-reload them.
//!
//! Why it exists: a school's staff change what the account answers (keywords, menu clicks,
//! office-hour replies, the welcome text) without a deploy, the way they used to in WeChat's own
//! admin auto-reply, which stops working once our server takes over the account. The rule files
//! live in `config/rules/*.toml`; docs/rules.md describes the format for operators.
//!
//! What it owns: the rule file model (`model`), the loader and validator that turns a
//! directory into a [`RuleTable`] or a list of `file:line:col` [`Diagnostic`]s ([`load`]), the
//! matcher ([`table`]: exact → `HashMap`, contains/prefix/suffix → Aho-Corasick, regex →
//! `RegexSet`, menu and scan keys → `HashMap`, then the default reply; the cost of one match does
//! not grow with the number of rules), reply templates ([`template`], minijinja with strict
//! undefined), the live hot-reloaded table ([`reload`]), the WeChat menu file ([`menu`]) and the
//! import of WeChat's admin auto-reply rules ([`import`]).
//!
//! What it must never do: call an upstream, touch the store, or know what an action does. It only
//! knows action *names*, the template fields they declare and the message keys they render,
//! through [`ActionCatalog`]. An invalid edit must never go live: a table is validated whole and
//! swapped atomically, or the old one keeps serving.
//!
//! # The format in one screen (docs/rules.md has the rest)
//!
//! ```toml
//! [settings]
//! default_cooldown_minutes = 60          # the default reply answers a user once per hour
//!
//! [[rule]]
//! id = "balance"                         # unique; the `rule` label of onecard_rules_hits_total
//! exact = ["余额"]                        # also: contains, prefix, suffix, regex, click, scan,
//! click = ["CARD_BALANCE"]               #       subscribe = true, default = true
//! action = "balance"                     # its declared fields are the template's variables
//! requires_binding = true
//! reply = "余额 {{ balance_yuan }} 元"     # or replies = [{ text = … }, { news = { title, … } }]
//! [[rule.when]]                          # optional windows, campus local time
//! days = "mon-fri"
//! from = "08:00"
//! to = "22:00"
//!
//! [messages]
//! "bind.ask_student_id" = "请输入学号"      # named texts actions render in dialogs
//!
//! [words]
//! cancel = ["取消", "退出"]                # whole replies that mean something in a dialog
//! ```
//!
//! Text is matched after [`normalize`]. Among matching live rules the winner is: higher
//! `priority`, then exact > prefix/suffix/contains > regex, then the longer keyword, then the
//! earlier rule; the default rule answers when nothing matched.

pub mod import;
pub mod last_good;
pub mod load;
pub mod menu;
pub(crate) mod model;
pub mod reload;
pub mod table;
pub mod template;
mod tools;

use std::fmt;
use std::path::PathBuf;

use unicode_normalization::UnicodeNormalization;

pub use import::{import_autoreply, import_autoreply_with_warnings};
pub use load::load_dir;
pub use menu::Menu;
pub use reload::{LiveRules, RulesWatcher};
pub use table::{
    LAST_RESORT_TEXT, MatchKind, Matched, OtherMatch, RuleInfo, RuleTable, TableStats,
};
pub use template::{NewsArticle, RenderedReply, ReplyMode, ReplySet};
pub use tools::{check, check_dir, explain, parse_campus_time, unrouted_menu_keys};

/// What the rules module needs to know about the built-in actions (implemented in
/// [`crate::actions`]): which template fields an action provides and which named messages it renders.
pub trait ActionCatalog: Send + Sync {
    /// Template fields the action provides, or None if no such action.
    fn fields(&self, action: &str) -> Option<&'static [&'static str]>;
    /// Message keys (see `[messages]`) the action may render; all must be defined in the rule
    /// files.
    fn messages(&self, action: &str) -> &'static [&'static str];
    /// Every message key any action may use (checked to exist even if no rule names the action).
    fn all_messages(&self) -> Vec<&'static str>;
    /// Every action name, sorted: offered when a rule names an unknown one.
    fn names(&self) -> Vec<&'static str> {
        Vec::new()
    }
    /// Word lists (see `[words]`) the action compares the user's reply with; all must be
    /// defined in the rule files.
    fn words(&self, _action: &str) -> &'static [&'static str] {
        &[]
    }
    /// Every word list the build reads, each with who reads it (an action's name, or
    /// [`ROUTER_READS`]):
    /// each must be defined even if no rule names the action. A `[words]` list that neither
    /// this nor an action's [`words`](Self::words) names is a mistake.
    fn all_words(&self) -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }
}

/// Who reads a word list in [`ActionCatalog::all_words`] when the router does: it compares a
/// reply with its lists before the dialog in progress sees it.
pub const ROUTER_READS: &str = "router";

/// What happened, as far as routing cares. Text is matched after [`normalize`]; menu and scan
/// keys are matched exactly (after trimming; a `qrscene_` prefix on scan keys is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger<'a> {
    /// A text message (or the recognition text of a voice message).
    Text(&'a str),
    /// A menu CLICK event's `EventKey`.
    Click(&'a str),
    /// A SCAN event's `EventKey` (scene of a parametric QR code, user already subscribed).
    Scan(&'a str),
    /// A subscribe event; `scene` is the `EventKey` when the user subscribed by scanning a
    /// parametric QR code (`qrscene_…`).
    Subscribe { scene: Option<&'a str> },
}

/// One problem found in a rule (or menu) file, pointing at the offending text.
/// Displays as `file:line:col: message`; line and column are 1-based, the column counts
/// characters (not bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.col,
            self.message
        )
    }
}

impl Diagnostic {
    /// Each diagnostic on its own line, as an operator reads a failed load.
    pub fn one_per_line(diags: &[Diagnostic]) -> String {
        diags
            .iter()
            .map(Diagnostic::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Errors at the rules boundary that are not load diagnostics: rendering, unknown message keys,
/// the watcher, importing.
#[derive(thiserror::Error)]
pub enum RuleError {
    #[error("template `{name}` failed to render")]
    Render {
        name: String,
        #[source]
        source: minijinja::Error,
    },
    #[error("no message `{0}` is defined in any [messages] table")]
    UnknownMessage(String),
    #[error("could not watch the rules directory {}", path.display())]
    Watch {
        path: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("could not read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the auto-reply JSON is not valid")]
    ImportJson(#[source] serde_json::Error),
    #[error("the auto-reply JSON cannot be imported: {0}")]
    Import(String),
}

impl fmt::Debug for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::telemetry::error_chain_fmt(self, f)
    }
}

/// The normal form text is matched in, applied to keywords at load time and to input at match
/// time: Unicode NFKC (full-width ＡＢＣ１２３ and the ideographic space become ASCII), lower
/// case, leading/trailing whitespace removed and inner runs of whitespace collapsed to one
/// space. Idempotent: `normalize(&normalize(s)) == normalize(s)`.
pub fn normalize(input: &str) -> String {
    let mut out = normalize_once(input);
    // Most input is already normal (e.g. 余额): one pass, no fixpoint check.
    if out == input {
        return out;
    }
    // Case mapping can, in rare scripts, produce text that NFKC changes again; iterate to a
    // fixpoint (at most a few rounds) so keywords and inputs always meet.
    for _ in 0..3 {
        let next = normalize_once(&out);
        if next == out {
            break;
        }
        out = next;
    }
    out
}

/// The form an exact keyword and the input are compared in, after [`normalize`]: students
/// type 「余额？」, 「谢谢！」 or 「余 额」 and mean 余额 / 谢谢, so whitespace inside and
/// punctuation at the end do not count (WeChat's own 全匹配 is stricter; a campus bot should not
/// be). A keyword that is nothing but punctuation (「?」) keeps it.
pub(crate) fn exact_key(normalized: &str) -> std::borrow::Cow<'_, str> {
    let trailing =
        |c: char| c.is_ascii_punctuation() || matches!(c, '。' | '、' | '…' | '～' | '·');
    let trimmed = normalized.trim_end_matches(trailing);
    if trimmed.is_empty() {
        return std::borrow::Cow::Borrowed(normalized);
    }
    if trimmed.contains(' ') {
        std::borrow::Cow::Owned(trimmed.replace(' ', ""))
    } else {
        std::borrow::Cow::Borrowed(trimmed)
    }
}

/// The form a `[words]` entry and the user's reply are compared in: the form of an exact
/// keyword ([`normalize`], then [`exact_key`]), so 「确认！」 and 「ＯＫ」 count as 确认 and ok.
pub(crate) fn word_key(text: &str) -> String {
    exact_key(&normalize(text)).into_owned()
}

fn normalize_once(input: &str) -> String {
    fold_width_and_space(&fold_width(input).to_lowercase())
}

/// Unicode NFKC: full-width ＡＢＣ１２３ and the ideographic space become ASCII.
fn fold_width(input: &str) -> std::borrow::Cow<'_, str> {
    if unicode_normalization::is_nfkc_quick(input.chars())
        == unicode_normalization::IsNormalized::Yes
    {
        std::borrow::Cow::Borrowed(input)
    } else {
        std::borrow::Cow::Owned(input.nfkc().collect())
    }
}

/// Leading/trailing whitespace removed, inner runs collapsed to one space.
fn fold_width_and_space(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for word in input.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// `original` in [`normalize`]'s form but with the user's capitals, when it lines up byte for
/// byte with `normalized` (lower-casing kept every character's length): matching is done on the
/// normal form, and what a rule captures (a room 「A305」, a topic 「WiFi」) is cut at the same
/// positions from this text. `None` when they do not line up (a few scripts change length when
/// lower-cased); the lower-case capture is the fallback then.
pub(crate) fn cased_like(original: &str, normalized: &str) -> Option<String> {
    let cased = fold_width_and_space(&fold_width(original));
    let lines_up = cased.len() == normalized.len()
        && cased.chars().zip(normalized.chars()).all(|(c, n)| {
            c.len_utf8() == n.len_utf8() && (c == n || c.to_lowercase().eq(std::iter::once(n)))
        });
    lines_up.then_some(cased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_folds_full_width_and_case() {
        assert_eq!(normalize("  ＡＢＣ１２３ "), "abc123");
        assert_eq!(normalize("Help"), "help");
        assert_eq!(normalize("余额\u{3000}查询"), "余额 查询");
        assert_eq!(normalize("\t绑定   2023001\n"), "绑定 2023001");
        assert_eq!(normalize("？"), "?");
        assert_eq!(normalize(""), "");
    }

    #[test]
    fn exact_keys_ignore_trailing_punctuation_and_inner_spaces() {
        let key = |s: &str| exact_key(&normalize(s)).into_owned();
        assert_eq!(key("余额？"), "余额");
        assert_eq!(key("谢谢！"), "谢谢");
        assert_eq!(key("余 额"), "余额");
        assert_eq!(key("余额。。"), "余额");
        assert_eq!(key("ＨＥＬＰ！"), "help");
        // Punctuation inside stays, and a keyword of only punctuation is kept.
        assert_eq!(key("a.b"), "a.b");
        assert_eq!(key("？"), "?");
    }

    #[test]
    fn the_cased_form_lines_up_with_the_normal_form() {
        let cased = |s: &str| cased_like(s, &normalize(s));
        assert_eq!(cased("宿舍  Ａ305 "), Some("宿舍 A305".to_owned()));
        assert_eq!(cased("指南 WiFi"), Some("指南 WiFi".to_owned()));
        assert_eq!(cased("余额"), Some("余额".to_owned()));
        // 'İ' lower-cases to two characters: no alignment, the lower-case capture stays.
        assert_eq!(cased("指南 İstanbul"), None);
    }

    #[test]
    fn diagnostic_displays_file_line_col() {
        let d = Diagnostic {
            file: PathBuf::from("config/rules/card.toml"),
            line: 3,
            col: 10,
            message: "unknown action `balanse`".into(),
        };
        assert_eq!(
            d.to_string(),
            "config/rules/card.toml:3:10: unknown action `balanse`"
        );
    }

    proptest::proptest! {
        #[test]
        fn normalize_is_idempotent(s in "\\PC{0,24}") {
            let once = normalize(&s);
            proptest::prop_assert_eq!(normalize(&once), once);
        }
    }
}
