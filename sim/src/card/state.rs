//! The card system's live state: every card's balance, flags and journal since the simulator
//! started ([`Live`]), the committed writes by idempotency key ([`Trade`]), and the operations
//! that change them (POS purchases, claims of pending loads, recording a trade).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use chrono::NaiveDate;

use super::feed::{FeedEntry, feed_push};
use super::statements::wire_tx;
use super::{CardSimConfig, LOSS_EFFECTIVE_AFTER_SECS, acc_date};
use crate::campus::{Campus, CardSeed, GenTx, Person, local_date};
use crate::upstream::{Ctx, OpError};
use crate::{SimState, lock};
use onecard_wire::{
    CardStatus, ErrorCode, LossChannel, TradeKind, TradeState, Transaction, TxType,
};

#[derive(Clone, Debug)]
pub(super) struct Live {
    pub(super) balance: i64,
    pub(super) pending: i64,
    pub(super) subsidy_pending: i64,
    pub(super) lost: bool,
    pub(super) frozen: bool,
    pub(super) closed: bool,
    pub(super) lost_at: Option<i64>,
    pub(super) loss_effective_at: Option<i64>,
    pub(super) loss_channel: Option<LossChannel>,
    /// Consecutive wrong passwords; a right one resets it.
    pub(super) wrong_passwords: u32,
    /// Too many wrong passwords: the card shows `frozen` until the card office resets it.
    pub(super) password_locked: bool,
    /// (day, spent that day)
    pub(super) day_spent: (NaiveDate, i64),
    /// Since `t0`, oldest first.
    pub(super) journal: Vec<GenTx>,
    /// Pending loads not yet claimed, oldest first: (trade key, amount, source name).
    pub(super) unclaimed: Vec<((String, String), i64, &'static str)>,
    pub(super) found: Option<(String, i64, bool)>,
}

impl Live {
    pub(super) fn from_seed(campus: &Campus, p: &Person, ci: usize) -> Option<Self> {
        let c: &CardSeed = p.cards.get(ci)?;
        let today = local_date(campus.t0());
        let spent_today: i64 = campus
            .history(p, ci, today, today)
            .iter()
            .filter(|t| !t.incoming)
            .map(|t| t.amount_fen)
            .sum();
        Some(Live {
            balance: c.balance_fen,
            pending: c.pending_fen,
            subsidy_pending: c.subsidy_pending_fen,
            lost: c.lost,
            frozen: c.frozen,
            closed: c.closed,
            lost_at: c.lost.then_some(c.inactive_since).flatten(),
            loss_effective_at: c
                .lost
                .then_some(c.inactive_since.map(|t| t + LOSS_EFFECTIVE_AFTER_SECS))
                .flatten(),
            loss_channel: c.lost.then_some(LossChannel::Counter),
            wrong_passwords: 0,
            password_locked: false,
            day_spent: (today, spent_today),
            journal: Vec::new(),
            unclaimed: if c.pending_fen > 0 {
                vec![((String::new(), String::new()), c.pending_fen, "在线充值")]
            } else {
                Vec::new()
            },
            found: campus
                .found_entry(p, ci)
                .map(|(place, at, collected)| (place.to_owned(), at, collected)),
        })
    }

    pub(super) fn status(&self) -> CardStatus {
        if self.closed {
            CardStatus::Closed
        } else if self.lost {
            CardStatus::Lost
        } else if self.frozen || self.password_locked {
            CardStatus::Frozen
        } else {
            CardStatus::Normal
        }
    }

    pub(super) fn spent_on(&self, day: NaiveDate) -> i64 {
        if self.day_spent.0 == day {
            self.day_spent.1
        } else {
            0
        }
    }
}

/// A committed card write, for trade/query, reversal, refunds and day records.
#[derive(Clone, Debug)]
pub(super) struct Trade {
    pub(super) kind: TradeKind,
    pub(super) account: String,
    pub(super) amount: i64,
    pub(super) trade_no: String,
    pub(super) acc_date: NaiveDate,
    pub(super) at: i64,
    pub(super) state: TradeState,
    pub(super) tx_type: TxType,
    /// Debits: total refunded so far. Loads: whether claimed.
    pub(super) refunded: i64,
    pub(super) claimed: bool,
    /// Loads: the trade number of the reversal that undid it.
    pub(super) reversed_by: Option<String>,
}

#[derive(Default)]
pub(super) struct CardState {
    pub(super) accounts: HashMap<String, Live>,
    /// (app key, out_trade_no) → trade
    pub(super) trades: HashMap<(String, String), Trade>,
    /// (app key, out_trade_no) of loads reversed before they arrived: refused (2213) if they
    /// arrive after all, as a real card system records a 冲正's original key.
    pub(super) reversed_unseen: HashSet<(String, String)>,
    pub(super) seq: u64,
    /// Every transaction recorded since start, in order, for `transactions/feed`.
    pub(super) feed: VecDeque<FeedEntry>,
    /// The last feed sequence number handed out (the first is 1).
    pub(super) feed_seq: u64,
}

impl CardState {
    /// The caller's earlier trade under `out_trade_no` if it is a `kind` (what a reversal or a
    /// refund undoes), with the slot it is stored under.
    pub(super) fn original(
        &self,
        ctx: &Ctx,
        out_trade_no: &str,
        kind: TradeKind,
    ) -> ((String, String), Option<Trade>) {
        let slot = (ctx.creds.app_key.clone(), out_trade_no.to_owned());
        let trade = self.trades.get(&slot).cloned().filter(|t| t.kind == kind);
        (slot, trade)
    }
}

/// The card system's live state.
pub struct CardSim {
    pub(super) cfg: CardSimConfig,
    pub(super) st: Mutex<CardState>,
    /// Names this run of the feed: sequence numbers restart with a new simulator.
    pub(super) feed_id: String,
}

/// An account as the inspection endpoints show it (with the full phone, for test harnesses).
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct AccountView {
    pub id: String,
    pub name: String,
    pub status: CardStatus,
    pub phone: Option<String>,
    pub balance_fen: i64,
    pub pending_fen: i64,
    pub account: String,
    pub card_no: String,
    /// The card number as printed and as the card system shows it to users.
    pub card_no_display: String,
    pub kind: &'static str,
    pub dept: String,
}

impl CardSim {
    pub fn new(cfg: CardSimConfig) -> Self {
        Self {
            cfg,
            st: Mutex::new(CardState::default()),
            feed_id: format!("{:016x}", rand::random::<u64>()),
        }
    }

    pub(super) fn next_no(st: &mut CardState, prefix: char, now: i64) -> String {
        st.seq += 1;
        format!("{prefix}{}{:06}", local_date(now).format("%Y%m%d"), st.seq)
    }

    /// The primary card of `sno` as the inspection endpoints show it.
    pub fn view(&self, campus: &Campus, sno: &str) -> Option<AccountView> {
        let p = campus.person_by_sno(sno)?;
        let c = p.cards.first()?;
        let mut st = lock(&self.st);
        let live = live_mut(&mut st, campus, &c.account)?;
        Some(AccountView {
            id: p.sno.clone(),
            name: p.name.clone(),
            status: live.status(),
            phone: p.phone.clone(),
            balance_fen: live.balance,
            pending_fen: live.pending,
            account: c.account.clone(),
            card_no: c.card_no.clone(),
            card_no_display: c.card_no_display.clone(),
            kind: p.kind.cust_type().1,
            dept: p.dept.clone(),
        })
    }

    /// Claim (领款) every pending load of `sno`'s primary card, as a POS tap would. Returns the
    /// amount moved into the spendable balance.
    pub fn claim(&self, campus: &Campus, sno: &str, now: i64) -> Option<i64> {
        let p = campus.person_by_sno(sno)?;
        let account = p.cards.first()?.account.clone();
        let mut st = lock(&self.st);
        Some(claim_pending(&mut st, campus, &account, now))
    }

    /// The card office resets a locked password (the holder showed their ID at the counter):
    /// the wrong-password count goes back to zero and the card is no longer `frozen` for it.
    pub fn reset_password_lock(&self, campus: &Campus, sno: &str) -> bool {
        let Some(c) = campus.person_by_sno(sno).and_then(|p| p.cards.first()) else {
            return false;
        };
        let mut st = lock(&self.st);
        match live_mut(&mut st, campus, &c.account) {
            Some(live) => {
                live.wrong_passwords = 0;
                live.password_locked = false;
                true
            }
            None => false,
        }
    }

    /// Register a found card at a service point (lost-and-found desk).
    pub fn register_found(&self, campus: &Campus, sno: &str, place: &str, now: i64) -> bool {
        let Some(p) = campus.person_by_sno(sno) else {
            return false;
        };
        let Some(c) = p.cards.first() else {
            return false;
        };
        let mut st = lock(&self.st);
        match live_mut(&mut st, campus, &c.account) {
            Some(live) => {
                live.found = Some((place.to_owned(), now, false));
                true
            }
            None => false,
        }
    }

    /// A POS purchase from the live-activity generator: spends from the balance if possible.
    pub fn live_consume(&self, campus: &Campus, account: &str, amount: i64, now: i64) -> bool {
        let mut st = lock(&self.st);
        pos_consume(&mut st, campus, account, amount, false, now).is_some()
    }

    /// `POST /sim/card/accounts/{sno}/pos`: a purchase at a canteen POS on `sno`'s primary
    /// card. `offline` terminals still accept a lost card until the loss reaches them
    /// (docs/campus-domain.md §4). Returns the transaction, or why it was refused.
    pub fn pos(
        &self,
        campus: &Campus,
        sno: &str,
        amount: i64,
        offline: bool,
        now: i64,
    ) -> Result<Transaction, &'static str> {
        let account = campus
            .person_by_sno(sno)
            .and_then(|p| p.cards.first())
            .map(|c| c.account.clone())
            .ok_or("no such account")?;
        if amount <= 0 {
            return Err("amount_fen must be positive");
        }
        let mut st = lock(&self.st);
        pos_consume(&mut st, campus, &account, amount, offline, now)
            .map(|t| wire_tx(&t))
            .ok_or("refused: card not usable or balance too low")
    }
}

/// Spend at a canteen POS if the card allows it; the transaction is journalled and fed.
pub(super) fn pos_consume(
    st: &mut CardState,
    campus: &Campus,
    account: &str,
    amount: i64,
    offline: bool,
    now: i64,
) -> Option<GenTx> {
    claim_pending(st, campus, account, now);
    let live = live_mut(st, campus, account)?;
    let lost_but_not_yet_known =
        offline && live.lost && live.loss_effective_at.is_some_and(|at| now < at);
    let usable = live.status() == CardStatus::Normal || lost_but_not_yet_known;
    if !usable || live.balance < amount {
        return None;
    }
    let m = *crate::campus::CANTEENS
        .get((now as usize / 7) % crate::campus::CANTEENS.len())
        .unwrap_or(&crate::campus::STAFF_CANTEEN);
    live.balance -= amount;
    let today = local_date(now);
    let spent = live.spent_on(today) + amount;
    live.day_spent = (today, spent);
    let balance = live.balance;
    let no = CardSim::next_no(st, 'P', now);
    let tx = GenTx {
        trade_no: no,
        at: now,
        tx_type: "CONSUME",
        type_name: "持卡人消费",
        incoming: false,
        amount_fen: amount,
        balance_after_fen: balance,
        merchant_id: m.id,
        merchant_name: m.name,
        terminal_id: format!("P{}01", &m.id[1..]),
        location: m.location.replace("{n}", "1"),
    };
    record_tx(st, account, tx.clone());
    Some(tx)
}

/// Journal a transaction of `account` and append it to the feed.
pub(super) fn record_tx(st: &mut CardState, account: &str, tx: GenTx) {
    let lost = match st.accounts.get_mut(account) {
        Some(live) => {
            live.journal.push(tx.clone());
            live.lost
        }
        None => false,
    };
    feed_push(st, account, lost, tx, "");
}

pub(super) fn live_mut<'a>(
    st: &'a mut CardState,
    campus: &Campus,
    account: &str,
) -> Option<&'a mut Live> {
    if !st.accounts.contains_key(account) {
        let (p, ci) = campus.by_account(account)?;
        let live = Live::from_seed(campus, p, ci)?;
        st.accounts.insert(account.to_owned(), live);
    }
    st.accounts.get_mut(account)
}

/// Claim (领款) every pending load of `account` at a kiosk, as a POS tap does: one `CLAIM`
/// transaction per load. Returns the amount moved into the spendable balance.
pub(super) fn claim_pending(st: &mut CardState, campus: &Campus, account: &str, now: i64) -> i64 {
    let Some((mut balance, loads)) = take_pending(st, campus, account) else {
        return 0;
    };
    let journalled = st.accounts.get(account).map_or(0, |l| l.journal.len());
    let mut total = 0;
    for (i, (amount, source)) in loads.into_iter().enumerate() {
        balance += amount;
        total += amount;
        let tx = GenTx {
            trade_no: format!(
                "C{}{:0>6}{:03}",
                local_date(now).format("%Y%m%d"),
                account,
                (journalled + i) % 1000
            ),
            at: now,
            tx_type: "CLAIM",
            type_name: "领款",
            incoming: true,
            amount_fen: amount,
            balance_after_fen: balance,
            merchant_id: crate::campus::KIOSK.id,
            merchant_name: source,
            terminal_id: "P090101".to_owned(),
            location: "第一食堂门口自助圈存机1".to_owned(),
        };
        record_tx(st, account, tx);
    }
    total
}

/// Move every pending load of `account` into the spendable balance and mark the loads'
/// trades claimed (a claimed load can no longer be reversed). Journals nothing: the caller
/// records the `CLAIM` transactions. Returns the balance before and each claimed load's
/// (amount, source name), oldest first; `None` for an unknown account.
pub(super) fn take_pending(
    st: &mut CardState,
    campus: &Campus,
    account: &str,
) -> Option<(i64, Vec<(i64, &'static str)>)> {
    let live = live_mut(st, campus, account)?;
    let before = live.balance;
    let mut moved = Vec::new();
    let mut keys = Vec::new();
    for (key, amount, source) in std::mem::take(&mut live.unclaimed) {
        let amount = amount.min(live.pending);
        if amount <= 0 {
            continue;
        }
        live.pending -= amount;
        live.balance += amount;
        moved.push((amount, source));
        keys.push(key);
    }
    for key in keys {
        if let Some(t) = st.trades.get_mut(&key) {
            t.claimed = true;
        }
    }
    Some((before, moved))
}

pub(super) fn sim(state: &SimState) -> (&Campus, &CardSim) {
    (state.campus(), state.card())
}

pub(super) fn not_found() -> OpError {
    ErrorCode::AccountNotFound.into()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn record_trade(
    st: &mut CardState,
    ctx: &Ctx,
    key: &str,
    kind: TradeKind,
    account: &str,
    amount: i64,
    tx_type: TxType,
    prefix: char,
) -> Trade {
    let trade = Trade {
        kind,
        account: account.to_owned(),
        amount,
        trade_no: CardSim::next_no(st, prefix, ctx.now),
        acc_date: acc_date(ctx.now),
        at: ctx.now,
        state: TradeState::Success,
        tx_type,
        refunded: 0,
        claimed: false,
        reversed_by: None,
    };
    st.trades
        .insert((ctx.creds.app_key.clone(), key.to_owned()), trade.clone());
    trade
}

/// The history line of `trade` made through the WeChat account (merchant M0700, terminal
/// W000001): a load, a claim, a bill payment or its refund, with the balance it left.
pub(super) fn wechat_tx(
    trade: &Trade,
    tx_type: &'static str,
    type_name: &'static str,
    merchant_name: &'static str,
    incoming: bool,
    balance_after_fen: i64,
) -> GenTx {
    GenTx {
        trade_no: trade.trade_no.clone(),
        at: trade.at,
        tx_type,
        type_name,
        incoming,
        amount_fen: trade.amount,
        balance_after_fen,
        merchant_id: "M0700",
        merchant_name,
        terminal_id: "W000001".to_owned(),
        location: "微信服务号".to_owned(),
    }
}

#[cfg(test)]
mod live_tests {
    use crate::{SimConfig, SimState};

    #[test]
    fn live_activity_taps_claim_pending_then_spend() {
        let state = SimState::new(SimConfig {
            accounts: 20,
            ..SimConfig::default()
        });
        let now = state.clock().now();
        // 李四: 12.80 元 spendable, 100 元 pending; a 15 元 lunch claims first, then pays.
        assert!(
            state
                .card()
                .live_consume(state.campus(), "20002", 1500, now)
        );
        let v = state.card().view(state.campus(), "2024000002").unwrap();
        assert_eq!((v.balance_fen, v.pending_fen), (1280 + 10_000 - 1500, 0));
        // A lost card cannot pay.
        assert!(!state.card().live_consume(state.campus(), "20003", 100, now));
        // More than the balance: refused, nothing changes.
        assert!(
            !state
                .card()
                .live_consume(state.campus(), "20005", 5000, now)
        );
        assert_eq!(
            state
                .card()
                .view(state.campus(), "2025000005")
                .unwrap()
                .balance_fen,
            350
        );
    }
}
