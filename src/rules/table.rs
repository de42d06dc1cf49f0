//! The compiled, immutable rule table and the matcher.
//!
//! Why it exists: routing runs for every message, so it is a pure function of the table, the
//! trigger and the campus-local time, and its cost does not grow with the number of rules:
//! exact keywords are one `HashMap` lookup, contains/prefix/suffix keywords one Aho-Corasick
//! pass, regexes one `RegexSet` pass, menu and scan keys one `HashMap` lookup each; only the
//! rules that actually matched are ranked.
//!
//! Ranking among matching, currently active rules: higher `priority` first; then the match
//! kind (exact, then prefix/suffix/contains, then regex); then the longer matched keyword (in
//! characters); then the earlier rule (files in name order, rules in file order). When no text
//! rule matches, the default rule answers.
//!
//! It never mutates rules after build, except the per-rule hit counters (atomics).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aho_corasick::{AhoCorasick, MatchKind as AcMatchKind};
use chrono::{Datelike, NaiveDateTime, Timelike};
use minijinja::Environment;
use regex::{Regex, RegexSet, RegexSetBuilder};

use super::template::{ReplySet, context, render_named};

/// The one reply text written in Rust (docs/rules.md, *The last-resort text*): what a user is
/// told only when the message tables themselves cannot answer, not even with `error.busy`.
pub const LAST_RESORT_TEXT: &str = "系统繁忙，请稍后再试。";

use super::{RuleError, Trigger, cased_like, exact_key, normalize};

/// Compiled size limit of the set of all regexes (each one alone is limited at load).
const REGEX_SET_SIZE_LIMIT: usize = 64 << 20;

/// How a rule was selected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MatchKind {
    Exact,
    Prefix,
    Suffix,
    Contains,
    Regex,
    Click,
    Scan,
    Subscribe,
    Default,
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Exact => "exact",
            MatchKind::Prefix => "prefix",
            MatchKind::Suffix => "suffix",
            MatchKind::Contains => "contains",
            MatchKind::Regex => "regex",
            MatchKind::Click => "click",
            MatchKind::Scan => "scan",
            MatchKind::Subscribe => "subscribe",
            MatchKind::Default => "default",
        }
    }

    /// Rank among text matches: exact beats prefix/suffix/contains beats regex.
    fn rank(self) -> u8 {
        match self {
            MatchKind::Exact => 3,
            MatchKind::Prefix | MatchKind::Suffix | MatchKind::Contains => 2,
            MatchKind::Regex => 1,
            _ => 0,
        }
    }
}

/// The result of routing one trigger.
#[derive(Debug, Clone)]
pub struct Matched {
    pub rule_id: Arc<str>,
    /// Regex groups 1.. (`{1}` is `captures[0]`); for a prefix match the text after the prefix,
    /// for a suffix match the text before the suffix; empty otherwise. Non-participating groups
    /// are empty strings.
    pub captures: Vec<String>,
    pub action: Option<Arc<str>>,
    pub requires_binding: bool,
    /// The default reply answered: the caller enforces [`RuleTable::default_cooldown`].
    pub is_default: bool,
    pub replies: Arc<ReplySet>,
    /// Why this rule: the kind of match …
    pub kind: MatchKind,
    /// … and the keyword, pattern or key that matched (empty for subscribe/default).
    pub pattern: Arc<str>,
    /// Index of the rule in the table that matched, for [`RuleTable::count_hit`].
    rule: usize,
}

/// Another rule that matched the same trigger but did not win (see [`RuleTable::also_matched`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherMatch {
    pub rule_id: Arc<str>,
    pub kind: MatchKind,
    pub pattern: Arc<str>,
    /// Inside its `when` windows at that time (a rule outside them cannot answer).
    pub live: bool,
}

/// A time window in campus local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// Bit 0 = Monday … bit 6 = Sunday.
    pub days: u8,
    /// Minutes since midnight, inclusive.
    pub from: u32,
    /// Minutes since midnight, exclusive; up to 1440. `to < from` wraps past midnight.
    pub to: u32,
}

impl Window {
    pub(crate) fn contains(&self, now: NaiveDateTime) -> bool {
        let day = now.weekday().num_days_from_monday();
        let minute = now.hour() * 60 + now.minute();
        let on = |d: u32| self.days & (1 << d) != 0;
        if self.from <= self.to {
            on(day) && minute >= self.from && minute < self.to
        } else {
            // e.g. 22:00–06:00: the evening part belongs to the day it starts on.
            (on(day) && minute >= self.from) || (on((day + 6) % 7) && minute < self.to)
        }
    }
}

/// One compiled rule.
pub(crate) struct CompiledRule {
    pub id: Arc<str>,
    pub name: Option<String>,
    /// `file:line:col` of the rule's id, for `explain`.
    pub origin: String,
    pub priority: i32,
    pub windows: Vec<Window>,
    pub requires_binding: bool,
    pub action: Option<Arc<str>>,
    /// Fields the action declares (for `explain` placeholders).
    pub fields: &'static [&'static str],
    pub replies: Arc<ReplySet>,
    pub hits: AtomicU64,
}

impl CompiledRule {
    fn active(&self, now: NaiveDateTime) -> bool {
        self.windows.is_empty() || self.windows.iter().any(|w| w.contains(now))
    }
}

/// What the loader hands the table: rules plus their triggers (keywords already normalised).
#[derive(Default)]
pub(crate) struct Triggers {
    pub exact: Vec<(String, usize)>,
    pub prefix: Vec<(String, usize)>,
    pub suffix: Vec<(String, usize)>,
    pub contains: Vec<(String, usize)>,
    pub regex: Vec<(Regex, usize)>,
    pub click: Vec<(String, usize)>,
    pub scan: Vec<(String, usize)>,
    pub subscribe: Vec<usize>,
    pub default: Vec<usize>,
}

/// The immutable, validated rule table. Build it with [`super::load_dir`].
pub struct RuleTable {
    rules: Vec<CompiledRule>,
    exact: HashMap<String, Vec<usize>>,
    /// One automaton over every contains/prefix/suffix keyword; `ac_hits[pattern id]` lists
    /// which rules use the keyword and how.
    ac: Option<AhoCorasick>,
    ac_hits: Vec<AcEntry>,
    regex_set: RegexSet,
    regexes: Vec<(Regex, usize)>,
    click: HashMap<String, Vec<usize>>,
    scan: HashMap<String, Vec<usize>>,
    subscribe: Vec<usize>,
    default: Vec<usize>,
    default_cooldown: Duration,
    messages: HashMap<String, String>,
    /// The `[words]` lists, in [`super::word_key`] form.
    words: super::load::WordLists,
    env: Arc<Environment<'static>>,
    /// What the loader noticed that does not stop the table (overlapping windows on one key).
    warnings: Vec<super::Diagnostic>,
}

/// A rule as the admin page shows it (see [`RuleTable::rules`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub id: String,
    pub name: Option<String>,
    /// `file:line:col` of the rule's id.
    pub origin: String,
    pub action: Option<String>,
    pub requires_binding: bool,
    pub priority: i32,
    /// The rule has `when` windows (it is not always live).
    pub windowed: bool,
    /// Number of replies in the rule (0: the action answers with its messages).
    pub replies: usize,
    pub hits: u64,
}

/// What a table holds (see [`RuleTable::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableStats {
    pub exact: usize,
    pub prefix: usize,
    pub suffix: usize,
    pub contains: usize,
    pub regex: usize,
    pub click: usize,
    pub scan: usize,
    pub subscribe: bool,
    pub default: bool,
    pub messages: usize,
    /// `[words]` lists.
    pub words: usize,
}

/// One Aho-Corasick pattern: the keyword and every (kind, rule) that uses it.
type AcEntry = (Arc<str>, Vec<(MatchKind, usize)>);

/// A candidate before ranking.
struct Candidate {
    rule: usize,
    kind: MatchKind,
    len: usize,
    pattern: Arc<str>,
    /// Index into `regexes` for a regex match, whose captures are computed for the winner only.
    regex: Option<usize>,
    captures: Vec<String>,
}

impl RuleTable {
    pub(crate) fn build(
        rules: Vec<CompiledRule>,
        triggers: Triggers,
        messages: HashMap<String, String>,
        words: super::load::WordLists,
        env: Arc<Environment<'static>>,
        default_cooldown: Duration,
    ) -> Result<Self, String> {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        for (k, r) in triggers.exact {
            exact.entry(k).or_default().push(r);
        }
        let mut ac_index: HashMap<String, usize> = HashMap::new();
        let mut ac_hits: Vec<AcEntry> = Vec::new();
        for (list, kind) in [
            (triggers.prefix, MatchKind::Prefix),
            (triggers.suffix, MatchKind::Suffix),
            (triggers.contains, MatchKind::Contains),
        ] {
            for (k, r) in list {
                let idx = *ac_index.entry(k.clone()).or_insert_with(|| {
                    ac_hits.push((Arc::from(k.as_str()), Vec::new()));
                    ac_hits.len() - 1
                });
                if let Some(slot) = ac_hits.get_mut(idx) {
                    slot.1.push((kind, r));
                }
            }
        }
        let ac = if ac_hits.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(AcMatchKind::Standard)
                    .build(ac_hits.iter().map(|(k, _)| k.as_bytes()))
                    .map_err(|e| format!("cannot build the keyword automaton: {e}"))?,
            )
        };
        // Same options as each rule's own regex (see `load`), or the set and the capture pass
        // would disagree.
        let regex_set = RegexSetBuilder::new(triggers.regex.iter().map(|(re, _)| re.as_str()))
            .case_insensitive(true)
            .size_limit(REGEX_SET_SIZE_LIMIT)
            .build()
            .map_err(|e| format!("cannot build the regex set: {e}"))?;
        let keyed = |list: Vec<(String, usize)>| {
            let mut map: HashMap<String, Vec<usize>> = HashMap::new();
            for (k, r) in list {
                map.entry(k).or_default().push(r);
            }
            map
        };
        Ok(Self {
            rules,
            exact,
            ac,
            ac_hits,
            regex_set,
            regexes: triggers.regex,
            click: keyed(triggers.click),
            scan: keyed(triggers.scan),
            subscribe: triggers.subscribe,
            default: triggers.default,
            default_cooldown,
            messages,
            words,
            env,
            warnings: Vec::new(),
        })
    }

    /// Find the rule answering `trigger` at campus-local time `now`, and count the hit.
    pub fn route(&self, trigger: &Trigger<'_>, now: NaiveDateTime) -> Option<Matched> {
        let m = self.peek(trigger, now)?;
        self.count_hit(&m);
        Some(m)
    }

    /// Like [`route`](Self::route) but without counting a hit: for a caller that may still
    /// not answer with the rule (a dialog in progress, the default reply's cooldown), and for
    /// `explain`. Count it with [`count_hit`](Self::count_hit) once the rule answers.
    pub fn peek(&self, trigger: &Trigger<'_>, now: NaiveDateTime) -> Option<Matched> {
        self.find(trigger, now).and_then(|c| self.to_matched(c))
    }

    /// Count one answer by the rule of `m` (a match from this table).
    pub fn count_hit(&self, m: &Matched) {
        if let Some(rule) = self.rules.get(m.rule) {
            rule.hits.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("onecard_rules_hits_total", "rule" => rule.id.to_string())
                .increment(1);
        }
    }

    /// Every rule other than `winner` that `trigger` also matches (live at `now` or not), best
    /// first: what `rules test` lists so an operator sees what a rule shadows.
    pub fn also_matched(
        &self,
        trigger: &Trigger<'_>,
        now: NaiveDateTime,
        winner: &str,
    ) -> Vec<OtherMatch> {
        let cands = match trigger {
            Trigger::Text(text) => self.text_candidates(&normalize(text)),
            Trigger::Click(key) => self.keyed_candidates(&self.click, key.trim(), MatchKind::Click),
            Trigger::Scan(scene) => {
                self.keyed_candidates(&self.scan, scene_key(scene), MatchKind::Scan)
            }
            Trigger::Subscribe { .. } => {
                self.plain_candidates(&self.subscribe, MatchKind::Subscribe)
            }
        };
        let mut seen: Vec<usize> = Vec::new();
        let mut out = Vec::new();
        let mut ranked: Vec<(i32, Candidate)> = cands
            .into_iter()
            .filter_map(|c| Some((self.rules.get(c.rule)?.priority, c)))
            .collect();
        ranked.sort_by(|(pa, a), (pb, b)| {
            pb.cmp(pa)
                .then(b.kind.rank().cmp(&a.kind.rank()))
                .then(b.len.cmp(&a.len))
                .then(a.rule.cmp(&b.rule))
        });
        for (_, c) in ranked {
            let Some(rule) = self.rules.get(c.rule) else {
                continue;
            };
            if &*rule.id == winner || seen.contains(&c.rule) {
                continue;
            }
            seen.push(c.rule);
            out.push(OtherMatch {
                rule_id: rule.id.clone(),
                kind: c.kind,
                pattern: c.pattern,
                live: rule.active(now),
            });
        }
        out
    }

    fn to_matched(&self, c: Candidate) -> Option<Matched> {
        let rule = self.rules.get(c.rule)?;
        Some(Matched {
            rule_id: rule.id.clone(),
            captures: c.captures,
            action: rule.action.clone(),
            requires_binding: rule.requires_binding,
            is_default: c.kind == MatchKind::Default,
            replies: rule.replies.clone(),
            kind: c.kind,
            pattern: c.pattern,
            rule: c.rule,
        })
    }

    fn find(&self, trigger: &Trigger<'_>, now: NaiveDateTime) -> Option<Candidate> {
        match trigger {
            Trigger::Text(text) => {
                let normalized = normalize(text);
                self.match_text(&normalized, text, now)
                    .or_else(|| self.pick_plain(&self.default, MatchKind::Default, now))
            }
            Trigger::Click(key) => self.pick_keyed(&self.click, key.trim(), MatchKind::Click, now),
            Trigger::Scan(scene) => {
                self.pick_keyed(&self.scan, scene_key(scene), MatchKind::Scan, now)
            }
            Trigger::Subscribe { scene } => scene
                .map(scene_key)
                .filter(|s| !s.is_empty())
                .and_then(|s| self.pick_keyed(&self.scan, s, MatchKind::Scan, now))
                .or_else(|| self.pick_plain(&self.subscribe, MatchKind::Subscribe, now)),
        }
    }

    /// The best live text rule for `text` (normalised); its captures are cut from `original`
    /// (as the user typed it) where the two line up, so they keep the user's capitals.
    fn match_text(&self, text: &str, original: &str, now: NaiveDateTime) -> Option<Candidate> {
        let cands = self.text_candidates(text);
        let mut best = self.best(cands, now)?;
        let cased = match best.kind {
            MatchKind::Prefix | MatchKind::Suffix | MatchKind::Regex if original != text => {
                cased_like(original, text)
            }
            _ => None,
        };
        let source = cased.as_deref().unwrap_or(text);
        let cut = |range: std::ops::Range<usize>| source.get(range).unwrap_or("").to_owned();
        match best.kind {
            MatchKind::Regex => {
                if let Some((re, _)) = best.regex.and_then(|i| self.regexes.get(i))
                    && let Some(caps) = re.captures(text)
                {
                    best.captures = caps
                        .iter()
                        .skip(1)
                        .map(|g| g.map(|m| cut(m.range())).unwrap_or_default())
                        .collect();
                }
            }
            MatchKind::Prefix if cased.is_some() => {
                best.captures = vec![cut(best.pattern.len()..text.len()).trim().to_owned()];
            }
            MatchKind::Suffix if cased.is_some() => {
                let end = text.len().saturating_sub(best.pattern.len());
                best.captures = vec![cut(0..end).trim().to_owned()];
            }
            _ => {}
        }
        Some(best)
    }

    /// Every text rule `text` (normalised) matches, live or not, before ranking.
    fn text_candidates(&self, text: &str) -> Vec<Candidate> {
        let mut cands: Vec<Candidate> = Vec::new();
        if let Some((key, rules)) = self.exact.get_key_value(exact_key(text).as_ref()) {
            let pattern: Arc<str> = Arc::from(key.as_str());
            for &r in rules {
                cands.push(Candidate {
                    rule: r,
                    kind: MatchKind::Exact,
                    len: key.chars().count(),
                    pattern: pattern.clone(),
                    regex: None,
                    captures: Vec::new(),
                });
            }
        }
        if let Some(ac) = &self.ac {
            for m in ac.find_overlapping_iter(text) {
                let Some((kw, uses)) = self.ac_hits.get(m.pattern().as_usize()) else {
                    continue;
                };
                for &(kind, r) in uses {
                    let captures = match kind {
                        MatchKind::Prefix if m.start() == 0 => {
                            vec![text.get(m.end()..).unwrap_or("").trim().to_owned()]
                        }
                        MatchKind::Suffix if m.end() == text.len() => {
                            vec![text.get(..m.start()).unwrap_or("").trim().to_owned()]
                        }
                        MatchKind::Contains => Vec::new(),
                        _ => continue,
                    };
                    cands.push(Candidate {
                        rule: r,
                        kind,
                        len: kw.chars().count(),
                        pattern: kw.clone(),
                        regex: None,
                        captures,
                    });
                }
            }
        }
        if !self.regexes.is_empty() {
            for i in self.regex_set.matches(text).iter() {
                let Some((re, r)) = self.regexes.get(i) else {
                    continue;
                };
                let len = re
                    .find(text)
                    .map(|m| m.as_str().chars().count())
                    .unwrap_or(0);
                cands.push(Candidate {
                    rule: *r,
                    kind: MatchKind::Regex,
                    len,
                    pattern: Arc::from(re.as_str()),
                    regex: Some(i),
                    captures: Vec::new(),
                });
            }
        }
        cands
    }

    fn best(&self, cands: Vec<Candidate>, now: NaiveDateTime) -> Option<Candidate> {
        cands
            .into_iter()
            .filter_map(|c| {
                let rule = self.rules.get(c.rule)?;
                rule.active(now).then_some((rule.priority, c))
            })
            .max_by(|(pa, a), (pb, b)| {
                pa.cmp(pb)
                    .then(a.kind.rank().cmp(&b.kind.rank()))
                    .then(a.len.cmp(&b.len))
                    // earlier rule wins: reverse on the index
                    .then(b.rule.cmp(&a.rule))
            })
            .map(|(_, c)| c)
    }

    fn pick_keyed(
        &self,
        map: &HashMap<String, Vec<usize>>,
        key: &str,
        kind: MatchKind,
        now: NaiveDateTime,
    ) -> Option<Candidate> {
        self.best(self.keyed_candidates(map, key, kind), now)
    }

    fn keyed_candidates(
        &self,
        map: &HashMap<String, Vec<usize>>,
        key: &str,
        kind: MatchKind,
    ) -> Vec<Candidate> {
        let Some((k, rules)) = map.get_key_value(key) else {
            return Vec::new();
        };
        whole_candidates(rules, kind, Arc::from(k.as_str()))
    }

    fn pick_plain(
        &self,
        rules: &[usize],
        kind: MatchKind,
        now: NaiveDateTime,
    ) -> Option<Candidate> {
        self.best(self.plain_candidates(rules, kind), now)
    }

    fn plain_candidates(&self, rules: &[usize], kind: MatchKind) -> Vec<Candidate> {
        whole_candidates(rules, kind, Arc::from(""))
    }

    pub(crate) fn set_warnings(&mut self, warnings: Vec<super::Diagnostic>) {
        self.warnings = warnings;
    }

    /// Problems the loader found that do not stop the table, as `file:line:col` diagnostics.
    pub fn warnings(&self) -> &[super::Diagnostic] {
        &self.warnings
    }

    /// How long the default reply stays quiet for a user after it answered them.
    pub fn default_cooldown(&self) -> Duration {
        self.default_cooldown
    }

    /// Render a named message from a `[messages]` table.
    pub fn message(&self, key: &str, fields: &serde_json::Value) -> Result<String, RuleError> {
        let name = self
            .messages
            .get(key)
            .ok_or_else(|| RuleError::UnknownMessage(key.to_owned()))?;
        render_named(&self.env, name, &context(fields, &[]))
    }

    /// A named message as a user should get it: rendered from the tables; if that fails
    /// (logged), the tables' `error.busy`; only if that fails too, [`LAST_RESORT_TEXT`].
    pub fn say(&self, key: &str, fields: &serde_json::Value) -> String {
        self.message(key, fields).unwrap_or_else(|e| {
            tracing::error!(message = key, error = %e, "named message failed to render");
            self.message("error.busy", &serde_json::json!({}))
                .unwrap_or_else(|e| {
                    tracing::error!(message = "error.busy", error = %e, "named message failed to render");
                    LAST_RESORT_TEXT.to_owned()
                })
        })
    }

    /// Whether the user's reply is one of the words of the `[words]` list `list`, compared as
    /// an exact keyword is (see [`super::word_key`]). A list the table lacks matches nothing;
    /// the loader makes sure every list the build declares is there.
    pub fn is_word(&self, list: &str, text: &str) -> bool {
        match self.words.get(list) {
            Some(words) => words.contains(&super::word_key(text)),
            None => {
                tracing::error!(list, "a word list no action declared was asked for");
                false
            }
        }
    }

    /// Whether a `[messages]` key is defined.
    pub fn has_message(&self, key: &str) -> bool {
        self.messages.contains_key(key)
    }

    /// Number of (enabled) rules in the table.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Hits per rule id since this table (or, after a reload, the rule) went live.
    pub fn hit_counts(&self) -> Vec<(String, u64)> {
        self.rules
            .iter()
            .map(|r| (r.id.to_string(), r.hits.load(Ordering::Relaxed)))
            .collect()
    }

    /// One line per rule, for the admin page: who it is, where it lives, what it does, how often
    /// it answered.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.rules
            .iter()
            .map(|r| RuleInfo {
                id: r.id.to_string(),
                name: r.name.clone(),
                origin: r.origin.clone(),
                action: r.action.as_deref().map(str::to_owned),
                requires_binding: r.requires_binding,
                priority: r.priority,
                windowed: !r.windows.is_empty(),
                replies: r.replies.len(),
                hits: r.hits.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// Every menu CLICK key some rule answers.
    pub fn click_keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.click.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Counts of what the table holds, for `rules check`.
    pub fn stats(&self) -> TableStats {
        let mut s = TableStats {
            exact: self.exact.values().map(Vec::len).sum(),
            regex: self.regexes.len(),
            click: self.click.len(),
            scan: self.scan.len(),
            subscribe: !self.subscribe.is_empty(),
            default: !self.default.is_empty(),
            messages: self.messages.len(),
            words: self.words.len(),
            ..TableStats::default()
        };
        for (_, uses) in &self.ac_hits {
            for (kind, _) in uses {
                match kind {
                    MatchKind::Prefix => s.prefix += 1,
                    MatchKind::Suffix => s.suffix += 1,
                    _ => s.contains += 1,
                }
            }
        }
        s
    }

    /// Carry hit counters over from the table this one replaces (same rule id).
    pub(crate) fn inherit_hits(&self, old: &RuleTable) {
        let old_hits: HashMap<&str, u64> = old
            .rules
            .iter()
            .map(|r| (&*r.id, r.hits.load(Ordering::Relaxed)))
            .collect();
        for r in &self.rules {
            if let Some(&n) = old_hits.get(&*r.id) {
                r.hits.store(n, Ordering::Relaxed);
            }
        }
    }

    pub(crate) fn rule_by_id(&self, id: &str) -> Option<&CompiledRule> {
        self.rules.iter().find(|r| &*r.id == id)
    }

    pub(crate) fn describe_origin(&self, id: &str) -> Option<(&str, Option<&str>, i32)> {
        self.rule_by_id(id)
            .map(|r| (r.origin.as_str(), r.name.as_deref(), r.priority))
    }
}

/// `rules` as candidates under one `pattern` that carry no length, regex or captures (the
/// keyed and plain matches; a regex or prefix match builds its own).
fn whole_candidates(rules: &[usize], kind: MatchKind, pattern: Arc<str>) -> Vec<Candidate> {
    rules
        .iter()
        .map(|&r| Candidate {
            rule: r,
            kind,
            len: 0,
            pattern: pattern.clone(),
            regex: None,
            captures: Vec::new(),
        })
        .collect()
}

impl std::fmt::Debug for RuleTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleTable")
            .field("rules", &self.rules.len())
            .field("messages", &self.messages.len())
            .field("default_cooldown", &self.default_cooldown)
            .finish_non_exhaustive()
    }
}

/// A scene key as configured: trimmed, without the `qrscene_` prefix of subscribe events.
pub(crate) fn scene_key(raw: &str) -> &str {
    let t = raw.trim();
    t.strip_prefix("qrscene_").unwrap_or(t)
}

/// `file:line:col` shortened to the file name, for people.
pub(crate) fn short_origin(path: &Path, line: usize, col: usize) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    format!("{name}:{line}:{col}")
}
