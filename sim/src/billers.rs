//! The simulated billers (缴费: dorm electricity 电费, network 网费, photo fee, library fines,
//! exam registration, alumni donation), docs/upstream-api.md §9: catalog, the electricity
//! location tree (campus → building → floor → room), target lookup with the vendor's free
//! text, payment by key (electricity is `ACCEPTED` first and credited 10–120 s later, like a
//! meter controller), query and the T+1 statement.
//!
//! Why it exists: paying the dorm electricity from the chat is the most common money action
//! after top-up; it needs meters that go offline (6002), day limits (6004), receivables that
//! can be paid once (6005) and asynchronous completion. It owns the billers' payments and what
//! they changed (kWh credited, receivables settled); room and account state is derived from the
//! seed. It must never log payer names.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::NaiveDate;
use serde_json::Value;

use super::campus::{Rng, campus_time, local_date};
use super::upstream::{Ctx, Op, OpError, OpResult, parse, to_value};
use super::{SimState, lock, statement};
use onecard_wire::domain::Fen;
use onecard_wire::{
    self as wire, AmountRule, Biller, BillerCatalog, BillerLookup, BillerPay, BillerPayResult,
    BillerState, BillerStatement, BillerStatementRow, BillerTarget, ErrorCode, Location, Locations,
    LocationsQuery, Receivable, TradeQuery,
};

/// Electricity price: 0.56 元 per kWh.
const ELEC_UNIT_FEN: i64 = 56;
/// Statements of D are ready at 06:00 on D+1.
const STATEMENT: statement::Schedule = statement::Schedule {
    upstream: "billers",
    ready_secs: 6 * 3600,
    not_ready: ErrorCode::BillerStatementNotReady,
    missing_message: "对账文件不存在",
};

fn catalog() -> Vec<Biller> {
    let b = |id: &str, name: &str, rule, min, max, day_max, unit: Option<i64>| Biller {
        biller_id: id.to_owned(),
        name: name.to_owned(),
        amount_rule: rule,
        min_fen: Fen(min),
        max_fen: Fen(max),
        day_max_fen: Fen(day_max),
        unit_price_fen: unit.map(Fen),
    };
    vec![
        b(
            "elec",
            "宿舍电费",
            AmountRule::Any,
            100,
            50_000,
            100_000,
            Some(ELEC_UNIT_FEN),
        ),
        b(
            "net",
            "校园网费",
            AmountRule::Any,
            1_000,
            20_000,
            50_000,
            None,
        ),
        b(
            "photo",
            "照片采集费",
            AmountRule::Receivable,
            2_000,
            2_000,
            2_000,
            None,
        ),
        b(
            "library",
            "图书馆逾期罚款",
            AmountRule::Receivable,
            10,
            100_000,
            100_000,
            None,
        ),
        b(
            "exam",
            "全国大学英语四六级考试报名费",
            AmountRule::Fixed,
            3_000,
            3_000,
            3_000,
            None,
        ),
        b(
            "donation",
            "校友捐赠",
            AmountRule::Any,
            100,
            10_000_000,
            10_000_000,
            None,
        ),
    ]
}

/// Donation projects (`billers/locations` with `level = project`).
const PROJECTS: &[(&str, &str)] = &[("FUND-LIB", "图书馆建设基金"), ("FUND-SCH", "奖助学金基金")];

/// The exam every student may register for, with its fee (`exam` lookups list it until paid).
const EXAM_ITEM: &str = "全国大学英语四级考试（CET-4）报名费";
const EXAM_FEE_FEN: i64 = 3_000;

const CAMPUSES: &[(&str, &str, u32)] = &[("XY", "西苑", 8), ("DY", "东苑", 6)];
const FLOORS: u32 = 6;
const ROOMS_PER_FLOOR: u32 = 20;

/// A dorm room id `XY7-609` → (campus index, building, floor, room).
fn parse_room(id: &str) -> Option<(usize, u32, u32, u32)> {
    let (b, rest) = id.split_once('-')?;
    let ci = CAMPUSES.iter().position(|(c, _, _)| b.starts_with(c))?;
    let building: u32 = b.get(2..)?.parse().ok()?;
    if !(1..=CAMPUSES[ci].2).contains(&building) || rest.len() != 3 {
        return None;
    }
    let floor: u32 = rest.get(..1)?.parse().ok()?;
    let room: u32 = rest.get(1..)?.parse().ok()?;
    ((1..=FLOORS).contains(&floor) && (1..=ROOMS_PER_FLOOR).contains(&room))
        .then_some((ci, building, floor, room))
}

fn room_rng(seed: u64, id: &str) -> Rng {
    let h = id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Rng::derive(seed, &[h, 0xE1EC])
}

#[derive(Clone, Debug)]
struct Payment {
    biller_id: String,
    target_id: String,
    amount: i64,
    biller_trade_no: String,
    date: NaiveDate,
    at: i64,
    /// Electricity: credited at this time (ACCEPTED until then).
    completes_at: i64,
    receivable_ids: Vec<String>,
    /// Donation: the donor's message.
    message: Option<String>,
    /// Who paid (学工号), for the inspection endpoint: where each payer's money went.
    payer_sno: String,
}

#[derive(Default)]
struct BillersState {
    /// (app key, out_trade_no) → payment
    payments: HashMap<(String, String), Payment>,
    /// receivable ids already paid
    paid: HashSet<String>,
    /// Rooms whose meter was switched offline through `/sim/billers/meters/{room}/offline`
    /// (besides the ~5 % that are offline by the seed).
    offline: HashSet<String>,
    seq: u64,
}

/// The billers' live state.
#[derive(Default)]
pub struct BillersSim {
    st: Mutex<BillersState>,
}

fn not_found() -> OpError {
    ErrorCode::BillerTargetNotFound.into()
}

fn biller(id: &str) -> Result<Biller, OpError> {
    catalog()
        .into_iter()
        .find(|b| b.biller_id == id)
        .ok_or_else(not_found)
}

fn catalog_op(_state: &SimState, _ctx: &Ctx, _body: Value) -> OpResult {
    to_value(&BillerCatalog { items: catalog() })
}

fn locations(_state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: LocationsQuery = parse(body)?;
    if q.biller_id == "donation" && q.level == "project" {
        let items = PROJECTS
            .iter()
            .map(|(id, name)| Location {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            })
            .collect();
        return to_value(&Locations { items });
    }
    if q.biller_id != "elec" {
        return Err(not_found());
    }
    let parent = q.parent_id.as_deref().unwrap_or("");
    let items: Vec<Location> = match q.level.as_str() {
        "campus" => CAMPUSES
            .iter()
            .map(|(id, name, _)| Location {
                id: (*id).to_owned(),
                name: (*name).to_owned(),
            })
            .collect(),
        "building" => {
            let (id, name, n) = CAMPUSES
                .iter()
                .find(|(id, _, _)| *id == parent)
                .ok_or_else(not_found)?;
            (1..=*n)
                .map(|b| Location {
                    id: format!("{id}{b}"),
                    name: format!("{name}{b}号楼"),
                })
                .collect()
        }
        "floor" => {
            parse_room(&format!("{parent}-101")).ok_or_else(not_found)?;
            (1..=FLOORS)
                .map(|f| Location {
                    id: format!("{parent}-{f}"),
                    name: format!("{f}层"),
                })
                .collect()
        }
        "room" => {
            let (building, floor) = parent.rsplit_once('-').ok_or_else(not_found)?;
            parse_room(&format!("{building}-{floor}01")).ok_or_else(not_found)?;
            (1..=ROOMS_PER_FLOOR)
                .map(|r| Location {
                    id: format!("{building}-{floor}{r:02}"),
                    name: format!("{floor}{r:02}"),
                })
                .collect()
        }
        _ => {
            return Err(OpError::msg(
                ErrorCode::BadRequest,
                "level 只能是 campus/building/floor/room",
            ));
        }
    };
    to_value(&Locations { items })
}

fn yuan(fen: i64) -> String {
    onecard_wire::domain::Fen(fen).yuan()
}

/// kWh×100 credited to `room` by completed payments.
fn credited_kwh(st: &BillersState, room: &str, now: i64) -> i64 {
    st.payments
        .values()
        .filter(|p| p.biller_id == "elec" && p.target_id == room && p.completes_at <= now)
        .map(|p| p.amount * 100 / ELEC_UNIT_FEN)
        .sum()
}

fn receivables(
    state: &SimState,
    biller_id: &str,
    sno: &str,
    paid: &HashSet<String>,
) -> Result<Vec<Receivable>, OpError> {
    let p = state.campus().person_by_sno(sno).ok_or_else(not_found)?;
    let today = local_date(state.campus().t0());
    let mut out = Vec::new();
    match biller_id {
        "photo" => {
            // Freshmen of this academic year owe the photo fee.
            let this_year =
                chrono::Datelike::year(&today) - i32::from(chrono::Datelike::month(&today) < 9);
            if p.kind.is_student() && (p.year >= this_year || p.index == 1) {
                out.push(Receivable {
                    id: format!("PH-{sno}"),
                    item: "学籍照片采集费".to_owned(),
                    amount_fen: Fen(2_000),
                    due: NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), 12, 31),
                });
            }
        }
        "library" => {
            if let Ok(loans) = super::public_data::loans_of(state, sno) {
                for l in loans.items.iter().filter(|l| l.fine_fen > Fen(0)) {
                    out.push(Receivable {
                        id: format!("LIB-{}", l.barcode),
                        item: format!("《{}》逾期{}天罚款", l.title, l.overdue_days),
                        amount_fen: l.fine_fen,
                        due: None,
                    });
                }
            }
        }
        _ => {}
    }
    out.retain(|r| !paid.contains(&r.id));
    Ok(out)
}

fn lookup_target(
    state: &SimState,
    ctx: &Ctx,
    biller_id: &str,
    target: &str,
) -> Result<BillerTarget, OpError> {
    let seed = state.config().seed;
    let st = lock(&state.billers().st);
    let empty = BillerTarget {
        target_id: target.to_owned(),
        display_name: String::new(),
        remaining_kwh_hundredths: None,
        balance_fen: None,
        used_traffic_mb: None,
        quota_mb: None,
        receivables: Vec::new(),
        text: String::new(),
    };
    match biller_id {
        "elec" => {
            let (ci, building, floor, room) = parse_room(target).ok_or_else(not_found)?;
            let mut r = room_rng(seed, target);
            if r.chance(0.05) || st.offline.contains(target) {
                return Err(ErrorCode::MeterOffline.into());
            }
            let kwh = r.range(0, 30_000) + credited_kwh(&st, target, ctx.now);
            let balance = kwh * ELEC_UNIT_FEN / 100;
            Ok(BillerTarget {
                display_name: format!("{}{building}号楼{floor}{room:02}", CAMPUSES[ci].1),
                remaining_kwh_hundredths: Some(kwh),
                balance_fen: Some(Fen(balance)),
                text: format!("当前余额{}元,当前剩余电量{}度", yuan(balance), yuan(kwh)),
                ..empty
            })
        }
        "net" => {
            let p = state.campus().person_by_sno(target).ok_or_else(not_found)?;
            let mut r = Rng::derive(seed, &[p.index as u64, 0x4E7]);
            let paid: i64 = st
                .payments
                .values()
                .filter(|x| x.biller_id == "net" && x.target_id == target)
                .map(|x| x.amount)
                .sum();
            let balance = r.range(0, 3_000) + paid;
            let used = r.range(0, 20_480);
            Ok(BillerTarget {
                display_name: format!("校园网账号 {target}"),
                balance_fen: Some(Fen(balance)),
                used_traffic_mb: Some(used),
                quota_mb: Some(20_480),
                text: format!("账户余额{}元,本月已用流量{}MB", yuan(balance), used),
                ..empty
            })
        }
        "photo" | "library" => {
            let receivables = receivables(state, biller_id, target, &st.paid)?;
            let total: i64 = receivables.iter().map(|r| r.amount_fen.fen()).sum();
            Ok(BillerTarget {
                display_name: format!("学工号 {target}"),
                text: format!("待缴{}笔,共{}元", receivables.len(), yuan(total)),
                receivables,
                ..empty
            })
        }
        "exam" => {
            let p = state.campus().person_by_sno(target).ok_or_else(not_found)?;
            if !p.kind.is_student() {
                return Err(not_found());
            }
            let paid = st
                .payments
                .values()
                .any(|x| x.biller_id == "exam" && x.target_id == target);
            let receivables = if paid {
                Vec::new()
            } else {
                vec![Receivable {
                    id: format!("EX-{target}"),
                    item: EXAM_ITEM.to_owned(),
                    amount_fen: Fen(EXAM_FEE_FEN),
                    due: None,
                }]
            };
            Ok(BillerTarget {
                display_name: format!("学工号 {target}"),
                text: if paid {
                    "报名费已缴".to_owned()
                } else {
                    format!("{EXAM_ITEM}{}元", yuan(EXAM_FEE_FEN))
                },
                receivables,
                ..empty
            })
        }
        "donation" => match PROJECTS.iter().find(|(id, _)| *id == target) {
            Some((_, name)) => Ok(BillerTarget {
                display_name: (*name).to_owned(),
                text: "感谢您对母校的支持".to_owned(),
                ..empty
            }),
            None => Err(not_found()),
        },
        _ => Err(not_found()),
    }
}

fn lookup(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: BillerLookup = parse(body)?;
    biller(&q.biller_id)?;
    to_value(&lookup_target(state, ctx, &q.biller_id, &q.target)?)
}

fn result_of(key: &str, p: &Payment, now: i64) -> BillerPayResult {
    let done = p.completes_at <= now;
    BillerPayResult {
        out_trade_no: key.to_owned(),
        biller_trade_no: Some(p.biller_trade_no.clone()),
        state: if done {
            BillerState::Success
        } else {
            BillerState::Accepted
        },
        completed_at: done.then(|| campus_time(p.completes_at)),
        fail_reason: None,
    }
}

fn pay(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: BillerPay = parse(body)?;
    let amount = q.amount_fen.fen();
    let b = biller(&q.biller_id)?;
    let target = lookup_target(state, ctx, &q.biller_id, &q.target_id)?;
    let out_of_range = q.amount_fen < b.min_fen
        || q.amount_fen > b.max_fen
        || (b.amount_rule == AmountRule::Fixed && q.amount_fen != b.min_fen);
    if out_of_range {
        return Err(ErrorCode::AmountOutOfRange.into());
    }
    let billers = state.billers();
    let mut st = lock(&billers.st);
    if b.amount_rule == AmountRule::Receivable {
        if q.receivable_ids.is_empty() {
            return Err(OpError::msg(
                ErrorCode::AmountOutOfRange,
                "请选择要缴纳的项目",
            ));
        }
        if q.receivable_ids.iter().any(|id| st.paid.contains(id)) {
            return Err(ErrorCode::AlreadyPaid.into());
        }
        let due: i64 = target
            .receivables
            .iter()
            .filter(|r| q.receivable_ids.contains(&r.id))
            .map(|r| r.amount_fen.fen())
            .sum();
        let known = q
            .receivable_ids
            .iter()
            .all(|id| target.receivables.iter().any(|r| r.id == *id));
        if !known {
            return Err(not_found());
        }
        if due != amount {
            return Err(OpError::msg(
                ErrorCode::AmountOutOfRange,
                "金额与应缴金额不符",
            ));
        }
    }
    let today = local_date(ctx.now);
    if b.biller_id == "exam"
        && st
            .payments
            .values()
            .any(|p| p.biller_id == "exam" && p.target_id == q.target_id)
    {
        return Err(ErrorCode::AlreadyPaid.into());
    }
    let paid_today: i64 = st
        .payments
        .values()
        .filter(|p| p.biller_id == q.biller_id && p.target_id == q.target_id && p.date == today)
        .map(|p| p.amount)
        .sum();
    if paid_today + amount > b.day_max_fen.fen() {
        return Err(ErrorCode::BillerDayLimit.into());
    }
    st.seq += 1;
    let mut r = Rng::derive(state.config().seed, &[st.seq, ctx.now as u64, 0xB1]);
    let completes_at = if q.biller_id == "elec" {
        ctx.now + r.range(10, 120)
    } else {
        ctx.now
    };
    let payment = Payment {
        biller_id: q.biller_id.clone(),
        target_id: q.target_id.clone(),
        amount,
        biller_trade_no: format!("JF{}{:08}", today.format("%Y%m%d"), st.seq),
        date: today,
        at: ctx.now,
        completes_at,
        receivable_ids: q.receivable_ids.clone(),
        message: q.message.clone(),
        payer_sno: q.payer.sno.clone(),
    };
    for id in &q.receivable_ids {
        st.paid.insert(id.clone());
    }
    let answer = result_of(&q.out_trade_no, &payment, ctx.now);
    st.payments
        .insert((ctx.creds.app_key.clone(), q.out_trade_no.clone()), payment);
    to_value(&answer)
}

fn query(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: TradeQuery = parse(body)?;
    {
        let st = lock(&state.billers().st);
        if let Some(p) = st
            .payments
            .get(&(ctx.creds.app_key.clone(), q.out_trade_no.clone()))
        {
            return to_value(&result_of(&q.out_trade_no, p, ctx.now));
        }
    }
    let seen = state
        .billers_gateway()
        .write_record(&ctx.creds.app_key, &q.out_trade_no);
    let (state_, reason) = match seen.map(|r| r.result) {
        Some(Err(e)) => (
            BillerState::Failed,
            Some(
                e.message
                    .unwrap_or_else(|| e.code.default_message().to_owned()),
            ),
        ),
        _ => (BillerState::NotFound, None),
    };
    to_value(&BillerPayResult {
        out_trade_no: q.out_trade_no,
        biller_trade_no: None,
        state: state_,
        completed_at: None,
        fail_reason: reason,
    })
}

fn statement(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let (q, faults) = statement::open::<wire::StatementQuery>(state, ctx.now, body, &STATEMENT)?;
    let day = q.date;
    let st = lock(&state.billers().st);
    let rows: Vec<(i64, BillerStatementRow)> = st
        .payments
        .iter()
        .filter(|((app, _), p)| *app == ctx.creds.app_key && p.date == day)
        .map(|((_, key), p)| {
            (
                p.at,
                BillerStatementRow {
                    date: day,
                    biller_id: Some(p.biller_id.clone()),
                    biller_trade_no: p.biller_trade_no.clone(),
                    out_trade_no: key.clone(),
                    target_id: p.target_id.clone(),
                    amount_fen: Fen(p.amount),
                    state: result_of(key, p, ctx.now).state,
                },
            )
        })
        .collect();
    statement::serve(&faults, rows, q.page, q.page_size, |s| BillerStatement {
        date: day,
        count: s.count,
        sum_fen: Fen(s.sum_fen),
        file_sha256: s.file_sha256,
        page: s.page,
    })
}

/// `GET /sim/billers/payments?biller_id=B&target_id=T&payer=学工号`: the payments the billers
/// hold (every filter optional), oldest first, as the inspection a test or the demo reads.
pub async fn list_payments(
    state: actix_web::web::Data<SimState>,
    q: actix_web::web::Query<HashMap<String, String>>,
) -> actix_web::HttpResponse {
    let now = state.clock().now();
    let st = lock(&state.billers().st);
    let wanted = |key: &str, value: &str| q.get(key).is_none_or(|w| w == value);
    let mut rows: Vec<(&String, &Payment)> = st
        .payments
        .iter()
        .filter(|(_, p)| {
            wanted("biller_id", &p.biller_id)
                && wanted("target_id", &p.target_id)
                && wanted("payer", &p.payer_sno)
        })
        .map(|((_, key), p)| (key, p))
        .collect();
    rows.sort_by_key(|(_, p)| (p.at, p.biller_trade_no.clone()));
    let items: Vec<Value> = rows
        .into_iter()
        .map(|(key, p)| {
            serde_json::json!({
                "out_trade_no": key,
                "biller_trade_no": p.biller_trade_no,
                "biller_id": p.biller_id,
                "target_id": p.target_id,
                "amount_fen": p.amount,
                "receivable_ids": p.receivable_ids,
                "message": p.message,
                "payer_sno": p.payer_sno,
                "state": result_of(key, p, now).state,
            })
        })
        .collect();
    actix_web::HttpResponse::Ok().json(items)
}

#[derive(serde::Deserialize)]
pub struct MeterSwitch {
    offline: bool,
}

/// `POST /sim/billers/meters/{room}/offline {"offline": true}`: the room's meter stops (or
/// resumes) answering, as when its collector loses the network: lookups and payments are 6002.
pub async fn switch_meter(
    state: actix_web::web::Data<SimState>,
    room: actix_web::web::Path<String>,
    body: actix_web::web::Json<MeterSwitch>,
) -> actix_web::HttpResponse {
    if parse_room(&room).is_none() {
        return actix_web::HttpResponse::NotFound()
            .json(serde_json::json!({"error": "no such room"}));
    }
    let mut st = lock(&state.billers().st);
    if body.offline {
        st.offline.insert(room.into_inner());
    } else {
        st.offline.remove(room.as_str());
    }
    actix_web::HttpResponse::Ok().json(serde_json::json!({"ok": true}))
}

/// Every operation of the billers gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::BILLERS_CATALOG,
        write: None,
        run: catalog_op,
    },
    Op {
        path: wire::paths::BILLERS_LOCATIONS,
        write: None,
        run: locations,
    },
    Op {
        path: wire::paths::BILLERS_LOOKUP,
        write: None,
        run: lookup,
    },
    Op {
        path: wire::paths::BILLERS_PAY,
        write: Some(("out_trade_no", ErrorCode::BillerDuplicateKeyMismatch)),
        run: pay,
    },
    Op {
        path: wire::paths::BILLERS_QUERY,
        write: None,
        run: query,
    },
    Op {
        path: wire::paths::BILLERS_STATEMENT,
        write: None,
        run: statement,
    },
];

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::SimConfig;
    use crate::upstream::testkit::{Sim, spawn};
    use onecard_wire::paths;

    const B: &str = "/sim/billers";

    async fn sim() -> Sim {
        spawn(SimConfig {
            accounts: 100,
            ..SimConfig::default()
        })
        .await
    }

    async fn ok(s: &Sim, path: &str, body: Value) -> Value {
        let a = s.call(B, path, body).await;
        assert_eq!(a.code(), 0, "{path}: {}", a.body);
        a.data().clone()
    }

    async fn pay(s: &Sim, body: Value) -> (u64, Value) {
        let key = body["out_trade_no"].as_str().unwrap().to_owned();
        let a = s.write(B, paths::BILLERS_PAY, body, &key).await;
        (a.code(), a.data().clone())
    }

    fn elec(room: &str, amount: i64, key: &str) -> Value {
        json!({"biller_id": "elec", "target_id": room, "amount_fen": amount, "out_trade_no": key,
               "payer": {"sno": "2024000001", "card_out_trade_no": format!("DB{key}")}})
    }

    /// A room whose meter answers (5 % are offline, deterministically).
    async fn online_room(s: &Sim) -> String {
        for r in 1..=20 {
            let room = format!("XY7-6{r:02}");
            if s.call(
                B,
                paths::BILLERS_LOOKUP,
                json!({"biller_id": "elec", "target": room}),
            )
            .await
            .code()
                == 0
            {
                return room;
            }
        }
        panic!("no online room");
    }

    #[actix_web::test]
    async fn catalog_and_the_location_tree() {
        let s = sim().await;
        let c = ok(&s, paths::BILLERS_CATALOG, json!({})).await;
        let ids: Vec<&str> = c["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["biller_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["elec", "net", "photo", "library", "exam", "donation"]);
        assert_eq!(c["items"][0]["unit_price_fen"], 56);
        // Down the electricity tree to room XY7-609: each level's answer, asked under the
        // item picked one level up.
        let levels = [
            ("campus", None, 0, json!({"id": "XY", "name": "西苑"})),
            (
                "building",
                Some("XY"),
                6,
                json!({"id": "XY7", "name": "西苑7号楼"}),
            ),
            (
                "floor",
                Some("XY7"),
                5,
                json!({"id": "XY7-6", "name": "6层"}),
            ),
            (
                "room",
                Some("XY7-6"),
                8,
                json!({"id": "XY7-609", "name": "609"}),
            ),
        ];
        for (level, parent_id, index, expected) in levels {
            let mut query = json!({"biller_id": "elec", "level": level});
            if let Some(parent_id) = parent_id {
                query["parent_id"] = json!(parent_id);
            }
            let answer = ok(&s, paths::BILLERS_LOCATIONS, query).await;
            assert_eq!(answer["items"][index], expected, "{level}");
        }
        let bad = s
            .call(
                B,
                paths::BILLERS_LOCATIONS,
                json!({"biller_id": "elec", "level": "building", "parent_id": "ZZ"}),
            )
            .await;
        assert_eq!(bad.code(), 6001);
    }

    #[actix_web::test]
    async fn electricity_is_accepted_then_credited_and_limited_per_day() {
        let s = sim().await;
        let room = online_room(&s).await;
        let before = ok(
            &s,
            paths::BILLERS_LOOKUP,
            json!({"biller_id": "elec", "target": room}),
        )
        .await;
        let kwh = before["remaining_kwh_hundredths"].as_i64().unwrap();
        assert!(before["text"].as_str().unwrap().starts_with("当前余额"));
        let (code, r) = pay(&s, elec(&room, 5_600, "EL1")).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("ACCEPTED")));
        assert_eq!(
            pay(&s, elec(&room, 5_600, "EL1")).await.1,
            r,
            "replayed by key"
        );
        assert_eq!(pay(&s, elec(&room, 100, "EL1")).await.0, 6009);
        s.state.clock().advance(121);
        let q = ok(&s, paths::BILLERS_QUERY, json!({"out_trade_no": "EL1"})).await;
        assert_eq!(q["state"], "SUCCESS");
        assert!(q["completed_at"].is_string());
        let after = ok(
            &s,
            paths::BILLERS_LOOKUP,
            json!({"biller_id": "elec", "target": room}),
        )
        .await;
        assert_eq!(
            after["remaining_kwh_hundredths"].as_i64().unwrap(),
            kwh + 10_000,
            "56 元 = 100 度"
        );
        assert_eq!(pay(&s, elec(&room, 50, "EL2")).await.0, 6003);
        assert_eq!(pay(&s, elec(&room, 50_000, "EL3")).await.0, 0);
        assert_eq!(
            pay(&s, elec(&room, 50_000, "EL4")).await.0,
            6004,
            "day max 1,000 元 per room"
        );
        assert_eq!(pay(&s, elec("XY9-101", 1_000, "EL5")).await.0, 6001);
        assert_eq!(
            ok(&s, paths::BILLERS_QUERY, json!({"out_trade_no": "EL5"})).await["state"],
            "FAILED"
        );
        assert_eq!(
            ok(&s, paths::BILLERS_QUERY, json!({"out_trade_no": "NONE"})).await["state"],
            "NOT_FOUND"
        );
        let date = crate::campus::local_date(s.state.clock().now());
        assert_eq!(
            s.call(B, paths::BILLERS_STATEMENT, json!({"date": date}))
                .await
                .code(),
            6301
        );
        s.state.clock().advance(2 * 86_400);
        let st = ok(&s, paths::BILLERS_STATEMENT, json!({"date": date})).await;
        assert_eq!(
            (st["count"].as_u64(), st["sum_fen"].as_i64()),
            (Some(2), Some(55_600))
        );
    }

    #[actix_web::test]
    async fn receivables_are_paid_once_and_meters_go_offline() {
        let s = sim().await;
        // 陈晓雨's overdue library fines are receivables.
        let t = ok(
            &s,
            paths::BILLERS_LOOKUP,
            json!({"biller_id": "library", "target": "2025000005"}),
        )
        .await;
        let recs = t["receivables"].as_array().unwrap().clone();
        assert!(recs.len() >= 2);
        let id = recs[0]["id"].as_str().unwrap().to_owned();
        let amount = recs[0]["amount_fen"].as_i64().unwrap();
        let body = |key: &str, amount: i64| {
            json!({"biller_id": "library", "target_id": "2025000005", "amount_fen": amount,
            "receivable_ids": [id], "out_trade_no": key, "payer": {"sno": "2025000005", "card_out_trade_no": "X"}})
        };
        assert_eq!(pay(&s, body("LB0", amount + 1)).await.0, 6003);
        let (code, r) = pay(&s, body("LB1", amount)).await;
        assert_eq!((code, r["state"].as_str()), (0, Some("SUCCESS")));
        assert_eq!(pay(&s, body("LB2", amount)).await.0, 6005);
        let t = ok(
            &s,
            paths::BILLERS_LOOKUP,
            json!({"biller_id": "library", "target": "2025000005"}),
        )
        .await;
        assert_eq!(t["receivables"].as_array().unwrap().len(), recs.len() - 1);
        // Exam fee is fixed and paid once.
        let exam = |key: &str, amount: i64| {
            json!({"biller_id": "exam", "target_id": "2024000001", "amount_fen": amount,
            "out_trade_no": key, "payer": {"sno": "2024000001", "card_out_trade_no": "Y"}})
        };
        assert_eq!(pay(&s, exam("EX0", 2_000)).await.0, 6003);
        assert_eq!(pay(&s, exam("EX1", 3_000)).await.0, 0);
        assert_eq!(pay(&s, exam("EX2", 3_000)).await.0, 6005);
        // About 5 % of meters are offline; building 7 of 西苑 has some in 120 rooms.
        let mut offline = 0;
        for f in 1..=6 {
            for r in 1..=20 {
                let a = s
                    .call(
                        B,
                        paths::BILLERS_LOOKUP,
                        json!({"biller_id": "elec", "target": format!("XY7-{f}{r:02}")}),
                    )
                    .await;
                offline += usize::from(a.code() == 6002);
            }
        }
        assert!((1..=20).contains(&offline), "{offline} offline meters");
    }
}
