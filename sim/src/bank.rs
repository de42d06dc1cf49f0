//! The simulated co-operating bank (银校转账), docs/upstream-api.md §8: card binding lookup,
//! debit for a campus-card load, query by key, reversal (冲正) and the T+1 statement.
//!
//! Why it exists: the top-up order (bank debit → card load → maybe reversal) must be exercised
//! against a bank that can refuse (insufficient funds, lost bank card, limits), answer
//! `PROCESSING` (未决) and resolve it later, and lose a response after committing (fault knob).
//! It owns each person's bank binding (generated from the seed) and bank-side balance, and the
//! bank trades by key. A reversal that finds no debit records the original's key, so the
//! original is refused (5202) if it arrives after all: a delayed request can never take money
//! the platform was told is back. It must never show a full bank card number or holder name.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use super::campus::{Person, Rng, local_date, local_secs};
use super::upstream::{Ctx, Op, OpError, OpResult, parse, to_value};
use super::{SimState, lock, statement};
use onecard_wire::domain::Fen;
use onecard_wire::{
    self as wire, BankBinding, BankDebit, BankDebitResult, BankStatement, BankStatementRow,
    BankTradeStatus, ErrorCode, Reverse, ReverseResult, ReverseState, StatementQuery, TradeQuery,
    TradeState,
};

/// `[sim.bank]`: the bank's policy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BankSimConfig {
    /// Share of debits answered `PROCESSING` (未决) that resolve to SUCCESS 10–60 s later.
    pub processing_rate: f64,
    /// Per-transfer limit.
    pub single_limit_fen: i64,
    /// Per person per bank day.
    pub day_limit_fen: i64,
    /// Debits only inside this daily window (campus time); none = always (5105 outside).
    pub service_hours: Option<super::faults::DownWindow>,
}

impl Default for BankSimConfig {
    fn default() -> Self {
        Self {
            processing_rate: 0.0,
            single_limit_fen: 100_000,
            day_limit_fen: 200_000,
            service_hours: None,
        }
    }
}

/// The bank's day ends at 23:00 campus time.
const BANK_CUT_SECS: i64 = 23 * 3600;
/// Statements of D are ready at 06:00 on D+1.
const STATEMENT: statement::Schedule = statement::Schedule {
    upstream: "bank",
    ready_secs: 6 * 3600,
    not_ready: ErrorCode::BankStatementNotReady,
    missing_message: "对账文件不存在",
};

fn bank_date(ts: i64) -> NaiveDate {
    let d = local_date(ts);
    if local_secs(ts) >= BANK_CUT_SECS {
        d.succ_opt().unwrap_or(d)
    } else {
        d
    }
}

const BANKS: &[(&str, &str, &str)] = &[
    ("CCB", "中国建设银行", "621700"),
    ("ABC", "中国农业银行", "622848"),
    ("ICBC", "中国工商银行", "622202"),
    ("BOC", "中国银行", "621661"),
];

/// A person's bank binding as generated.
#[derive(Clone, Debug)]
pub struct BankAccount {
    pub bank: usize,
    pub card_last4: String,
    pub bound_at: NaiveDate,
    pub balance_fen: i64,
    /// The bank card itself is reported lost (5102).
    pub card_lost: bool,
}

/// Who has a bank card bound, deterministically (demo users fixed, see README).
pub fn binding_of(seed: u64, p: &Person) -> Option<BankAccount> {
    let mut r = Rng::derive(seed, &[p.index as u64, 0xBA4C]);
    let bound = match p.index {
        6 | 8 => false,
        0..=9 => true,
        _ => !p.cards.first().is_some_and(|c| c.closed) && r.chance(0.7),
    };
    if !bound {
        return None;
    }
    let balance_fen = match p.index {
        4 => 3_000,
        0..=9 => 500_000,
        _ => ((200_000f64.ln() + 1.0 * r.normal()).exp() as i64 / 100 * 100).clamp(0, 5_000_000),
    };
    Some(BankAccount {
        bank: r.range(0, BANKS.len() as i64 - 1) as usize,
        card_last4: format!("{:04}", r.range(0, 9999)),
        bound_at: NaiveDate::from_ymd_opt(p.year, 9, r.range(2, 20) as u32).unwrap_or_default(),
        balance_fen,
        card_lost: p.index >= 10 && r.chance(0.01),
    })
}

/// The demo users (README): every one of them has a bank account, bound or not.
const DEMO_USERS: usize = 10;
/// What an unbound demo user's bank account holds (nothing can debit it from here).
const UNBOUND_DEMO_BALANCE_FEN: i64 = 500_000;

/// A bank account as `GET /sim/bank/accounts/{学工号}` shows it (masked card, never in full).
#[derive(Clone, Debug, serde::Serialize, PartialEq, Eq)]
pub struct BankAccountView {
    pub id: String,
    /// Bound for 银校转账 (top-up from this account is possible).
    pub bound: bool,
    pub bank_name: String,
    pub card_masked: Option<String>,
    pub balance_fen: i64,
    /// The bank card is reported lost (debits answer 5102).
    pub card_lost: bool,
}

fn card_masked(b: &BankAccount) -> String {
    format!("{}******{}", BANKS[b.bank % BANKS.len()].2, b.card_last4)
}

fn name_masked(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count())),
        None => String::new(),
    }
}

#[derive(Clone, Debug)]
struct BankTrade {
    sno: String,
    amount: i64,
    bank_trade_no: String,
    bank_date: NaiveDate,
    at: i64,
    state: TradeState,
    /// `PROCESSING` becomes SUCCESS at this time.
    resolves_at: Option<i64>,
    reversal_no: Option<(String, i64)>,
}

#[derive(Default)]
struct BankState {
    /// sno → bank-side balance (after the generated one)
    balances: HashMap<String, i64>,
    /// (sno, bank date) → debited that day
    day_spent: HashMap<(String, NaiveDate), i64>,
    /// (app key, out_trade_no) → trade
    trades: HashMap<(String, String), BankTrade>,
    /// (app key, original out_trade_no) of reversals that found no debit: the original is
    /// refused (5202) if it arrives after all, as a real bank records a 冲正's key.
    reversed_unseen: HashSet<(String, String)>,
    seq: u64,
}

/// The bank's live state.
pub struct BankSim {
    cfg: BankSimConfig,
    st: Mutex<BankState>,
}

impl BankSim {
    pub fn new(cfg: BankSimConfig) -> Self {
        Self {
            cfg,
            st: Mutex::new(BankState::default()),
        }
    }

    /// Bank-side balance of `sno`'s bound card (inspection), if bound.
    pub fn balance(&self, state: &SimState, sno: &str) -> Option<i64> {
        let p = state.campus().person_by_sno(sno)?;
        let b = binding_of(state.config().seed, p)?;
        Some(*lock(&self.st).balances.get(sno).unwrap_or(&b.balance_fen))
    }

    /// `sno`'s bank account as the inspection endpoint shows it: the bound card's account, or
    /// (demo users only) an account that exists at the bank but is not bound for 银校转账.
    pub fn view(&self, state: &SimState, sno: &str) -> Option<BankAccountView> {
        let p = state.campus().person_by_sno(sno)?;
        let Some(b) = binding_of(state.config().seed, p) else {
            return (p.index < DEMO_USERS).then(|| BankAccountView {
                id: p.sno.clone(),
                bound: false,
                bank_name: BANKS[p.index % BANKS.len()].1.to_owned(),
                card_masked: None,
                balance_fen: UNBOUND_DEMO_BALANCE_FEN,
                card_lost: false,
            });
        };
        Some(BankAccountView {
            id: p.sno.clone(),
            bound: true,
            bank_name: BANKS[b.bank % BANKS.len()].1.to_owned(),
            card_masked: Some(card_masked(&b)),
            balance_fen: *lock(&self.st).balances.get(sno).unwrap_or(&b.balance_fen),
            card_lost: b.card_lost,
        })
    }
}

fn resolve(t: &mut BankTrade, now: i64) {
    if t.state == TradeState::Processing && t.resolves_at.is_some_and(|r| now >= r) {
        t.state = TradeState::Success;
        t.resolves_at = None;
    }
}

/// The person `sno` and their bound card; `BankNotBound` for an unknown or unbound person.
fn bound<'s>(state: &'s SimState, sno: &str) -> Result<(&'s Person, BankAccount), OpError> {
    let p = state.campus().person_by_sno(sno);
    p.and_then(|p| Some((p, binding_of(state.config().seed, p)?)))
        .ok_or_else(|| OpError::from(ErrorCode::BankNotBound))
}

fn binding_get(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    #[derive(Deserialize)]
    struct Q {
        sno: String,
    }
    let q: Q = parse(body)?;
    let (p, b) = bound(state, &q.sno)?;
    let (code, name, _) = BANKS[b.bank % BANKS.len()];
    to_value(&BankBinding {
        bound: true,
        bank_code: Some(code.to_owned()),
        bank_name: Some(name.to_owned()),
        card_masked: Some(card_masked(&b)),
        holder_name_masked: Some(name_masked(&p.name)),
        bound_at: Some(b.bound_at),
    })
}

fn debit(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: BankDebit = parse(body)?;
    let amount = q.amount_fen.fen();
    if amount <= 0 {
        return Err(OpError::msg(ErrorCode::BadRequest, "amount_fen 必须为正"));
    }
    if q.purpose != "campus_card_load" {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            "purpose 只能是 campus_card_load",
        ));
    }
    let (_, b) = bound(state, &q.sno)?;
    let bank = state.bank();
    let cfg = &bank.cfg;
    if let Some(w) = &cfg.service_hours
        && !super::card::in_window(w, ctx.now)
    {
        return Err(ErrorCode::BankOutOfServiceHours.into());
    }
    if b.card_lost {
        return Err(ErrorCode::BankCardLost.into());
    }
    let day = bank_date(ctx.now);
    let mut st = lock(&bank.st);
    if st
        .reversed_unseen
        .contains(&(ctx.creds.app_key.clone(), q.out_trade_no.clone()))
    {
        return Err(ErrorCode::BankOriginalReversed.into());
    }
    let spent = st
        .day_spent
        .get(&(q.sno.clone(), day))
        .copied()
        .unwrap_or(0);
    if amount > cfg.single_limit_fen || spent + amount > cfg.day_limit_fen {
        return Err(ErrorCode::BankOverLimit.into());
    }
    let balance = *st.balances.entry(q.sno.clone()).or_insert(b.balance_fen);
    if balance < amount {
        return Err(ErrorCode::BankInsufficientFunds.into());
    }
    st.balances.insert(q.sno.clone(), balance - amount);
    st.day_spent.insert((q.sno.clone(), day), spent + amount);
    st.seq += 1;
    let bank_trade_no = format!("BK{}{:08}", day.format("%Y%m%d"), st.seq);
    let mut r = Rng::derive(state.config().seed, &[st.seq, ctx.now as u64, 0xB0]);
    let processing = cfg.processing_rate > 0.0 && r.chance(cfg.processing_rate);
    let trade = BankTrade {
        sno: q.sno.clone(),
        amount,
        bank_trade_no: bank_trade_no.clone(),
        bank_date: day,
        at: ctx.now,
        state: if processing {
            TradeState::Processing
        } else {
            TradeState::Success
        },
        resolves_at: processing.then(|| ctx.now + r.range(10, 60)),
        reversal_no: None,
    };
    st.trades.insert(
        (ctx.creds.app_key.clone(), q.out_trade_no.clone()),
        trade.clone(),
    );
    to_value(&BankDebitResult {
        // 未决: the bank has not told us its serial yet.
        bank_trade_no: (!processing).then_some(bank_trade_no),
        bank_date: day,
        state: trade.state,
    })
}

fn query(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: TradeQuery = parse(body)?;
    let bank = state.bank();
    let mut st = lock(&bank.st);
    let slot = (ctx.creds.app_key.clone(), q.out_trade_no.clone());
    let reversed_unseen = st.reversed_unseen.contains(&slot);
    let answer = match st.trades.get_mut(&slot) {
        Some(t) => {
            resolve(t, ctx.now);
            BankTradeStatus {
                out_trade_no: q.out_trade_no,
                state: t.state,
                bank_trade_no: (t.state != TradeState::Processing).then(|| t.bank_trade_no.clone()),
                amount_fen: Some(Fen(t.amount)),
            }
        }
        None if reversed_unseen => {
            // reversed before it arrived: it never will be executed
            BankTradeStatus {
                out_trade_no: q.out_trade_no,
                state: TradeState::Reversed,
                bank_trade_no: None,
                amount_fen: None,
            }
        }
        None => {
            // Not a debit: a reversal that succeeded (every write can be looked up by its key,
            // docs/upstream-api.md §4.3), a refused write that committed nothing (FAILED), or a
            // key never seen (NOT_FOUND).
            drop(st);
            let seen = state
                .bank_gateway()
                .write_record(&ctx.creds.app_key, &q.out_trade_no);
            BankTradeStatus {
                out_trade_no: q.out_trade_no,
                state: match seen.as_ref().map(|r| r.result.is_ok()) {
                    Some(true) => TradeState::Success,
                    Some(false) => TradeState::Failed,
                    None => TradeState::NotFound,
                },
                bank_trade_no: None,
                amount_fen: seen
                    .and_then(|r| r.body.get("amount_fen").and_then(Value::as_i64))
                    .map(Fen),
            }
        }
    };
    to_value(&answer)
}

fn reverse(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: Reverse = parse(body)?;
    let bank = state.bank();
    let mut st = lock(&bank.st);
    let slot = (ctx.creds.app_key.clone(), q.orig_out_trade_no.clone());
    let Some(t) = st.trades.get_mut(&slot) else {
        st.reversed_unseen.insert(slot);
        return to_value(&ReverseResult {
            state: ReverseState::NothingToReverse,
            trade_no: None,
        });
    };
    resolve(t, ctx.now);
    if let Some((no, _)) = &t.reversal_no {
        return to_value(&ReverseResult {
            state: ReverseState::Reversed,
            trade_no: Some(no.clone()),
        });
    }
    if t.bank_date < bank_date(ctx.now) {
        return Err(ErrorCode::BankReverseWindowClosed.into());
    }
    t.state = TradeState::Reversed;
    let (sno, amount, day) = (t.sno.clone(), t.amount, t.bank_date);
    st.seq += 1;
    let no = format!("BR{}{:08}", day.format("%Y%m%d"), st.seq);
    if let Some(t) = st.trades.get_mut(&slot) {
        t.reversal_no = Some((no.clone(), ctx.now));
    }
    *st.balances.entry(sno.clone()).or_insert(0) += amount;
    if let Some(spent) = st.day_spent.get_mut(&(sno, day)) {
        *spent -= amount;
    }
    to_value(&ReverseResult {
        state: ReverseState::Reversed,
        trade_no: Some(no),
    })
}

fn statement(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let (q, faults) = statement::open::<StatementQuery>(state, ctx.now, body, &STATEMENT)?;
    let day = q.date;
    let bank = state.bank();
    let mut st = lock(&bank.st);
    let mut rows: Vec<(i64, BankStatementRow)> = Vec::new();
    for ((app, key), t) in st.trades.iter_mut() {
        if *app != ctx.creds.app_key {
            continue;
        }
        resolve(t, ctx.now);
        let masked = state
            .campus()
            .person_by_sno(&t.sno)
            .and_then(|p| binding_of(state.config().seed, p))
            .map(|b| card_masked(&b))
            .unwrap_or_default();
        if t.bank_date == day && t.state != TradeState::Processing {
            rows.push((
                t.at,
                BankStatementRow {
                    bank_date: day,
                    bank_trade_no: t.bank_trade_no.clone(),
                    out_trade_no: key.clone(),
                    card_masked: masked.clone(),
                    sno: t.sno.clone(),
                    amount_fen: Fen(t.amount),
                    row_type: "DEBIT".to_owned(),
                    state: t.state,
                },
            ));
        }
        if let Some((no, at)) = &t.reversal_no
            && bank_date(*at) == day
        {
            rows.push((
                *at,
                BankStatementRow {
                    bank_date: day,
                    bank_trade_no: no.clone(),
                    out_trade_no: key.clone(),
                    card_masked: masked,
                    sno: t.sno.clone(),
                    amount_fen: Fen(t.amount),
                    row_type: "REVERSAL".to_owned(),
                    state: TradeState::Success,
                },
            ));
        }
    }
    statement::serve(&faults, rows, q.page, q.page_size, |s| BankStatement {
        date: day,
        count: s.count,
        sum_fen: Fen(s.sum_fen),
        file_sha256: s.file_sha256,
        page: s.page,
    })
}

/// Every operation of the bank gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::BANK_BINDING_GET,
        write: None,
        run: binding_get,
    },
    Op {
        path: wire::paths::BANK_DEBIT,
        write: Some(("out_trade_no", ErrorCode::BankDuplicateKeyMismatch)),
        run: debit,
    },
    Op {
        path: wire::paths::BANK_QUERY,
        write: None,
        run: query,
    },
    Op {
        path: wire::paths::BANK_REVERSE,
        write: Some(("out_trade_no", ErrorCode::BankDuplicateKeyMismatch)),
        run: reverse,
    },
    Op {
        path: wire::paths::BANK_STATEMENT,
        write: None,
        run: statement,
    },
];

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::upstream::testkit::{Sim, spawn};
    use crate::{BankSimConfig, SimConfig};
    use onecard_wire::paths;

    const BANK: &str = "/sim/bank";

    async fn sim(bank: BankSimConfig) -> Sim {
        spawn(SimConfig {
            accounts: 100,
            bank,
            ..SimConfig::default()
        })
        .await
    }

    async fn write(s: &Sim, path: &str, body: Value) -> (u64, Value) {
        let key = body["out_trade_no"].as_str().unwrap().to_owned();
        let a = s.write(BANK, path, body, &key).await;
        (a.code(), a.data().clone())
    }

    fn debit(sno: &str, amount: i64, key: &str) -> Value {
        json!({"sno": sno, "amount_fen": amount, "out_trade_no": key, "purpose": "campus_card_load"})
    }

    /// The code a debit of `amount` by `sno` under `key` is answered with.
    async fn debit_code(s: &Sim, sno: &str, amount: i64, key: &str) -> u64 {
        write(s, paths::BANK_DEBIT, debit(sno, amount, key)).await.0
    }

    /// What `bank/query` answers for `key`.
    async fn query(s: &Sim, key: &str) -> Value {
        let a = s
            .call(BANK, paths::BANK_QUERY, json!({"out_trade_no": key}))
            .await;
        a.data().clone()
    }

    #[actix_web::test]
    async fn every_demo_user_has_a_bank_account_to_inspect() {
        let s = sim(BankSimConfig::default()).await;
        let (status, bound) = s.get("/sim/bank/accounts/2024000001").await;
        assert_eq!(status, 200);
        assert_eq!(
            (&bound["bound"], &bound["balance_fen"]),
            (&json!(true), &json!(500_000))
        );
        assert_eq!(bound["card_masked"].as_str().unwrap().len(), 16);
        let (status, unbound) = s.get("/sim/bank/accounts/2024000007").await;
        assert_eq!(status, 200);
        assert_eq!(
            (&unbound["bound"], &unbound["card_masked"]),
            (&json!(false), &Value::Null)
        );
        let (status, _) = s.get("/sim/bank/accounts/1999999999").await;
        assert_eq!(status, 404);
    }

    #[actix_web::test]
    async fn binding_is_masked_and_unbound_people_get_5001() {
        let s = sim(BankSimConfig::default()).await;
        let b = s
            .call(BANK, paths::BANK_BINDING_GET, json!({"sno": "2024000001"}))
            .await;
        assert_eq!(b.code(), 0);
        let card = b.data()["card_masked"].as_str().unwrap();
        assert_eq!(card.len(), 16);
        assert!(card.contains("******"));
        assert_eq!(b.data()["holder_name_masked"], "张*");
        assert_eq!(
            s.call(BANK, paths::BANK_BINDING_GET, json!({"sno": "2024000007"}))
                .await
                .code(),
            5001
        );
    }

    #[actix_web::test]
    async fn debit_query_reverse_and_statement() {
        let s = sim(BankSimConfig::default()).await;
        let (code, d) = write(&s, paths::BANK_DEBIT, debit("2024000001", 10_000, "BD1")).await;
        assert_eq!((code, d["state"].as_str()), (0, Some("SUCCESS")));
        assert!(d["bank_trade_no"].as_str().unwrap().starts_with("BK"));
        assert_eq!(
            write(&s, paths::BANK_DEBIT, debit("2024000001", 10_000, "BD1"))
                .await
                .1,
            d,
            "replayed"
        );
        assert_eq!(debit_code(&s, "2024000001", 20_000, "BD1").await, 5009);
        assert_eq!(
            s.state.bank().balance(&s.state, "2024000001"),
            Some(490_000)
        );
        let q = query(&s, "BD1").await;
        assert_eq!(q["state"], "SUCCESS");
        assert_eq!(q["amount_fen"], 10_000);
        assert_eq!(query(&s, "NEVER").await["state"], "NOT_FOUND");

        let rev = json!({"orig_out_trade_no": "BD1", "out_trade_no": "BR1"});
        let (code, r) = write(&s, paths::BANK_REVERSE, rev).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("REVERSED")));
        let again = json!({"orig_out_trade_no": "BD1", "out_trade_no": "BR2"});
        assert_eq!(
            write(&s, paths::BANK_REVERSE, again).await.1,
            r,
            "already reversed is not an error"
        );
        assert_eq!(
            s.state.bank().balance(&s.state, "2024000001"),
            Some(500_000)
        );
        let ghost = json!({"orig_out_trade_no": "GHOST", "out_trade_no": "BR3"});
        assert_eq!(
            write(&s, paths::BANK_REVERSE, ghost).await.1["state"],
            "NOTHING_TO_REVERSE"
        );

        // Refusals: insufficient funds, limits, unbound; a refused key queries as FAILED.
        assert_eq!(debit_code(&s, "2025000005", 5_000, "BD2").await, 5101);
        assert_eq!(query(&s, "BD2").await["state"], "FAILED");
        assert_eq!(debit_code(&s, "2024000001", 100_001, "BD3").await, 5104);
        assert_eq!(debit_code(&s, "2024000007", 100, "BD4").await, 5001);

        let date = d["bank_date"].as_str().unwrap().to_owned();
        let stmt = json!({"date": date});
        assert_eq!(
            s.call(BANK, paths::BANK_STATEMENT, stmt.clone())
                .await
                .code(),
            5301
        );
        s.state.clock().advance(2 * 86_400);
        let st = s.call(BANK, paths::BANK_STATEMENT, stmt).await;
        assert_eq!(st.code(), 0);
        assert_eq!(st.data()["count"], 2);
        assert_eq!(st.data()["sum_fen"], 0, "debit and its reversal cancel out");
        let types: Vec<&str> = st.data()["page"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["type"].as_str().unwrap())
            .collect();
        assert_eq!(types, ["DEBIT", "REVERSAL"]);
        assert_eq!(st.data()["page"]["items"][0]["state"], "REVERSED");
    }

    #[actix_web::test]
    async fn processing_resolves_later_and_can_be_reversed() {
        let s = sim(BankSimConfig {
            processing_rate: 1.0,
            ..Default::default()
        })
        .await;
        let (code, d) = write(&s, paths::BANK_DEBIT, debit("2024000002", 5_000, "P1")).await;
        assert_eq!((code, d["state"].as_str()), (0, Some("PROCESSING")));
        assert_eq!(d["bank_trade_no"], Value::Null);
        let q = query(&s, "P1").await;
        assert_eq!(q["state"], "PROCESSING");
        s.state.clock().advance(61);
        let q = query(&s, "P1").await;
        assert_eq!(q["state"], "SUCCESS");
        assert!(q["bank_trade_no"].is_string());
        let (_, d2) = write(&s, paths::BANK_DEBIT, debit("2024000002", 5_000, "P2")).await;
        assert_eq!(d2["state"], "PROCESSING");
        let rev = json!({"orig_out_trade_no": "P2", "out_trade_no": "PR2"});
        assert_eq!(
            write(&s, paths::BANK_REVERSE, rev).await.1["state"],
            "REVERSED"
        );
        assert_eq!(query(&s, "P2").await["state"], "REVERSED");
    }

    #[actix_web::test]
    async fn a_debit_arriving_after_its_reversal_is_refused_and_takes_nothing() {
        let s = sim(BankSimConfig::default()).await;
        let before = s.state.bank().balance(&s.state, "2024000002");
        // the reversal overtakes its original (the original was delayed on the way)
        let rev = json!({"orig_out_trade_no": "LATE1", "out_trade_no": "LATE1R"});
        let (code, r) = write(&s, paths::BANK_REVERSE, rev).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("NOTHING_TO_REVERSE")));
        let (code, _) = write(&s, paths::BANK_DEBIT, debit("2024000002", 5_000, "LATE1")).await;
        assert_eq!(code, 5202);
        assert_eq!(s.state.bank().balance(&s.state, "2024000002"), before);
        assert_eq!(query(&s, "LATE1").await["state"], "REVERSED");
        // another key of the same person still goes through
        let (code, d) = write(&s, paths::BANK_DEBIT, debit("2024000002", 5_000, "LATE2")).await;
        assert_eq!((code, d["state"].as_str()), (0, Some("SUCCESS")));
    }
}
