//! What the money tests share (充值, 自助缴费 and the tests that crash or audit their orders):
//! an order worker that retries within milliseconds, a user bound through the real dialog, the
//! money a person holds as the bank and card simulators' inspection endpoints report it, the
//! 「确认」 that returns the order id, and the pushed result.
//!
//! Expected amounts are always read from the simulators here, never copied from seed data.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use onecard::settings::Settings;
use serde_json::Value;

use crate::helpers::{TestApp, openid, spawn_app_with_settings};

/// How long an order may take to reach its end on a loaded machine.
pub const ORDER_WAIT: Duration = Duration::from_secs(30);

/// The order worker polls and backs off within milliseconds, so an order ends in well under a
/// second unless a fault holds it.
pub fn fast_orders(s: &mut Settings) {
    s.orders.backoff_base_ms = 20;
    s.orders.poll_ms = 20;
}

/// The demo app with [`fast_orders`].
pub fn fast_orders_app() -> TestApp {
    spawn_app_with_settings(fast_orders)
}

/// A fresh user (`tag` names it in logs) bound to `sno` through the real dialog.
pub async fn bound_user(app: &TestApp, tag: &str, sno: &str) -> String {
    let user = openid(tag);
    app.bind(&user, sno).await;
    user
}

/// [`bound_user`], and what `sno` holds before any money moves.
pub async fn bound_holder(app: &TestApp, tag: &str, sno: &str) -> (String, Holdings) {
    let user = bound_user(app, tag, sno).await;
    let before = app.holdings(sno).await;
    (user, before)
}

/// Fen as replies print yuan: `12.30`.
pub fn yuan(fen: i64) -> String {
    onecard::domain::Fen(fen).yuan()
}

/// The order id (`O` + the campus date + 12 characters) in a reply or a push.
pub fn order_id_in(text: &str) -> String {
    let re = regex::Regex::new(r"O\d{8}[0-9A-Z]{12}").unwrap();
    re.find(text)
        .unwrap_or_else(|| panic!("no order id in {text}"))
        .as_str()
        .to_owned()
}

/// What a person holds, as the card and bank simulators report it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holdings {
    /// The card's spendable balance.
    pub card_fen: i64,
    /// 过渡余额: loaded onto the card account, not yet claimed at a POS.
    pub pending_fen: i64,
    /// The bound bank card's balance; `None` for a person without one.
    pub bank_fen: Option<i64>,
}

impl TestApp {
    /// The bank card bound for 银校转账 (`bank_name`, `card_masked`, `balance_fen`); `None` if
    /// the person has none.
    pub async fn bank_account(&self, sno: &str) -> Option<Value> {
        let r = self.get(&format!("/sim/bank/accounts/{sno}")).await;
        if r.status() == 404 {
            return None;
        }
        Some(r.json().await.unwrap())
    }

    pub async fn bank_balance(&self, sno: &str) -> i64 {
        let account = self.bank_account(sno).await.expect("a bound bank card");
        account["balance_fen"].as_i64().unwrap()
    }

    /// The card's spendable balance.
    pub async fn card_balance(&self, sno: &str) -> i64 {
        self.sim_account(sno).await["balance_fen"].as_i64().unwrap()
    }

    pub async fn holdings(&self, sno: &str) -> Holdings {
        let card = self.sim_account(sno).await;
        let bank = self.bank_account(sno).await;
        Holdings {
            card_fen: card["balance_fen"].as_i64().unwrap(),
            pending_fen: card["pending_fen"].as_i64().unwrap(),
            bank_fen: bank.map(|b| b["balance_fen"].as_i64().unwrap()),
        }
    }

    /// Wait until the bank simulator holds `fen` for `sno`.
    pub async fn wait_for_bank(&self, sno: &str, fen: i64) {
        let deadline = Instant::now() + ORDER_WAIT;
        while self.bank_balance(sno).await != fen {
            assert!(Instant::now() < deadline, "the bank never reached {fen}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Send 「确认」 to an offer: the reply and the order id in it.
    pub async fn confirm_order(&self, user: &str) -> (String, String) {
        let reply = self.say(user, "确认").await;
        let id = order_id_in(&reply);
        (reply, id)
    }

    /// 「确认」 an offer and wait for the order's end: the order id and the one push that
    /// tells the user how it ended.
    pub async fn confirm_to_the_end(&self, user: &str) -> (String, String) {
        let (_, id) = self.confirm_order(user).await;
        let [told] = <[String; 1]>::try_from(self.pushes(user, 1).await).unwrap();
        (id, told)
    }

    /// 「充值 50」 and 「确认」: the order id and the push that tells how it ended.
    pub async fn top_up_50(&self, user: &str) -> (String, String) {
        self.say(user, "充值 50").await;
        self.confirm_to_the_end(user).await
    }

    /// The pushes to `user` once there are `n` of them (fails if fewer came in time).
    pub async fn pushes(&self, user: &str, n: usize) -> Vec<String> {
        let got = self.wait_pushed(user, n, ORDER_WAIT).await;
        assert_eq!(got.len(), n, "pushes: {got:?}");
        got
    }
}
