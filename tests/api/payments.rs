//! 自助缴费 over the real callback: look up → the offer → 「确认」 → one order, driven by the
//! order worker against the card and billers simulators, its end pushed to the user. Money is
//! read from `GET /sim/card/accounts/{学工号}` and the billers' `GET /sim/billers/payments`.

use std::time::{Duration, Instant};

use onecard::adapters::UpstreamConfig;
use onecard::settings::Settings;
use onecard::wire::{Locations, paths};
use serde_json::{Value, json};

use crate::helpers::{
    DEFAULT_REPLY, TestApp, message, message_rendered, spawn_app_with_settings, text_of,
    whole_match,
};
use crate::money_helpers::*;

/// The billers configured, card payments up to 50 元 without the card password, and
/// [`fast_orders`].
pub(crate) fn with_billers(s: &mut Settings) {
    let upstreams = s.upstreams.as_mut().expect("test upstreams");
    upstreams.billers = Some(UpstreamConfig::new(
        "/sim/billers",
        "onecard-demo",
        "demo-secret-change-me",
    ));
    s.sim.as_mut().expect("test sim").card.nopwd_limit_fen = 5_000;
    fast_orders(s);
}

fn payments_app() -> TestApp {
    spawn_app_with_settings(with_billers)
}

/// A fresh user (`tag`) bound to `sno`, and the card's balance before anything is paid.
async fn bound_payer(app: &TestApp, tag: &str, sno: &str) -> (String, i64) {
    let (user, before) = bound_holder(app, tag, sno).await;
    (user, before.card_fen)
}

impl TestApp {
    /// The payments the billers hold for one biller and target.
    async fn biller_payments(&self, biller: &str, target: &str) -> Vec<Value> {
        let path = format!("/sim/billers/payments?biller_id={biller}&target_id={target}");
        serde_json::from_value(self.get_json(&path).await).unwrap()
    }
}

#[actix_web::test]
async fn network_fee_package_is_paid_from_the_card_and_the_result_pushed() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "net", sno).await;
    let card = app.masked_card(sno).await;
    // the campus network's account: its balance and this month's traffic vary by person
    let asked = app.say(&user, "网费").await;
    let [net_before] = whole_match(
        &format!(
            r"校园网账号：{sno}\n账户余额：(\d+\.\d\d) 元，本月已用流量 \d+ MB / \d+ MB\n请选择充值套餐，回复序号：\n1\. 10\.00 元\n2\. 20\.00 元\n3\. 30\.00 元\n4\. 50\.00 元\n回复「取消」可退出。"
        ),
        &asked,
    );
    let net_before_fen = (net_before.parse::<f64>().unwrap() * 100.0).round() as i64;
    let quote = app.say(&user, "2").await;
    assert_eq!(
        quote,
        format!(
            "请核对缴费信息：\n校园网账号：{sno}\n充值金额：20.00 元（到账后账户余额 {} 元）\n付款：校园卡（{}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            yuan(net_before_fen + 2_000),
            card,
            yuan(before),
            yuan(before - 2_000),
        )
    );
    let (accepted, id) = app.confirm_order(&user).await;
    assert_eq!(
        accepted,
        format!(
            "已提交：校园网费 20.00 元（订单号 {id}）。正在从校园卡扣款并缴费，结果稍后通知您。"
        )
    );
    let pushed = app.pushes(&user, 1).await;
    assert_eq!(
        pushed,
        [format!("校园网费缴费成功：20.00 元已到账（订单号 {id}）。")]
    );
    assert_eq!(app.card_balance(sno).await, before - 2_000);
    let paid = app.biller_payments("net", sno).await;
    assert_eq!(paid.len(), 1);
    assert_eq!(
        (
            &paid[0]["out_trade_no"],
            &paid[0]["amount_fen"],
            &paid[0]["state"]
        ),
        (&json!(format!("{id}C")), &json!(2_000), &json!("SUCCESS"))
    );
}

/// An electricity offer as the dialog reached it.
struct ElectricityOffer {
    /// The meter's id at the billers (`XY7-601`).
    room: String,
    /// The remaining kWh the meter reported (`42.27`).
    kwh: String,
    offer: String,
}

/// The dormitory buildings the billers list for electricity, campus by campus, in the order
/// 「电费」 numbers them.
async fn elec_buildings(app: &TestApp) -> Vec<String> {
    let locations = |level: &str, parent: Option<&str>| json!({ "biller_id": "elec", "level": level, "parent_id": parent });
    let campuses: Locations = app
        .upstream_read(
            "/sim/billers",
            paths::BILLERS_LOCATIONS,
            locations("campus", None),
        )
        .await;
    let mut buildings = Vec::new();
    for campus in campuses.items {
        let query = locations("building", Some(&campus.id));
        let list: Locations = app
            .upstream_read("/sim/billers", paths::BILLERS_LOCATIONS, query)
            .await;
        buildings.extend(list.items.into_iter().map(|b| b.name));
    }
    buildings
}

/// Walk the electricity dialog to an offer of `amount` for the first room of 西苑7号楼 6层
/// whose meter answers.
async fn electricity_offer(app: &TestApp, user: &str, amount: &str) -> ElectricityOffer {
    let buildings = elec_buildings(app).await;
    let shown: Vec<Value> = buildings
        .iter()
        .enumerate()
        .map(|(i, name)| json!({ "n": i + 1, "name": name }))
        .collect();
    assert_eq!(
        app.say(user, "电费").await,
        message_rendered("pay.elec.ask_building", json!({ "buildings": shown }))
    );
    let xiyuan_7 = buildings.iter().position(|b| b == "西苑7号楼");
    let xiyuan_7 = (xiyuan_7.expect("the billers list 西苑7号楼") + 1).to_string();
    let asked = app.say(user, &xiyuan_7).await;
    assert_eq!(
        asked,
        "西苑7号楼：请回复三位房间号，例如「609」（6 层 09 室）。回复「取消」可退出。"
    );
    for r in 1..=20 {
        let room = format!("6{r:02}");
        let answer = app.say(user, &room).await;
        let offline = json!({ "room_name": format!("西苑7号楼{room}") });
        if answer == message("pay.elec.meter_offline", offline) {
            // this meter is offline (the dialog ended): start again
            app.say(user, "电费").await;
            app.say(user, &xiyuan_7).await;
            continue;
        }
        let [kwh] = whole_match(
            &format!(
                r"西苑7号楼{room}\n当前剩余电量：(\d+\.\d\d) 度（电表余额 \d+\.\d\d 元）\n请回复缴费金额（元），1\.00–500\.00 元。回复「取消」可退出。"
            ),
            &answer,
        );
        let below = app.say(user, "0.5").await;
        assert_eq!(
            below,
            "宿舍电费每笔至少 1.00 元，请重新输入金额。回复「取消」可退出。"
        );
        let offer = app.say(user, amount).await;
        return ElectricityOffer {
            room: format!("XY7-{room}"),
            kwh,
            offer,
        };
    }
    panic!("no meter answers on 6层");
}

#[actix_web::test]
async fn electricity_shows_remaining_kwh_and_is_pushed_when_the_meter_is_credited() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "elec", sno).await;
    let card = app.masked_card(sno).await;
    let ElectricityOffer { room, kwh, offer } = electricity_offer(&app, &user, "5.6").await;
    assert_eq!(
        offer,
        format!(
            "请核对缴费信息：\n宿舍：西苑7号楼{}\n当前剩余电量：{kwh} 度\n缴费金额：5.60 元（按 0.56 元/度，约 10.00 度）\n付款：校园卡（{card}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            &room["XY7-".len()..],
            yuan(before),
            yuan(before - 560)
        )
    );
    let (_, id) = app.confirm_order(&user).await;
    // the meter controller accepts the payment and credits it 10–120 s later
    let deadline = Instant::now() + ORDER_WAIT;
    loop {
        let paid = app.biller_payments("elec", &room).await;
        if paid.len() == 1 {
            assert_eq!(paid[0]["state"], "ACCEPTED");
            break;
        }
        assert!(Instant::now() < deadline, "never paid");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.card_balance(sno).await, before - 560);
    app.advance_sim_clock(121).await;
    let pushed = app.pushes(&user, 1).await;
    assert_eq!(
        pushed,
        [format!(
            "宿舍电费缴费成功：5.60 元已充入电表（订单号 {id}）。回复「电费」可查看剩余电量。"
        )]
    );
    assert_eq!(
        app.biller_payments("elec", &room).await[0]["state"],
        "SUCCESS"
    );
    assert_eq!(app.card_balance(sno).await, before - 560);
}

#[actix_web::test]
async fn a_meter_that_goes_offline_after_the_debit_gets_the_money_refunded_to_the_fen() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "offline", sno).await;
    let room = electricity_offer(&app, &user, "10").await.room;
    // the collector loses the network between the offer and the 「确认」
    app.sim_act(
        &format!("/sim/billers/meters/{room}/offline"),
        json!({"offline": true}),
    )
    .await;
    let (id, told) = app.confirm_to_the_end(&user).await;
    assert_eq!(
        told,
        format!(
            "缴费未成功（订单号 {id}）：电表暂时无法通讯，已扣的 10.00 元已退回您的校园卡，请稍后再试。"
        )
    );
    assert_eq!(app.card_balance(sno).await, before, "refunded to the fen");
    assert_eq!(
        app.biller_payments("elec", &room).await,
        Vec::<Value>::new()
    );
}

#[actix_web::test]
async fn a_replayed_or_repeated_confirmation_creates_one_order() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "twice", sno).await;
    app.say(&user, "网费").await;
    app.say(&user, "1").await;
    let confirm = app.wx.text_message(&user, "确认");
    let first = text_of(&app.wx.send(&confirm).await.unwrap());
    // WeChat retries the same message; a replay carries the same MsgId
    let retried = text_of(&app.wx.send(&confirm).await.unwrap());
    assert_eq!(retried, first);
    let id = order_id_in(&first);
    assert_eq!(
        first,
        format!(
            "已提交：校园网费 10.00 元（订单号 {id}）。正在从校园卡扣款并缴费，结果稍后通知您。"
        )
    );
    // typed again: there is no offer left to confirm
    let again = app.say(&user, "确认").await;
    assert_eq!(again, DEFAULT_REPLY);
    let pushed = app.pushes(&user, 1).await;
    assert_eq!(
        pushed,
        [format!("校园网费缴费成功：10.00 元已到账（订单号 {id}）。")]
    );
    assert_eq!(app.biller_payments("net", sno).await.len(), 1);
    assert_eq!(app.card_balance(sno).await, before - 1_000);
}

#[actix_web::test]
async fn photo_fee_short_balance_is_refused_then_paid_once_after_claiming() {
    let app = payments_app();
    let sno = "2024000002";
    let user = bound_user(&app, "photo", sno).await;
    let balance = app.card_balance(sno).await;
    assert_eq!(
        app.say(&user, "照片费").await,
        format!(
            "校园卡余额 {} 元，不足以支付照片采集费 20.00 元，本次未扣款。请先充值后再缴费。",
            yuan(balance)
        )
    );
    // 李四 claims the 过渡余额 at a canteen POS
    app.sim_act(&format!("/sim/card/accounts/{sno}/claim"), json!({}))
        .await;
    let before = app.card_balance(sno).await;
    let card = app.masked_card(sno).await;
    // the photo fee is due at the end of the simulators' campus year
    let now: Value = app.get("/sim/clock").await.json().await.unwrap();
    let campus_now = chrono::DateTime::from_timestamp(now["now"].as_i64().unwrap(), 0).unwrap()
        + chrono::Duration::hours(8);
    assert_eq!(
        app.say(&user, "照片费").await,
        format!(
            "请核对缴费信息：\n学籍照片采集费：20.00 元（缴费截止 {}-12-31）\n合计：20.00 元\n付款：校园卡（{card}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            chrono::Datelike::year(&campus_now),
            yuan(before),
            yuan(before - 2_000)
        )
    );
    let (id, told) = app.confirm_to_the_end(&user).await;
    assert_eq!(
        told,
        format!("照片采集费缴费成功：20.00 元（订单号 {id}）。")
    );
    assert_eq!(app.card_balance(sno).await, before - 2_000);
    // paid once: nothing is owed any more
    assert_eq!(app.say(&user, "照片费").await, "您没有待缴的照片采集费。");
}

#[actix_web::test]
async fn exam_fee_is_paid_once_and_a_lost_card_cannot_pay() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "exam", sno).await;
    let card = app.masked_card(sno).await;
    assert_eq!(
        app.say(&user, "考试费").await,
        format!(
            "请核对缴费信息：\n全国大学英语四级考试（CET-4）报名费：30.00 元\n合计：30.00 元\n付款：校园卡（{card}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            yuan(before),
            yuan(before - 3_000)
        )
    );
    let (id, told) = app.confirm_to_the_end(&user).await;
    assert_eq!(
        told,
        format!("考试报名费缴费成功：30.00 元（订单号 {id}），报名已确认。")
    );
    assert_eq!(app.card_balance(sno).await, before - 3_000);
    assert_eq!(
        app.say(&user, "考试费").await,
        "您没有待缴费的考试报名。已报名的考试请在报名系统中查看缴费状态。"
    );
    // 王五's card is reported lost
    let lost = bound_user(&app, "lost", "2024000003").await;
    assert_eq!(
        app.say(&lost, "考试费").await,
        "您的校园卡当前状态为「已挂失」，不能用于缴费，本次未扣款。如有疑问请联系一卡通服务中心。"
    );
}

#[actix_web::test]
async fn donation_below_the_minimum_is_asked_again_and_the_message_reaches_the_fund() {
    let app = payments_app();
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "donor", sno).await;
    let card = app.masked_card(sno).await;
    assert_eq!(
        app.say(&user, "捐赠").await,
        "感谢您对母校的支持！请选择捐赠项目，回复序号：\n1. 图书馆建设基金\n2. 奖助学金基金\n回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "1").await,
        "图书馆建设基金：请回复捐赠金额（元），至少 1.00 元。回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "0.5").await,
        "校友捐赠每笔至少 1.00 元，请重新输入金额。回复「取消」可退出。"
    );
    assert_eq!(
        app.say(&user, "12").await,
        "请回复捐赠留言（50 字以内），不留言请回复「无」。"
    );
    let offer = app.say(&user, "祝母校越来越好").await;
    assert_eq!(
        offer,
        format!(
            "请核对捐赠信息：\n项目：图书馆建设基金\n金额：12.00 元\n留言：祝母校越来越好\n付款：校园卡（{}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            card,
            yuan(before),
            yuan(before - 1_200)
        )
    );
    let (id, told) = app.confirm_to_the_end(&user).await;
    assert_eq!(
        told,
        format!("捐赠成功：12.00 元（订单号 {id}）。感谢您对母校的支持！")
    );
    let paid = app.biller_payments("donation", "FUND-LIB").await;
    assert_eq!(paid.len(), 1);
    assert_eq!(
        (&paid[0]["amount_fen"], &paid[0]["message"]),
        (&json!(1_200), &json!("祝母校越来越好"))
    );
    assert_eq!(app.card_balance(sno).await, before - 1_200);
}

#[actix_web::test]
async fn library_fines_from_the_public_data_store_are_paid_from_the_card_and_the_library_records_them()
 {
    let app = payments_app();
    // 陈晓雨 has overdue loans; the amounts are the library's, as the public data store has them
    let sno = "2025000005";
    let user = bound_user(&app, "library", sno).await;
    let loans = app.get_json(&format!("/sim/data/loans/{sno}")).await;
    let fined: Vec<&Value> = loans["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["fine_fen"].as_i64().unwrap() > 0)
        .collect();
    assert!(!fined.is_empty(), "{loans}");
    let total: i64 = fined.iter().map(|l| l["fine_fen"].as_i64().unwrap()).sum();
    assert_eq!(total, loans["total_fine_fen"].as_i64().unwrap());
    // her card holds a few 元: she tops up 30 元 from her bank card and claims it at a POS
    app.say(&user, "充值 30").await;
    app.confirm_to_the_end(&user).await;
    app.sim_act(&format!("/sim/card/accounts/{sno}/claim"), json!({}))
        .await;
    let card = app.masked_card(sno).await;
    let before = app.card_balance(sno).await;
    assert!(before >= total, "{before} < {total}");

    let books: String = fined
        .iter()
        .map(|l| {
            format!(
                "《{}》逾期 {} 天：{} 元\n",
                l["title"].as_str().unwrap(),
                l["overdue_days"],
                yuan(l["fine_fen"].as_i64().unwrap())
            )
        })
        .collect();
    assert_eq!(
        app.say(&user, "图书馆罚款").await,
        format!(
            "请核对缴费信息（图书馆逾期罚款）：\n{books}合计：{} 元\n付款：校园卡（{card}）电子钱包，余额 {} 元，付款后 {} 元\n回复「确认」支付，回复其他内容放弃。",
            yuan(total),
            yuan(before),
            yuan(before - total),
        )
    );
    let (accepted, id) = app.confirm_order(&user).await;
    assert_eq!(
        accepted,
        format!(
            "已提交：图书馆逾期罚款 {} 元（订单号 {id}）。正在从校园卡扣款并缴费，结果稍后通知您。",
            yuan(total)
        )
    );
    // the second push (the first told her about the top-up)
    assert_eq!(
        app.pushes(&user, 2).await[1],
        format!("图书馆逾期罚款已缴清：{} 元（订单号 {id}）。", yuan(total))
    );
    assert_eq!(app.card_balance(sno).await, before - total);
    let paid = app.biller_payments("library", sno).await;
    let barcodes: Vec<String> = fined
        .iter()
        .map(|l| format!("LIB-{}", l["barcode"].as_str().unwrap()))
        .collect();
    assert_eq!(paid.len(), 1, "{paid:?}");
    assert_eq!(
        (
            &paid[0]["out_trade_no"],
            &paid[0]["amount_fen"],
            &paid[0]["receivable_ids"],
            &paid[0]["state"]
        ),
        (
            &json!(format!("{id}C")),
            &json!(total),
            &json!(barcodes),
            &json!("SUCCESS")
        )
    );
    // paid once: the library owes nothing more
    assert_eq!(
        app.say(&user, "图书馆罚款").await,
        "您没有待缴的图书馆逾期罚款。"
    );
}

#[actix_web::test]
async fn a_confirmed_payment_is_taken_up_at_once_even_when_the_worker_polls_rarely() {
    // the worker looks for due tasks only every 10 minutes: the 「确认」 itself wakes it
    let app = spawn_app_with_settings(|s| {
        with_billers(s);
        s.orders.poll_ms = 600_000;
    });
    let sno = "2024000001";
    let (user, before) = bound_payer(&app, "wake", sno).await;
    app.say(&user, "网费").await;
    app.say(&user, "1").await;
    let (id, told) = app.confirm_to_the_end(&user).await;
    assert_eq!(
        told,
        format!("校园网费缴费成功：10.00 元已到账（订单号 {id}）。")
    );
    assert_eq!(app.card_balance(sno).await, before - 1_000);
}
