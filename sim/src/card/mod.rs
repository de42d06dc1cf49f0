//! The simulated campus card system (一卡通 gateway), docs/upstream-api.md §5: account lookup,
//! balance with 过渡余额, transactions by date range, card info, password check, report / cancel
//! loss, lost-and-found, and the money operations (load, reverse, debit, refund, trade query,
//! day records) with idempotency keys.
//!
//! Why it exists: onecard's card adapter, the demo and the integration tests need a card system
//! that behaves like a vendor's: business codes, limits, the day cut, pending loads that must be
//! claimed. It owns the *live* state of every card (balances, flags, the journal of what
//! happened since the simulator started, the trades by key); the generated history before that
//! comes from [`crate::campus`]. Balances change only through these operations (or the opt-in
//! live activity / explicit `/sim` claim). It must never expose a full phone number through the
//! signed API (only `phone_masked`), and never log names, phones or password digests.
//!
//! Where things are: [`state`] (the live cards and trades), [`accounts`] (lookup, balance, card
//! info, password), [`statements`] (transactions by range, day records), [`feed`] (the
//! transaction feed), [`loss`] (挂失, 解挂, 失卡招领), [`money`] (load, reverse, debit, refund,
//! trade query), [`claim`] (领款 online) and [`http`] (the unsigned `/sim/card/accounts` inspection).

mod accounts;
mod claim;
mod feed;
pub(crate) mod http;
mod loss;
mod money;
mod state;
mod statements;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::campus::{local_date, local_secs};
use crate::upstream::Op;
use onecard_wire::{self as wire, ErrorCode};

pub use accounts::list_accounts;
pub(crate) use money::in_window;
pub use state::{AccountView, CardSim};
pub use statements::transactions_between;

/// `[sim.card]`: school policy switches of the simulated card system.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSimConfig {
    /// Whether 解挂 is allowed online (with the card password); `false` → 2110.
    pub cancel_loss_online: bool,
    /// Loads are accepted only inside this daily window (campus time, `HH:MM`); none = always.
    pub load_hours: Option<crate::faults::DownWindow>,
    pub single_limit_fen: i64,
    pub day_limit_fen: i64,
    pub nopwd_limit_fen: i64,
    pub wallet_cap_fen: i64,
    /// Wrong passwords before the card password locks.
    pub password_attempts: u32,
}

impl Default for CardSimConfig {
    fn default() -> Self {
        Self {
            cancel_loss_online: true,
            load_hours: None,
            single_limit_fen: 5_000,
            day_limit_fen: 10_000,
            nopwd_limit_fen: 2_000,
            wallet_cap_fen: 100_000,
            password_attempts: 5,
        }
    }
}

/// Offline terminals honour a loss after this delay (blacklist propagation, docs/campus-domain.md §4).
const LOSS_EFFECTIVE_AFTER_SECS: i64 = 300;
/// The accounting day ends at 23:30 campus time (docs/campus-domain.md §11).
const DAY_CUT_SECS: i64 = 23 * 3600 + 30 * 60;
/// Day records of D are ready at 06:00 on D+1.
const RECORDS: crate::statement::Schedule = crate::statement::Schedule {
    upstream: "card",
    ready_secs: 6 * 3600,
    not_ready: ErrorCode::RecordsNotReady,
    missing_message: "对账数据不存在",
};

/// Accounting date of an instant: after the day cut it is already tomorrow.
pub fn acc_date(ts: i64) -> NaiveDate {
    let d = local_date(ts);
    if local_secs(ts) >= DAY_CUT_SECS {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    }
}

/// Every operation of the card gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::CARD_ACCOUNT_GET,
        write: None,
        run: accounts::account_get,
    },
    Op {
        path: wire::paths::CARD_BALANCE_GET,
        write: None,
        run: accounts::balance_get,
    },
    Op {
        path: wire::paths::CARD_TRANSACTIONS_LIST,
        write: None,
        run: statements::transactions_list,
    },
    Op {
        path: wire::paths::CARD_TRANSACTIONS_FEED,
        write: None,
        run: feed::transactions_feed,
    },
    Op {
        path: wire::paths::CARD_INFO_GET,
        write: None,
        run: accounts::info_get,
    },
    Op {
        path: wire::paths::CARD_PASSWORD_VERIFY,
        write: None,
        run: accounts::password_verify,
    },
    Op {
        path: wire::paths::CARD_FOUND_GET,
        write: None,
        run: loss::found_get,
    },
    Op {
        path: wire::paths::CARD_TRADE_QUERY,
        write: None,
        run: money::trade_query,
    },
    Op {
        path: wire::paths::CARD_RECON_DAILY,
        write: None,
        run: statements::recon_daily,
    },
    Op {
        path: wire::paths::CARD_REPORT_LOSS,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: loss::report_loss,
    },
    Op {
        path: wire::paths::CARD_CANCEL_LOSS,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: loss::cancel_loss,
    },
    Op {
        path: wire::paths::CARD_LOAD_CREATE,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: money::load_create,
    },
    Op {
        path: wire::paths::CARD_LOAD_REVERSE,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: money::load_reverse,
    },
    Op {
        path: wire::paths::CARD_LOAD_CLAIM,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: claim::load_claim,
    },
    Op {
        path: wire::paths::CARD_PAY_DEBIT,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: money::pay_debit,
    },
    Op {
        path: wire::paths::CARD_PAY_REFUND,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: money::pay_refund,
    },
];

#[cfg(test)]
mod test_support {
    use serde_json::{Value, json};

    use crate::upstream::testkit::{Sim, spawn_campus};
    use onecard_wire::{self as wire};

    pub(super) const CARD: &str = "/sim/card";

    pub(super) async fn sim() -> Sim {
        spawn_campus(300).await
    }

    pub(super) async fn read(s: &Sim, path: &str, body: Value) -> Value {
        s.ok(CARD, path, body).await
    }

    /// The card's balance as `card/balance/get` answers it.
    pub(super) async fn balance(s: &Sim, account: &str) -> Value {
        read(
            s,
            wire::paths::CARD_BALANCE_GET,
            json!({"account": account}),
        )
        .await
    }

    /// What `card/trade/query` answers for the trade written under `key`.
    pub(super) async fn trade(s: &Sim, key: &str) -> Value {
        read(
            s,
            wire::paths::CARD_TRADE_QUERY,
            json!({"out_trade_no": key}),
        )
        .await
    }

    /// Today's statement of `account` (campus date of the simulated clock), of one `tx_type`
    /// (`"CLAIM"`, …) or all.
    pub(super) async fn today(s: &Sim, account: &str, tx_type: Option<&str>) -> Value {
        let day = crate::campus::local_date(s.state.clock().now());
        let mut query = json!({"account": account, "from": day, "to": day});
        if let Some(tx_type) = tx_type {
            query["type"] = tx_type.into();
        }
        read(s, wire::paths::CARD_TRANSACTIONS_LIST, query).await
    }

    /// The day records of `acc_date` of one `kind` (`"load"`, `"claim"`, `"debit"`, `"all"`).
    pub(super) async fn day_records(s: &Sim, acc_date: &str, kind: &str) -> Value {
        let query = json!({"acc_date": acc_date, "kind": kind});
        read(s, wire::paths::CARD_RECON_DAILY, query).await
    }

    pub(super) async fn write_code(s: &Sim, path: &str, body: Value) -> (u64, Value) {
        let key = body["out_trade_no"].as_str().unwrap().to_owned();
        let a = s.write(CARD, path, body, &key).await;
        (a.code(), a.data().clone())
    }

    pub(super) fn digest(s: &Sim, account: &str, pw: &str) -> String {
        wire::password_digest(&s.creds, account, pw)
    }
}
