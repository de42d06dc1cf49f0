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
use super::template::{CAPTURES, ReplyItem, ReplySet, new_env, rewrite_captures};
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
    let mut v = Validator {
        dir: dir.to_path_buf(),
        sources: Vec::new(),
        diags: Vec::new(),
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
}

/// A rule that passed its own checks, waiting for the cross-file checks.
struct Pending {
    rule: CompiledRule,
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
        let mut env = new_env();
        let globals: BTreeSet<String> = env.globals().map(|(k, _)| k.to_owned()).collect();

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
                if let Some(name) = self.compile(&mut env, name, text, &loc, &globals, None) {
                    messages.insert(key.clone(), name);
                }
                message_locs.insert(key, loc);
            }
        }

        // Rules.
        let mut pendings: Vec<Pending> = Vec::new();
        let mut ids: HashMap<String, Loc> = HashMap::new();
        let mut seq = 0usize;
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
                if let Some(p) = self.rule(
                    *file,
                    def,
                    id_loc,
                    catalog,
                    &message_locs,
                    &globals,
                    &mut env,
                    &mut seq,
                ) {
                    pendings.push(p);
                }
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
                    .map(|p| p.rule.id.to_string())
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
            rules.push(p.rule);
        }
        let minutes = cooldown.map(|(m, _)| m).unwrap_or(DEFAULT_COOLDOWN_MINUTES);
        let env = Arc::new(env);
        // The ReplySets were built before the environment was final; point them at it.
        let rules = rules
            .into_iter()
            .map(|mut r| {
                let items = r.replies.items.clone();
                r.replies = Arc::new(ReplySet {
                    mode: r.replies.mode,
                    items,
                    env: env.clone(),
                });
                r
            })
            .collect();
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

    #[allow(clippy::too_many_arguments)]
    fn rule(
        &mut self,
        file: usize,
        def: &RuleDef,
        id_loc: Loc,
        catalog: &dyn ActionCatalog,
        message_locs: &HashMap<String, Loc>,
        globals: &BTreeSet<String>,
        env: &mut Environment<'static>,
        seq: &mut usize,
    ) -> Option<Pending> {
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
            *seq += 1;
            let l = loc(text.span());
            if text.get_ref().trim().is_empty() {
                self.error(&l, "empty reply".into());
            } else if let Some(name) =
                self.compile(env, format!("{id}#{seq}"), text, &l, globals, Some(&ctx))
            {
                items.push(ReplyItem::Text(name));
            }
        }
        for r in &def.replies {
            *seq += 1;
            if let Some(item) = self.reply(file, &id, *seq, r, env, globals, &ctx) {
                items.push(item);
            }
        }
        if items.is_empty()
            && action_name.is_none()
            && def.action.is_none()
            && self.diags.len() == before
        {
            self.error(&id_loc, format!("rule `{id}` has no reply (add `reply = \"…\"` or [[rule.replies]], or an action)"));
        }

        let (path, line, col) = self.loc_of(&id_loc);
        let rule = CompiledRule {
            id: Arc::from(id.as_str()),
            name: def.name.clone(),
            origin: short_origin(&path, line, col),
            priority: def.priority,
            windows,
            requires_binding: def.requires_binding,
            action: action_name,
            fields,
            replies: Arc::new(ReplySet {
                mode: def.mode,
                items,
                // Replaced by the final shared environment when the table is built.
                env: Arc::new(Environment::new()),
            }),
            hits: AtomicU64::new(0),
        };
        Some(Pending {
            rule,
            enabled: def.enabled,
            has_windows: !def.when.is_empty(),
            triggers,
            regexes,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn reply(
        &mut self,
        file: usize,
        id: &str,
        seq: usize,
        r: &Spanned<ReplyDef>,
        env: &mut Environment<'static>,
        globals: &BTreeSet<String>,
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
                self.compile(env, format!("{id}#{seq}"), text, &tl, globals, Some(ctx))
                    .map(ReplyItem::Text)
            }
            (None, Some(news)) => self.news(file, id, seq, news, env, globals, ctx),
            _ => {
                self.error(&l, "a reply needs exactly one of `text` or `news`".into());
                None
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn news(
        &mut self,
        file: usize,
        id: &str,
        seq: usize,
        news: &NewsDef,
        env: &mut Environment<'static>,
        globals: &BTreeSet<String>,
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
        let title = self.compile(
            env,
            format!("{id}#{seq}.title"),
            &news.title,
            &tl,
            globals,
            Some(ctx),
        );
        let mut opt = |part: &str, v: &Option<Spanned<String>>| -> Option<Option<String>> {
            match v {
                None => Some(None),
                Some(s) => {
                    let l = Loc {
                        file,
                        span: s.span(),
                    };
                    self.compile(env, format!("{id}#{seq}.{part}"), s, &l, globals, Some(ctx))
                        .map(Some)
                }
            }
        };
        let description = opt("description", &news.description);
        let pic_url = opt("pic_url", &news.pic_url);
        let url = opt("url", &news.url);
        Some(ReplyItem::News {
            title: title?,
            description: description?,
            pic_url: pic_url?,
            url: url?,
        })
    }

    /// Compile one template into `env`; check syntax, fields against the action and capture
    /// references. Returns the template name on success.
    #[allow(clippy::too_many_arguments)]
    fn compile(
        &mut self,
        env: &mut Environment<'static>,
        name: String,
        text: &Spanned<String>,
        loc: &Loc,
        globals: &BTreeSet<String>,
        ctx: Option<&TemplateCtx<'_>>,
    ) -> Option<String> {
        let (source, used_captures) = rewrite_captures(text.get_ref());
        if let Err(e) = env.add_template_owned(name.clone(), source) {
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
        let mut ok = true;
        if let Some(ctx) = ctx {
            let used = match env.get_template(&name) {
                Ok(t) => t.undeclared_variables(false),
                Err(_) => Default::default(),
            };
            let mut unknown: Vec<&String> = used
                .iter()
                .filter(|v| {
                    v.as_str() != CAPTURES
                        && !globals.contains(*v)
                        && !ctx.fields.contains(&v.as_str())
                })
                .collect();
            unknown.sort();
            for var in unknown {
                ok = false;
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
