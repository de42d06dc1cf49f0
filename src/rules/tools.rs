//! Operator tools behind `onecard rules check` and `onecard rules test`: validate a directory
//! (or one file as it would join it) exactly as the service does and summarise it, and explain
//! which rule a message hits, why, what else matched, and what the reply would look like.
//!
//! They only read; they never count hits or touch the live table's state.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDateTime;
use minijinja::value::{Enumerator, Object, ObjectRepr, Value};

use super::load::{build, read_dir};
use super::table::MatchKind;
use super::template::{RenderedReply, ReplyMode};
use super::{ActionCatalog, Diagnostic, Menu, RuleTable, Trigger, normalize};

/// Validate `dir` and return a summary, or every diagnostic. If a `menu.toml` sits next to the
/// rules directory (`config/menu.toml` for `config/rules/`), it is validated too, and menu keys
/// no rule answers are listed as a warning in the summary.
pub fn check_dir(dir: &Path, catalog: &dyn ActionCatalog) -> Result<String, Vec<Diagnostic>> {
    let menu = dir.parent().map(|p| p.join("menu.toml"));
    check(dir, dir, menu.as_deref(), catalog)
}

/// What `onecard rules check PATH` runs: the service's own load of the rules directory `dir`
/// (the same validation, the same action catalogue), where `path` is either that directory or
/// one file checked as it would be once copied into it (replacing a file of the same name);
/// plus the menu file, if it exists, and the cross-check that every menu key has a rule.
pub fn check(
    path: &Path,
    dir: &Path,
    menu: Option<&Path>,
    catalog: &dyn ActionCatalog,
) -> Result<String, Vec<Diagnostic>> {
    let mut files = read_dir(dir)?;
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                col: 1,
                message: format!("cannot read the file: {e}"),
            }]
        })?;
        let name = path.file_name();
        files.retain(|(p, _)| p.file_name() != name);
        files.push((path.to_path_buf(), text));
        files.sort_by(|(a, _), (b, _)| a.file_name().cmp(&b.file_name()));
    }
    let names: Vec<String> = files
        .iter()
        .filter_map(|(p, _)| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let menu_path = menu.filter(|p| p.is_file()).map(Path::to_path_buf);
    let table = build(dir, files, catalog);
    let menu = menu_path.as_deref().map(Menu::load);
    let (table, menu) = match (table, menu) {
        (Ok(t), None) => (t, None),
        (Ok(t), Some(Ok(m))) => (t, Some(m)),
        (Ok(_), Some(Err(d))) => return Err(d),
        (Err(mut d), Some(Err(md))) => {
            d.extend(md);
            return Err(d);
        }
        (Err(d), _) => return Err(d),
    };
    let mut summary = summarize(dir, &names, &table);
    for w in table.warnings() {
        let _ = write!(summary, "\nwarning: {w}");
    }
    if let (Some(menu), Some(path)) = (menu, &menu_path) {
        let unrouted = unrouted_menu_keys(&menu, &table);
        let _ = write!(
            summary,
            "\n{}: OK — {} menu keys",
            path.display(),
            menu.click_keys().len()
        );
        if !unrouted.is_empty() {
            let _ = write!(
                summary,
                "\nwarning: no rule answers these menu keys: {}",
                unrouted.join(", ")
            );
        }
    }
    Ok(summary)
}

fn summarize(dir: &Path, names: &[String], table: &RuleTable) -> String {
    let s = table.stats();
    format!(
        "{dir}: OK — {rules} rules in {nfiles} files ({names}); keywords: {exact} exact, {prefix} prefix, {suffix} suffix, {contains} contains, {regex} regex; {click} menu keys, {scan} scan keys; subscribe reply: {sub}; default reply: {def} (cooldown {cool} min); {messages} messages, {words} word lists",
        dir = dir.display(),
        rules = table.rule_count(),
        nfiles = names.len(),
        names = names.join(", "),
        exact = s.exact,
        prefix = s.prefix,
        suffix = s.suffix,
        contains = s.contains,
        regex = s.regex,
        click = s.click,
        scan = s.scan,
        sub = if s.subscribe { "yes" } else { "no" },
        def = if s.default { "yes" } else { "no" },
        cool = table.default_cooldown().as_secs() / 60,
        messages = s.messages,
        words = s.words,
    )
}

/// Menu keys that no rule answers (a menu button that would get no reply).
pub fn unrouted_menu_keys(menu: &Menu, table: &RuleTable) -> Vec<String> {
    let routed = table.click_keys();
    menu.click_keys()
        .into_iter()
        .filter(|k| !routed.contains(k))
        .collect()
}

/// Which rule answers `trigger` at `now`, why, and the rendered reply with the action's fields
/// shown as `‹field›` placeholders. Does not count a hit.
pub fn explain(table: &RuleTable, trigger: &Trigger<'_>, now: NaiveDateTime) -> String {
    let mut out = String::new();
    match trigger {
        Trigger::Text(t) => {
            let _ = writeln!(out, "input: text {:?} (normalised: {:?})", t, normalize(t));
        }
        Trigger::Click(k) => {
            let _ = writeln!(out, "input: menu click {k:?}");
        }
        Trigger::Scan(s) => {
            let _ = writeln!(out, "input: scan {s:?}");
        }
        Trigger::Subscribe { scene: None } => {
            let _ = writeln!(out, "input: subscribe (follow, not by a QR code)");
        }
        Trigger::Subscribe { scene: Some(s) } => {
            let _ = writeln!(
                out,
                "input: subscribe by scanning the QR code of scene {s:?}"
            );
        }
    }
    let _ = writeln!(out, "time: {}", now.format("%Y-%m-%d %H:%M (%A)"));
    let Some(m) = table.peek(trigger, now) else {
        let why = match trigger {
            Trigger::Text(_) => "no rule matches and no default rule is live",
            _ => "no rule answers this event",
        };
        let _ = writeln!(out, "{why}: the user gets no reply");
        return out;
    };
    let (origin, name, priority) = table.describe_origin(&m.rule_id).unwrap_or(("?", None, 0));
    let _ = writeln!(
        out,
        "rule: `{}`{} at {origin}",
        m.rule_id,
        name.map(|n| format!(" ({n})")).unwrap_or_default()
    );
    let why = match m.kind {
        MatchKind::Default => "no other rule matched, so the default reply answers".to_owned(),
        MatchKind::Subscribe => "subscribe event".to_owned(),
        kind => format!("{} `{}`", kind.as_str(), m.pattern),
    };
    let _ = writeln!(out, "why: {why}; priority {priority}");
    for other in table.also_matched(trigger, now, &m.rule_id) {
        let how = match other.kind {
            MatchKind::Default | MatchKind::Subscribe => other.kind.as_str().to_owned(),
            kind => format!("{} `{}`", kind.as_str(), other.pattern),
        };
        let state = if other.live {
            "ranks lower"
        } else {
            "outside its time windows now"
        };
        let _ = writeln!(out, "also matched: `{}` ({how}; {state})", other.rule_id);
    }
    if m.is_default {
        let _ = writeln!(
            out,
            "note: the default reply is sent at most once per {} min per user",
            table.default_cooldown().as_secs() / 60
        );
    }
    if !m.captures.is_empty() {
        let caps: Vec<String> = m
            .captures
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{{{}}} = {c:?}", i + 1))
            .collect();
        let _ = writeln!(out, "captures: {}", caps.join(", "));
    }
    let fields: &[&str] = table
        .rule_by_id(&m.rule_id)
        .map(|r| r.fields)
        .unwrap_or(&[]);
    match &m.action {
        Some(a) => {
            let _ = writeln!(
                out,
                "action: {a} (fields: {})",
                if fields.is_empty() {
                    "none".to_owned()
                } else {
                    fields.join(", ")
                }
            );
        }
        None => {
            let _ = writeln!(out, "action: none");
        }
    }
    let _ = writeln!(
        out,
        "requires binding: {}",
        if m.requires_binding { "yes" } else { "no" }
    );
    let mode = match m.replies.mode() {
        ReplyMode::SendAll => "send all",
        ReplyMode::RandomOne => "one at random",
    };
    if m.replies.is_empty() {
        let _ = writeln!(
            out,
            "replies: none in the rule; the action answers with its own messages"
        );
        return out;
    }
    let _ = writeln!(out, "replies ({}, {mode}):", m.replies.len());
    match m
        .replies
        .render_all_with(&placeholder_ctx(fields, &m.captures))
    {
        Ok(replies) => {
            for (i, r) in replies.iter().enumerate() {
                match r {
                    RenderedReply::Text(t) => {
                        let _ = writeln!(out, "[{}] text:", i + 1);
                        for l in t.lines() {
                            let _ = writeln!(out, "    {l}");
                        }
                    }
                    RenderedReply::News(articles) => {
                        let _ = match articles.len() {
                            1 => writeln!(out, "[{}] news:", i + 1),
                            n => writeln!(
                                out,
                                "[{}] news, {n} articles (sent as one text message linking each):",
                                i + 1
                            ),
                        };
                        for a in articles {
                            let _ = writeln!(out, "    title: {}", a.title);
                            for (label, v) in [
                                ("description", &a.description),
                                ("pic_url", &a.pic_url),
                                ("url", &a.url),
                            ] {
                                if !v.is_empty() {
                                    let _ = writeln!(out, "      {label}: {v}");
                                }
                            }
                        }
                    }
                }
            }
        }
        Err(e) => {
            let _ = writeln!(out, "(cannot preview the reply: {e})");
        }
    }
    out
}

/// The campus-local time `rules test --at` means: `周一 10:00` (also `星期一`, `mon`; that day of
/// the week of `now`) or an RFC 3339 time, converted to campus time (`utc_offset_hours`).
pub fn parse_campus_time(
    spec: &str,
    now: NaiveDateTime,
    utc_offset_hours: i32,
) -> Result<NaiveDateTime, String> {
    let spec = spec.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(spec) {
        let offset = chrono::FixedOffset::east_opt(utc_offset_hours * 3600)
            .ok_or_else(|| format!("bad UTC offset {utc_offset_hours}"))?;
        return Ok(t.with_timezone(&offset).naive_local());
    }
    let usage = || {
        format!(
            "cannot read the time {spec:?}: write \"周一 10:00\" or an RFC 3339 time such as 2026-11-30T10:00:00+08:00"
        )
    };
    let (day, time) = spec.split_once(char::is_whitespace).ok_or_else(usage)?;
    const DAYS: [[&str; 4]; 7] = [
        ["周一", "星期一", "mon", "monday"],
        ["周二", "星期二", "tue", "tuesday"],
        ["周三", "星期三", "wed", "wednesday"],
        ["周四", "星期四", "thu", "thursday"],
        ["周五", "星期五", "fri", "friday"],
        ["周六", "星期六", "sat", "saturday"],
        ["周日", "星期日", "sun", "sunday"],
    ];
    let day = day.trim().to_lowercase();
    let index = DAYS
        .iter()
        .position(|names| {
            names.contains(&day.as_str())
                || (day == "周天" || day == "星期天") && names[0] == "周日"
        })
        .ok_or_else(usage)?;
    let time = chrono::NaiveTime::parse_from_str(time.trim(), "%H:%M").map_err(|_| usage())?;
    let monday = now.date()
        - chrono::Duration::days(i64::from(
            chrono::Datelike::weekday(&now).num_days_from_monday(),
        ));
    Ok((monday + chrono::Duration::days(index as i64)).and_time(time))
}

/// The render context for previews: every declared field is a [`Placeholder`].
fn placeholder_ctx(fields: &[&str], captures: &[String]) -> Value {
    let mut map = std::collections::BTreeMap::new();
    for f in fields {
        map.insert(
            (*f).to_owned(),
            Value::from_object(Placeholder((*f).to_owned())),
        );
    }
    super::template::context_of(map, captures)
}

/// Renders as `‹path›`, has any attribute, and iterates once, so loops over list fields
/// preview one item.
#[derive(Debug)]
struct Placeholder(String);

impl Object for Placeholder {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let path = match key.as_str() {
            Some(s) => format!("{}.{s}", self.0),
            None => format!("{}[{key}]", self.0),
        };
        Some(Value::from_object(Placeholder(path)))
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let item = Value::from_object(Placeholder(format!("{}[0]", self.0)));
        Enumerator::Iter(Box::new(std::iter::once(item)))
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "‹{}›", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::ActionRegistry;
    use crate::rules::load::tests::RegistryActions;
    use std::path::PathBuf;

    fn config(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn fail(d: Vec<Diagnostic>) -> ! {
        panic!("{}", Diagnostic::one_per_line(&d))
    }

    use crate::rules::load::tests::shipped_table as full_table;

    fn wed(h: u32, m: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 25)
            .and_then(|d| d.and_hms_opt(h, m, 0))
            .unwrap()
    }

    #[test]
    fn shipped_rules_and_menu_pass_rules_check_with_the_real_action_registry() {
        let registry = ActionRegistry::builtin();
        let summary = check_dir(&config("config/rules"), &registry).unwrap_or_else(|d| fail(d));
        assert!(summary.contains(": OK — "), "{summary}");
        assert!(!summary.contains("warning"), "{summary}");
        // Every word list the build reads is shipped, and no other.
        let mut lists: Vec<&str> = registry.all_words().iter().map(|(l, _)| *l).collect();
        lists.dedup();
        assert!(
            summary.contains(&format!(" messages, {} word lists", lists.len())),
            "{summary}"
        );
        // config/menu.toml, next to config/rules, is checked too.
        assert!(
            summary.contains("menu.toml: OK — 15 menu keys"),
            "{summary}"
        );
    }

    #[test]
    fn docs_list_every_registered_action_with_its_fields_and_messages() {
        let docs = std::fs::read_to_string(config("docs/rules.md")).expect("docs/rules.md");
        let registry = crate::actions::ActionRegistry::builtin();
        for name in registry.names() {
            let head = format!("| `{name}` |");
            let Some(row) = docs.lines().find(|l| l.starts_with(&head)) else {
                panic!("docs/rules.md (Built-in actions) has no row for action `{name}`");
            };
            let declared = registry.fields(name).unwrap_or(&[]);
            for item in declared.iter().chain(registry.messages(name)) {
                assert!(
                    row.contains(&format!("`{item}`")),
                    "docs/rules.md: the row of `{name}` does not mention `{item}`"
                );
            }
        }
    }

    #[test]
    fn shipped_rules_route_each_keyword_to_its_action() {
        let t = full_table();
        let now = wed(10, 0);
        for (text, action) in [
            ("帮助", "help"),
            ("绑定", "bind_card"),
            ("解绑", "unbind_card"),
            ("充值 50", "top_up"),
            ("充值", "top_up"),
            ("领取", "claim_pending"),
            ("余额", "balance"),
            ("流水", "transactions"),
            ("卡片信息", "card_info"),
            ("挂失", "report_loss"),
            ("失卡", "find_lost_card"),
            ("会议", "meetings"),
            ("成绩", "grades"),
            ("课表", "timetable"),
            ("借阅", "library_loans"),
            ("存包柜", "locker"),
            ("绑定手机", "bind_phone"),
            ("绑定 2023001", "bind_card"),
            ("绑定手机 13800138000", "bind_phone"),
            ("查余额", "balance"),
            ("ＨＥＬＰ", "help"),
            ("我的openid", "echo_openid"),
        ] {
            let m = t
                .route(&Trigger::Text(text), now)
                .unwrap_or_else(|| panic!("{text} matched nothing"));
            assert_eq!(m.action.as_deref(), Some(action), "{text}");
        }
        let m = t.route(&Trigger::Subscribe { scene: None }, now).unwrap();
        assert_eq!(&*m.rule_id, "welcome");
        let m = t.route(&Trigger::Text("今天食堂吃什么"), now).unwrap();
        assert!(m.is_default);
        assert_eq!(t.default_cooldown(), std::time::Duration::from_secs(3600));
        let m = t.route(&Trigger::Text("人工客服"), wed(20, 0)).unwrap();
        assert_eq!(&*m.rule_id, "staff_after_hours");
    }

    #[test]
    fn shipped_menu_is_valid_and_every_key_has_a_rule() {
        let menu = Menu::load(&config("config/menu.toml")).unwrap_or_else(|d| fail(d));
        let json = menu.to_wechat_json();
        assert_eq!(json["button"].as_array().map(Vec::len), Some(3));
        assert!(!menu.click_keys().is_empty());
        assert_eq!(
            unrouted_menu_keys(&menu, &full_table()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn explain_shows_rule_reason_and_placeholders() {
        let t = full_table();
        let text = explain(&t, &Trigger::Text("余额"), wed(10, 0));
        assert!(
            text.contains("rule: `balance` (余额查询) at card.toml:"),
            "{text}"
        );
        assert!(text.contains("why: exact `余额`; priority 0"), "{text}");
        assert!(text.contains("requires binding: yes"), "{text}");
        assert!(
            text.contains("您的校园卡（‹card_no_masked›）当前余额为 ‹balance_yuan› 元。"),
            "{text}"
        );
        let text = explain(&t, &Trigger::Text("流水"), wed(10, 0));
        assert!(text.contains("‹items[0].place›"), "{text}");
        // explain does not count hits
        assert!(t.hit_counts().iter().all(|(_, n)| *n == 0));
        let text = explain(&t, &Trigger::Text("天气"), wed(10, 0));
        assert!(text.contains("default reply answers"), "{text}");
        let text = explain(&t, &Trigger::Click("NO_SUCH_KEY"), wed(10, 0));
        assert!(text.contains("no rule answers this event"), "{text}");
        let text = explain(&t, &Trigger::Text("挂失"), wed(10, 0));
        assert!(
            text.contains("the action answers with its own messages"),
            "{text}"
        );
    }

    #[test]
    fn campus_times_for_rules_test() {
        let now = wed(15, 0);
        assert_eq!(
            parse_campus_time("周一 10:00", now, 8),
            Ok(chrono::NaiveDate::from_ymd_opt(2026, 11, 23)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap())
        );
        assert_eq!(
            parse_campus_time("星期天 08:30", now, 8),
            Ok(chrono::NaiveDate::from_ymd_opt(2026, 11, 29)
                .unwrap()
                .and_hms_opt(8, 30, 0)
                .unwrap())
        );
        assert_eq!(
            parse_campus_time("2026-11-30T02:00:00Z", now, 8),
            Ok(chrono::NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap())
        );
        assert_eq!(
            parse_campus_time("下周一", now, 8),
            Err("cannot read the time \"下周一\": write \"周一 10:00\" or an RFC 3339 time such as 2026-11-30T10:00:00+08:00".to_owned())
        );
    }

    #[test]
    fn explain_lists_the_other_rules_that_matched_in_plain_words() {
        let t = full_table();
        let text = explain(&t, &Trigger::Text("人工客服"), wed(10, 0));
        assert!(text.contains("also matched: `staff_after_hours` (exact `人工客服`; outside its time windows now)\n"), "{text}");
        let text = explain(&t, &Trigger::Subscribe { scene: None }, wed(10, 0));
        assert!(
            text.starts_with("input: subscribe (follow, not by a QR code)\n"),
            "{text}"
        );
        let text = explain(&t, &Trigger::Text("余额？"), wed(10, 0));
        assert!(
            text.contains("rule: `balance` (余额查询) at card.toml:"),
            "{text}"
        );
    }

    #[test]
    fn check_takes_one_file_as_it_would_join_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("rules");
        std::fs::create_dir(&rules).unwrap();
        for (name, text) in read_dir(&config("config/rules")).unwrap_or_else(|d| fail(d)) {
            std::fs::write(rules.join(name.file_name().unwrap()), text).unwrap();
        }
        let new = dir.path().join("new.toml");
        std::fs::write(
            &new,
            "[[rule]]\nid = \"new\"\nexact = [\"余额\"]\nreply = \"x\"\n",
        )
        .unwrap();
        let registry = ActionRegistry::builtin();
        let d = check(&new, &rules, None, &registry).unwrap_err();
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(d[0].file, new);
        assert!(
            d[0].message.starts_with(
                "duplicate exact keyword `余额`: already used by rule `balance` at card.toml:"
            ),
            "{}",
            d[0]
        );
        // The menu is cross-checked wherever the rules directory is.
        let summary = check(&rules, &rules, Some(&config("config/menu.toml")), &registry)
            .unwrap_or_else(|d| fail(d));
        assert!(
            summary.contains("menu.toml: OK — 15 menu keys"),
            "{summary}"
        );
    }

    #[test]
    fn check_dir_reports_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.toml"),
            "[[rule]]\nid = \"x\"\nexact = [\"a\"]\naction = \"nope\"\n",
        )
        .unwrap();
        let d = check_dir(dir.path(), &RegistryActions::new()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].line, d[0].col), (4, 10));
    }
}
