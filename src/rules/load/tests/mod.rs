//! Each test writes the rule file it checks inline, beside its assertions, so the TOML
//! fixtures share their shape: they are the data each test is about, not repeated code.

use super::*;
use std::collections::HashMap;
use std::time::Duration;

use super::windows::{parse_days, parse_hhmm};
use crate::rules::table::MatchKind;
use crate::rules::{RenderedReply, Trigger};
use chrono::NaiveDate;

mod validation;

/// The real action registry's actions and fields, without requiring every message key any
/// action may use: for tests whose files hold a rule or two and no `[messages]` table.
pub(crate) struct RegistryActions(crate::actions::ActionRegistry);

impl RegistryActions {
    pub(crate) fn new() -> Self {
        Self(crate::actions::ActionRegistry::builtin())
    }
}

impl ActionCatalog for RegistryActions {
    fn fields(&self, action: &str) -> Option<&'static [&'static str]> {
        self.0.fields(action)
    }
    fn messages(&self, action: &str) -> &'static [&'static str] {
        self.0.messages(action)
    }
    fn all_messages(&self) -> Vec<&'static str> {
        Vec::new()
    }
    fn names(&self) -> Vec<&'static str> {
        self.0.names()
    }
}

/// config/rules as the service loads it, with the real action registry: for tests of what the
/// shipped files make of a user's words.
pub(crate) fn shipped_table() -> RuleTable {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules");
    let registry = crate::actions::ActionRegistry::builtin();
    match read_dir(&dir).and_then(|files| build(&dir, files, &registry)) {
        Ok(t) => t,
        Err(d) => panic!("{}", Diagnostic::one_per_line(&d)),
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
    fn names(&self) -> Vec<&'static str> {
        vec!["balance", "bind_card", "echo_openid", "help"]
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
        Err(d) => panic!("{}", Diagnostic::one_per_line(&d)),
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
fn a_message_that_cannot_render_says_error_busy_and_without_it_the_last_resort_text() {
    let with_busy = ok(&[
        (
            "m.toml",
            "[messages]\n\"error.busy\" = \"服务正忙，请稍候。\"\n\"broken\" = \"{{ not_given }}\"\n",
        ),
        ("a.toml", KINDS),
    ]);
    let no_fields = serde_json::json!({});
    assert_eq!(with_busy.say("broken", &no_fields), "服务正忙，请稍候。");
    assert_eq!(with_busy.say("nope", &no_fields), "服务正忙，请稍候。");
    let without_busy = ok(&[("a.toml", KINDS)]);
    assert_eq!(
        without_busy.say("nope", &no_fields),
        "系统繁忙，请稍后再试。"
    );
    assert_eq!(crate::rules::LAST_RESORT_TEXT, "系统繁忙，请稍后再试。");
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
            RenderedReply::News(vec![crate::rules::NewsArticle {
                title: "二".into(),
                url: "https://example.edu.cn/".into(),
                ..Default::default()
            }])
        ]
    );
}

#[test]
fn a_news_reply_with_two_articles_is_one_reply_and_one_message() {
    let t = ok(&[(
        "a.toml",
        r#"
[[rule]]
id = "guide"
exact = ["补卡"]
mode = "random_one"
replies = [
  { articles = [
      { title = "补办流程", description = "带身份证", url = "https://example.edu.cn/1" },
      { title = "工本费", url = "https://example.edu.cn/2" },
  ] },
]
"#,
    )]);
    let m = t.route(&Trigger::Text("补卡"), at(10, 0)).unwrap();
    // One reply: random_one has nothing else to pick, so it is always this message.
    assert_eq!(m.replies.len(), 1);
    let out = m.replies.render(&serde_json::json!({}), &[]).unwrap();
    assert_eq!(
        out,
        vec![crate::wechat::Reply::Text(
            "<a href=\"https://example.edu.cn/1\">补办流程</a>\n带身份证\n\n<a href=\"https://example.edu.cn/2\">工本费</a>"
                .into()
        )]
    );
}

#[test]
fn a_news_reply_without_articles_or_with_nine_is_refused() {
    let nine = (1..=9)
        .map(|i| format!("{{ title = \"t{i}\" }}"))
        .collect::<Vec<_>>()
        .join(", ");
    let e = errs(&[(
        "a.toml",
        &format!(
            "[[rule]]\nid = \"a\"\nexact = [\"x\"]\nreplies = [{{ articles = [] }}]\n[[rule]]\nid = \"b\"\nexact = [\"y\"]\nreplies = [{{ articles = [{nine}] }}]\n"
        ),
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:4:25: a news reply holds 1 to 8 articles, this one has 0".to_owned(),
            "rules/a.toml:8:25: a news reply holds 1 to 8 articles, this one has 9".to_owned(),
        ]
    );
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
