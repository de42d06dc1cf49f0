//! The loader's errors: each with its exact file:line:col, and in an operator's words. Like the
//! matching tests beside it (tests/mod.rs), each test writes the rule file it checks inline, so
//! the TOML fixtures share their shape: they are the data each test is about, not repeated code.

use super::*;

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
fn a_duplicate_keyword_is_reported_in_the_newer_file_not_the_untouched_one() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    // The shipped file sorts after the operator's new one, but was written long before it.
    write(
        "z_shipped.toml",
        "[[rule]]\nid = \"shipped\"\nexact = [\"余额\"]\nreply = \"x\"\n",
    );
    write(
        "a_new.toml",
        "[[rule]]\nid = \"new\"\nexact = [\"余额\"]\nreply = \"y\"\n",
    );
    write("zz_messages.toml", MSGS);
    let old = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("z_shipped.toml"))
        .and_then(|f| f.set_modified(old))
        .unwrap();
    let files = read_dir(dir.path()).unwrap();
    let e: Vec<String> = build(dir.path(), files, &Small)
        .unwrap_err()
        .iter()
        .map(|d| d.to_string())
        .collect();
    assert_eq!(
        e,
        vec![format!(
            "{}: duplicate exact keyword `余额`: already used by rule `shipped` at z_shipped.toml:3:10 (give both rules `when` windows to share it)",
            dir.path().join("a_new.toml:3:10").display()
        )]
    );
}

// ---- errors in an operator's words ----

#[test]
fn full_width_punctuation_in_toml_syntax_is_named_and_shown() {
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = [“余额”]\nreply = \"x\"\n",
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:3:10: full-width `“` where TOML needs `\"`: switch the keyboard to English (half-width) punctuation outside the quotes"
        ]
    );
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = [\"余额\"，\"查询\"]\nreply = \"x\"\n",
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:3:14: full-width `，` where TOML needs `,`: switch the keyboard to English (half-width) punctuation outside the quotes"
        ]
    );
    let e = errs(&[("a.toml", "[[rule]]\nid：\"a\"\n")]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:2:3: full-width `：` where TOML needs `=`: switch the keyboard to English (half-width) punctuation outside the quotes"
        ]
    );
    // Full-width punctuation inside the quotes is just text.
    ok(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = [\"你好，“同学”\"]\nreply = \"好：的\"\n",
    )]);
}

#[test]
fn single_brackets_around_rule_say_to_use_two() {
    let text = "[rule]\nid = \"a\"\nexact = [\"x\"]\nreply = \"y\"\n";
    assert_eq!(
        errs(&[("a.toml", text)]),
        vec![
            "rules/a.toml:1:1: write [[rule]] with two brackets: each one starts a new entry of a list"
        ]
    );
    let twice = format!("{text}{text}");
    assert_eq!(
        errs(&[("a.toml", &twice)]),
        vec![
            "rules/a.toml:1:1: write [[rule]] with two brackets: each one starts a new entry of a list"
        ]
    );
}

#[test]
fn a_single_keyword_string_says_use_a_list() {
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = \"余额\"\nreply = \"x\"\n",
    )]);
    assert_eq!(e, vec!["rules/a.toml:3:9: use a list: exact = [\"余额\"]"]);
}

#[test]
fn a_regex_in_double_quotes_says_use_single_quotes() {
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nregex = [\"^余额(\\d+)$\"]\nreply = \"x\"\n",
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:3:10: write regular expressions in single quotes: '^余额(\\d+)$' (in double quotes a backslash starts an escape)"
        ]
    );
}

#[test]
fn an_unknown_action_does_not_also_report_the_fields_its_template_uses() {
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\naction = \"balanse\"\nreply = \"余额 {{ balance_yuan }}\"\n",
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:4:10: unknown action `balanse`: did you mean `balance`? (actions: balance, bind_card, echo_openid, help)"
        ]
    );
}

#[test]
fn a_broken_regex_does_not_also_report_a_capture_count() {
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nregex = ['^(余额']\nreply = \"{1}\"\n",
    )]);
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(
        e[0].starts_with("rules/a.toml:3:10: bad regex: "),
        "{}",
        e[0]
    );
}

#[test]
fn exact_keywords_match_with_trailing_punctuation_and_inner_spaces() {
    let t = ok(&[(
        "a.toml",
        "[[rule]]\nid = \"balance\"\nexact = [\"余额\"]\nreply = \"x\"\n[[rule]]\nid = \"thanks\"\nexact = [\"谢谢\"]\nreply = \"y\"\n[[rule]]\nid = \"ask\"\nexact = [\"？\"]\nreply = \"z\"\n",
    )]);
    for said in ["余额？", "余额?", "余 额", "余额。", " 余额！！"] {
        assert_eq!(id(&t, said), "balance", "{said}");
    }
    assert_eq!(id(&t, "谢谢！"), "thanks");
    assert_eq!(id(&t, "？"), "ask");
    // Only exact keywords are loose: punctuation in the middle still counts.
    assert_eq!(id(&t, "余额？谢谢"), "");
    // "余 额" and "余额" are the same exact keyword, so two rules cannot both claim them.
    let e = errs(&[(
        "a.toml",
        "[[rule]]\nid = \"a\"\nexact = [\"余额\"]\nreply = \"x\"\n[[rule]]\nid = \"b\"\nexact = [\"余 额？\"]\nreply = \"y\"\n",
    )]);
    assert_eq!(
        e,
        vec![
            "rules/a.toml:7:10: duplicate exact keyword `余额`: already used by rule `a` at a.toml:3:10 (give both rules `when` windows to share it)"
        ]
    );
}

#[test]
fn overlapping_windows_on_one_keyword_are_a_warning() {
    let t = ok(&[(
        "a.toml",
        r#"
[[rule]]
id = "office"
exact = ["人工"]
reply = "转接人工客服。"
[[rule.when]]
days = "mon-fri"
from = "08:30"
to = "17:30"

[[rule]]
id = "lunch"
exact = ["人工"]
reply = "午休中。"
[[rule.when]]
days = "mon-sun"
from = "12:00"
to = "13:00"
"#,
    )]);
    let warnings: Vec<String> = t.warnings().iter().map(|d| d.to_string()).collect();
    assert_eq!(
        warnings,
        vec![
            "rules/a.toml:13:10: rules `office` and `lunch` share the exact keyword `人工` and their `when` windows overlap (e.g. mon 12:00): then the higher priority, or the earlier rule, answers"
        ]
    );
    // Windows that only touch (17:30 ends one, starts the other) do not overlap.
    assert!(ok(&[("a.toml", WINDOWS)]).warnings().is_empty());
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
    assert_eq!(
        e,
        vec![
            "rules/a.toml:4:10: unknown action `balanse`: did you mean `balance`? (actions: balance, bind_card, echo_openid, help)"
        ]
    );
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
        vec!["rules/a.toml:4:9: template uses `openid`, but the rule has no action to provide it"]
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
    assert_eq!(
        e,
        vec!["rules/a.toml:4:1: unknown key `acton`: did you mean `action`?"]
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
    assert_eq!(
        e,
        vec![
            "rules/a.toml:5:10: unknown action `nope` (actions: balance, bind_card, echo_openid, help)"
        ]
    );
}
