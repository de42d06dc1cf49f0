//! Read a rules directory, validate it whole, and build a [`RuleTable`] — or return every
//! problem found as `file:line:col: message` diagnostics.
//!
//! Why it exists: an operator's typo must be caught before it goes live, with a pointer to the
//! exact spot, and all problems of one edit reported at once (not one per attempt). It owns the
//! interpretation of the file model: keyword normalisation, regex compilation, time windows,
//! template compilation and the field check against the [`ActionCatalog`], duplicate detection
//! across files, and the `[messages]` tables.
//!
//! It never builds a partial table: one diagnostic and the load fails.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use minijinja::Environment;
use regex::RegexBuilder;
use toml::Spanned;

use super::model::{NewsDef, ReplyDef, RuleDef, RuleFile, WindowDef};
use super::table::{CompiledRule, MatchKind, RuleTable, Triggers, Window, scene_key, short_origin};
use super::template::{CAPTURES, ReplyItem, ReplyMode, ReplySet, new_env, rewrite_captures};
use super::{ActionCatalog, Diagnostic, normalize};

/// WeChat's admin auto-reply default: the default reply fires at most once per 60 minutes.
pub const DEFAULT_COOLDOWN_MINUTES: u64 = 60;

/// Regexes are compiled with this size limit so a pathological pattern is a load error, not a
/// memory spike.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Load and validate every `*.toml` file in `dir` (not recursive; names starting with `.` are
/// ignored; files are read in name order, which is also the tie-break order of rules).
pub fn load_dir(dir: &Path, catalog: &dyn ActionCatalog) -> Result<RuleTable, Vec<Diagnostic>> {
    let files = read_dir(dir)?;
    build(dir, files, catalog)
}

/// The `*.toml` files of `dir` with their text, in name order.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<Diagnostic>> {
    let at_dir = |message: String| {
        vec![Diagnostic {
            file: dir.to_path_buf(),
            line: 1,
            col: 1,
            message,
        }]
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| at_dir(format!("cannot read the rules directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_rule_file(p))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(at_dir("no *.toml rule files in this directory".into()));
    }
    let mut files = Vec::with_capacity(paths.len());
    let mut diags = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path, text)),
            Err(e) => diags.push(Diagnostic {
                file: path,
                line: 1,
                col: 1,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(diags)
    }
}

/// Whether a directory entry is a rule file (also used by the watcher to filter events).
pub(crate) fn is_rule_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && name.ends_with(".toml") && !path.is_dir()
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
                let (line, col) = e
                    .span()
                    .map(|s| src.lines.line_col(&src.text, s.start))
                    .unwrap_or((1, 1));
                let diag = Diagnostic {
                    file: src.path.clone(),
                    line,
                    col,
                    message: e.message().trim().to_owned(),
                };
                v.diags.push(diag);
            }
        }
    }
    let table = v.validate(parsed, catalog);
    match table {
        Some(t) if v.diags.is_empty() => Ok(t),
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

struct Source {
    path: PathBuf,
    text: String,
    lines: LineIndex,
}

/// Byte offsets of line starts, for span → line:col.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// 1-based line and character column of byte `offset`.
    fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = text
            .get(start..offset.min(text.len()))
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, col + 1)
    }
}

/// Where something was defined: file index + byte span.
#[derive(Clone)]
struct Loc {
    file: usize,
    span: Range<usize>,
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

impl Validator {
    fn loc_of(&self, loc: &Loc) -> (PathBuf, usize, usize) {
        match self.sources.get(loc.file) {
            Some(src) => {
                let (l, c) = src.lines.line_col(&src.text, loc.span.start);
                (src.path.clone(), l, c)
            }
            None => (self.dir.clone(), 1, 1),
        }
    }

    fn error(&mut self, loc: &Loc, message: String) {
        let (file, line, col) = self.loc_of(loc);
        self.diags.push(Diagnostic {
            file,
            line,
            col,
            message,
        });
    }

    fn error_at(&mut self, file: usize, line: usize, col: usize, message: String) {
        let path = self
            .sources
            .get(file)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.clone());
        self.diags.push(Diagnostic {
            file: path,
            line,
            col,
            message,
        });
    }

    fn short(&self, loc: &Loc) -> String {
        let (file, line, col) = self.loc_of(loc);
        short_origin(&file, line, col)
    }

    fn validate(
        &mut self,
        parsed: Vec<(usize, RuleFile)>,
        catalog: &dyn ActionCatalog,
    ) -> Option<RuleTable> {
        // Settings.
        let mut cooldown: Option<(u64, Loc)> = None;
        for (file, f) in &parsed {
            if let Some(c) = f
                .settings
                .as_ref()
                .and_then(|s| s.default_cooldown_minutes.as_ref())
            {
                let loc = Loc {
                    file: *file,
                    span: c.span(),
                };
                if let Some((_, first)) = &cooldown {
                    let first = self.short(first);
                    self.error(
                        &loc,
                        format!("`default_cooldown_minutes` is already set at {first}"),
                    );
                } else {
                    cooldown = Some((*c.get_ref(), loc));
                }
            }
        }

        // Messages first: rules check the keys their actions need.
        let mut messages: HashMap<String, String> = HashMap::new();
        let mut message_locs: HashMap<String, Loc> = HashMap::new();
        for (file, f) in &parsed {
            for (key, text) in &f.messages {
                let loc = Loc {
                    file: *file,
                    span: text.span(),
                };
                let key = key.get_ref().trim().to_owned();
                if let Some(first) = message_locs.get(&key) {
                    let first = self.short(first);
                    self.error(
                        &loc,
                        format!("duplicate message `{key}`: already defined at {first}"),
                    );
                    continue;
                }
                if text.get_ref().trim().is_empty() {
                    self.error(&loc, format!("empty message `{key}`"));
                }
                let name = format!("message:{key}");
                if let Some(name) = self.compile(name, text, &loc, None) {
                    messages.insert(key.clone(), name);
                }
                message_locs.insert(key, loc);
            }
        }

        // Rules.
        let mut pendings: Vec<Pending> = Vec::new();
        let mut ids: HashMap<String, Loc> = HashMap::new();
        for (file, f) in &parsed {
            for def in &f.rules {
                let id_loc = Loc {
                    file: *file,
                    span: def.id.span(),
                };
                let id = def.id.get_ref().clone();
                if !valid_id(&id) {
                    self.error(
                        &id_loc,
                        format!("invalid rule id `{id}`: use 1 to 64 of A-Z a-z 0-9 _ . -"),
                    );
                }
                if let Some(first) = ids.get(&id) {
                    let first = self.short(first);
                    self.error(
                        &id_loc,
                        format!("duplicate rule id `{id}`: already used at {first}"),
                    );
                } else {
                    ids.insert(id.clone(), id_loc.clone());
                }
                let pending = self.rule(*file, def, id_loc, catalog, &message_locs);
                pendings.push(pending);
            }
        }

        // Messages every action may use must exist even if no rule names the action.
        let mut needed: Vec<&'static str> = catalog.all_messages();
        needed.sort_unstable();
        needed.dedup();
        for key in needed {
            if !message_locs.contains_key(key) {
                self.diags.push(Diagnostic {
                    file: self.dir.clone(),
                    line: 1,
                    col: 1,
                    message: format!(
                        "message `{key}` is used by an action but no [messages] table defines it"
                    ),
                });
            }
        }

        // Duplicate triggers across enabled rules, unless every rule sharing it has time windows.
        let mut by_key: HashMap<TriggerKey, Vec<(usize, Loc)>> = HashMap::new();
        for (i, p) in pendings.iter().enumerate() {
            if !p.enabled {
                continue;
            }
            for (key, loc) in &p.triggers {
                let list = by_key.entry(key.clone()).or_default();
                if list.iter().any(|(r, _)| *r == i) {
                    continue;
                }
                list.push((i, loc.clone()));
            }
        }
        let mut dups: Vec<(Loc, String)> = Vec::new();
        for (key, list) in &by_key {
            if list.len() < 2 {
                continue;
            }
            let all_windowed = list
                .iter()
                .all(|(r, _)| pendings.get(*r).is_some_and(|p| p.has_windows));
            if all_windowed {
                continue;
            }
            if let Some((first_rule, first_loc)) = list.first() {
                let first_id = pendings
                    .get(*first_rule)
                    .map(|p| p.id.to_string())
                    .unwrap_or_default();
                for (_, loc) in list.iter().skip(1) {
                    dups.push((
                        loc.clone(),
                        format!(
                            "duplicate {}: already used by rule `{first_id}` at {} (give both rules `when` windows to share it)",
                            key.describe(),
                            self.short(first_loc)
                        ),
                    ));
                }
            }
        }
        dups.sort_by_key(|(loc, _)| (loc.file, loc.span.start));
        for (loc, msg) in dups {
            self.error(&loc, msg);
        }

        if !self.diags.is_empty() {
            return None;
        }

        // Build.
        let mut triggers = Triggers::default();
        let mut rules = Vec::new();
        let env = Arc::new(std::mem::replace(&mut self.env, new_env()));
        for p in pendings.into_iter().filter(|p| p.enabled) {
            let idx = rules.len();
            let mut regexes = p.regexes.into_iter();
            for (key, _) in p.triggers {
                match key {
                    TriggerKey::Text(MatchKind::Exact, k) => triggers.exact.push((k, idx)),
                    TriggerKey::Text(MatchKind::Prefix, k) => triggers.prefix.push((k, idx)),
                    TriggerKey::Text(MatchKind::Suffix, k) => triggers.suffix.push((k, idx)),
                    TriggerKey::Text(MatchKind::Contains, k) => triggers.contains.push((k, idx)),
                    TriggerKey::Text(MatchKind::Regex, _) => {
                        if let Some(re) = regexes.next() {
                            triggers.regex.push((re, idx));
                        }
                    }
                    TriggerKey::Text(_, _) => {}
                    TriggerKey::Click(k) => triggers.click.push((k, idx)),
                    TriggerKey::Scan(k) => triggers.scan.push((k, idx)),
                    TriggerKey::Subscribe => triggers.subscribe.push(idx),
                    TriggerKey::Default => triggers.default.push(idx),
                }
            }
            rules.push(CompiledRule {
                id: p.id,
                name: p.name,
                origin: p.origin,
                priority: p.priority,
                windows: p.windows,
                requires_binding: p.requires_binding,
                action: p.action,
                fields: p.fields,
                replies: Arc::new(ReplySet::new(p.mode, p.items, env.clone())),
                hits: AtomicU64::new(0),
            });
        }
        let minutes = cooldown.map(|(m, _)| m).unwrap_or(DEFAULT_COOLDOWN_MINUTES);
        match RuleTable::build(
            rules,
            triggers,
            messages,
            env,
            Duration::from_secs(minutes.saturating_mul(60)),
        ) {
            Ok(t) => Some(t),
            Err(message) => {
                self.diags.push(Diagnostic {
                    file: self.dir.clone(),
                    line: 1,
                    col: 1,
                    message,
                });
                None
            }
        }
    }

    fn rule(
        &mut self,
        file: usize,
        def: &RuleDef,
        id_loc: Loc,
        catalog: &dyn ActionCatalog,
        message_locs: &HashMap<String, Loc>,
    ) -> Pending {
        let before = self.diags.len();
        let id = def.id.get_ref().clone();
        let loc = |s: Range<usize>| Loc { file, span: s };

        // Action and the messages it needs.
        let mut fields: &'static [&'static str] = &[];
        let mut action_name = None;
        if let Some(action) = &def.action {
            let name = action.get_ref().trim();
            match catalog.fields(name) {
                Some(f) => {
                    fields = f;
                    action_name = Some(Arc::<str>::from(name));
                    for key in catalog.messages(name) {
                        if !message_locs.contains_key(*key) {
                            self.error(
                                &loc(action.span()),
                                format!("action `{name}` needs message `{key}`, which no [messages] table defines"),
                            );
                        }
                    }
                }
                None => self.error(&loc(action.span()), format!("unknown action `{name}`")),
            }
        }

        // Triggers.
        let mut triggers: Vec<(TriggerKey, Loc)> = Vec::new();
        // The fewest capture groups any text trigger of this rule provides.
        let mut min_groups: Option<usize> = None;
        let mut note_groups = |n: usize| {
            min_groups = Some(min_groups.map_or(n, |m: usize| m.min(n)));
        };
        for (list, kind) in [
            (&def.exact, MatchKind::Exact),
            (&def.prefix, MatchKind::Prefix),
            (&def.suffix, MatchKind::Suffix),
            (&def.contains, MatchKind::Contains),
        ] {
            for kw in list {
                let n = normalize(kw.get_ref());
                if n.is_empty() {
                    self.error(&loc(kw.span()), format!("empty {} keyword", kind.as_str()));
                    continue;
                }
                note_groups(match kind {
                    MatchKind::Prefix | MatchKind::Suffix => 1,
                    _ => 0,
                });
                triggers.push((TriggerKey::Text(kind, n), loc(kw.span())));
            }
        }
        let mut regexes = Vec::new();
        for pat in &def.regex {
            match RegexBuilder::new(pat.get_ref())
                .case_insensitive(true)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                Ok(re) => {
                    note_groups(re.captures_len().saturating_sub(1));
                    triggers.push((
                        TriggerKey::Text(MatchKind::Regex, re.as_str().to_owned()),
                        loc(pat.span()),
                    ));
                    regexes.push(re);
                }
                Err(e) => {
                    let detail = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                    self.error(&loc(pat.span()), format!("bad regex: {detail}"));
                }
            }
        }
        for key in &def.click {
            let k = key.get_ref().trim();
            if k.is_empty() {
                self.error(&loc(key.span()), "empty click key".into());
            } else {
                note_groups(0);
                triggers.push((TriggerKey::Click(k.to_owned()), loc(key.span())));
            }
        }
        for key in &def.scan {
            let k = scene_key(key.get_ref());
            if k.is_empty() {
                self.error(&loc(key.span()), "empty scan key".into());
            } else {
                note_groups(0);
                triggers.push((TriggerKey::Scan(k.to_owned()), loc(key.span())));
            }
        }
        if let Some(s) = &def.subscribe
            && *s.get_ref()
        {
            note_groups(0);
            triggers.push((TriggerKey::Subscribe, loc(s.span())));
        }
        if let Some(d) = &def.default
            && *d.get_ref()
        {
            note_groups(0);
            triggers.push((TriggerKey::Default, loc(d.span())));
        }
        let had_trigger_errors = self.diags.len() > before;
        if triggers.is_empty() && !had_trigger_errors {
            self.error(
                &id_loc,
                format!("rule `{id}` has no trigger (exact, contains, prefix, suffix, regex, click, scan, subscribe or default)"),
            );
        }
        let max_captures = min_groups.unwrap_or(0);

        // Windows.
        let mut windows = Vec::new();
        for w in &def.when {
            if let Some(w) = self.window(file, w) {
                windows.push(w);
            }
        }

        // Replies.
        let mut items = Vec::new();
        let ctx = TemplateCtx {
            action: action_name.as_deref(),
            fields,
            max_captures,
        };
        if let Some(text) = &def.reply {
            let l = loc(text.span());
            if text.get_ref().trim().is_empty() {
                self.error(&l, "empty reply".into());
            } else {
                let name = self.template_name(&id, "");
                if let Some(name) = self.compile(name, text, &l, Some(&ctx)) {
                    items.push(ReplyItem::Text(name));
                }
            }
        }
        for r in &def.replies {
            if let Some(item) = self.reply(file, &id, r, &ctx) {
                items.push(item);
            }
        }
        if items.is_empty()
            && action_name.is_none()
            && def.action.is_none()
            && self.diags.len() == before
        {
            self.error(
                &id_loc,
                format!(
                    "rule `{id}` has no reply (add `reply = \"…\"` or [[rule.replies]], or an action)"
                ),
            );
        }

        let (path, line, col) = self.loc_of(&id_loc);
        Pending {
            id: Arc::from(id.as_str()),
            name: def.name.clone(),
            origin: short_origin(&path, line, col),
            priority: def.priority,
            windows,
            requires_binding: def.requires_binding,
            action: action_name,
            fields,
            mode: def.mode,
            items,
            enabled: def.enabled,
            has_windows: !def.when.is_empty(),
            triggers,
            regexes,
        }
    }

    /// A unique template name that still tells a person which rule it belongs to.
    fn template_name(&mut self, id: &str, part: &str) -> String {
        self.seq += 1;
        format!("{id}#{}{part}", self.seq)
    }

    fn reply(
        &mut self,
        file: usize,
        id: &str,
        r: &Spanned<ReplyDef>,
        ctx: &TemplateCtx<'_>,
    ) -> Option<ReplyItem> {
        let l = Loc {
            file,
            span: r.span(),
        };
        let def = r.get_ref();
        match (&def.text, &def.news) {
            (Some(text), None) => {
                let tl = Loc {
                    file,
                    span: text.span(),
                };
                if text.get_ref().trim().is_empty() {
                    self.error(&tl, "empty reply".into());
                    return None;
                }
                let name = self.template_name(id, "");
                self.compile(name, text, &tl, Some(ctx))
                    .map(ReplyItem::Text)
            }
            (None, Some(news)) => self.news(file, id, news, ctx),
            _ => {
                self.error(&l, "a reply needs exactly one of `text` or `news`".into());
                None
            }
        }
    }

    fn news(
        &mut self,
        file: usize,
        id: &str,
        news: &NewsDef,
        ctx: &TemplateCtx<'_>,
    ) -> Option<ReplyItem> {
        let tl = Loc {
            file,
            span: news.title.span(),
        };
        if news.title.get_ref().trim().is_empty() {
            self.error(&tl, "empty reply: a news reply needs a title".into());
            return None;
        }
        let name = self.template_name(id, ".title");
        let title = self.compile(name, &news.title, &tl, Some(ctx));
        let part = |this: &mut Self, label: &str, v: &Option<Spanned<String>>| {
            let Some(s) = v else {
                return Some(None);
            };
            let l = Loc {
                file,
                span: s.span(),
            };
            let name = this.template_name(id, &format!(".{label}"));
            this.compile(name, s, &l, Some(ctx)).map(Some)
        };
        let description = part(self, "description", &news.description);
        let pic_url = part(self, "pic_url", &news.pic_url);
        let url = part(self, "url", &news.url);
        Some(ReplyItem::News {
            title: title?,
            description: description?,
            pic_url: pic_url?,
            url: url?,
        })
    }

    /// Compile one template; check its syntax, the fields it uses against the action and its
    /// capture references. Returns the template name on success.
    fn compile(
        &mut self,
        name: String,
        text: &Spanned<String>,
        loc: &Loc,
        ctx: Option<&TemplateCtx<'_>>,
    ) -> Option<String> {
        let (source, used_captures) = rewrite_captures(text.get_ref());
        if let Err(e) = self.env.add_template_owned(name.clone(), source) {
            let (line, col) = self.template_pos(loc, e.line().unwrap_or(1));
            let detail = e
                .detail()
                .map(str::to_owned)
                .unwrap_or_else(|| e.kind().to_string());
            self.error_at(
                loc.file,
                line,
                col,
                format!("invalid template syntax: {detail}"),
            );
            return None;
        }
        let Some(ctx) = ctx else {
            return Some(name);
        };
        let used = match self.env.get_template(&name) {
            Ok(t) => t.undeclared_variables(false),
            Err(_) => Default::default(),
        };
        let mut unknown: Vec<String> = used
            .into_iter()
            .filter(|v| {
                v != CAPTURES && !self.globals.contains(v) && !ctx.fields.contains(&v.as_str())
            })
            .collect();
        unknown.sort();
        let mut ok = unknown.is_empty();
        for var in unknown {
            let message = match ctx.action {
                Some(action) if ctx.fields.is_empty() => {
                    format!("template uses `{var}`, but action `{action}` provides no fields")
                }
                Some(action) => format!(
                    "template uses `{var}`, which action `{action}` does not provide (it provides: {})",
                    ctx.fields.join(", ")
                ),
                None => {
                    format!("template uses `{var}`, but the rule has no action to provide it")
                }
            };
            self.error(loc, message);
        }
        if used_captures > ctx.max_captures {
            ok = false;
            self.error(
                loc,
                format!(
                    "reply uses {{{used_captures}}}, but the rule's triggers provide at most {} capture(s)",
                    ctx.max_captures
                ),
            );
        }
        ok.then_some(name)
    }

    /// File line:col for line `tmpl_line` of the template whose string value starts at `loc`.
    fn template_pos(&self, loc: &Loc, tmpl_line: usize) -> (usize, usize) {
        let Some(src) = self.sources.get(loc.file) else {
            return (1, 1);
        };
        let raw = src.text.get(loc.span.clone()).unwrap_or("");
        let multiline = raw.starts_with("\"\"\"") || raw.starts_with("'''");
        if !multiline || tmpl_line <= 1 {
            return src.lines.line_col(&src.text, loc.span.start);
        }
        let mut off = loc.span.start + 3;
        let rest = src.text.get(off..).unwrap_or("");
        if rest.starts_with("\r\n") {
            off += 2;
        } else if rest.starts_with('\n') {
            off += 1;
        }
        let (l, c) = src.lines.line_col(&src.text, off);
        if tmpl_line <= 1 {
            (l, c)
        } else {
            (l + tmpl_line - 1, 1)
        }
    }

    fn window(&mut self, file: usize, w: &Spanned<WindowDef>) -> Option<Window> {
        let def = w.get_ref();
        let before = self.diags.len();
        let days = match &def.days {
            None => 0x7f,
            Some(d) => match parse_days(d.get_ref()) {
                Ok(mask) => mask,
                Err(msg) => {
                    self.error(
                        &Loc {
                            file,
                            span: d.span(),
                        },
                        msg,
                    );
                    0
                }
            },
        };
        let mut time = |v: &Option<Spanned<String>>, default: u32| -> u32 {
            match v {
                None => default,
                Some(t) => match parse_hhmm(t.get_ref()) {
                    Some(m) => m,
                    None => {
                        self.error(
                            &Loc {
                                file,
                                span: t.span(),
                            },
                            format!("bad time `{}`: use HH:MM (00:00 to 24:00)", t.get_ref()),
                        );
                        0
                    }
                },
            }
        };
        let from = time(&def.from, 0);
        let to = time(&def.to, 24 * 60);
        if self.diags.len() > before {
            return None;
        }
        if from == to {
            self.error(
                &Loc {
                    file,
                    span: w.span(),
                },
                "empty time window: `from` equals `to`".into(),
            );
            return None;
        }
        Some(Window { days, from, to })
    }
}

struct TemplateCtx<'a> {
    action: Option<&'a str>,
    fields: &'static [&'static str],
    max_captures: usize,
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `HH:MM` → minutes since midnight; `24:00` allowed.
pub(crate) fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// `mon-fri`, `sat,sun`, `mon,wed-fri`, `fri-mon` (wraps) → bit mask (bit 0 = Monday).
pub(crate) fn parse_days(s: &str) -> Result<u8, String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| -> Result<u32, String> {
        let d = d.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .position(|n| *n == d)
            .map(|p| p as u32)
            .ok_or_else(|| format!("unknown day `{}`: use mon tue wed thu fri sat sun", d))
    };
    let mut mask = 0u8;
    for part in s.split(',') {
        if part.trim().is_empty() {
            return Err(format!("bad days `{s}`: empty item"));
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    mask |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    Ok(mask)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::table::MatchKind;
    use crate::rules::{RenderedReply, Trigger};
    use chrono::NaiveDate;

    /// A catalog that knows the shipped actions and the campus ones (issue 3).
    pub(crate) struct StubCatalog;

    /// Mirrors the declarations of the lead's registry (src/rules/actions/), so tests that need
    /// "every campus action" do not depend on the registry's internals.
    pub(crate) const CAMPUS: &[(&str, &[&str], &[&str])] = &[
        ("help", &[], &[]),
        ("echo_openid", &["openid"], &[]),
        (
            "feedback",
            &[],
            &["feedback.ask", "feedback.thanks", "feedback.empty"],
        ),
        (
            "bind_card",
            &["student_id", "name_masked"],
            &[
                "bind.ask_student_id",
                "bind.bad_student_id",
                "bind.ask_code",
                "bind.code_format",
                "bind.bad_code",
                "bind.code_expired",
                "bind.too_soon",
                "bind.daily_limit",
                "bind.locked",
                "bind.not_found",
                "bind.no_phone",
                "bind.card_closed",
                "bind.card_taken",
                "bind.done",
                "bind.already",
            ],
        ),
        (
            "unbind_card",
            &["card_no_masked"],
            &["unbind.confirm", "unbind.done", "unbind.kept"],
        ),
        (
            "bind_phone",
            &["phone_masked"],
            &[
                "phone.ask",
                "phone.invalid",
                "phone.ask_code",
                "phone.code_format",
                "phone.bad_code",
                "phone.code_expired",
                "phone.too_soon",
                "phone.daily_limit",
                "phone.locked",
                "phone.done",
            ],
        ),
        (
            "balance",
            &[
                "balance_yuan",
                "pending_yuan",
                "has_pending",
                "card_no_masked",
                "as_of",
            ],
            &[],
        ),
        (
            "transactions",
            TRANSACTION_FIELDS,
            &["transactions.empty", "transactions.bad_day"],
        ),
        ("more", TRANSACTION_FIELDS, &["more.none"]),
        (
            "card_info",
            &[
                "card_no_masked",
                "name_masked",
                "status",
                "card_type",
                "issued",
                "expires",
            ],
            &[],
        ),
        (
            "report_loss",
            &["card_no_masked"],
            &[
                "loss.confirm",
                "loss.done",
                "loss.already",
                "loss.closed",
                "loss.kept",
            ],
        ),
        (
            "find_lost_card",
            &["place", "pickup_hours", "found_at"],
            &["lost.none", "lost.not_lost"],
        ),
        ("meetings", &["count", "items"], &["meetings.none"]),
        (
            "grades",
            &["term", "terms", "count", "items", "gpa", "credits"],
            &["grades.none"],
        ),
        (
            "timetable",
            &["day", "week_no", "count", "items"],
            &["timetable.none", "timetable.bad_day"],
        ),
        (
            "library_loans",
            &[
                "count",
                "overdue_count",
                "due_soon_count",
                "fine_yuan",
                "items",
            ],
            &["library.none"],
        ),
        ("locker", &["count", "items"], &["locker.none"]),
    ];

    const TRANSACTION_FIELDS: &[&str] = &[
        "period", "count", "total", "page", "pages", "has_more", "items",
    ];

    pub(crate) const ROUTER: &[&str] = &[
        "binding.required",
        "dialog.cancelled",
        "default.hint",
        "error.busy",
        "error.timeout",
        "error.unavailable",
        "rate.limited",
    ];

    impl ActionCatalog for StubCatalog {
        fn fields(&self, action: &str) -> Option<&'static [&'static str]> {
            CAMPUS
                .iter()
                .find(|(n, _, _)| *n == action)
                .map(|(_, f, _)| *f)
        }
        fn messages(&self, action: &str) -> &'static [&'static str] {
            CAMPUS
                .iter()
                .find(|(n, _, _)| *n == action)
                .map(|(_, _, m)| *m)
                .unwrap_or(&[])
        }
        fn all_messages(&self) -> Vec<&'static str> {
            Vec::new()
        }
    }

    /// Only `help`, `echo_openid` and `balance`; no message keys required.
    struct Small;
    impl ActionCatalog for Small {
        fn fields(&self, action: &str) -> Option<&'static [&'static str]> {
            match action {
                "help" => Some(&[]),
                "echo_openid" => Some(&["openid"]),
                "balance" => Some(&["balance_yuan"]),
                "bind_card" => Some(&[]),
                _ => None,
            }
        }
        fn messages(&self, action: &str) -> &'static [&'static str] {
            match action {
                "bind_card" => &["bind.ask_student_id"],
                _ => &[],
            }
        }
        fn all_messages(&self) -> Vec<&'static str> {
            vec!["binding.required"]
        }
    }

    const MSGS: &str = "[messages]\n\"binding.required\" = \"请先绑定校园卡。\"\n";

    fn load(files: &[(&str, &str)]) -> Result<RuleTable, Vec<Diagnostic>> {
        let mut all: Vec<(PathBuf, String)> = files
            .iter()
            .map(|(n, t)| (PathBuf::from(format!("rules/{n}")), (*t).to_owned()))
            .collect();
        all.push((PathBuf::from("rules/zz_messages.toml"), MSGS.to_owned()));
        build(Path::new("rules"), all, &Small)
    }

    fn ok(files: &[(&str, &str)]) -> RuleTable {
        match load(files) {
            Ok(t) => t,
            Err(d) => panic!(
                "{}",
                d.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }

    fn errs(files: &[(&str, &str)]) -> Vec<String> {
        match load(files) {
            Ok(_) => panic!("expected diagnostics"),
            Err(d) => d.iter().map(|d| d.to_string()).collect(),
        }
    }

    /// Wednesday 2026-11-25 at `h:m`.
    fn at(h: u32, m: u32) -> chrono::NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .unwrap()
    }

    fn text(t: &RuleTable, s: &str) -> Option<(String, MatchKind, Vec<String>)> {
        t.route(&Trigger::Text(s), at(10, 0))
            .map(|m| (m.rule_id.to_string(), m.kind, m.captures))
    }

    fn id(t: &RuleTable, s: &str) -> String {
        text(t, s).map(|x| x.0).unwrap_or_default()
    }

    fn first_text(m: &crate::rules::Matched, fields: serde_json::Value) -> String {
        match m
            .replies
            .render_plain(&fields, &m.captures)
            .unwrap()
            .remove(0)
        {
            RenderedReply::Text(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    const KINDS: &str = r#"
[[rule]]
id = "exact"
exact = ["余额"]
reply = "E"

[[rule]]
id = "contains"
contains = ["余额", "查询余额"]
reply = "C"

[[rule]]
id = "regex"
regex = ['^余额\s*(\d+)$']
reply = "R {1}"

[[rule]]
id = "prefix"
prefix = ["绑定"]
reply = "P {1}"

[[rule]]
id = "suffix"
suffix = ["怎么办"]
reply = "S {1}"

[[rule]]
id = "menu"
click = ["CARD_BALANCE"]
reply = "M"

[[rule]]
id = "scene"
scan = ["library_gate"]
reply = "Q"

[[rule]]
id = "welcome"
subscribe = true
reply = "W"

[[rule]]
id = "fallback"
default = true
reply = "D"
"#;

    #[test]
    fn every_match_kind_routes_to_its_rule() {
        let t = ok(&[("a.toml", KINDS)]);
        assert_eq!(
            text(&t, "余额"),
            Some(("exact".into(), MatchKind::Exact, vec![]))
        );
        assert_eq!(id(&t, "我要查询余额"), "contains");
        assert_eq!(
            text(&t, "绑定 2023001"),
            Some(("prefix".into(), MatchKind::Prefix, vec!["2023001".into()]))
        );
        assert_eq!(
            text(&t, "饭卡丢了怎么办"),
            Some(("suffix".into(), MatchKind::Suffix, vec!["饭卡丢了".into()]))
        );
        let now = at(10, 0);
        let r = |tr: Trigger<'_>| t.route(&tr, now).map(|m| (m.rule_id.to_string(), m.kind));
        assert_eq!(
            r(Trigger::Click("CARD_BALANCE")),
            Some(("menu".into(), MatchKind::Click))
        );
        assert_eq!(r(Trigger::Click("card_balance")), None);
        assert_eq!(
            r(Trigger::Scan("library_gate")),
            Some(("scene".into(), MatchKind::Scan))
        );
        assert_eq!(
            r(Trigger::Subscribe {
                scene: Some("qrscene_library_gate")
            }),
            Some(("scene".into(), MatchKind::Scan))
        );
        assert_eq!(
            r(Trigger::Subscribe { scene: None }),
            Some(("welcome".into(), MatchKind::Subscribe))
        );
        assert_eq!(
            r(Trigger::Subscribe {
                scene: Some("qrscene_unknown")
            }),
            Some(("welcome".into(), MatchKind::Subscribe))
        );
        let m = t.route(&Trigger::Text("今天天气"), now).unwrap();
        assert!(m.is_default);
        assert_eq!(m.kind, MatchKind::Default);
        assert_eq!(&*m.rule_id, "fallback");
    }

    #[test]
    fn exact_beats_contains_beats_regex() {
        let t = ok(&[("a.toml", KINDS)]);
        // "余额" is exact and contains and would be regex-ish: exact wins.
        assert_eq!(id(&t, "余额"), "exact");
        // "余额 12" matches contains(余额) and regex: contains wins.
        assert_eq!(id(&t, "余额 12"), "contains");
    }

    #[test]
    fn longest_keyword_wins_among_equals() {
        let t = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "short"
contains = ["卡"]
reply = "1"

[[rule]]
id = "long"
contains = ["校园卡"]
reply = "2"

[[rule]]
id = "prefix_short"
prefix = ["查"]
reply = "3"
"#,
        )]);
        assert_eq!(id(&t, "我的校园卡"), "long");
        assert_eq!(id(&t, "卡"), "short");
        // prefix 查 (1 char) vs contains 校园卡 (3 chars): same rank, longer wins.
        assert_eq!(id(&t, "查校园卡"), "long");
        // Same rank, same length: the earlier rule wins.
        assert_eq!(id(&t, "查卡"), "short");
    }

    #[test]
    fn priority_overrides_match_kind() {
        let t = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "exact"
exact = ["成绩"]
reply = "E"

[[rule]]
id = "urgent"
priority = 10
regex = ['成绩']
reply = "U"
"#,
        )]);
        assert_eq!(id(&t, "成绩"), "urgent");
    }

    #[test]
    fn regex_captures_render_into_the_reply() {
        let t = ok(&[("a.toml", KINDS)]);
        let m = t.route(&Trigger::Text("余额１２３"), at(10, 0)).unwrap();
        // full-width digits normalised, so "余额123" has no contains hit? it has: 余额.
        assert_eq!(&*m.rule_id, "contains");
        let t2 = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "room"
regex = ['^(\d+)号楼\s*(\d+)$']
reply = "楼 {1} 房间 {2}"
"#,
        )]);
        let m = t2.route(&Trigger::Text("１２号楼 305"), at(10, 0)).unwrap();
        assert_eq!(m.captures, vec!["12".to_owned(), "305".to_owned()]);
        assert_eq!(first_text(&m, serde_json::json!({})), "楼 12 房间 305");
    }

    #[test]
    fn regexes_match_case_insensitively_like_the_normalised_input() {
        let t = ok(&[(
            "a.toml",
            "[[rule]]\nid = \"room\"\nregex = ['^ROOM(\\d+)$']\nreply = \"房间 {1}\"\n",
        )]);
        let m = t.route(&Trigger::Text("Room１０１"), at(10, 0)).unwrap();
        assert_eq!(m.captures, vec!["101".to_owned()]);
        assert_eq!(first_text(&m, serde_json::json!({})), "房间 101");
    }

    #[test]
    fn input_is_normalised_before_matching() {
        let t = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "abc"
exact = ["ABC123"]
reply = "ok"

[[rule]]
id = "help"
exact = ["Help"]
reply = "ok"
"#,
        )]);
        assert_eq!(id(&t, "ＡＢＣ１２３"), "abc");
        assert_eq!(id(&t, "  abc123 "), "abc");
        assert_eq!(id(&t, "HELP"), "help");
        assert_eq!(id(&t, "ｈｅｌｐ"), "help");
    }

    const WINDOWS: &str = r#"
[[rule]]
id = "office"
exact = ["人工"]
reply = "正在为您转接人工客服。"
[[rule.when]]
days = "mon-fri"
from = "08:30"
to = "17:30"

[[rule]]
id = "after_hours"
exact = ["人工"]
reply = "现在是非工作时间。"
[[rule.when]]
days = "mon-fri"
from = "17:30"
to = "08:30"
[[rule.when]]
days = "sat,sun"
"#;

    #[test]
    fn time_windows_select_the_live_rule() {
        let t = ok(&[("a.toml", WINDOWS)]);
        let r = |now| {
            t.route(&Trigger::Text("人工"), now)
                .map(|m| m.rule_id.to_string())
        };
        assert_eq!(r(at(8, 30)).as_deref(), Some("office"));
        assert_eq!(r(at(17, 29)).as_deref(), Some("office"));
        assert_eq!(r(at(17, 30)).as_deref(), Some("after_hours"));
        assert_eq!(r(at(2, 0)).as_deref(), Some("after_hours"));
        // Saturday 2026-11-28 noon
        let sat = NaiveDate::from_ymd_opt(2026, 11, 28)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(r(sat).as_deref(), Some("after_hours"));
        // Monday 01:00: the overnight part of a window belongs to the day it starts on, and
        // Sunday has no 17:30–08:30 window (the sat,sun window ends at midnight): no rule.
        let mon = NaiveDate::from_ymd_opt(2026, 11, 30)
            .unwrap()
            .and_hms_opt(1, 0, 0)
            .unwrap();
        assert_eq!(r(mon), None);
        // Tuesday 01:00 is in Monday's 17:30–08:30 window.
        let tue = NaiveDate::from_ymd_opt(2026, 12, 1)
            .unwrap()
            .and_hms_opt(1, 0, 0)
            .unwrap();
        assert_eq!(r(tue).as_deref(), Some("after_hours"));
    }

    #[test]
    fn requires_binding_and_action_are_reported() {
        let t = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "balance"
exact = ["余额"]
action = "balance"
requires_binding = true
reply = "您的余额为 {{ balance_yuan }} 元。"

[[rule]]
id = "hi"
exact = ["你好"]
reply = "你好！"
"#,
        )]);
        let m = t.route(&Trigger::Text("余额"), at(10, 0)).unwrap();
        assert!(m.requires_binding);
        assert_eq!(m.action.as_deref(), Some("balance"));
        assert_eq!(
            first_text(&m, serde_json::json!({"balance_yuan": "35.50"})),
            "您的余额为 35.50 元。"
        );
        let m = t.route(&Trigger::Text("你好"), at(10, 0)).unwrap();
        assert!(!m.requires_binding);
        assert_eq!(m.action, None);
    }

    #[test]
    fn hits_are_counted_per_rule() {
        let t = ok(&[("a.toml", KINDS)]);
        for _ in 0..3 {
            t.route(&Trigger::Text("余额"), at(10, 0));
        }
        t.route(&Trigger::Click("CARD_BALANCE"), at(10, 0));
        let hits: HashMap<String, u64> = t.hit_counts().into_iter().collect();
        assert_eq!(hits["exact"], 3);
        let info = t.rules();
        let menu = info.iter().find(|r| r.id == "menu").unwrap();
        assert_eq!((menu.hits, menu.origin.as_str()), (1, "a.toml:28:6"));
        assert_eq!(hits["menu"], 1);
        assert_eq!(hits["regex"], 0);
        assert_eq!(t.rule_count(), 9);
    }

    #[test]
    fn cooldown_defaults_to_sixty_minutes_and_is_configurable() {
        let t = ok(&[("a.toml", KINDS)]);
        assert_eq!(t.default_cooldown(), Duration::from_secs(3600));
        let t = ok(&[
            ("a.toml", KINDS),
            ("s.toml", "[settings]\ndefault_cooldown_minutes = 5\n"),
        ]);
        assert_eq!(t.default_cooldown(), Duration::from_secs(300));
    }

    #[test]
    fn messages_render_by_key() {
        let t = ok(&[
            (
                "m.toml",
                "[messages]\n\"bind.ask_student_id\" = \"请输入学号（{{ tries }}）\"\n",
            ),
            ("a.toml", KINDS),
        ]);
        assert_eq!(
            t.message("bind.ask_student_id", &serde_json::json!({"tries": 2}))
                .unwrap(),
            "请输入学号（2）"
        );
        assert!(matches!(
            t.message("nope", &serde_json::json!({})),
            Err(crate::rules::RuleError::UnknownMessage(_))
        ));
    }

    #[test]
    fn random_one_rule_sends_one_of_its_replies() {
        let t = ok(&[(
            "a.toml",
            r#"
[[rule]]
id = "joke"
exact = ["讲个笑话"]
mode = "random_one"
replies = [{ text = "甲" }, { text = "乙" }]

[[rule]]
id = "all"
exact = ["全部"]
replies = [{ text = "一" }, { news = { title = "二", url = "https://example.edu.cn/" } }]
"#,
        )]);
        let m = t.route(&Trigger::Text("讲个笑话"), at(10, 0)).unwrap();
        let out = m.replies.render_plain(&serde_json::json!({}), &[]).unwrap();
        assert_eq!(out.len(), 1);
        let m = t.route(&Trigger::Text("全部"), at(10, 0)).unwrap();
        let out = m.replies.render_plain(&serde_json::json!({}), &[]).unwrap();
        assert_eq!(
            out,
            vec![
                RenderedReply::Text("一".into()),
                RenderedReply::News {
                    title: "二".into(),
                    description: String::new(),
                    pic_url: String::new(),
                    url: "https://example.edu.cn/".into()
                }
            ]
        );
    }

    // ---- validation: each error with its exact file:line:col ----

    #[test]
    fn duplicate_keyword_across_files_points_at_the_second() {
        let e = errs(&[
            (
                "a.toml",
                "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\nreply = \"x\"\n",
            ),
            (
                "b.toml",
                "[[rule]]\nid = \"b\"\nexact = [\"x\", \"ＹＵ\", \"余额\"]\nreply = \"y\"\n",
            ),
        ]);
        assert_eq!(
            e,
            vec![
                "rules/b.toml:3:21: duplicate exact keyword `余额`: already used by rule `a` at a.toml:3:10 (give both rules `when` windows to share it)"
            ]
        );
    }

    #[test]
    fn same_keyword_of_different_kinds_is_fine() {
        ok(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\nreply = \"x\"\n[[rule]]\nid = \"b\"\ncontains = [\"余额\"]\nreply = \"y\"\n",
        )]);
    }

    #[test]
    fn unknown_action_is_reported_at_the_action() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\naction = \"balanse\"\n",
        )]);
        assert_eq!(e, vec!["rules/a.toml:4:10: unknown action `balanse`"]);
    }

    #[test]
    fn template_field_the_action_does_not_provide() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\naction = \"balance\"\nreply = \"余额 {{ balanse_yuan }}\"\n",
        )]);
        assert_eq!(
            e,
            vec![
                "rules/a.toml:5:9: template uses `balanse_yuan`, which action `balance` does not provide (it provides: balance_yuan)"
            ]
        );
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreply = \"{{ openid }}\"\n",
        )]);
        assert_eq!(
            e,
            vec![
                "rules/a.toml:4:9: template uses `openid`, but the rule has no action to provide it"
            ]
        );
    }

    #[test]
    fn bad_regex_is_reported_at_the_pattern() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nregex = ['^(余额']\nreply = \"x\"\n",
        )]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("rules/a.toml:3:10: bad regex: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn empty_replies_are_reported() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreply = \"  \"\n",
        )]);
        assert_eq!(e, vec!["rules/a.toml:4:9: empty reply"]);
        let e = errs(&[("a.toml", "[[rule]]\nid = \"a\"\nexact = [\"x\"]\n")]);
        assert_eq!(
            e,
            vec![
                "rules/a.toml:2:6: rule `a` has no reply (add `reply = \"…\"` or [[rule.replies]], or an action)"
            ]
        );
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreplies = [{ news = { title = \"\" } }]\n",
        )]);
        assert_eq!(
            e,
            vec!["rules/a.toml:4:31: empty reply: a news reply needs a title"]
        );
    }

    #[test]
    fn unknown_key_is_reported_by_toml_with_position() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nacton = \"help\"\nreply = \"y\"\n",
        )]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("rules/a.toml:4:1: unknown field `acton`"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn invalid_template_syntax_is_reported() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreply = \"余额 {{ x \"\n",
        )]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("rules/a.toml:4:9: invalid template syntax: "),
            "{}",
            e[0]
        );
        // A multi-line template: the error line inside the string maps to the file line.
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreply = \"\"\"\n第一行\n第二行 {% if %}\n\"\"\"\n",
        )]);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("rules/a.toml:6:1: invalid template syntax: "),
            "{}",
            e[0]
        );
    }

    #[test]
    fn message_key_an_action_needs_but_no_file_defines() {
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"bind\"\nexact = [\"绑定\"]\naction = \"bind_card\"\n",
        )]);
        assert_eq!(
            e,
            vec![
                "rules/a.toml:4:10: action `bind_card` needs message `bind.ask_student_id`, which no [messages] table defines"
            ]
        );
    }

    #[test]
    fn message_key_every_action_may_use_must_exist() {
        let files = vec![(PathBuf::from("rules/a.toml"), KINDS.to_owned())];
        let e: Vec<String> = build(Path::new("rules"), files, &Small)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            e,
            vec![
                "rules:1:1: message `binding.required` is used by an action but no [messages] table defines it"
            ]
        );
    }

    #[test]
    fn duplicate_rule_id_and_duplicate_message() {
        let e = errs(&[
            (
                "a.toml",
                "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreply = \"y\"\n",
            ),
            (
                "b.toml",
                "[[rule]]\nid = \"a\"\nexact = [\"z\"]\nreply = \"y\"\n[messages]\n\"binding.required\" = \"再次\"\n",
            ),
        ]);
        assert_eq!(
            e,
            vec![
                "rules/b.toml:2:6: duplicate rule id `a`: already used at a.toml:2:6",
                "rules/zz_messages.toml:2:22: duplicate message `binding.required`: already defined at b.toml:6:22",
            ]
        );
    }

    #[test]
    fn all_errors_of_a_load_are_collected() {
        let e = errs(&[
            (
                "a.toml",
                "[[rule]]\nid = \"a\"\nexact = [\"x\"]\naction = \"nope\"\nreply = \"{1}\"\n",
            ),
            ("b.toml", "this is not toml\n"),
            (
                "c.toml",
                "[[rule]]\nid = \"c\"\nregex = ['(']\nreply = \"y\"\n[[rule.when]]\ndays = \"mon-fry\"\nfrom = \"25:00\"\n",
            ),
        ]);
        assert_eq!(e.len(), 6, "{e:#?}");
        assert!(e[0].starts_with("rules/a.toml:4:10: unknown action `nope`"));
        assert_eq!(
            e[1],
            "rules/a.toml:5:9: reply uses {1}, but the rule's triggers provide at most 0 capture(s)"
        );
        assert!(e[2].starts_with("rules/b.toml:1:"));
        assert!(e[3].starts_with("rules/c.toml:3:10: bad regex"));
        assert_eq!(
            e[4],
            "rules/c.toml:6:8: unknown day `fry`: use mon tue wed thu fri sat sun"
        );
        assert_eq!(
            e[5],
            "rules/c.toml:7:8: bad time `25:00`: use HH:MM (00:00 to 24:00)"
        );
    }

    #[test]
    fn shared_keyword_is_allowed_when_every_rule_has_a_window() {
        ok(&[("a.toml", WINDOWS)]);
    }

    #[test]
    fn disabled_rules_are_validated_but_not_routed() {
        let t = ok(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nenabled = false\nexact = [\"x\"]\nreply = \"y\"\n[[rule]]\nid = \"b\"\nexact = [\"x\"]\nreply = \"z\"\n",
        )]);
        assert_eq!(id(&t, "x"), "b");
        assert_eq!(t.rule_count(), 1);
        let e = errs(&[(
            "a.toml",
            "[[rule]]\nid = \"a\"\nenabled = false\nexact = [\"x\"]\naction = \"nope\"\n",
        )]);
        assert_eq!(e, vec!["rules/a.toml:5:10: unknown action `nope`"]);
    }

    #[test]
    fn parse_days_and_times() {
        assert_eq!(parse_days("mon-fri"), Ok(0b0011111));
        assert_eq!(parse_days("sat,sun"), Ok(0b1100000));
        assert_eq!(parse_days("fri-mon"), Ok(0b1110001));
        assert!(parse_days("mon,").is_err());
        assert_eq!(parse_hhmm("08:30"), Some(510));
        assert_eq!(parse_hhmm("24:00"), Some(1440));
        assert_eq!(parse_hhmm("24:01"), None);
        assert_eq!(parse_hhmm("8:5"), None);
    }

    proptest::proptest! {
        #[test]
        fn any_normalised_exact_keyword_matches_its_own_rule(kw in "[a-zA-Z0-9\\p{Han}ＡＢＣ１２３ ]{1,12}") {
            let norm = crate::rules::normalize(&kw);
            proptest::prop_assume!(!norm.is_empty());
            let file = format!(
                "[[rule]]\nid = \"kw\"\nexact = [{}]\nreply = \"ok\"\n[[rule]]\nid = \"other\"\ncontains = [\"zzzzzzzzzzzzzzzzzz\"]\nreply = \"no\"\n",
                toml_string(&kw)
            );
            let t = ok(&[("a.toml", &file)]);
            proptest::prop_assert_eq!(id(&t, &kw), "kw");
            proptest::prop_assert_eq!(id(&t, &norm), "kw");
        }
    }

    proptest::proptest! {
        #[test]
        fn exact_beats_contains_beats_regex_for_any_keyword(kw in "[a-z0-9\\p{Han}]{1,8}") {
            // Rules are listed regex first so file order cannot explain the result.
            let file = format!(
                "[[rule]]\nid = \"regex\"\nregex = [{re}]\nreply = \"r\"\n\
                 [[rule]]\nid = \"contains\"\ncontains = [{kw}]\nreply = \"c\"\n\
                 [[rule]]\nid = \"exact\"\nexact = [{kw}]\nreply = \"e\"\n",
                re = toml_string(&regex::escape(&kw)),
                kw = toml_string(&kw),
            );
            let t = ok(&[("a.toml", &file)]);
            proptest::prop_assert_eq!(id(&t, &kw), "exact");
            proptest::prop_assert_eq!(id(&t, &format!("前{kw}后")), "contains");
        }
    }

    const FRAGMENTS: &[&str] = &[
        "[[rule]]",
        "id = \"a\"",
        "id = \"b\"",
        "exact = [\"余额\"]",
        "contains = [\"\"]",
        "prefix = [\"绑定\"]",
        "regex = ['(']",
        "regex = ['^(\\d+)$']",
        "reply = \"{1} {{ x }}\"",
        "reply = \"{% if %}\"",
        "reply = \"\"",
        "action = \"balance\"",
        "action = \"bind_card\"",
        "default = true",
        "subscribe = true",
        "[[rule.when]]",
        "days = \"mon-sun\"",
        "from = \"24:00\"",
        "to = \"00:00\"",
        "[[rule.replies]]",
        "news = { title = \"t\" }",
        "text = \"x\"",
        "[messages]",
        "\"bind.ask_student_id\" = \"{{\"",
        "[settings]",
        "default_cooldown_minutes = 5",
        "= \"",
    ];

    proptest::proptest! {
        #[test]
        fn any_mix_of_rule_lines_loads_or_reports_without_panicking(
            picks in proptest::collection::vec(0..FRAGMENTS.len(), 0..24)
        ) {
            let text: String = picks.iter().map(|&i| format!("{}\n", FRAGMENTS[i])).collect();
            if let Err(diags) = load(&[("a.toml", &text)]) {
                proptest::prop_assert!(!diags.is_empty());
                for d in diags {
                    proptest::prop_assert!(d.line >= 1 && d.col >= 1);
                }
            }
        }
    }

    fn toml_string(s: &str) -> String {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c => out.push(c),
            }
        }
        out.push('"');
        out
    }
}
