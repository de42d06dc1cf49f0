//! The whole-table checks: settings, messages, each rule's action and triggers, duplicates
//! across files; and the build of the table once nothing is wrong.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use regex::RegexBuilder;

use super::windows::{describe_minute, first_overlap};
use super::{DEFAULT_COOLDOWN_MINUTES, Loc, Pending, TemplateCtx, TriggerKey, Validator};
use crate::rules::model::{RuleDef, RuleFile};
use crate::rules::table::{CompiledRule, MatchKind, RuleTable, Triggers, scene_key, short_origin};
use crate::rules::template::{ReplyItem, ReplySet, new_env};
use crate::rules::{ActionCatalog, Diagnostic, exact_key, normalize};

impl Validator {
    /// Rules sharing a trigger by time windows should not be live at the same time: then the
    /// one that answers is decided by priority and file order, which is rarely what was meant.
    fn warn_overlaps(&mut self, key: &TriggerKey, list: &[(usize, Loc)], pendings: &[Pending]) {
        for (i, (a, _)) in list.iter().enumerate() {
            for (b, loc) in list.iter().skip(i + 1) {
                let (Some(pa), Some(pb)) = (pendings.get(*a), pendings.get(*b)) else {
                    continue;
                };
                if let Some(minute) = first_overlap(&pa.windows, &pb.windows) {
                    self.warn(
                        loc,
                        format!(
                            "rules `{}` and `{}` share the {} and their `when` windows overlap (e.g. {}): then the higher priority, or the earlier rule, answers",
                            pa.id,
                            pb.id,
                            key.describe(),
                            describe_minute(minute)
                        ),
                    );
                }
            }
        }
    }
}

/// Regexes are compiled with this size limit so a pathological pattern is a load error, not a
/// memory spike.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

impl Validator {
    pub(super) fn validate(
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

        let words = self.words(&parsed, catalog);

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
                self.warn_overlaps(key, list, &pendings);
                continue;
            }
            // The use in the oldest file is the original; the later ones were just added and
            // are the ones to fix. Equal or unknown times keep file order.
            let mut list = list.clone();
            list.sort_by_key(|(_, loc)| self.modified(loc.file));
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
            words,
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
                None => {
                    let names = catalog.names();
                    let hint = super::hints::did_you_mean_suffix(name, &names);
                    let list = if names.is_empty() {
                        String::new()
                    } else {
                        format!(" (actions: {})", names.join(", "))
                    };
                    self.error(
                        &loc(action.span()),
                        format!("unknown action `{name}`{hint}{list}"),
                    )
                }
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
                let n = if kind == MatchKind::Exact {
                    exact_key(&n).into_owned()
                } else {
                    n
                };
                triggers.push((TriggerKey::Text(kind, n), loc(kw.span())));
            }
        }
        let mut regexes = Vec::new();
        let mut broken_regex = false;
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
                    broken_regex = true;
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
            check_fields: def.action.is_none() || action_name.is_some(),
            check_captures: !broken_regex,
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
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}
