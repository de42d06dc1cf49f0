//! Announcements, news and the service guide in chat, the article page they link to, and mass
//! sends (群发) of them to a tag within WeChat's quota.
//! Each test publishes its own content files (the demo's files change with the calendar).

use std::path::{Path, PathBuf};
use std::time::Duration;

use onecard::wechat::{Article, Reply};
use serde_json::{Value, json};

use crate::helpers::*;

/// A content file as an editor writes it (docs/notices.md): TOML front matter between `+++`
/// lines — the fields every item has, then `more` — then the Markdown body. Named fields, so
/// a title and a summary cannot trade places unnoticed.
struct ContentFile<'a> {
    category: &'a str,
    title: &'a str,
    summary: &'a str,
    author: &'a str,
    /// An RFC 3339 time, written bare (a TOML datetime).
    publish_at: &'a str,
    /// The optional fields (`id`, `audience`, a guide's `topic` and `keywords`, `draft`), one
    /// `key = value` line each.
    more: &'a str,
    body: &'a str,
}

impl ContentFile<'_> {
    fn text(&self) -> String {
        let ContentFile {
            category,
            title,
            summary,
            author,
            publish_at,
            more,
            body,
        } = self;
        format!(
            "+++\ntitle = \"{title}\"\nsummary = \"{summary}\"\ncategory = \"{category}\"\nauthor = \"{author}\"\npublish_at = {publish_at}\n{more}+++\n{body}"
        )
    }
}

/// A news item for `audience` (`everyone`, `students`, `staff`), published 2026-01-05.
pub(crate) fn news_file(id: &str, title: &str, audience: &str) -> String {
    let more = format!("id = \"{id}\"\naudience = \"{audience}\"\n");
    ContentFile {
        category: "news",
        title,
        summary: "一卡通系统升级完成，新增线上补卡。",
        author: "一卡通服务中心",
        publish_at: "2026-01-05T09:00:00+08:00",
        more: &more,
        body: "正文。\n",
    }
    .text()
}

/// An announcement for `audience`, published at 09:00 on 2026-01-`day`; its summary is its
/// whole body.
fn announcement(title: &str, summary: &str, audience: &str, author: &str, day: u32) -> String {
    let published = format!("2026-01-{day:02}T09:00:00+08:00");
    let more = format!("audience = \"{audience}\"\n");
    let body = format!("{summary}\n");
    ContentFile {
        category: "announcement",
        title,
        summary,
        author,
        publish_at: &published,
        more: &more,
        body: &body,
    }
    .text()
}

fn everyone() -> String {
    announcement(
        "图书馆闭馆通知",
        "周六图书馆闭馆一天。",
        "everyone",
        "图书馆",
        5,
    )
}

/// A guide on `topic`, found by its `keywords` (a TOML list), published 2026-01-01.
fn guide(id: &str, title: &str, summary: &str, topic: &str, keywords: &str, body: &str) -> String {
    let more = format!("id = \"{id}\"\ntopic = \"{topic}\"\nkeywords = {keywords}\n");
    ContentFile {
        category: "guide",
        title,
        summary,
        author: "一卡通服务中心",
        publish_at: "2026-01-01T08:00:00+08:00",
        more: &more,
        body,
    }
    .text()
}

/// The lost-card guide: a heading, raw HTML an article must never run, and a table.
fn guide_lost() -> String {
    let body = "## 第一步：挂失\n\n回复「挂失」。<script>alert(\"x\")</script>\n\n| 项目 | 费用 |\n| --- | --- |\n| 补卡 | 20 元 |\n";
    guide(
        "lost",
        "校园卡丢了怎么办",
        "先挂失，再补卡。",
        "lost_card",
        r#"["挂失", "补卡"]"#,
        body,
    )
}

fn guide_topup() -> String {
    let body = "圈存后在 POS 机刷卡领款。\n";
    guide(
        "topup",
        "充值与到账",
        "圈存后刷卡领款。",
        "top_up",
        r#"["充值", "到账"]"#,
        body,
    )
}

/// A data directory whose sibling `content/` holds `files`, published at start.
fn content_app(files: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf, TestApp) {
    let tmp = tempfile::tempdir().unwrap();
    let content = tmp.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    for (name, text) in files {
        std::fs::write(content.join(name), text).unwrap();
    }
    let data = tmp.path().join("data");
    let app = spawn_app_with(options(&data));
    (tmp, data, app)
}

fn options(data: &Path) -> TestOptions {
    TestOptions {
        data_dir: Some(data.to_owned()),
        settings: |s| s.services.content_dir = s.server.data_dir.with_file_name("content"),
        ..TestOptions::default()
    }
}

async fn news_reply(app: &TestApp, user: &str, text: &str) -> Article {
    match app.wx.text(user, text).await.unwrap().reply {
        Some(Reply::News(article)) => article,
        other => panic!("expected a news reply to {text}, got {other:?}"),
    }
}

/// The first bound-able (normal card, phone on file) person of each kind in the simulator.
async fn person_of_kind(app: &TestApp, kind: &str) -> String {
    people_of_kind(app, kind, 1).await.remove(0)
}

/// The first `n` bound-able people of `kind` in the simulator.
async fn people_of_kind(app: &TestApp, kind: &str, n: usize) -> Vec<String> {
    let list = app.sim_accounts(300).await;
    let people: Vec<String> = list
        .iter()
        .filter(|a| a["kind"] == kind && can_bind(a))
        .take(n)
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(people.len(), n, "{n} of {kind} in the simulator");
    people
}

#[tokio::test]
async fn announcements_differ_for_a_student_a_staff_member_and_an_unbound_user() {
    let students = announcement(
        "学生伙食补助已发放",
        "请刷卡领取补助。",
        "students",
        "资助中心",
        6,
    );
    let staff = announcement(
        "教职工卡自动延期",
        "无需到服务中心办理。",
        "staff",
        "一卡通服务中心",
        7,
    );
    let (_tmp, _data, app) = content_app(&[
        ("everyone.md", &everyone()),
        ("students.md", &students),
        ("staff.md", &staff),
    ]);
    let url = |id: &str| format!("{}/h5/articles/{id}", app.base);

    let unbound = openid("annU");
    assert_eq!(
        news_reply(&app, &unbound, "公告").await,
        Article {
            title: "图书馆闭馆通知".into(),
            description: "周六图书馆闭馆一天。".into(),
            pic_url: String::new(),
            url: url("everyone"),
        }
    );

    let student = openid("annS");
    app.bind(&student, &person_of_kind(&app, "本科").await)
        .await;
    assert_eq!(
        news_reply(&app, &student, "公告").await,
        Article {
            title: "学生伙食补助已发放".into(),
            description: "请刷卡领取补助。\n更多公告：图书馆闭馆通知".into(),
            pic_url: String::new(),
            url: url("students"),
        }
    );

    let staff = openid("annT");
    app.bind(&staff, &person_of_kind(&app, "在职教职工").await)
        .await;
    assert_eq!(
        news_reply(&app, &staff, "公告").await,
        Article {
            title: "教职工卡自动延期".into(),
            description: "无需到服务中心办理。\n更多公告：图书馆闭馆通知".into(),
            pic_url: String::new(),
            url: url("staff"),
        }
    );
}

#[tokio::test]
async fn news_with_nothing_published_says_so() {
    let (_tmp, _data, app) = content_app(&[("everyone.md", &everyone())]);
    assert_eq!(app.say(&openid("news"), "新闻").await, "目前没有新的新闻。");
}

#[tokio::test]
async fn guide_lists_topics_and_answers_a_keyword_or_a_question_with_the_article() {
    let (_tmp, _data, app) =
        content_app(&[("lost.md", &guide_lost()), ("topup.md", &guide_topup())]);
    let user = openid("guide");
    assert_eq!(
        app.say(&user, "指南").await,
        "服务指南（回复「指南 关键词」查看全文）：\n【充值】充值与到账（指南 充值）\n【挂失与补卡】校园卡丢了怎么办（指南 挂失）"
    );
    let lost = Article {
        title: "校园卡丢了怎么办".into(),
        description: "先挂失，再补卡。".into(),
        pic_url: String::new(),
        url: format!("{}/h5/articles/lost", app.base),
    };
    assert_eq!(news_reply(&app, &user, "指南 挂失").await, lost);
    assert_eq!(news_reply(&app, &user, "补卡要去哪里办").await, lost);
    assert_eq!(
        news_reply(&app, &user, "充值以后多久到账").await.title,
        "充值与到账"
    );
    assert_eq!(
        app.say(&user, "游泳馆几点开门").await,
        "没有找到对应的功能，回复「帮助」查看可以办理的业务。"
    );
    assert_eq!(
        app.say(&user, "指南 游泳馆").await,
        "没有找到与「游泳馆」相关的指南。回复「指南」查看全部主题，或回复「人工客服」联系工作人员。"
    );
}

/// An H5 page as a reader gets it: the status, the page's title and the whole of its body
/// (the style sheet in the head is the same on every page and left out).
async fn page_seen(app: &TestApp, path: &str) -> (u16, String, String) {
    let page = app.get(path).await;
    let status = page.status().as_u16();
    assert_eq!(
        page.headers()["content-type"].to_str().unwrap(),
        "text/html; charset=utf-8"
    );
    let html = page.text().await.unwrap();
    let [title, body] = whole_match(
        r#"(?s)<!doctype html>\n<html lang="zh-CN">\n<head>\n.*?<title>(.*?)</title>\n<style>\n.*?</style>\n</head>\n<body>\n(.*)\n</body>\n</html>\n?"#,
        &html,
    );
    (status, title, body)
}

/// What any address answers once its article is withdrawn, or never was: the same page for
/// both, so the address reveals nothing.
fn article_gone() -> (u16, String, String) {
    (
        404,
        "文章不存在".into(),
        "<p>这篇文章不存在或已撤回。</p>\n<p>回到公众号回复「公告」「新闻」或「指南」查看最新内容。</p>".into(),
    )
}

#[tokio::test]
async fn article_page_renders_the_markdown_and_a_withdrawn_article_is_gone() {
    let (_tmp, data, app) =
        content_app(&[("lost.md", &guide_lost()), ("topup.md", &guide_topup())]);
    // Raw HTML in the body is shown as text, never run; the other guide is linked below.
    assert_eq!(
        page_seen(&app, "/h5/articles/lost").await,
        (
            200,
            "校园卡丢了怎么办".into(),
            "<main>\n<h1>校园卡丢了怎么办</h1>\n<div class=\"meta\">2026-01-01 · 一卡通服务中心</div>\n\n<article>\n<h2>第一步：挂失</h2>\n<p>回复「挂失」。&lt;script&gt;alert(\"x\")&lt;/script&gt;</p>\n<table><thead><tr><th>项目</th><th>费用</th></tr></thead><tbody>\n<tr><td>补卡</td><td>20 元</td></tr>\n</tbody></table>\n\n</article>\n<nav>\n<div>更多指南</div>\n<a href=\"topup\">充值与到账</a>\n</nav>\n</main>".into()
        )
    );
    assert_eq!(
        page_seen(&app, "/h5/articles/nothing-here").await,
        article_gone()
    );
    app.stop().await;

    // What `onecard content withdraw lost` does, on the stopped server's store.
    {
        let store = onecard::store::Store::open(&data, 8).unwrap();
        store.content().withdraw("lost", 1_800_000_000).unwrap();
        store.flush().await.unwrap();
    }

    let app = spawn_app_with(options(&data));
    assert_eq!(page_seen(&app, "/h5/articles/lost").await, article_gone());
    assert_eq!(
        app.say(&openid("gone"), "指南").await,
        "服务指南（回复「指南 关键词」查看全文）：\n【充值】充值与到账（指南 充值）"
    );
    app.stop().await;
}

/// `onecard content …` as docs/notices.md ("Publishing") shows it: the real command against this
/// app's admin listener.
#[tokio::test]
async fn the_content_command_publishes_lists_and_withdraws_through_the_admin_listener() {
    let (tmp, _data, app) = content_app(&[]);
    let file = tmp.path().join("library-closed.md");
    std::fs::write(&file, everyone()).unwrap();
    let content = |args: &[&str]| {
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(["--admin", &app.admin_base])
            .collect();
        let out = onecard(&args, &[]);
        (out.status.success(), stdout(&out), stderr(&out))
    };
    let ok = |printed: &str| (true, printed.to_owned(), String::new());

    assert_eq!(
        content(&["content", "publish", file.to_str().unwrap()]),
        ok("library-closed\tpublished\t图书馆闭馆通知\n")
    );
    // id, state, category, audience, publish time (campus time), title.
    assert_eq!(
        content(&["content", "list"]),
        ok("library-closed\tpublished\tannouncement\teveryone\t2026-01-05 09:00\t图书馆闭馆通知\n")
    );
    assert_eq!(
        page_seen(&app, "/h5/articles/library-closed").await,
        (
            200,
            "图书馆闭馆通知".into(),
            "<main>\n<h1>图书馆闭馆通知</h1>\n<div class=\"meta\">2026-01-05 · 图书馆</div>\n\n<article>\n<p>周六图书馆闭馆一天。</p>\n\n</article>\n\n</main>".into()
        )
    );
    assert_eq!(
        content(&["content", "withdraw", "library-closed"]),
        ok("library-closed\twithdrawn\t图书馆闭馆通知\n")
    );
    assert_eq!(
        page_seen(&app, "/h5/articles/library-closed").await,
        article_gone()
    );
    assert_eq!(
        content(&["content", "list"]),
        ok("library-closed\twithdrawn\tannouncement\teveryone\t2026-01-05 09:00\t图书馆闭馆通知\n")
    );
}

// ---- mass sends (群发) to a tag, and WeChat's mass-send quota ----------------------------------

/// Two students and a staff member of the card simulator, each bound to a fresh user, and a
/// follower who never bound: (students, staff, unbound).
async fn campus_followers(app: &TestApp, tag: &str) -> (Vec<String>, String, String) {
    let mut students = Vec::new();
    for (i, sno) in people_of_kind(app, "本科", 2).await.iter().enumerate() {
        let user = openid(&format!("{tag}S{i}"));
        app.bind(&user, sno).await;
        students.push(user);
    }
    let staff = openid(&format!("{tag}T"));
    app.bind(&staff, &person_of_kind(app, "在职教职工").await)
        .await;
    let unbound = openid(&format!("{tag}U"));
    app.say(&unbound, "公告").await;
    (students, staff, unbound)
}

impl TestApp {
    /// Publish `file` (named `id`.md) with a mass push through the admin listener: the job's id.
    async fn publish_mass(&self, id: &str, file: String) -> u64 {
        let file = json!({"name": format!("{id}.md"), "text": file});
        let published = self
            .admin(
                reqwest::Method::POST,
                "/content",
                Some(json!({ "files": [file], "push": "mass" })),
            )
            .await;
        assert_eq!(published["items"][0]["id"], id, "{published}");
        published["jobs"][0]["id"].as_u64().unwrap()
    }

    /// Who received a mass message whose text has `text`, as the WeChat simulator counts it.
    async fn mass_received(&self, text: &str) -> Value {
        self.http
            .get(format!("{}/sim/wechat/received", self.base))
            .query(&[("kind", "mass"), ("contains", text)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

/// A mass send to the students' tag reaches the bound students and nobody else; one to the
/// staff tag reaches the staff member and nobody else.
#[tokio::test]
async fn a_mass_push_for_students_or_staff_reaches_exactly_the_tagged_users() {
    let (_tmp, _data, app) = content_app(&[]);
    let (students, staff, _unbound) = campus_followers(&app, "tagm").await;

    let job = app
        .publish_mass("canteen", news_file("canteen", "食堂补助发放", "students"))
        .await;
    let job = app.wait_job(job, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");
    let job = app
        .publish_mass("staffcard", news_file("staffcard", "教职工卡延期", "staff"))
        .await;
    let job = app.wait_job(job, Duration::from_secs(60)).await;
    assert_eq!(job["state"], "done", "{job}");

    assert_eq!(
        app.mass_received("食堂补助发放").await,
        json!({"users": 2, "messages": 2, "counts": {&students[0]: 1, &students[1]: 1}})
    );
    assert_eq!(
        app.mass_received("教职工卡延期").await,
        json!({"users": 1, "messages": 1, "counts": {&staff: 1}})
    );
    let records = app.get_json("/sim/wechat/mass").await;
    let sent: Vec<&Value> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["sent_count"])
        .collect();
    assert_eq!(sent, [2, 1], "{records}");
}

/// A subscription account has one mass send a day: the second is refused with 45028, the job
/// fails saying so (in the admin listener and in `onecard content jobs`), and nothing goes
/// out twice.
#[tokio::test]
async fn a_second_mass_send_the_same_day_is_refused_and_the_job_says_why() {
    let (_tmp, _data, app) = content_app(&[]);
    let (students, _staff, _unbound) = campus_followers(&app, "quota").await;
    app.sim_act("/sim/wechat/limits", json!({"account": "subscription"}))
        .await;

    let first = app
        .publish_mass("first", news_file("first", "食堂补助发放", "students"))
        .await;
    assert_eq!(
        app.wait_job(first, Duration::from_secs(60)).await["state"],
        "done"
    );
    let second = app
        .publish_mass("second", news_file("second", "浴室暂停开放", "students"))
        .await;
    let job = app.wait_job(second, Duration::from_secs(60)).await;
    assert_eq!(
        (&job["state"], &job["counts"]["sent"]),
        (&json!("failed"), &json!(0)),
        "{job}"
    );
    // WeChat's errmsg ends with the request's id (`rid`), different each time.
    let why = job["last_error"].as_str().unwrap();
    let [_rid] = whole_match(
        "no mass-send quota left: WeChat API error 45028: has no masssend quota rid: ([0-9a-f]{16})",
        why,
    );

    let out = onecard(&["content", "jobs", "--admin", &app.admin_base], &[]);
    assert_eq!(stderr(&out), "");
    let rows: Vec<String> = stdout(&out).lines().skip(1).map(str::to_owned).collect();
    assert_eq!(
        rows,
        [
            format!("{first}\tdone\tmass\tfirst\t2\t2\t0\t0\t0\t0\t0\t-"),
            format!("{second}\tfailed\tmass\tsecond\t2\t0\t2\t0\t0\t0\t0\t{why}"),
        ]
    );

    let records = app.get_json("/sim/wechat/mass").await;
    assert_eq!(records.as_array().unwrap().len(), 1, "{records}");
    assert_eq!(
        app.mass_received("食堂补助发放").await,
        json!({"users": 2, "messages": 2, "counts": {&students[0]: 1, &students[1]: 1}})
    );
    assert_eq!(
        app.mass_received("浴室暂停开放").await,
        json!({"users": 0, "messages": 0, "counts": {}})
    );
}
