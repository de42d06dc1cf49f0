//! The simulated campus card system (一卡通 gateway), docs/upstream-api.md §5: account lookup,
//! balance with 过渡余额, transactions by date range, card info, password check, report / cancel
//! loss, lost-and-found, and the money operations (load, reverse, debit, refund, trade query,
//! day records) with idempotency keys.
//!
//! Why it exists: onecard's card adapter, the demo and the integration tests need a card system
//! that behaves like a vendor's: business codes, limits, the day cut, pending loads that must be
//! claimed. It owns the *live* state of every card (balances, flags, the journal of what
//! happened since the simulator started, the trades by key); the generated history before that
//! comes from [`super::campus`]. Balances change only through these operations (or the opt-in
//! live activity / explicit `/sim` claim). It must never expose a full phone number through the
//! signed API (only `phone_masked`), and never log names, phones or password digests.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{Value, json};

use super::campus::{Campus, CardSeed, GenTx, Person, local_date, local_secs, local_ts, rfc3339};
use super::upstream::{Ctx, Op, OpError, OpResult, paginate, parse, range_too_long, to_value};
use super::{SimState, lock};
use onecard_wire::{
    self as wire, AccountList, AccountQuery, AccountRef, Balance, CancelLoss, CardFlags, CardInfo,
    CardStatus, DailyRecord, DailyRecords, DailyRecordsQuery, Debit, DebitResult, Direction,
    ErrorCode, FoundCard, FoundStatus, IdType, LoadCreate, LoadResult, LoadSource, LossChannel,
    LossResult, PasswordVerify, PasswordVerifyResult, ReconKind, Refund, ReportLoss, Reverse,
    ReverseResult, ReverseState, TradeKind, TradeQuery, TradeState, TradeStatus, Transaction,
    TransactionFeed, TransactionFeedItem, TransactionFeedQuery, TransactionsQuery, TxType,
};

/// `[sim.card]`: school policy switches of the simulated card system.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardSimConfig {
    /// Whether 解挂 is allowed online (with the card password); `false` → 2110.
    pub cancel_loss_online: bool,
    /// Loads are accepted only inside this daily window (campus time, `HH:MM`); none = always.
    pub load_hours: Option<super::faults::DownWindow>,
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
const RECORDS_READY_SECS: i64 = 6 * 3600;

/// Accounting date of an instant: after the day cut it is already tomorrow.
pub fn acc_date(ts: i64) -> NaiveDate {
    let d = local_date(ts);
    if local_secs(ts) >= DAY_CUT_SECS {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    }
}

#[derive(Clone, Debug)]
struct Live {
    balance: i64,
    pending: i64,
    subsidy_pending: i64,
    lost: bool,
    frozen: bool,
    closed: bool,
    lost_at: Option<i64>,
    loss_effective_at: Option<i64>,
    loss_channel: Option<LossChannel>,
    /// Consecutive wrong passwords; a right one resets it.
    wrong_passwords: u32,
    /// Too many wrong passwords: the card shows `frozen` until the card office resets it.
    password_locked: bool,
    /// (day, spent that day)
    day_spent: (NaiveDate, i64),
    /// Since `t0`, oldest first.
    journal: Vec<GenTx>,
    /// Pending loads not yet claimed, oldest first: (trade key, amount, source name).
    unclaimed: Vec<((String, String), i64, &'static str)>,
    found: Option<(String, i64, bool)>,
}

impl Live {
    fn from_seed(campus: &Campus, p: &Person, ci: usize) -> Option<Self> {
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

    fn status(&self) -> CardStatus {
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

    fn spent_on(&self, day: NaiveDate) -> i64 {
        if self.day_spent.0 == day {
            self.day_spent.1
        } else {
            0
        }
    }
}

/// A committed card write, for trade/query, reversal, refunds and day records.
#[derive(Clone, Debug)]
struct Trade {
    kind: TradeKind,
    account: String,
    amount: i64,
    trade_no: String,
    acc_date: NaiveDate,
    at: i64,
    state: TradeState,
    tx_type: TxType,
    /// Debits: total refunded so far. Loads: whether claimed.
    refunded: i64,
    claimed: bool,
    /// Loads: the trade number of the reversal that undid it.
    reversed_by: Option<String>,
}

#[derive(Default)]
struct CardState {
    accounts: HashMap<String, Live>,
    /// (app key, out_trade_no) → trade
    trades: HashMap<(String, String), Trade>,
    seq: u64,
    /// Every transaction recorded since start, in order, for `transactions/feed`.
    feed: VecDeque<FeedEntry>,
    /// The last feed sequence number handed out (the first is 1).
    feed_seq: u64,
}

/// Feed entries kept; a consumer further behind than this sees `oldest_seq` pass its cursor.
const FEED_KEEP: usize = 100_000;

/// One transaction in the feed.
#[derive(Clone, Debug)]
struct FeedEntry {
    seq: u64,
    account: String,
    /// The card was reported lost when this happened.
    card_lost: bool,
    tx: GenTx,
    remark: &'static str,
}

/// The card system's live state.
pub struct CardSim {
    cfg: CardSimConfig,
    st: Mutex<CardState>,
    /// Names this run of the feed: sequence numbers restart with a new simulator.
    feed_id: String,
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

    fn next_no(st: &mut CardState, prefix: char, now: i64) -> String {
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
fn pos_consume(
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
    let m = *super::campus::CANTEENS
        .get((now as usize / 7) % super::campus::CANTEENS.len())
        .unwrap_or(&super::campus::STAFF_CANTEEN);
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
fn record_tx(st: &mut CardState, account: &str, tx: GenTx) {
    let lost = match st.accounts.get_mut(account) {
        Some(live) => {
            live.journal.push(tx.clone());
            live.lost
        }
        None => false,
    };
    feed_push(st, account, lost, tx, "");
}

fn feed_push(st: &mut CardState, account: &str, card_lost: bool, tx: GenTx, remark: &'static str) {
    st.feed_seq += 1;
    st.feed.push_back(FeedEntry {
        seq: st.feed_seq,
        account: account.to_owned(),
        card_lost,
        tx,
        remark,
    });
    if st.feed.len() > FEED_KEEP {
        st.feed.pop_front();
    }
}

fn live_mut<'a>(st: &'a mut CardState, campus: &Campus, account: &str) -> Option<&'a mut Live> {
    if !st.accounts.contains_key(account) {
        let (p, ci) = campus.by_account(account)?;
        let live = Live::from_seed(campus, p, ci)?;
        st.accounts.insert(account.to_owned(), live);
    }
    st.accounts.get_mut(account)
}

fn claim_pending(st: &mut CardState, campus: &Campus, account: &str, now: i64) -> i64 {
    let Some(live) = live_mut(st, campus, account) else {
        return 0;
    };
    let claims = std::mem::take(&mut live.unclaimed);
    let mut total = 0;
    let mut keys = Vec::new();
    let mut claimed = Vec::new();
    for (key, amount, source) in claims {
        let amount = amount.min(live.pending);
        if amount <= 0 {
            continue;
        }
        live.pending -= amount;
        live.balance += amount;
        total += amount;
        claimed.push(GenTx {
            trade_no: format!(
                "C{}{:0>6}{:03}",
                local_date(now).format("%Y%m%d"),
                account,
                (live.journal.len() + claimed.len()) % 1000
            ),
            at: now,
            tx_type: "CLAIM",
            type_name: "领款",
            incoming: true,
            amount_fen: amount,
            balance_after_fen: live.balance,
            merchant_id: super::campus::KIOSK.id,
            merchant_name: source,
            terminal_id: "P090101".to_owned(),
            location: "第一食堂门口自助圈存机1".to_owned(),
        });
        keys.push(key);
    }
    for key in keys {
        if let Some(t) = st.trades.get_mut(&key) {
            t.claimed = true;
        }
    }
    for tx in claimed {
        record_tx(st, account, tx);
    }
    total
}

fn sim(state: &SimState) -> (&Campus, &CardSim) {
    (state.campus(), state.card())
}

fn not_found() -> OpError {
    ErrorCode::AccountNotFound.into()
}

pub(crate) fn date(s: &str, field: &str) -> Result<NaiveDate, OpError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .filter(|d| (1970..=2200).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| OpError::msg(ErrorCode::BadRequest, format!("{field} 必须是 YYYY-MM-DD")))
}

fn wire_account(p: &Person, ci: usize, live: &Live, today: NaiveDate) -> Option<wire::Account> {
    let c = p.cards.get(ci)?;
    let (cust_type, cust_type_name) = p.kind.cust_type();
    Some(wire::Account {
        account: c.account.clone(),
        sno: p.sno.clone(),
        name: p.name.clone(),
        cust_type: cust_type.to_owned(),
        cust_type_name: cust_type_name.to_owned(),
        card_type: c.card_type.to_owned(),
        card_type_name: c.card_type_name.to_owned(),
        status: live.status(),
        flags: flags(live, c, today),
        dept: p.dept.clone(),
        expire_date: c.expire_date.to_string(),
        phone_masked: p.phone.as_deref().map(super::campus::mask_phone),
        card_no: c.card_no.clone(),
        card_no_display: c.card_no_display.clone(),
    })
}

fn flags(live: &Live, c: &CardSeed, today: NaiveDate) -> CardFlags {
    CardFlags {
        lost: live.lost,
        frozen: live.frozen || live.password_locked,
        expired: c.expire_date < today,
        dormant: false,
    }
}

fn account_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountQuery = parse(body)?;
    let (campus, card) = sim(state);
    let found: Vec<(&Person, usize)> = match q.id_type {
        IdType::Sno => campus
            .person_by_sno(&q.id)
            .map(|p| (0..p.cards.len()).map(|ci| (p, ci)).collect())
            .unwrap_or_default(),
        IdType::CardNo => campus.by_card_no(&q.id).into_iter().collect(),
        IdType::Account => campus.by_account(&q.id).into_iter().collect(),
    };
    if found.is_empty() {
        return Err(not_found());
    }
    let today = local_date(ctx.now);
    let mut st = lock(&card.st);
    let mut accounts = Vec::new();
    for (p, ci) in found {
        let Some(c) = p.cards.get(ci) else { continue };
        let Some(live) = live_mut(&mut st, campus, &c.account) else {
            continue;
        };
        accounts.extend(wire_account(p, ci, live, today));
    }
    to_value(&AccountList { accounts })
}

fn balance_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let cfg = &card.cfg;
    to_value(&Balance {
        account: q.account,
        balance_fen: live.balance,
        pending_fen: live.pending,
        subsidy_pending_fen: live.subsidy_pending,
        day_spent_fen: live.spent_on(local_date(ctx.now)),
        single_limit_fen: cfg.single_limit_fen,
        day_limit_fen: cfg.day_limit_fen,
        nopwd_limit_fen: cfg.nopwd_limit_fen,
        wallet_cap_fen: cfg.wallet_cap_fen,
        as_of: rfc3339(ctx.now),
    })
}

fn tx_type(s: &str) -> TxType {
    match s {
        "CONSUME" => TxType::Consume,
        "LOAD_BANK" => TxType::LoadBank,
        "LOAD_CASH" => TxType::LoadCash,
        "LOAD_ONLINE" => TxType::LoadOnline,
        "CLAIM" => TxType::Claim,
        "SUBSIDY" => TxType::Subsidy,
        "REFUND" => TxType::Refund,
        "BILL_PAY" => TxType::BillPay,
        "FEE" => TxType::Fee,
        "REVERSAL" => TxType::Reversal,
        "ADJUST" => TxType::Adjust,
        "TRANSFER" => TxType::Transfer,
        _ => TxType::Other,
    }
}

fn wire_tx(t: &GenTx) -> Transaction {
    Transaction {
        trade_no: t.trade_no.clone(),
        occurred_at: rfc3339(t.at),
        acc_date: acc_date(t.at).to_string(),
        tx_type: tx_type(t.tx_type),
        type_name: t.type_name.to_owned(),
        direction: if t.incoming {
            Direction::In
        } else {
            Direction::Out
        },
        amount_fen: t.amount_fen,
        balance_after_fen: t.balance_after_fen,
        merchant_id: t.merchant_id.to_owned(),
        merchant_name: t.merchant_name.to_owned(),
        terminal_id: t.terminal_id.clone(),
        location: t.location.clone(),
        remark: String::new(),
    }
}

fn transactions_list(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: TransactionsQuery = parse(body)?;
    let from = date(&q.from, "from")?;
    let to = date(&q.to, "to")?;
    if from > to {
        return Err(OpError::msg(ErrorCode::BadRequest, "from 晚于 to"));
    }
    if range_too_long(from, to) {
        return Err(ErrorCode::RangeTooLong.into());
    }
    let all = transactions_between(state, &q.account, from, to)
        .ok_or_else(not_found)?
        .into_iter()
        .filter(|t| q.direction.is_none_or(|d| d == t.direction))
        .filter(|t| q.tx_type.is_none_or(|ty| ty == t.tx_type));
    to_value(&paginate(all.collect(), q.page, q.page_size)?)
}

/// Every transaction of a ledger account with a trade date in `from..=to`, newest first (the
/// live journal, then the generated history); None for an unknown account.
pub fn transactions_between(
    state: &SimState,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Option<Vec<Transaction>> {
    let (campus, card) = sim(state);
    let (p, ci) = campus.by_account(account)?;
    let live_part: Vec<GenTx> = {
        let mut st = lock(&card.st);
        let live = live_mut(&mut st, campus, account)?;
        live.journal
            .iter()
            .rev()
            .filter(|t| (from..=to).contains(&local_date(t.at)))
            .cloned()
            .collect()
    };
    Some(
        live_part
            .into_iter()
            .chain(campus.history(p, ci, from, to))
            .map(|t| wire_tx(&t))
            .collect(),
    )
}

/// Most items one feed call answers.
const FEED_MAX_LIMIT: u32 = 500;

/// `card/transactions/feed`: every transaction after `cursor`, oldest first.
fn transactions_feed(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: TransactionFeedQuery = parse(body)?;
    let limit = q.limit.clamp(1, FEED_MAX_LIMIT) as usize;
    let (campus, card) = sim(state);
    let st = lock(&card.st);
    let start = st.feed.partition_point(|e| e.seq <= q.cursor);
    let items: Vec<TransactionFeedItem> = st
        .feed
        .iter()
        .skip(start)
        .take(limit)
        .map(|e| TransactionFeedItem {
            seq: e.seq,
            sno: campus
                .by_account(&e.account)
                .map(|(p, _)| p.sno.clone())
                .unwrap_or_default(),
            account: e.account.clone(),
            card_lost: e.card_lost,
            transaction: Transaction {
                remark: e.remark.to_owned(),
                ..wire_tx(&e.tx)
            },
        })
        .collect();
    let next_cursor = items.last().map_or(q.cursor, |i| i.seq);
    to_value(&TransactionFeed {
        feed_id: card.feed_id.clone(),
        oldest_seq: st.feed.front().map_or(st.feed_seq + 1, |e| e.seq),
        has_more: st.feed.back().is_some_and(|e| e.seq > next_cursor),
        next_cursor,
        items,
    })
}

fn info_get(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let (p, ci) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let c = p.cards.get(ci).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    to_value(&CardInfo {
        account: q.account.clone(),
        card_no: c.card_no.clone(),
        card_no_display: c.card_no_display.clone(),
        card_type: c.card_type.to_owned(),
        card_type_name: c.card_type_name.to_owned(),
        status: live.status(),
        flags: flags(live, c, local_date(ctx.now)),
        issue_date: c.issue_date.to_string(),
        expire_date: c.expire_date.to_string(),
        lost_at: live.lost.then(|| live.lost_at.map(rfc3339)).flatten(),
        loss_effective_at: live
            .lost
            .then(|| live.loss_effective_at.map(rfc3339))
            .flatten(),
        loss_channel: if live.lost { live.loss_channel } else { None },
    })
}

/// Check a password digest, counting failures. `Ok(true)` = right, `Ok(false)` = wrong (attempt
/// counted), `Err(2107)` = locked, `Err(1007)` = not a digest at all (no attempt used: a
/// client bug must not lock a student's card).
fn check_password(
    cfg: &CardSimConfig,
    ctx: &Ctx,
    p: &Person,
    account: &str,
    live: &mut Live,
    digest: &str,
) -> Result<bool, OpError> {
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            "password_digest 须为 64 位十六进制",
        ));
    }
    if live.password_locked {
        return Err(ErrorCode::PasswordLocked.into());
    }
    let expected = wire::password_digest(&ctx.creds, account, &p.password);
    let ok = bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        digest.to_ascii_lowercase().as_bytes(),
    ));
    if ok {
        live.wrong_passwords = 0;
    } else {
        live.wrong_passwords += 1;
        if live.wrong_passwords >= cfg.password_attempts {
            live.password_locked = true;
            return Err(ErrorCode::PasswordLocked.into());
        }
    }
    Ok(ok)
}

fn password_verify(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: PasswordVerify = parse(body)?;
    let (campus, card) = sim(state);
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let ok = check_password(&card.cfg, ctx, p, &q.account, live, &q.password_digest)?;
    to_value(&PasswordVerifyResult {
        ok,
        attempts_left: card
            .cfg
            .password_attempts
            .saturating_sub(live.wrong_passwords),
    })
}

#[allow(clippy::too_many_arguments)]
fn record_trade(
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

fn report_loss(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: ReportLoss = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if live.closed {
        return Err(ErrorCode::CardClosed.into());
    }
    if live.lost {
        return Err(ErrorCode::AlreadyLost.into());
    }
    live.lost = true;
    live.lost_at = Some(ctx.now);
    live.loss_effective_at = Some(ctx.now + LOSS_EFFECTIVE_AFTER_SECS);
    live.loss_channel = Some(q.channel);
    live.found = None;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::ReportLoss,
        &q.account,
        0,
        TxType::Other,
        'L',
    );
    to_value(&LossResult {
        trade_no: trade.trade_no,
        status: CardStatus::Lost,
        effective_at: rfc3339(ctx.now + LOSS_EFFECTIVE_AFTER_SECS),
    })
}

fn cancel_loss(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: CancelLoss = parse(body)?;
    let (campus, card) = sim(state);
    if !card.cfg.cancel_loss_online {
        return Err(ErrorCode::NotAllowedOnline.into());
    }
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if live.closed {
        return Err(ErrorCode::CardClosed.into());
    }
    if !live.lost {
        return Err(ErrorCode::NotLost.into());
    }
    if !check_password(&card.cfg, ctx, p, &q.account, live, &q.password_digest)? {
        return Err(ErrorCode::PasswordWrong.into());
    }
    live.lost = false;
    live.lost_at = None;
    live.loss_effective_at = None;
    live.loss_channel = None;
    if let Some(f) = live.found.as_mut() {
        f.2 = true;
    }
    let status = live.status();
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::CancelLoss,
        &q.account,
        0,
        TxType::Other,
        'U',
    );
    to_value(&LossResult {
        trade_no: trade.trade_no,
        status,
        effective_at: rfc3339(ctx.now + LOSS_EFFECTIVE_AFTER_SECS),
    })
}

fn found_get(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: AccountRef = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    let answer = match &live.found {
        Some((place, at, collected)) => FoundCard {
            found: true,
            place: Some(place.clone()),
            found_at: Some(rfc3339(*at)),
            pickup_hours: Some("周一至周五 08:00-17:00".to_owned()),
            status: Some(if *collected {
                FoundStatus::Collected
            } else {
                FoundStatus::Waiting
            }),
        },
        None => FoundCard {
            found: false,
            place: None,
            found_at: None,
            pickup_hours: None,
            status: None,
        },
    };
    to_value(&answer)
}

pub(crate) fn in_window(w: &super::faults::DownWindow, now: i64) -> bool {
    let parse = |s: &str| -> Option<i64> {
        let (h, m) = s.split_once(':')?;
        let (h, m) = (h.parse::<i64>().ok()?, m.parse::<i64>().ok()?);
        ((0..=24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
    };
    let (Some(a), Some(b)) = (parse(&w.from), parse(&w.to)) else {
        return true;
    };
    let t = local_secs(now);
    if a <= b {
        (a..b).contains(&t)
    } else {
        t >= a || t < b
    }
}

fn load_create(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: LoadCreate = parse(body)?;
    let (campus, card) = sim(state);
    let cfg = &card.cfg;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if q.amount_fen <= 0 || q.amount_fen % 100 != 0 {
        return Err(OpError::msg(
            ErrorCode::AmountInvalid,
            "圈存金额必须是正整数元",
        ));
    }
    if live.status() != CardStatus::Normal {
        return Err(ErrorCode::StatusNotNormal.into());
    }
    if let Some(w) = &cfg.load_hours
        && !in_window(w, ctx.now)
    {
        return Err(ErrorCode::OutOfServiceHours.into());
    }
    if live.balance + live.pending + q.amount_fen > cfg.wallet_cap_fen {
        return Err(ErrorCode::OverWalletCap.into());
    }
    live.pending += q.amount_fen;
    let pending_after = live.pending;
    let balance = live.balance;
    let (tx, source, wire_type) = match q.source {
        LoadSource::Bank => (TxType::LoadBank, "银行圈存", "LOAD_BANK"),
        LoadSource::Online => (TxType::LoadOnline, "在线充值", "LOAD_ONLINE"),
        LoadSource::Cash => (TxType::LoadCash, "现金充值", "LOAD_CASH"),
    };
    let slot = (ctx.creds.app_key.clone(), q.out_trade_no.clone());
    live.unclaimed.push((slot, q.amount_fen, source));
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Load,
        &q.account,
        q.amount_fen,
        tx,
        'Q',
    );
    // In the feed, not the journal: the money is pending (待领款) until claimed, and the claim
    // is its own transaction.
    feed_push(
        &mut st,
        &q.account,
        false,
        GenTx {
            trade_no: trade.trade_no.clone(),
            at: ctx.now,
            tx_type: wire_type,
            type_name: source,
            incoming: true,
            amount_fen: q.amount_fen,
            balance_after_fen: balance,
            merchant_id: "M0700",
            merchant_name: source,
            terminal_id: "W000001".to_owned(),
            location: "微信服务号".to_owned(),
        },
        "pending",
    );
    to_value(&LoadResult {
        trade_no: trade.trade_no,
        acc_date: trade.acc_date.to_string(),
        state: TradeState::Success,
        pending_fen_after: pending_after,
    })
}

fn load_reverse(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Reverse = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let orig_slot = (ctx.creds.app_key.clone(), q.orig_out_trade_no.clone());
    let Some(orig) = st
        .trades
        .get(&orig_slot)
        .cloned()
        .filter(|t| t.kind == TradeKind::Load)
    else {
        return to_value(&ReverseResult {
            state: ReverseState::NothingToReverse,
            trade_no: None,
        });
    };
    if orig.state == TradeState::Reversed {
        return to_value(&ReverseResult {
            state: ReverseState::Reversed,
            trade_no: orig.reversed_by,
        });
    }
    if orig.acc_date < acc_date(ctx.now) {
        return Err(ErrorCode::ReverseWindowClosed.into());
    }
    let live = live_mut(&mut st, campus, &orig.account).ok_or_else(not_found)?;
    let still_pending = live.unclaimed.iter().position(|(k, _, _)| *k == orig_slot);
    let Some(pos) = still_pending.filter(|_| !orig.claimed && live.pending >= orig.amount) else {
        return Err(ErrorCode::CannotReverse.into());
    };
    live.unclaimed.remove(pos);
    live.pending -= orig.amount;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::LoadReverse,
        &orig.account,
        orig.amount,
        TxType::Reversal,
        'R',
    );
    if let Some(t) = st.trades.get_mut(&orig_slot) {
        t.state = TradeState::Reversed;
        t.reversed_by = Some(trade.trade_no.clone());
    }
    to_value(&ReverseResult {
        state: ReverseState::Reversed,
        trade_no: Some(trade.trade_no),
    })
}

fn biller_name(id: &str) -> &'static str {
    match id {
        "elec" => "电控缴费",
        "net" => "网费缴费",
        "photo" => "照片采集费",
        "library" => "图书馆罚款",
        "exam" => "考试报名费",
        "donation" => "校友捐赠",
        _ => "代扣代缴",
    }
}

fn pay_debit(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Debit = parse(body)?;
    let (campus, card) = sim(state);
    let cfg = &card.cfg;
    let (p, _) = campus.by_account(&q.account).ok_or_else(not_found)?;
    let mut st = lock(&card.st);
    let live = live_mut(&mut st, campus, &q.account).ok_or_else(not_found)?;
    if q.amount_fen <= 0 {
        return Err(ErrorCode::AmountInvalid.into());
    }
    if live.status() != CardStatus::Normal {
        return Err(ErrorCode::StatusNotNormal.into());
    }
    if q.amount_fen > cfg.single_limit_fen {
        return Err(ErrorCode::OverSingleLimit.into());
    }
    let today = local_date(ctx.now);
    if live.spent_on(today) + q.amount_fen > cfg.day_limit_fen {
        return Err(ErrorCode::OverDayLimit.into());
    }
    let password_ok = match &q.password_digest {
        None => None,
        Some(d) => Some(check_password(cfg, ctx, p, &q.account, live, d)?),
    };
    match password_ok {
        None if q.amount_fen > cfg.nopwd_limit_fen => {
            return Err(ErrorCode::PasswordRequired.into());
        }
        Some(false) => return Err(ErrorCode::PasswordWrong.into()),
        None | Some(true) => {}
    }
    if live.balance < q.amount_fen {
        return Err(ErrorCode::InsufficientFunds.into());
    }
    live.balance -= q.amount_fen;
    live.day_spent = (today, live.spent_on(today) + q.amount_fen);
    let balance = live.balance;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Debit,
        &q.account,
        q.amount_fen,
        TxType::BillPay,
        'D',
    );
    record_tx(
        &mut st,
        &q.account,
        GenTx {
            trade_no: trade.trade_no.clone(),
            at: ctx.now,
            tx_type: "BILL_PAY",
            type_name: "代扣代缴",
            incoming: false,
            amount_fen: q.amount_fen,
            balance_after_fen: balance,
            merchant_id: "M0700",
            merchant_name: biller_name(&q.biller_id),
            terminal_id: "W000001".to_owned(),
            location: "微信服务号".to_owned(),
        },
    );
    to_value(&DebitResult {
        trade_no: trade.trade_no,
        acc_date: trade.acc_date.to_string(),
        balance_after_fen: balance,
    })
}

fn pay_refund(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Refund = parse(body)?;
    let (campus, card) = sim(state);
    let mut st = lock(&card.st);
    let orig_slot = (ctx.creds.app_key.clone(), q.orig_out_trade_no.clone());
    let Some(orig) = st
        .trades
        .get(&orig_slot)
        .cloned()
        .filter(|t| t.kind == TradeKind::Debit)
    else {
        return Err(ErrorCode::OriginalNotFound.into());
    };
    if q.amount_fen <= 0 {
        return Err(ErrorCode::AmountInvalid.into());
    }
    if orig.refunded + q.amount_fen > orig.amount {
        return Err(ErrorCode::RefundExceedsOriginal.into());
    }
    if let Some(t) = st.trades.get_mut(&orig_slot) {
        t.refunded += q.amount_fen;
    }
    let live = live_mut(&mut st, campus, &orig.account).ok_or_else(not_found)?;
    live.balance += q.amount_fen;
    let balance = live.balance;
    let trade = record_trade(
        &mut st,
        ctx,
        &q.out_trade_no,
        TradeKind::Refund,
        &orig.account,
        q.amount_fen,
        TxType::Refund,
        'F',
    );
    record_tx(
        &mut st,
        &orig.account,
        GenTx {
            trade_no: trade.trade_no.clone(),
            at: ctx.now,
            tx_type: "REFUND",
            type_name: "退款",
            incoming: true,
            amount_fen: q.amount_fen,
            balance_after_fen: balance,
            merchant_id: "M0700",
            merchant_name: "代扣代缴",
            terminal_id: "W000001".to_owned(),
            location: "微信服务号".to_owned(),
        },
    );
    to_value(&DebitResult {
        trade_no: trade.trade_no,
        acc_date: trade.acc_date.to_string(),
        balance_after_fen: balance,
    })
}

fn trade_query(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: TradeQuery = parse(body)?;
    let gw = state.card_gateway();
    let not_found = TradeStatus {
        out_trade_no: q.out_trade_no.clone(),
        state: TradeState::NotFound,
        kind: None,
        trade_no: None,
        acc_date: None,
        amount_fen: None,
        error_code: None,
        error_message: None,
    };
    let Some(rec) = gw.write_record(&ctx.creds.app_key, &q.out_trade_no) else {
        return to_value(&not_found);
    };
    let kind = match rec.op {
        wire::paths::CARD_REPORT_LOSS => Some(TradeKind::ReportLoss),
        wire::paths::CARD_CANCEL_LOSS => Some(TradeKind::CancelLoss),
        wire::paths::CARD_LOAD_CREATE => Some(TradeKind::Load),
        wire::paths::CARD_LOAD_REVERSE => Some(TradeKind::LoadReverse),
        wire::paths::CARD_PAY_DEBIT => Some(TradeKind::Debit),
        wire::paths::CARD_PAY_REFUND => Some(TradeKind::Refund),
        _ => None,
    };
    let answer = match rec.result {
        Err(e) => TradeStatus {
            state: TradeState::Failed,
            kind,
            amount_fen: rec.body.get("amount_fen").and_then(Value::as_i64),
            error_code: Some(e.code.as_u32()),
            error_message: Some(
                e.message
                    .unwrap_or_else(|| e.code.default_message().to_owned()),
            ),
            ..not_found
        },
        Ok(_) => {
            let st = lock(&state.card().st);
            match st
                .trades
                .get(&(ctx.creds.app_key.clone(), q.out_trade_no.clone()))
            {
                Some(t) => TradeStatus {
                    state: t.state,
                    kind: Some(t.kind),
                    trade_no: Some(t.trade_no.clone()),
                    acc_date: Some(t.acc_date.to_string()),
                    amount_fen: Some(t.amount),
                    ..not_found
                },
                // A reversal that found nothing to reverse committed nothing either.
                None => TradeStatus {
                    state: TradeState::Success,
                    kind,
                    ..not_found
                },
            }
        }
    };
    to_value(&answer)
}

fn recon_daily(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: DailyRecordsQuery = parse(body)?;
    let day = date(&q.acc_date, "acc_date")?;
    let faults = state.faults().get("card").statement;
    if faults.missing {
        return Err(OpError::msg(ErrorCode::RecordsNotReady, "对账数据不存在"));
    }
    let ready_at = local_ts(day.succ_opt().unwrap_or(day), RECORDS_READY_SECS);
    if ctx.now < ready_at {
        return Err(ErrorCode::RecordsNotReady.into());
    }
    let (campus, card) = sim(state);
    let st = lock(&card.st);
    let mut rows: Vec<(i64, DailyRecord)> = st
        .trades
        .iter()
        .filter(|((app, _), t)| *app == ctx.creds.app_key && t.acc_date == day)
        .filter(|(_, t)| match q.kind {
            ReconKind::Load => t.kind == TradeKind::Load,
            ReconKind::Debit => t.kind == TradeKind::Debit,
            ReconKind::Refund => t.kind == TradeKind::Refund,
            ReconKind::Reversal => t.kind == TradeKind::LoadReverse,
            ReconKind::All => !matches!(t.kind, TradeKind::ReportLoss | TradeKind::CancelLoss),
        })
        .map(|((_, key), t)| {
            let sno = campus
                .by_account(&t.account)
                .map(|(p, _)| p.sno.clone())
                .unwrap_or_default();
            (
                t.at,
                DailyRecord {
                    acc_date: t.acc_date.to_string(),
                    trade_no: t.trade_no.clone(),
                    out_trade_no: key.clone(),
                    account: t.account.clone(),
                    sno,
                    tx_type: t.tx_type,
                    amount_fen: t.amount,
                    state: t.state,
                    occurred_at: rfc3339(t.at),
                },
            )
        })
        .collect();
    rows.sort_by(|a, b| (a.0, &a.1.trade_no).cmp(&(b.0, &b.1.trade_no)));
    let rows: Vec<DailyRecord> = faults.rows(
        rows.into_iter().map(|(_, r)| r).collect(),
        |r| &r.out_trade_no,
        |r| &mut r.amount_fen,
    );
    let count = rows.len() as u64;
    let sum_fen = rows.iter().map(|r| r.amount_fen).sum();
    let file_sha256 = Some(faults.hash(wire::statement_sha256(&rows)));
    let page = paginate(rows, q.page, q.page_size)?;
    to_value(&DailyRecords {
        acc_date: day.to_string(),
        count,
        sum_fen,
        file_sha256,
        page,
    })
    .map(|answer| faults.shape(answer))
}

/// Every operation of the card gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::CARD_ACCOUNT_GET,
        write: None,
        run: account_get,
    },
    Op {
        path: wire::paths::CARD_BALANCE_GET,
        write: None,
        run: balance_get,
    },
    Op {
        path: wire::paths::CARD_TRANSACTIONS_LIST,
        write: None,
        run: transactions_list,
    },
    Op {
        path: wire::paths::CARD_TRANSACTIONS_FEED,
        write: None,
        run: transactions_feed,
    },
    Op {
        path: wire::paths::CARD_INFO_GET,
        write: None,
        run: info_get,
    },
    Op {
        path: wire::paths::CARD_PASSWORD_VERIFY,
        write: None,
        run: password_verify,
    },
    Op {
        path: wire::paths::CARD_FOUND_GET,
        write: None,
        run: found_get,
    },
    Op {
        path: wire::paths::CARD_TRADE_QUERY,
        write: None,
        run: trade_query,
    },
    Op {
        path: wire::paths::CARD_RECON_DAILY,
        write: None,
        run: recon_daily,
    },
    Op {
        path: wire::paths::CARD_REPORT_LOSS,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: report_loss,
    },
    Op {
        path: wire::paths::CARD_CANCEL_LOSS,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: cancel_loss,
    },
    Op {
        path: wire::paths::CARD_LOAD_CREATE,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: load_create,
    },
    Op {
        path: wire::paths::CARD_LOAD_REVERSE,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: load_reverse,
    },
    Op {
        path: wire::paths::CARD_PAY_DEBIT,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: pay_debit,
    },
    Op {
        path: wire::paths::CARD_PAY_REFUND,
        write: Some(("out_trade_no", ErrorCode::CardDuplicateKeyMismatch)),
        run: pay_refund,
    },
];

/// `json!` view for `GET /sim/card/accounts?limit=N`.
pub fn list_accounts(state: &SimState, limit: usize) -> Value {
    let campus = state.campus();
    let views: Vec<AccountView> = campus
        .people()
        .iter()
        .take(limit)
        .filter_map(|p| state.card().view(campus, &p.sno))
        .collect();
    json!(views)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::SimConfig;
    use crate::campus::local_date;
    use crate::upstream::testkit::{Sim, spawn};
    use onecard_wire::{self as wire, paths};

    const CARD: &str = "/sim/card";

    async fn sim() -> Sim {
        spawn(SimConfig {
            accounts: 300,
            ..SimConfig::default()
        })
        .await
    }

    async fn read(s: &Sim, path: &str, body: Value) -> Value {
        let a = s.call(CARD, path, body).await;
        assert_eq!(a.code(), 0, "{path}: {}", a.body);
        a.data().clone()
    }

    async fn write_code(s: &Sim, path: &str, body: Value) -> (u64, Value) {
        let key = body["out_trade_no"].as_str().unwrap().to_owned();
        let a = s.write(CARD, path, body, &key).await;
        (a.code(), a.data().clone())
    }

    fn digest(s: &Sim, account: &str, pw: &str) -> String {
        wire::password_digest(&s.creds, account, pw)
    }

    #[actix_web::test]
    async fn account_lookup_by_sno_card_no_and_account() {
        let s = sim().await;
        let d = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "sno", "id": "2024000001"}),
        )
        .await;
        let acc = &d["accounts"][0];
        assert_eq!(d["accounts"].as_array().unwrap().len(), 1);
        assert_eq!(acc["account"], "20001");
        assert_eq!(acc["name"], "张三");
        assert_eq!(acc["status"], "normal");
        assert_eq!(acc["phone_masked"], "138****0001");
        assert_eq!(acc["cust_type_name"], "本科");
        assert_eq!(
            acc["flags"],
            json!({"lost": false, "frozen": false, "expired": false, "dormant": false})
        );
        let card_no = acc["card_no"].as_str().unwrap().to_owned();
        let by_card = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "card_no", "id": card_no}),
        )
        .await;
        assert_eq!(by_card["accounts"][0]["sno"], "2024000001");
        let multi = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "sno", "id": "2024000006"}),
        )
        .await;
        assert_eq!(multi["accounts"].as_array().unwrap().len(), 2);
        assert_eq!(multi["accounts"][1]["card_type_name"], "过渡临时卡");
        let lost = read(
            &s,
            paths::CARD_ACCOUNT_GET,
            json!({"id_type": "account", "id": "20003"}),
        )
        .await;
        assert_eq!(lost["accounts"][0]["status"], "lost");
        let none = s
            .call(
                CARD,
                paths::CARD_ACCOUNT_GET,
                json!({"id_type": "sno", "id": "1999999999"}),
            )
            .await;
        assert_eq!((none.status, none.code()), (200, 2001));
        assert_eq!(none.body["message"], "账户信息不存在");
        // No full phone number leaves the signed API.
        assert!(!none.body.to_string().contains("13800000001"));
        assert!(!serde_json::to_string(&d).unwrap().contains("13800000001"));
    }

    #[actix_web::test]
    async fn balance_shows_pending_and_limits() {
        let s = sim().await;
        let b = read(&s, paths::CARD_BALANCE_GET, json!({"account": "20002"})).await;
        assert_eq!(b["balance_fen"], 1280);
        assert_eq!(b["pending_fen"], 10000);
        assert_eq!(b["wallet_cap_fen"], 100000);
        assert_eq!(b["nopwd_limit_fen"], 2000);
        assert!(b["as_of"].as_str().unwrap().ends_with("+08:00"));
        let (_, v) = s.get("/sim/card/accounts/2024000002").await;
        assert_eq!(
            (v["balance_fen"].as_i64(), v["pending_fen"].as_i64()),
            (Some(1280), Some(10000))
        );
        let (_, claimed) = s
            .post("/sim/card/accounts/2024000002/claim", json!({}))
            .await;
        assert_eq!(claimed["claimed_fen"], 10000);
        let b = read(&s, paths::CARD_BALANCE_GET, json!({"account": "20002"})).await;
        assert_eq!(
            (b["balance_fen"].as_i64(), b["pending_fen"].as_i64()),
            (Some(11280), Some(0))
        );
    }

    #[actix_web::test]
    async fn transactions_page_newest_first_with_filters_and_range_checks() {
        let s = sim().await;
        let today = local_date(s.state.clock().now());
        // 120 days always reach into term time, even from the middle of a vacation.
        let from = (today - chrono::Days::new(120)).to_string();
        let to = today.to_string();
        let q = |page: u32, size: u32| json!({"account": "20001", "from": from, "to": to, "page": page, "page_size": size});
        let p1 = read(&s, paths::CARD_TRANSACTIONS_LIST, q(1, 10)).await;
        let total = p1["total"].as_u64().unwrap();
        assert!(
            total > 20,
            "a month of a student's card has many records: {total}"
        );
        let items = p1["items"].as_array().unwrap();
        assert_eq!(items.len(), 10);
        assert_eq!(
            items[0]["balance_after_fen"], 5230,
            "newest record ends at today's balance"
        );
        for w in items.windows(2) {
            assert!(w[0]["occurred_at"].as_str() >= w[1]["occurred_at"].as_str());
        }
        let p2 = read(&s, paths::CARD_TRANSACTIONS_LIST, q(2, 10)).await;
        assert_ne!(p2["items"][0], items[0]);
        let big = read(&s, paths::CARD_TRANSACTIONS_LIST, q(1, 500)).await;
        assert_eq!(big["page_size"], 50);
        let loads = read(
            &s,
            paths::CARD_TRANSACTIONS_LIST,
            json!({"account": "20001", "from": from, "to": to, "direction": "in"}),
        )
        .await;
        assert!(
            loads["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|t| t["direction"] == "in")
        );
        let t = &items[0];
        for field in [
            "trade_no",
            "acc_date",
            "type",
            "type_name",
            "merchant_id",
            "merchant_name",
            "terminal_id",
            "location",
        ] {
            assert!(
                t[field].as_str().is_some_and(|v| !v.is_empty()),
                "{field}: {t}"
            );
        }
        let long = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                json!({"account": "20001", "from": "2024-01-01", "to": "2025-06-01"}),
            )
            .await;
        assert_eq!(long.code(), 2010);
        let backwards = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                json!({"account": "20001", "from": to, "to": from}),
            )
            .await;
        assert_eq!(backwards.code(), 1007);
    }

    /// An integrator could not tell whether "> 366 days" counted both ends, nor what page 0
    /// meant: a range holds at most 366 days with both ends included, and page / page_size
    /// start at 1.
    #[actix_web::test]
    async fn ranges_count_both_ends_and_pages_start_at_one() {
        let s = sim().await;
        let range = |from: &str, to: &str| json!({"account": "20001", "from": from, "to": to});
        let leap_year = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                range("2024-01-01", "2024-12-31"),
            )
            .await;
        assert_eq!(leap_year.code(), 0, "366 days, both ends included");
        let one_more = s
            .call(
                CARD,
                paths::CARD_TRANSACTIONS_LIST,
                range("2024-01-01", "2025-01-01"),
            )
            .await;
        assert_eq!((one_more.status, one_more.code()), (200, 2010));
        for (page, page_size) in [(0, 20), (1, 0)] {
            let zero = s
                .call(
                    CARD,
                    paths::CARD_TRANSACTIONS_LIST,
                    json!({"account": "20001", "from": "2025-01-01", "to": "2025-01-31", "page": page, "page_size": page_size}),
                )
                .await;
            assert_eq!(
                (zero.status, zero.code()),
                (400, 1007),
                "page {page}, page_size {page_size}"
            );
        }
    }

    #[actix_web::test]
    async fn load_is_idempotent_reversible_and_queryable_by_key() {
        let s = sim().await;
        let load = json!({"account": "20001", "amount_fen": 5000, "out_trade_no": "LD0001", "source": "bank", "source_ref": "BK0001"});
        let (code, first) = write_code(&s, paths::CARD_LOAD_CREATE, load.clone()).await;
        assert_eq!(code, 0);
        assert_eq!(first["state"], "SUCCESS");
        assert_eq!(first["pending_fen_after"], 5000);
        let (_, again) = write_code(&s, paths::CARD_LOAD_CREATE, load.clone()).await;
        assert_eq!(
            again, first,
            "same key, same body: the original answer, no second credit"
        );
        assert_eq!(
            read(&s, paths::CARD_BALANCE_GET, json!({"account": "20001"})).await["pending_fen"],
            5000
        );
        let mut changed = load.clone();
        changed["amount_fen"] = json!(10000);
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, changed).await.0,
            2009
        );
        // The header must carry the same key.
        let a = s
            .write(CARD, paths::CARD_LOAD_CREATE, load.clone(), "OTHERKEY")
            .await;
        assert_eq!((a.status, a.code()), (400, 1008));
        let q = read(
            &s,
            paths::CARD_TRADE_QUERY,
            json!({"out_trade_no": "LD0001"}),
        )
        .await;
        assert_eq!(q["state"], "SUCCESS");
        assert_eq!(q["kind"], "load");
        assert_eq!(q["amount_fen"], 5000);
        assert_eq!(q["trade_no"], first["trade_no"]);
        let missing = read(
            &s,
            paths::CARD_TRADE_QUERY,
            json!({"out_trade_no": "NEVER"}),
        )
        .await;
        assert_eq!(missing["state"], "NOT_FOUND");
        assert_eq!(missing["kind"], Value::Null);

        let rev = json!({"orig_out_trade_no": "LD0001", "out_trade_no": "RV0001"});
        let (code, r) = write_code(&s, paths::CARD_LOAD_REVERSE, rev.clone()).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("REVERSED")));
        assert_eq!(
            read(&s, paths::CARD_BALANCE_GET, json!({"account": "20001"})).await["pending_fen"],
            0
        );
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, rev).await.1["state"],
            "REVERSED"
        );
        let again = json!({"orig_out_trade_no": "LD0001", "out_trade_no": "RV0002"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, again).await.1,
            r,
            "already reversed: REVERSED with the first reversal's trade_no"
        );
        assert_eq!(
            read(
                &s,
                paths::CARD_TRADE_QUERY,
                json!({"out_trade_no": "LD0001"})
            )
            .await["state"],
            "REVERSED"
        );
        let nothing = json!({"orig_out_trade_no": "GHOST", "out_trade_no": "RV0003"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_REVERSE, nothing).await.1,
            json!({"state": "NOTHING_TO_REVERSE", "trade_no": null})
        );

        // A claimed load cannot be reversed.
        let load2 = json!({"account": "20001", "amount_fen": 2000, "out_trade_no": "LD0002", "source": "online", "source_ref": "WX1"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, load2).await.0, 0);
        s.post("/sim/card/accounts/2024000001/claim", json!({}))
            .await;
        let rev2 = json!({"orig_out_trade_no": "LD0002", "out_trade_no": "RV0004"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_REVERSE, rev2).await.0, 2211);
        let b = read(&s, paths::CARD_BALANCE_GET, json!({"account": "20001"})).await;
        assert_eq!(b["balance_fen"], 7230);
        let today = local_date(s.state.clock().now()).to_string();
        let tx = read(
            &s,
            paths::CARD_TRANSACTIONS_LIST,
            json!({"account": "20001", "from": today, "to": today, "type": "CLAIM"}),
        )
        .await;
        assert_eq!(tx["items"][0]["amount_fen"], 2000);
        assert_eq!(tx["items"][0]["balance_after_fen"], 7230);
    }

    #[actix_web::test]
    async fn load_refusals_are_recorded_and_replayed() {
        let s = sim().await;
        let odd = json!({"account": "20001", "amount_fen": 5050, "out_trade_no": "LD0100", "source": "bank", "source_ref": "B"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, odd.clone()).await.0,
            2205
        );
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, odd).await.0,
            2205,
            "failures replay too"
        );
        let q = read(
            &s,
            paths::CARD_TRADE_QUERY,
            json!({"out_trade_no": "LD0100"}),
        )
        .await;
        assert_eq!(
            (q["state"].as_str(), q["error_code"].as_u64()),
            (Some("FAILED"), Some(2205))
        );
        let cap = json!({"account": "20010", "amount_fen": 2000, "out_trade_no": "LD0101", "source": "bank", "source_ref": "B"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, cap).await.0, 2201);
        let lost = json!({"account": "20003", "amount_fen": 2000, "out_trade_no": "LD0102", "source": "bank", "source_ref": "B"});
        assert_eq!(write_code(&s, paths::CARD_LOAD_CREATE, lost).await.0, 2202);
        let nobody = json!({"account": "99", "amount_fen": 2000, "out_trade_no": "LD0103", "source": "bank", "source_ref": "B"});
        assert_eq!(
            write_code(&s, paths::CARD_LOAD_CREATE, nobody).await.0,
            2001
        );
    }

    #[actix_web::test]
    async fn debit_limits_password_and_refunds() {
        // A high day limit: what the student already spent today before t0 depends on the hour.
        let card = crate::CardSimConfig {
            day_limit_fen: 30_000,
            ..Default::default()
        };
        let s = spawn(SimConfig {
            accounts: 300,
            card,
            ..SimConfig::default()
        })
        .await;
        let debit = |key: &str, amount: i64, pw: Option<String>| {
            let mut b = json!({"account": "20001", "amount_fen": amount, "out_trade_no": key, "biller_id": "elec", "target_id": "XY7-609", "remark": "电费"});
            if let Some(pw) = pw {
                b["password_digest"] = json!(pw);
            }
            b
        };
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB1", 3000, None))
                .await
                .0,
            2308
        );
        assert_eq!(
            write_code(
                &s,
                paths::CARD_PAY_DEBIT,
                debit("DB2", 3000, Some(digest(&s, "20001", "000000")))
            )
            .await
            .0,
            2106
        );
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB3", 6000, None))
                .await
                .0,
            2304
        );
        let (code, ok) = write_code(
            &s,
            paths::CARD_PAY_DEBIT,
            debit("DB4", 3000, Some(digest(&s, "20001", "123456"))),
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(ok["balance_after_fen"], 2230);
        let (code, small) = write_code(&s, paths::CARD_PAY_DEBIT, debit("DB5", 1500, None)).await;
        assert_eq!((code, small["balance_after_fen"].as_i64()), (0, Some(730)));
        assert_eq!(
            write_code(&s, paths::CARD_PAY_DEBIT, debit("DB6", 1000, None))
                .await
                .0,
            2301
        );
        let refund = |key: &str, amount: i64| json!({"orig_out_trade_no": "DB4", "out_trade_no": key, "amount_fen": amount});
        let (code, r) = write_code(&s, paths::CARD_PAY_REFUND, refund("RF1", 1000)).await;
        assert_eq!((code, r["balance_after_fen"].as_i64()), (0, Some(1730)));
        assert_eq!(
            write_code(&s, paths::CARD_PAY_REFUND, refund("RF2", 2001))
                .await
                .0,
            2306
        );
        assert_eq!(
            write_code(&s, paths::CARD_PAY_REFUND, refund("RF3", 2000))
                .await
                .0,
            0
        );
        let ghost = json!({"orig_out_trade_no": "NOPE", "out_trade_no": "RF4", "amount_fen": 1});
        assert_eq!(write_code(&s, paths::CARD_PAY_REFUND, ghost).await.0, 2307);
        let today = local_date(s.state.clock().now()).to_string();
        let tx = read(
            &s,
            paths::CARD_TRANSACTIONS_LIST,
            json!({"account": "20001", "from": today, "to": today}),
        )
        .await;
        let types: Vec<&str> = tx["items"]
            .as_array()
            .unwrap()
            .iter()
            .take(4)
            .map(|t| t["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["REFUND", "REFUND", "BILL_PAY", "BILL_PAY"]);
        assert_eq!(tx["items"][0]["balance_after_fen"], 3730);
        // Day records are ready at 06:00 the next day.
        let day = read(&s, paths::CARD_BALANCE_GET, json!({"account": "20001"})).await;
        assert_eq!(day["balance_fen"], 3730);
        let acc_date = ok["acc_date"].as_str().unwrap().to_owned();
        let recon = json!({"acc_date": acc_date, "kind": "all"});
        assert_eq!(
            s.call(CARD, paths::CARD_RECON_DAILY, recon.clone())
                .await
                .code(),
            2403
        );
        s.state.clock().advance(2 * 86_400);
        let r = read(&s, paths::CARD_RECON_DAILY, recon).await;
        assert_eq!(r["count"], 4);
        assert_eq!(r["sum_fen"], 3000 + 1500 + 1000 + 2000);
        let debits = read(
            &s,
            paths::CARD_RECON_DAILY,
            json!({"acc_date": acc_date, "kind": "debit"}),
        )
        .await;
        assert_eq!(debits["count"], 2);
        assert_eq!(debits["page"]["items"][0]["out_trade_no"], "DB4");
        assert_eq!(debits["page"]["items"][0]["sno"], "2024000001");
        assert_eq!(debits["page"]["items"][0]["type"], "BILL_PAY");
    }

    #[actix_web::test]
    async fn report_loss_then_cancel_with_password_and_lost_and_found() {
        let s = sim().await;
        let (code, r) = write_code(
            &s,
            paths::CARD_REPORT_LOSS,
            json!({"account": "20001", "out_trade_no": "RL1", "channel": "wechat"}),
        )
        .await;
        assert_eq!(code, 0);
        assert_eq!(r["status"], "lost");
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (info["status"].as_str(), info["loss_channel"].as_str()),
            (Some("lost"), Some("wechat"))
        );
        assert_eq!(info["loss_effective_at"], r["effective_at"]);
        assert_eq!(
            write_code(
                &s,
                paths::CARD_REPORT_LOSS,
                json!({"account": "20001", "out_trade_no": "RL2", "channel": "wechat"})
            )
            .await
            .0,
            2103
        );
        let (_, v) = s.get("/sim/card/accounts/2024000001").await;
        assert_eq!(v["status"], "lost");
        let cancel = |key: &str, pw: &str| json!({"account": "20001", "out_trade_no": key, "password_digest": digest(&s, "20001", pw)});
        assert_eq!(
            write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL1", "999999"))
                .await
                .0,
            2106
        );
        let (code, c) = write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL2", "123456")).await;
        assert_eq!((code, c["status"].as_str()), (0, Some("normal")));
        assert_eq!(
            write_code(&s, paths::CARD_CANCEL_LOSS, cancel("CL3", "123456"))
                .await
                .0,
            2104
        );
        assert_eq!(
            write_code(
                &s,
                paths::CARD_REPORT_LOSS,
                json!({"account": "20009", "out_trade_no": "RL3", "channel": "wechat"})
            )
            .await
            .0,
            2105
        );

        let found = read(&s, paths::CARD_FOUND_GET, json!({"account": "20003"})).await;
        assert_eq!(found["found"], true);
        assert_eq!(found["status"], "waiting");
        assert!(
            found["place"].as_str().unwrap().contains("服务台")
                || found["place"].as_str().unwrap().contains("室")
                || found["place"].as_str().unwrap().contains("中心")
        );
        let none = read(&s, paths::CARD_FOUND_GET, json!({"account": "20001"})).await;
        assert_eq!(
            none,
            json!({"found": false, "place": null, "found_at": null, "pickup_hours": null, "status": null})
        );
        s.post(
            "/sim/card/accounts/2024000001/found",
            json!({"place": "图书馆总服务台"}),
        )
        .await;
        assert_eq!(
            read(&s, paths::CARD_FOUND_GET, json!({"account": "20001"})).await["place"],
            "图书馆总服务台"
        );
    }

    #[actix_web::test]
    async fn password_locks_after_five_wrong_attempts() {
        let s = sim().await;
        let verify =
            |pw: &str| json!({"account": "20001", "password_digest": digest(&s, "20001", pw)});
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, verify("123456")).await,
            json!({"ok": true, "attempts_left": 5})
        );
        for left in (1..5).rev() {
            assert_eq!(
                read(&s, paths::CARD_PASSWORD_VERIFY, verify("111111")).await,
                json!({"ok": false, "attempts_left": left})
            );
        }
        assert_eq!(
            s.call(CARD, paths::CARD_PASSWORD_VERIFY, verify("111111"))
                .await
                .code(),
            2107
        );
        assert_eq!(
            s.call(CARD, paths::CARD_PASSWORD_VERIFY, verify("123456"))
                .await
                .code(),
            2107
        );
        // A locked card shows `frozen` (§5's precedence), until the card office resets it.
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (&info["status"], &info["flags"]["frozen"]),
            (&json!("frozen"), &json!(true))
        );
        let (status, _) = s
            .post(
                "/sim/card/accounts/2024000001/reset_password_lock",
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        let info = read(&s, paths::CARD_INFO_GET, json!({"account": "20001"})).await;
        assert_eq!(
            (&info["status"], &info["flags"]["frozen"]),
            (&json!("normal"), &json!(false))
        );
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, verify("123456")).await,
            json!({"ok": true, "attempts_left": 5})
        );
    }

    /// A client sending a digest in the wrong form (base64, the plain password) used up the
    /// student's attempts: a malformed digest is a bad request and costs nothing.
    #[actix_web::test]
    async fn a_malformed_password_digest_is_a_bad_request_not_a_used_attempt() {
        let s = sim().await;
        for malformed in ["123456", &"g".repeat(64), &"a".repeat(63)] {
            let a = s
                .call(
                    CARD,
                    paths::CARD_PASSWORD_VERIFY,
                    json!({"account": "20001", "password_digest": malformed}),
                )
                .await;
            assert_eq!((a.status, a.code()), (400, 1007), "{malformed}");
        }
        let wrong = json!({"account": "20001", "password_digest": digest(&s, "20001", "000000")});
        assert_eq!(
            read(&s, paths::CARD_PASSWORD_VERIFY, wrong).await,
            json!({"ok": false, "attempts_left": 4})
        );
    }

    #[actix_web::test]
    async fn debits_stop_at_the_day_limit() {
        let s = sim().await;
        let pw = digest(&s, "20010", "123456");
        let spent_before =
            read(&s, paths::CARD_BALANCE_GET, json!({"account": "20010"})).await["day_spent_fen"]
                .as_i64()
                .unwrap();
        let mut spent = spent_before;
        let mut refused = None;
        for i in 0..10 {
            let body = json!({"account": "20010", "amount_fen": 5000, "out_trade_no": format!("DL{i}"), "biller_id": "net", "target_id": "2023000010", "password_digest": pw});
            match write_code(&s, paths::CARD_PAY_DEBIT, body).await.0 {
                0 => spent += 5000,
                code => {
                    refused = Some(code);
                    break;
                }
            }
        }
        assert_eq!(refused, Some(2305));
        assert!(spent <= 10_000 && spent + 5000 > 10_000, "spent {spent}");
        let b = read(&s, paths::CARD_BALANCE_GET, json!({"account": "20010"})).await;
        assert_eq!(b["day_spent_fen"].as_i64(), Some(spent));
        assert_eq!(
            b["balance_fen"].as_i64(),
            Some(99_000 - (spent - spent_before))
        );
    }

    #[actix_web::test]
    async fn inspection_lists_accounts_with_phones() {
        let s = sim().await;
        let (status, list) = s.get("/sim/card/accounts?limit=12").await;
        assert_eq!(status, 200);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 12);
        assert_eq!(list[0]["id"], "2024000001");
        assert_eq!(list[0]["phone"], "13800000001");
        assert_eq!(list[0]["balance_fen"], 5230);
        assert_eq!(list[3]["status"], "frozen");
        assert_eq!(list[8]["status"], "closed");
        assert!(
            list.iter()
                .all(|a| a["name"].is_string() && a["status"].is_string())
        );
        assert_eq!(s.get("/sim/card/accounts/0000000000").await.0, 404);
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
