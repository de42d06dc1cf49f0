//! Repair tickets over real HTTP: the 「报修」 dialog (with a photo fetched from the WeChat
//! simulator's media API), 「我的报修」, the operators' desk on the admin listener, and every
//! operator change pushed to the reporter — counted in the WeChat simulator's outbox.

use std::time::Duration;

use onecard::wechat::InboundBody;
use serde_json::{Value, json};

use crate::helpers::*;

const PUSH_WAIT: Duration = Duration::from_secs(15);

impl TestApp {
    /// What the user's phone does before an image message: upload the picture to WeChat.
    async fn upload_photo(&self, bytes: &[u8]) -> String {
        let answer: Value = self
            .http
            .post(format!("{}/sim/wechat/media", self.base))
            .header("content-type", "image/jpeg")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["media_id"].as_str().unwrap().to_owned()
    }

    async fn send_image(&self, user: &str, media_id: &str) -> String {
        let msg = self.wx.message(
            user,
            InboundBody::Image {
                pic_url: "http://mmbiz.qpic.cn/photo.jpg".into(),
                media_id: media_id.to_owned(),
                msg_id: rand::random::<u64>() >> 1,
            },
        );
        text_of(&self.wx.send(&msg).await.unwrap())
    }

    /// File a ticket through the dialog; returns its number.
    async fn file_ticket(
        &self,
        user: &str,
        category: &str,
        place: &str,
        photo: Option<&[u8]>,
    ) -> String {
        self.say(user, "报修").await;
        self.say(user, category).await;
        self.say(user, place).await;
        assert_eq!(
            self.say(user, "刷卡没有反应").await,
            "如有故障照片，请直接发送一张；没有请回复「跳过」。"
        );
        let done = match photo {
            Some(bytes) => {
                let media_id = self.upload_photo(bytes).await;
                self.send_image(user, &media_id).await
            }
            None => self.say(user, "跳过").await,
        };
        ticket_no_in(&done)
    }

    async fn desk_move(&self, no: &str, to: &str, note: &str) -> (u16, Value) {
        self.desk_post(
            &format!("/tickets/{no}/move"),
            json!({ "operator": "王工", "to": to, "note": note }),
        )
        .await
    }

    async fn desk_reply(&self, no: &str, text: &str) -> (u16, Value) {
        self.desk_post(
            &format!("/tickets/{no}/reply"),
            json!({ "operator": "王工", "text": text }),
        )
        .await
    }

    /// An operator's change at the desk: the status and the answer (the ticket as JSON, or the
    /// refusal's text).
    async fn desk_post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, text) = self.admin_post(path, body).await;
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// The ticket number in the reply that ends the 「报修」 dialog.
pub(crate) fn ticket_no_in(done: &str) -> String {
    done.strip_prefix("报修已提交，单号 ")
        .map(|rest| rest.chars().take(8).collect())
        .unwrap_or_else(|| panic!("unexpected reply: {done}"))
}

/// Today's date as 「我的报修」 shows it (campus time, UTC+8).
fn campus_today() -> String {
    chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%m-%d")
        .to_string()
}

#[tokio::test]
async fn repair_dialog_files_a_ticket_and_my_repairs_lists_it() {
    let app = spawn_app();
    let user = openid("repair");
    assert_eq!(
        app.say(&user, "我的报修").await,
        "您还没有报修记录。设备有故障请回复「报修」。"
    );
    assert_eq!(
        app.say(&user, "报修").await,
        "请选择报修类别，回复数字：\n1. 读卡器\n2. 消费机（POS）\n3. 圈存/充值机\n4. 校园卡损坏\n5. 门禁/闸机\n6. 其他\n回复「取消」可退出报修。"
    );
    assert_eq!(
        app.say(&user, "9").await,
        "请回复 1 到 6 之间的数字选择类别，回复「取消」可退出报修。"
    );
    assert_eq!(
        app.say(&user, "2").await,
        "请告诉我们故障位置（楼宇和房间，例如「一食堂二楼 3 号窗口」）："
    );
    assert_eq!(
        app.say(&user, "一食堂二楼 3 号窗口").await,
        "请简单描述故障情况（例如「刷卡没有反应」）："
    );
    assert_eq!(
        app.say(&user, "刷卡没有反应").await,
        "如有故障照片，请直接发送一张；没有请回复「跳过」。"
    );
    let done = app.say(&user, "跳过").await;
    let no = ticket_no_in(&done);
    assert_eq!(
        done,
        format!("报修已提交，单号 {no}。处理进展会在这里通知您，回复「我的报修」可查看进度。")
    );
    let listed = app.say(&user, "我的报修").await;
    let today = campus_today();
    assert_eq!(
        listed,
        format!("您共有 1 张报修单：\n{no}（{today}）消费机 · 一食堂二楼 3 号窗口：已提交")
    );
    // The dialog is over: the next text is routed normally again.
    assert_eq!(app.say(&user, "帮助").await, help_text());
}

#[tokio::test]
async fn a_tickets_full_life_with_a_photo_and_every_operator_change_pushed() {
    let app = spawn_app();
    let user = openid("ticketlife");
    let photo: Vec<u8> = [0xff, 0xd8, 0xff, 0xe0]
        .into_iter()
        .chain((0..4000u32).map(|i| (i % 251) as u8))
        .collect();
    let no = app
        .file_ticket(&user, "1", "图书馆一楼东门", Some(&photo))
        .await;

    // The photo is kept with the ticket, byte for byte.
    let path = format!("/tickets/{no}/photo");
    let got = app.admin_send(reqwest::Method::GET, &path, None).await;
    assert_eq!(got.status().as_u16(), 200);
    assert_eq!(got.headers()["content-type"], "image/jpeg");
    assert_eq!(got.bytes().await.unwrap().to_vec(), photo);
    let listed = app.admin_json("/tickets?state=submitted").await;
    let mine: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["no"] == no.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["photo"], true);
    assert_eq!(mine[0]["place"], "图书馆一楼东门");

    let expect = |n: usize, pushed: Vec<String>, text: &str| {
        assert_eq!(pushed.len(), n, "pushes so far: {pushed:?}");
        assert_eq!(pushed[n - 1], text);
    };
    let (status, t) = app.desk_move(&no, "accepted", "").await;
    assert_eq!((status, t["state"].as_str()), (200, Some("accepted")));
    expect(
        1,
        app.wait_pushed(&user, 1, PUSH_WAIT).await,
        &format!("您的报修单 {no}（图书馆一楼东门）状态更新为：已受理。"),
    );

    assert_eq!(app.desk_reply(&no, "明天上午派人上门").await.0, 200);
    expect(
        2,
        app.wait_pushed(&user, 2, PUSH_WAIT).await,
        &format!("您的报修单 {no}（图书馆一楼东门）有新回复。\n工作人员回复：明天上午派人上门"),
    );

    assert_eq!(app.desk_move(&no, "in_progress", "").await.0, 200);
    expect(
        3,
        app.wait_pushed(&user, 3, PUSH_WAIT).await,
        &format!("您的报修单 {no}（图书馆一楼东门）状态更新为：处理中。"),
    );

    assert_eq!(app.desk_move(&no, "resolved", "已更换读卡器").await.0, 200);
    let resolved_text = format!(
        "您的报修单 {no}（图书馆一楼东门）状态更新为：已解决。\n工作人员回复：已更换读卡器\n已修好请回复「确认解决」，仍有问题请回复「未解决」（7 天内有效）。"
    );
    expect(
        4,
        app.wait_pushed(&user, 4, PUSH_WAIT).await,
        &resolved_text,
    );

    // The reporter says it is not fixed: back to submitted; the desk resolves it again.
    assert_eq!(
        app.say(&user, "未解决").await,
        format!("报修单 {no} 已重新提交，我们会尽快再次处理。")
    );
    let (status, why) = app.desk_move(&no, "confirmed", "").await;
    assert_eq!(status, 409, "only the reporter confirms: {why}");
    assert_eq!(app.desk_move(&no, "resolved", "已更换读卡器").await.0, 200);
    expect(
        5,
        app.wait_pushed(&user, 5, PUSH_WAIT).await,
        &resolved_text,
    );
    assert_eq!(
        app.say(&user, &format!("确认解决 {}", no.to_lowercase()))
            .await,
        format!("已确认报修单 {no} 解决，感谢您的反馈！")
    );

    // Closed for good: no more moves, nothing more to confirm.
    assert_eq!(app.desk_move(&no, "accepted", "").await.0, 409);
    assert_eq!(
        app.say(&user, "确认解决").await,
        "您没有待确认的报修单。回复「我的报修」查看进度。"
    );
    let today = campus_today();
    assert_eq!(
        app.say(&user, "我的报修").await,
        format!(
            "您共有 1 张报修单：\n{no}（{today}）读卡器 · 图书馆一楼东门：已确认解决。回复：已更换读卡器"
        )
    );

    // Five operator changes, five pushes, all inside the customer-service window; none doubled.
    assert_eq!(app.pushed_kinds(&user).await, vec!["custom"; 5]);
    let shown = app.admin_json(&format!("/tickets/{no}")).await;
    let trail: Vec<(String, String)> = shown["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["state"].as_str().unwrap().to_owned(),
                e["operator"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let step = |s: &str, o: &str| (s.to_owned(), o.to_owned());
    assert_eq!(
        trail,
        vec![
            step("submitted", ""),
            step("accepted", "王工"),
            step("accepted", "王工"),
            step("in_progress", "王工"),
            step("resolved", "王工"),
            step("submitted", ""),
            step("resolved", "王工"),
            step("confirmed", ""),
        ]
    );
    assert!(shown.get("openid").is_none() && !shown.to_string().contains(&user));
}

#[tokio::test]
async fn operator_updates_beyond_the_window_go_as_template_messages() {
    let app =
        spawn_app_with_settings(|s| s.wechat.fallback_template_id = "TPL-repair-update".into());
    let user = openid("ticketwindow");
    let no = app.file_ticket(&user, "5", "东门闸机", None).await;
    // WeChat allows 5 customer-service messages after the user's last message; the 6th
    // update goes as the template message.
    for (i, text) in ["一", "二", "三", "四", "五", "六"].iter().enumerate() {
        assert_eq!(app.desk_reply(&no, &format!("进展{text}")).await.0, 200);
        app.wait_pushed(&user, i + 1, PUSH_WAIT).await;
    }
    let pushed = app.wait_pushed(&user, 6, PUSH_WAIT).await;
    assert_eq!(pushed.len(), 6);
    assert_eq!(
        pushed[5],
        format!("您的报修单 {no}（东门闸机）有新回复。\n工作人员回复：进展六")
    );
    assert_eq!(
        app.pushed_kinds(&user).await,
        ["custom", "custom", "custom", "custom", "custom", "template"]
    );
}

#[tokio::test]
async fn ticket_updates_beyond_the_daily_cap_are_not_pushed_but_my_repairs_shows_the_state() {
    let app = spawn_app_with_settings(|s| s.alerts.daily_caps.ticket_updates = 2);
    let user = openid("ticketcap");
    let no = app
        .file_ticket(&user, "2", "二食堂一楼 5 号窗口", None)
        .await;

    let (status, t) = app.desk_move(&no, "accepted", "").await;
    assert_eq!(
        (status, t["reporter_update"].as_str()),
        (200, Some("queued"))
    );
    let (status, t) = app.desk_reply(&no, "下午派人检查").await;
    assert_eq!(
        (status, t["reporter_update"].as_str()),
        (200, Some("queued"))
    );
    let pushed = app.wait_pushed(&user, 2, PUSH_WAIT).await;
    assert_eq!(
        pushed,
        [
            format!("您的报修单 {no}（二食堂一楼 5 号窗口）状态更新为：已受理。"),
            format!("您的报修单 {no}（二食堂一楼 5 号窗口）有新回复。\n工作人员回复：下午派人检查"),
        ]
    );

    // The third update of the day is over the cap of 2: the move is made, the desk is told
    // the reporter was not, and nothing is queued (decided and stored before the answer).
    let (status, t) = app.desk_move(&no, "in_progress", "").await;
    assert_eq!(
        (status, t["state"].as_str(), t["reporter_update"].as_str()),
        (200, Some("in_progress"), Some("daily_cap"))
    );
    assert_eq!(app.pushed(&user).await, pushed);
    let today = campus_today();
    assert_eq!(
        app.say(&user, "我的报修").await,
        format!(
            "您共有 1 张报修单：\n{no}（{today}）消费机 · 二食堂一楼 5 号窗口：处理中。回复：下午派人检查"
        )
    );
    assert_eq!(app.pushed(&user).await, pushed);
}

#[tokio::test]
async fn the_desk_refuses_what_a_ticket_cannot_do_and_says_why() {
    let app = spawn_app();
    let user = openid("ticketdesk");
    let no = app.file_ticket(&user, "6", "二食堂", None).await;
    let (status, why) = app.desk_move(&no, "done", "").await;
    assert_eq!(
        (status, why.as_str()),
        (
            400,
            Some("unknown state \"done\": accepted, in_progress, resolved or rejected")
        )
    );
    let (status, why) = app.desk_move(&no, "in_progress", "").await;
    assert_eq!(
        (status, why.as_str()),
        (
            409,
            Some(format!("ticket {no} is submitted; it cannot become in_progress").as_str())
        )
    );
    let (status, why) = app.desk_move("BX999999", "accepted", "").await;
    assert_eq!((status, why.as_str()), (404, Some("no ticket BX999999")));
    let (status, _) = app
        .desk_post(
            &format!("/tickets/{no}/reply"),
            json!({ "operator": " ", "text": "好的" }),
        )
        .await;
    assert_eq!(status, 400);
    // Nothing of that reached the user; the ticket is as it was.
    let shown = app.admin_json(&format!("/tickets/{no}")).await;
    assert_eq!(shown["state"], "submitted");
    assert_eq!(shown["history"].as_array().unwrap().len(), 1);
    assert!(app.pushed(&user).await.is_empty());
    // Someone else's ticket number is answered like an unknown one.
    let other = openid("ticketother");
    assert_eq!(
        app.say(&other, &format!("确认解决 {no}")).await,
        format!("没有找到您的报修单 {no}。回复「我的报修」查看您的报修单。")
    );
}

#[tokio::test]
async fn a_photo_that_cannot_be_fetched_is_asked_for_again_and_nothing_typed_is_lost() {
    let app = spawn_app();
    let user = openid("ticketphoto");
    app.say(&user, "报修").await;
    app.say(&user, "4").await;
    app.say(&user, "三号楼 201").await;
    app.say(&user, "卡片断裂").await;
    // A media id WeChat does not know (expired after 3 days, say): 40007.
    assert_eq!(
        app.send_image(&user, "no-such-media").await,
        "照片暂时没能收到，请重新发送一次，或回复「跳过」不附照片提交。"
    );
    let media_id = app.upload_photo(b"\xff\xd8second try").await;
    let done = app.send_image(&user, &media_id).await;
    let [no] = whole_match(
        "报修已提交，单号 (BX[0-9A-Z]{6})，照片已收到。处理进展会在这里通知您，回复「我的报修」可查看进度。",
        &done,
    );
    let shown = app.admin_json(&format!("/tickets/{no}")).await;
    assert_eq!(
        (
            shown["category"].as_str(),
            shown["place"].as_str(),
            shown["description"].as_str()
        ),
        (Some("card_damaged"), Some("三号楼 201"), Some("卡片断裂"))
    );
    assert_eq!(shown["photo"]["size"], 12);
}

/// `onecard tickets …` as the service desk runs it, against `admin`; the operator is 王工.
fn desk_command(admin: &str, args: &[&str]) -> (bool, String, String) {
    let args: Vec<&str> = args
        .iter()
        .copied()
        .chain(["--admin", admin, "--operator", "王工"])
        .collect();
    let out = onecard(&args, &[]);
    (out.status.success(), stdout(&out), stderr(&out))
}

/// The lines docs/notices.md ("The service desk: `onecard tickets`") shows, printed by the real
/// command through this app's admin listener.
#[tokio::test]
async fn the_tickets_command_lists_moves_replies_and_explains_a_refusal() {
    let app = spawn_app();
    let user = openid("desk-cli");
    let place = "一食堂二楼 3 号窗口";
    let no = app.file_ticket(&user, "2", place, None).await;
    let ticket = app.admin_json(&format!("/tickets/{no}")).await;
    // In campus time (`server.utc_offset_hours` of config/demo.toml), as 「我的报修」 dates it.
    let hours = demo_settings(&Overrides::default()).server.utc_offset_hours;
    let campus = chrono::FixedOffset::east_opt(hours * 3600).unwrap();
    let created = chrono::DateTime::from_timestamp(ticket["created_at"].as_i64().unwrap(), 0)
        .unwrap()
        .with_timezone(&campus)
        .format("%Y-%m-%d %H:%M");

    let listed = desk_command(
        &app.admin_base,
        &["tickets", "list", "--state", "submitted"],
    );
    assert_eq!(
        listed,
        (
            true,
            format!(
                "{no}  {:<11}  {:<14}  {created}  {place}\n",
                "submitted", "pos"
            ),
            "1 tickets\n".to_owned()
        )
    );
    let refused = desk_command(&app.admin_base, &["tickets", "move", &no, "in_progress"]);
    assert_eq!(
        refused,
        (
            false,
            String::new(),
            format!(
                "Error: ticket {no} is submitted; it cannot become in_progress (409 Conflict)\n"
            )
        )
    );
    let moved = desk_command(&app.admin_base, &["tickets", "move", &no, "accepted"]);
    assert_eq!(
        (moved.0, moved.1.as_str()),
        (
            true,
            format!("{no} is now accepted; the reporter is told in WeChat\n").as_str()
        )
    );
    let replied = desk_command(
        &app.admin_base,
        &["tickets", "reply", &no, "明天上午派人上门"],
    );
    assert!(replied.0, "{replied:?}");
    assert_eq!(
        replied.1.lines().next(),
        Some(format!("replied to {no}; the reporter is told in WeChat").as_str())
    );
    // The reporter was told of both, as the desk's answer said.
    assert_eq!(
        app.wait_pushed(&user, 2, PUSH_WAIT).await,
        vec![
            format!("您的报修单 {no}（{place}）状态更新为：已受理。"),
            format!("您的报修单 {no}（{place}）有新回复。\n工作人员回复：明天上午派人上门"),
        ]
    );
}
