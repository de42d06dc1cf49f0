//! Repair tickets in chat: the 「报修」 dialog files a ticket in the store, 「我的报修」 lists it.

use crate::helpers::*;

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
    let done = app.say(&user, "刷卡没有反应").await;
    let no = done
        .strip_prefix("报修已提交，单号 ")
        .and_then(|rest| rest.split_once('。'))
        .map(|(no, _)| no.to_owned())
        .unwrap_or_else(|| panic!("unexpected reply: {done}"));
    assert_eq!(
        done,
        format!("报修已提交，单号 {no}。处理进展会在这里通知您，回复「我的报修」可查看进度。")
    );
    let listed = app.say(&user, "我的报修").await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap())
        .format("%m-%d");
    assert_eq!(
        listed,
        format!("您共有 1 张报修单：\n{no}（{today}）消费机 · 一食堂二楼 3 号窗口：已提交")
    );
    // The dialog is over: the next text is routed normally again.
    assert!(app.say(&user, "帮助").await.starts_with("您好！"));
}
