//! The operator commands as an operator runs them: the real `onecard` binary, its exit status,
//! and the exact lines it prints (`rules check`, `rules import`, `rules test`).

use std::path::{Path, PathBuf};

use crate::helpers::{configured_reply, copy_dir, onecard, stderr, stdout, whole_match};

/// The repository root, where `config/` is.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

#[test]
fn rules_check_refuses_a_broken_file_with_its_location_and_exit_status_1() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("new.toml");
    std::fs::write(
        &file,
        "[[rule]]\nid = \"lost_card_hours\"\nexact = \"补卡时间\"\nreply = \"工作日 8:30–17:30\"\n",
    )
    .unwrap();
    let out = onecard(&["rules", "check", path(&file)], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let mut lines = err.lines();
    assert_eq!(
        lines.next(),
        Some(format!("{}:3:9: use a list: exact = [\"补卡时间\"]", file.display()).as_str())
    );
    assert_eq!(
        lines.next(),
        Some(format!("Error: 1 error(s) in {}", file.display()).as_str())
    );
    assert_eq!(stdout(&out), "");
}

#[test]
fn rules_check_of_one_good_file_checks_it_as_part_of_the_rules_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("zz_hours.toml");
    std::fs::write(
        &file,
        "[[rule]]\nid = \"lost_card_hours\"\nexact = [\"补卡时间\"]\nreply = \"工作日 8:30–17:30\"\n",
    )
    .unwrap();
    let out = onecard(&["rules", "check", path(&file)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let summary = text.lines().next().unwrap_or_default();
    // Checked together with the shipped files, under the directory's name: every shipped file
    // and its rules plus the new one. The keyword, key and message tallies are left as numbers.
    let mut files = vec!["zz_hours.toml".to_owned()];
    let mut rules = 1;
    for entry in std::fs::read_dir(repo().join("config/rules")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            let table: toml::Table = std::fs::read_to_string(&p).unwrap().parse().unwrap();
            rules += table
                .get("rule")
                .and_then(toml::Value::as_array)
                .map_or(0, Vec::len);
            files.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    files.sort();
    whole_match::<0>(
        &format!(
            "{}{}",
            regex::escape(&format!(
                "config/rules: OK — {rules} rules in {} files ({}); keywords: ",
                files.len(),
                files.join(", ")
            )),
            r"\d+ exact, \d+ prefix, \d+ suffix, \d+ contains, \d+ regex; \d+ menu keys, \d+ scan keys; subscribe reply: yes; default reply: yes \(cooldown \d+ min\); \d+ messages, \d+ word lists"
        ),
        summary,
    );
    // And the same as the service: the same keyword twice is refused at the new file.
    std::fs::write(
        &file,
        "[[rule]]\nid = \"dup\"\nexact = [\"余额\"]\nreply = \"x\"\n",
    )
    .unwrap();
    let out = onecard(&["rules", "check", path(&file)], &[]);
    assert_eq!(out.status.code(), Some(1));
    let first = stderr(&out).lines().next().unwrap_or_default().to_owned();
    // Only where rule `balance` sits in card.toml (line:column) is left open.
    let expected = regex::escape(&format!(
        "{}:3:10: duplicate exact keyword `余额`: already used by rule `balance` at card.toml:LINE (give both rules `when` windows to share it)",
        file.display()
    ))
    .replace("LINE", r"\d+:\d+");
    whole_match::<0>(&expected, &first);
}

#[test]
fn rules_check_of_a_directory_cross_checks_the_menu_beside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = tmp.path().join("rules");
    copy_dir(&repo().join("config/rules"), &rules);
    let menu = tmp.path().join("menu.toml");
    std::fs::write(
        &menu,
        "[[button]]\ntype = \"click\"\nname = \"余额\"\nkey = \"CARD_BALANCE\"\n\n[[button]]\ntype = \"click\"\nname = \"宿舍报修\"\nkey = \"DORM_REPAIR\"\n",
    )
    .unwrap();
    let out = onecard(&["rules", "check", path(&rules)], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..],
        [
            format!("{}: OK — 2 menu keys", menu.display()).as_str(),
            "warning: no rule answers these menu keys: DORM_REPAIR",
        ]
    );
    // A broken menu fails the check like a broken rule file.
    std::fs::write(&menu, "[[button]]\nname = \"校园卡\"\n").unwrap();
    let out = onecard(&["rules", "check", path(&rules)], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).lines().next(),
        Some(
            format!(
                "{}:1:1: button `校园卡` needs a `type` (or sub_button entries)",
                menu.display()
            )
            .as_str()
        )
    );
}

/// A Notepad export (UTF-8 with a byte-order mark): a switched-off default reply, and a
/// `random_one` rule whose news reply has two articles.
const EXPORT: &str = "\u{feff}{\"is_autoreply_open\":0,\"is_add_friend_reply_open\":1,\
\"add_friend_autoreply_info\":{\"type\":\"text\",\"content\":\"欢迎关注！\"},\
\"message_default_autoreply_info\":{\"type\":\"text\",\"content\":\"稍后回复您\"},\
\"keyword_autoreply_info\":{\"list\":[{\"rule_name\":\"补卡\",\"reply_mode\":\"random_one\",\
\"keyword_list_info\":[{\"match_mode\":\"equal\",\"content\":\"补卡\"}],\
\"reply_list_info\":[{\"type\":\"text\",\"content\":\"请到服务中心\"},\
{\"type\":\"news\",\"news_info\":{\"list\":[\
{\"title\":\"补办流程\",\"author\":\"一卡通中心\",\"content_url\":\"https://card.example.edu.cn/1\"},\
{\"title\":\"工本费\",\"content_url\":\"https://card.example.edu.cn/2\"}]}}]}]}}";

/// What `rules import` writes for [`EXPORT`]: the switched-off default reply and the
/// author it cannot keep are commented, with the same warnings in the file.
const IMPORTED: &str = r#"# 从公众号后台「自动回复」导入（接口 get_current_autoreply_info）。
# 请检查后放入 config/rules/，并运行 `onecard rules check` 校验。
# 图片、语音、视频回复无法导入（素材 id 为临时素材），已改为注释。

[[rule]]
id = "imported_subscribe"
name = "被关注回复"
subscribe = true
reply = "欢迎关注！"

# 警告：「收到消息回复」在公众号后台处于关闭状态，未启用；内容已作为注释保留。
# [[rule]]
# id = "imported_default"
# name = "收到消息回复"
# default = true
# reply = "稍后回复您"

# 警告：规则「补卡」的图文「补办流程」的作者（author）在规则文件中没有对应字段，未导入。
[[rule]]
id = "autoreply_1"
name = "补卡"
exact = ["补卡"]
mode = "random_one"
replies = [
  { text = "请到服务中心" },
  { articles = [
      { title = "补办流程", url = "https://card.example.edu.cn/1" },
      { title = "工本费", url = "https://card.example.edu.cn/2" },
  ] },
]
"#;

#[test]
fn rules_import_warns_on_stderr_and_never_overwrites_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let json = tmp.path().join("autoreply.json");
    std::fs::write(&json, EXPORT).unwrap();
    let out_file = tmp.path().join("imported.toml");
    let import = |force: bool| {
        let mut args = vec!["rules", "import", path(&json), "--out", path(&out_file)];
        if force {
            args.push("--force");
        }
        onecard(&args, &[])
    };

    let out = import(false);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "warning: 「收到消息回复」在公众号后台处于关闭状态，未启用；内容已作为注释保留。\n\
             warning: 规则「补卡」的图文「补办流程」的作者（author）在规则文件中没有对应字段，未导入。\n\
             wrote {}; check it with `onecard rules check`\n",
            out_file.display()
        )
    );
    let imported = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(imported, IMPORTED, "{imported}");

    // The operator edits the file; a second import must not destroy the edit.
    std::fs::write(&out_file, "# edited by hand\n").unwrap();
    let out = import(false);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        format!(
            "Error: {} already exists; choose another --out, or add --force to overwrite it\n",
            out_file.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(&out_file).unwrap(),
        "# edited by hand\n"
    );
    let out = import(true);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), imported);

    // The result passes `rules check` next to the shipped message tables.
    let dir = tmp.path().join("rules");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(repo().join("config/rules")).unwrap() {
        let p = entry.unwrap().path();
        if p.to_string_lossy().ends_with("messages.toml") {
            std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
        }
    }
    let out = onecard(
        &["rules", "check", path(&out_file), "--dir", path(&dir)],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // The copied message tables and the imported file; with no menu beside the directory the
    // shipped menu is checked, and none of its keys is answered by the two imported rules.
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .chain(["imported.toml".to_owned()])
        .collect();
    files.sort();
    let menu = onecard::rules::menu::Menu::load(&repo().join("config/menu.toml")).unwrap();
    let keys = menu.click_keys();
    let report = format!(
        "{}{}{}",
        regex::escape(&format!(
            "{}: OK — 2 rules in {} files ({}); keywords: 1 exact, 0 prefix, 0 suffix, 0 contains, 0 regex; 0 menu keys, 0 scan keys; subscribe reply: yes; default reply: no ",
            dir.display(),
            files.len(),
            files.join(", ")
        )),
        r"\(cooldown \d+ min\); \d+ messages, \d+ word lists\n",
        regex::escape(&format!(
            "config/menu.toml: OK — {} menu keys\nwarning: no rule answers these menu keys: {}\n",
            keys.len(),
            keys.join(", ")
        ))
    );
    whole_match::<0>(&report, &stdout(&out));
}

/// The campus-local Monday of this week, as `rules test --at "周一 …"` means it.
fn this_monday(offset_hours: i64) -> chrono::NaiveDate {
    use chrono::Datelike;
    let today = (chrono::Utc::now() + chrono::Duration::hours(offset_hours)).date_naive();
    today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()))
}

/// The pattern of the whole `rules test 人工客服` report on Monday 2026-11-30 at campus time
/// `time`, where rule `chosen` answers and `other` is outside its time windows: the names and
/// the reply as config/rules says them, the rule's place in chat.toml as `\d+:\d+`.
fn rules_test_report(time: &str, (chosen, other): (&str, &str)) -> String {
    let name = |id: &str| {
        let chat: toml::Table = std::fs::read_to_string(repo().join("config/rules/chat.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let rules = chat["rule"].as_array().unwrap();
        let rule = rules.iter().find(|r| r["id"].as_str() == Some(id)).unwrap();
        rule["name"].as_str().unwrap().to_owned()
    };
    regex::escape(&format!(
        "input: text \"人工客服\" (normalised: \"人工客服\")\n\
         time: 2026-11-30 {time} (Monday)\n\
         rule: `{chosen}` ({}) at chat.toml:LINE\n\
         why: exact `人工客服`; priority 0\n\
         also matched: `{other}` (exact `人工客服`; outside its time windows now)\n\
         action: none\n\
         requires binding: no\n\
         replies (1, send all):\n\
         [1] text:\n    {}\n\n",
        name(chosen),
        configured_reply(chosen)
    ))
    .replace("LINE", r"\d+:\d+")
}

#[test]
fn rules_test_reads_at_in_the_configured_campus_time_zone() {
    // 10:00 UTC is 18:00 on campus at UTC+8 (config/demo.toml): after office hours.
    let out = onecard(
        &["rules", "test", "人工客服", "--at", "2026-11-30T10:00:00Z"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Only where the rule sits in chat.toml (line:column) is left open.
    whole_match::<0>(
        &rules_test_report("18:00", ("staff_after_hours", "staff_office_hours")),
        &stdout(&out),
    );

    // A campus on UTC+0: the same instant is 10:00, inside office hours.
    let out = onecard(
        &["rules", "test", "人工客服", "--at", "2026-11-30T10:00:00Z"],
        &[("ONECARD__SERVER__UTC_OFFSET_HOURS", "0")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    whole_match::<0>(
        &rules_test_report("10:00", ("staff_office_hours", "staff_after_hours")),
        &stdout(&out),
    );

    // A day of this week, in words.
    let out = onecard(&["rules", "test", "人工客服", "--at", "周一 10:00"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().nth(1),
        Some(format!("time: {} 10:00 (Monday)", this_monday(8)).as_str()),
        "{text}"
    );
    let out = onecard(&["rules", "test", "人工客服", "--at", "下周一"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "Error: cannot read the time \"下周一\": write \"周一 10:00\" or an RFC 3339 time such as 2026-11-30T10:00:00+08:00\n"
    );
}

#[test]
fn rules_test_explains_an_event_in_words() {
    let out = onecard(&["rules", "test", "--event", "SUBSCRIBE:library_gate"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    // The welcome rule and its reply as config/rules/chat.toml says them; only the current
    // time and the rule's line:column are patterns.
    let reply: Vec<String> = configured_reply("welcome")
        .lines()
        .map(|l| format!("    {l}\n"))
        .collect();
    let report = regex::escape(&format!(
        "input: subscribe by scanning the QR code of scene \"library_gate\"\n\
         time: NOW\n\
         rule: `welcome` (关注欢迎语) at chat.toml:LINE\n\
         why: subscribe event; priority 0\n\
         action: none\n\
         requires binding: no\n\
         replies (1, send all):\n\
         [1] text:\n{}\n",
        reply.concat()
    ))
    .replace("NOW", r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} \([A-Z][a-z]+day\)")
    .replace("LINE", r"\d+:\d+");
    whole_match::<0>(&report, &text);
}
