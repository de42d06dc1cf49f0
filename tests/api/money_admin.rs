//! The back office on a running server: orders, the manual queues and a day's reconciliation
//! through the admin listener (`GET /orders`, `GET /reconcile/queue`, `POST /reconcile/run`, …),
//! and `onecard orders` / `onecard reconcile` as an operator types them — against the running
//! server, then against its data directory once it is stopped. Money is read from the bank and
//! card simulators' inspection endpoints.

use chrono::NaiveDate;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::money_helpers::*;

const ZHANG_SAN: &str = "2024000001";

/// [`fast_orders`], giving up after two failed sends per step.
fn money_app() -> TestApp {
    spawn_app_with_settings(|s| {
        fast_orders(s);
        s.orders.topup.credit_attempts = 2;
        s.orders.topup.reverse_attempts = 2;
    })
}

/// The ids of a list of orders.
fn ids(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap())
        .collect()
}

/// The campus day (UTC+8, the settings' default) of a Unix-ms instant.
fn campus_day(ms: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp_millis(ms + 8 * 3_600_000)
        .unwrap()
        .date_naive()
}

fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

#[tokio::test]
async fn the_back_office_finds_a_top_up_by_state_student_and_day_with_its_whole_history() {
    let app = money_app();
    let user = openid("desk");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let id = app.top_up_50(&user).await.0;
    let moved = bank_before - app.bank_balance(ZHANG_SAN).await;
    assert_eq!(moved, 5_000);

    let order = app.admin_json(&format!("/orders/{id}")).await;
    assert_eq!(
        (
            &order["kind"],
            &order["state"],
            &order["amount_fen"],
            &order["sno"],
            &order["reason"]
        ),
        (
            &json!("top_up"),
            &json!("succeeded"),
            &json!(moved),
            &json!(ZHANG_SAN),
            &Value::Null
        )
    );
    assert_eq!(
        order["keys"],
        json!({
            "debit": format!("{id}D"),
            "credit": format!("{id}C"),
            "cancel_credit": format!("{id}X"),
            "reverse": format!("{id}R"),
        })
    );
    let steps: Vec<(&str, &str)> = order["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["from"].as_str().unwrap(), c["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("created", "debiting"),
            ("debiting", "debited"),
            ("debited", "crediting"),
            ("crediting", "succeeded")
        ]
    );

    let day = campus_day(order["created_at_ms"].as_i64().unwrap());
    let listed = |q: String| {
        let app = &app;
        async move { app.admin_json(&format!("/orders{q}")).await }
    };
    assert_eq!(ids(&listed("?state=succeeded".into()).await), [id.as_str()]);
    assert_eq!(
        ids(&listed(format!("?sno={ZHANG_SAN}")).await),
        [id.as_str()]
    );
    assert_eq!(ids(&listed(format!("?day={day}")).await), [id.as_str()]);
    assert_eq!(
        ids(&listed(format!("?day={day}&sno={ZHANG_SAN}&state=succeeded")).await),
        [id.as_str()]
    );
    let day_before = day.pred_opt().unwrap();
    assert_eq!(
        ids(&listed(format!("?day={day_before}")).await),
        Vec::<&str>::new()
    );
    assert_eq!(
        ids(&listed("?sno=2024000002".into()).await),
        Vec::<&str>::new()
    );
    // without a filter: the unfinished orders, and this one is done
    assert_eq!(ids(&listed(String::new()).await), Vec::<&str>::new());

    assert_eq!(
        app.admin_get("/orders?state=paid").await,
        (
            400,
            "unknown state \"paid\": use created, debiting, debited, crediting, claiming, succeeded, failed, reversing, reversed or needs_manual".into()
        )
    );
    assert_eq!(
        app.admin_get("/orders?day=30.11.2026").await,
        (400, "\"30.11.2026\" is not a date (YYYY-MM-DD)".into())
    );
    assert_eq!(
        app.admin_get("/orders/O20261130AAAAAAAAAAAA").await,
        (404, "no order O20261130AAAAAAAAAAAA".into())
    );

    // the same order through the CLI, as the operator reads it
    let shown = onecard(&["orders", "show", &id, "--admin", &app.admin_base], &[]);
    assert_eq!(shown.status.code(), Some(0), "{}", stderr(&shown));
    let at = |i: usize| utc(order["history"][i]["at_ms"].as_i64().unwrap());
    assert_eq!(
        stdout(&shown),
        format!(
            "{id}  succeeded  (top_up)\n  amount       50.00 元\n  学工号        {ZHANG_SAN}\n  account      {}\n  created      {} UTC\n  keys         debit {id}D  credit {id}C  cancel {id}X  reverse {id}R\n  {} UTC  created → debiting\n  {} UTC  debiting → debited\n  {} UTC  debited → crediting\n  {} UTC  crediting → succeeded\n",
            order["account"].as_str().unwrap(),
            utc(order["created_at_ms"].as_i64().unwrap()),
            at(0),
            at(1),
            at(2),
            at(3),
        )
    );
}

#[tokio::test]
async fn the_manual_queue_reads_the_same_on_a_running_and_on_a_stopped_server() {
    let app = money_app();
    let user = openid("manual-desk");
    app.bind(&user, ZHANG_SAN).await;
    let bank_before = app.bank_balance(ZHANG_SAN).await;
    let card_before = app.holdings(ZHANG_SAN).await;
    // the load keeps failing and so does the bank's reversal: the order waits for a person
    app.set_faults(
        "card",
        json!({"error_rate": 1.0, "ops": ["card/load/create"]}),
    )
    .await;
    app.set_faults("bank", json!({"error_rate": 1.0, "ops": ["bank/reverse"]}))
        .await;
    let id = app.top_up_50(&user).await.0;
    let debited = bank_before - app.bank_balance(ZHANG_SAN).await;
    assert_eq!(debited, 5_000);
    let card_after = app.holdings(ZHANG_SAN).await;
    assert_eq!(
        (card_after.card_fen, card_after.pending_fen),
        (card_before.card_fen, card_before.pending_fen)
    );

    let queue = app.admin_json("/orders?state=needs_manual").await;
    assert_eq!(ids(&queue), [id.as_str()]);
    let order = &queue[0];
    assert_eq!(order["amount_fen"], json!(debited));
    assert_eq!(order["reason"], json!("bank reversal failed: unavailable"));
    // unfinished orders: none (needs_manual is terminal for the machine)
    assert_eq!(ids(&app.admin_json("/orders").await), Vec::<&str>::new());

    let line = format!(
        "{id}  needs_manual  top_up         50.00 元  {} UTC  bank reversal failed: unavailable\n",
        utc(order["created_at_ms"].as_i64().unwrap())
    );
    let running = onecard(
        &[
            "orders",
            "list",
            "--state",
            "needs_manual",
            "--admin",
            &app.admin_base,
        ],
        &[],
    );
    assert_eq!(running.status.code(), Some(0), "{}", stderr(&running));
    assert_eq!(stdout(&running), line);
    assert_eq!(stderr(&running), "1 orders\n");

    let data = app.data_dir.clone();
    app.stop().await;
    let stopped = run_cli(
        &[
            "orders",
            "list",
            "--state",
            "needs_manual",
            "--data",
            data.to_str().unwrap(),
        ],
        &Overrides::default(),
    );
    assert_eq!(stopped, line);
}

#[tokio::test]
async fn a_day_reconciled_through_the_admin_listener_queues_a_fen_off_debit_and_an_operator_closes_it()
 {
    let app = money_app();
    let user = openid("recon-desk");
    app.bind(&user, ZHANG_SAN).await;
    let id = app.top_up_50(&user).await.0;
    let order = app.admin_json(&format!("/orders/{id}")).await;
    assert_eq!(order["state"], "succeeded");
    let day = campus_day(order["created_at_ms"].as_i64().unwrap());
    // the bank books the debit one fen off; its day cut (23:00) may put it on the next day
    let key = format!("{id}D");
    app.set_faults(
        "bank",
        json!({"statement": {"amount_off_by_one_fen": [key]}}),
    )
    .await;
    // the statements of both days are out (06:00 on the day after each)
    app.advance_sim_clock(3 * 86_400).await;
    assert_eq!(
        app.admin_get(&format!("/reconcile/days/{day}")).await,
        (404, format!("{day} has not been reconciled (run it first)"))
    );

    let (status, body) = app
        .admin_post("/reconcile/run", json!({"date": day.to_string()}))
        .await;
    assert_eq!(status, 200, "{body}");
    let run: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(run["result"]["date"], json!(day.to_string()));
    let report_dir = app.data_dir.join("reconcile");
    assert_eq!(
        run["csv_path"],
        json!(report_dir.join(format!("reconcile-{day}.csv")))
    );
    // the next day through the CLI, as an operator runs it
    let next = day.succ_opt().unwrap();
    let cli = onecard(
        &[
            "reconcile",
            "--date",
            &next.to_string(),
            "--admin",
            &app.admin_base,
        ],
        &[],
    );
    assert_eq!(cli.status.code(), Some(0), "{}", stderr(&cli));
    let printed = stdout(&cli);
    assert_eq!(
        printed.lines().next(),
        Some(format!("对账 {next}: complete").as_str())
    );
    assert_eq!(
        printed.lines().last(),
        Some(
            format!(
                "CSV: {}",
                report_dir.join(format!("reconcile-{next}.csv")).display()
            )
            .as_str()
        )
    );

    let queue = app.admin_json("/reconcile/queue").await;
    let items = queue.as_array().unwrap();
    assert_eq!(items.len(), 1, "{queue}");
    let item = &items[0];
    let booked: NaiveDate = item["date"].as_str().unwrap().parse().unwrap();
    assert!(booked == day || booked == next, "{booked}");
    assert_eq!(item["id"], json!(format!("{booked}/{key}")));
    let line = &item["line"];
    assert_eq!(
        (
            &line["class"],
            &line["upstream"],
            &line["order_id"],
            &line["ours_fen"],
            &line["theirs_fen"],
            &line["action"]
        ),
        (
            &json!("amount_mismatch"),
            &json!("bank"),
            &json!(id),
            &json!(5_000),
            &json!(5_001),
            &json!("manual")
        )
    );
    let stored = app.admin_json(&format!("/reconcile/days/{booked}")).await;
    assert_eq!(stored["date"], json!(booked.to_string()));

    // the accountant's CSV of that day: UTF-8 with a BOM, the difference on its own line
    let path = format!("/reconcile/days/{booked}/csv");
    let csv = app.admin_send(reqwest::Method::GET, &path, None).await;
    assert_eq!(csv.status(), 200);
    assert_eq!(
        csv.headers()["content-type"].to_str().unwrap(),
        "text/csv; charset=utf-8"
    );
    let bytes = csv.bytes().await.unwrap();
    assert_eq!(&bytes[..3], "\u{FEFF}".as_bytes());
    assert_eq!(
        bytes.as_ref(),
        std::fs::read(report_dir.join(format!("reconcile-{booked}.csv"))).unwrap()
    );
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let difference: Vec<&str> = text.lines().filter(|l| l.contains(&key)).collect();
    let s = |k: &str| line[k].as_str().unwrap().to_owned();
    assert_eq!(
        difference,
        [format!(
            "{booked},金额不符,{id},{key},校园卡充值,银行,{},2024****01,50.00,50.01,0.01,成功,{},待人工处理,{}",
            s("serials"),
            s("state_theirs"),
            s("detail")
        )]
    );

    // an operator closes it; a second close is refused and says by whom
    let item_id = item["id"].as_str().unwrap().to_owned();
    let note = "银行已确认多记 1 分，次日退回";
    let (status, body) = app
        .admin_post(
            "/reconcile/queue/resolve",
            json!({"id": item_id, "by": "王会计", "note": note}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let closed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&closed["resolution"]["by"], &closed["resolution"]["note"]),
        (&json!("王会计"), &json!(note))
    );
    assert_eq!(
        app.admin_post(
            "/reconcile/queue/resolve",
            json!({"id": item_id, "by": "李会计", "note": "再关一次"}),
        )
        .await,
        (409, format!("{item_id} was already resolved by 王会计"))
    );
    assert_eq!(
        app.admin_post(
            "/reconcile/queue/resolve",
            json!({"id": item_id, "by": " ", "note": note}),
        )
        .await,
        (400, "say what was done (note) and who did it (by)".into())
    );
    assert_eq!(app.admin_json("/reconcile/queue").await, json!([]));
    let all = onecard(
        &["reconcile", "queue", "--all", "--admin", &app.admin_base],
        &[],
    );
    assert_eq!(all.status.code(), Some(0), "{}", stderr(&all));
    let resolved_at = chrono::DateTime::from_timestamp_millis(
        closed["resolution"]["at_ms"].as_i64().unwrap() + 8 * 3_600_000,
    )
    .unwrap()
    .format("%Y-%m-%d %H:%M");
    let s = |k: &str| line[k].as_str().unwrap().to_owned();
    assert_eq!(
        stdout(&all),
        format!(
            "{item_id}  amount_mismatch  bank  ours 50.00 / theirs 50.01 yuan  2024****01  order {id}  {}\n    serials {}  theirs: {}\n    resolved {resolved_at} by 王会计: {note}\n",
            s("detail"),
            s("serials"),
            s("state_theirs"),
        )
    );

    // the close is in the audit trail, and the queue reads the same once the server stopped
    let data = app.data_dir.clone();
    app.stop().await;
    let stopped = run_cli(
        &[
            "reconcile",
            "queue",
            "--all",
            "--data",
            data.to_str().unwrap(),
        ],
        &Overrides::default(),
    );
    assert_eq!(stopped, stdout(&all));
    let store = onecard::store::Store::open(&data, 16).unwrap();
    let mut export = Vec::new();
    store.export(&mut export).unwrap();
    let audits: Vec<Value> = String::from_utf8(export)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["tree"] == "audit")
        .map(|r| serde_json::from_str(r["value"].as_str().unwrap()).unwrap())
        .filter(|e: &Value| e["event"] == "reconcile_manual_resolved")
        .collect();
    assert_eq!(audits.len(), 1, "{audits:?}");
    assert_eq!(
        (&audits[0]["item"], &audits[0]["by"], &audits[0]["note"]),
        (&json!(item_id), &json!("王会计"), &json!(note))
    );
}
