//! Contract tests of the bank and billers adapters against their simulators over loopback
//! HTTP: every operation, the idempotent replay of a write, query by key, and the nasty case —
//! the upstream commits, the answer is lost, and only the key tells the truth. Expected money
//! is read from the simulators' inspection state, never copied from seed data.

use chrono::NaiveDate;
use serde_json::json;

use super::bank::PURPOSE_CAMPUS_CARD_LOAD;
use super::*;
use crate::domain::{Fen, StudentId};
use crate::sim::SimConfig;
use crate::sim::campus::{local_date, local_secs};
use crate::sim::upstream::testkit::{self, Sim};
use crate::wire::{
    BankDebit, BillerPay, BillerPayer, BillerState, ErrorCode, LocationsQuery, Reverse,
    ReverseState, StatementQuery, TradeState,
};

/// The simulators with business time at 10:00 campus time, so no test crosses a day cut.
async fn sim() -> Sim {
    let sim = testkit::spawn(SimConfig {
        accounts: 100,
        ..SimConfig::default()
    })
    .await;
    let since_midnight = local_secs(sim.state.clock().now());
    sim.state
        .clock()
        .advance((10 * 3600 - since_midnight).rem_euclid(86_400));
    sim
}

fn today(sim: &Sim) -> NaiveDate {
    local_date(sim.state.clock().now())
}

fn upstream(sim: &Sim, mount: &str) -> UpstreamConfig {
    let mut c = UpstreamConfig::new(
        format!("{}{mount}", sim.base),
        sim.creds.app_key.clone(),
        sim.creds.app_secret.clone(),
    );
    c.timeout_ms = 3_000;
    c
}

fn debit(sno: &str, amount_fen: i64, key: &str) -> BankDebit {
    BankDebit {
        sno: sno.to_owned(),
        amount_fen: Fen(amount_fen),
        out_trade_no: key.to_owned(),
        purpose: PURPOSE_CAMPUS_CARD_LOAD.to_owned(),
    }
}

fn bank_balance(sim: &Sim, sno: &str) -> i64 {
    sim.state
        .bank()
        .balance(&sim.state, sno)
        .expect("the person has a bound bank card")
}

fn statement_of(date: NaiveDate) -> StatementQuery {
    StatementQuery {
        date,
        page: 1,
        page_size: 50,
    }
}

fn rejected_code<T: std::fmt::Debug>(r: Result<T, AdapterError>) -> Option<ErrorCode> {
    match r {
        Err(e) => e.code(),
        Ok(v) => panic!("expected a rejection, got {v:?}"),
    }
}

/// Lose every answer of `upstream` (the write still commits), or stop doing so.
async fn lose_responses(sim: &Sim, upstream: &str, on: bool) {
    let body = if on {
        json!({"lost_response_rate": 1.0})
    } else {
        json!({})
    };
    let (status, _) = sim.post(&format!("/sim/faults/{upstream}"), body).await;
    assert_eq!(status, 200);
}

#[actix_rt::test]
async fn bank_debit_replay_query_reversal_and_statement() {
    let sim = sim().await;
    let bank = bank::actor::start(&upstream(&sim, "/sim/bank")).unwrap();
    let sno = StudentId::parse("2024000001").unwrap();

    let binding = bank.binding(&sno).await.unwrap();
    assert!(binding.bound);
    let masked = binding.card_masked.unwrap();
    assert_eq!((masked.len(), &masked[6..12]), (16, "******"));
    assert_eq!(binding.holder_name_masked.as_deref(), Some("张*"));

    let before = bank_balance(&sim, sno.as_str());
    let first = bank
        .debit(&debit(sno.as_str(), 10_000, "BKT1"))
        .await
        .unwrap();
    assert_eq!(first.state, TradeState::Success);
    assert_eq!(bank_balance(&sim, sno.as_str()), before - 10_000);
    // the same key again: the original answer, no second debit
    let replay = bank
        .debit(&debit(sno.as_str(), 10_000, "BKT1"))
        .await
        .unwrap();
    assert_eq!(replay, first);
    assert_eq!(bank_balance(&sim, sno.as_str()), before - 10_000);
    // the same key with another amount is refused, not executed
    assert_eq!(
        rejected_code(bank.debit(&debit(sno.as_str(), 20_000, "BKT1")).await),
        Some(ErrorCode::BankDuplicateKeyMismatch)
    );

    let status = bank.query("BKT1").await.unwrap();
    assert_eq!(
        (status.state, status.amount_fen, status.bank_trade_no),
        (
            TradeState::Success,
            Some(Fen(10_000)),
            first.bank_trade_no.clone()
        )
    );
    assert_eq!(
        bank.query("BKTNEVER").await.unwrap().state,
        TradeState::NotFound
    );

    let reversal = Reverse {
        orig_out_trade_no: "BKT1".into(),
        out_trade_no: "BKR1".into(),
    };
    let reversed = bank.reverse(&reversal).await.unwrap();
    assert_eq!(reversed.state, ReverseState::Reversed);
    assert_eq!(bank_balance(&sim, sno.as_str()), before);
    // reversing again (another key) is not an error and moves no money
    let again = bank
        .reverse(&Reverse {
            orig_out_trade_no: "BKT1".into(),
            out_trade_no: "BKR2".into(),
        })
        .await
        .unwrap();
    assert_eq!(again, reversed);
    assert_eq!(bank_balance(&sim, sno.as_str()), before);
    assert_eq!(
        bank.query("BKT1").await.unwrap().state,
        TradeState::Reversed
    );

    let date = first.bank_date;
    assert_eq!(
        rejected_code(bank.statement(&statement_of(date)).await),
        Some(ErrorCode::BankStatementNotReady)
    );
    sim.state.clock().advance(2 * 86_400);
    let statement = bank.statement(&statement_of(date)).await.unwrap();
    let rows: Vec<(&str, &str, i64)> = statement
        .page
        .items
        .iter()
        .map(|r| {
            (
                r.row_type.as_str(),
                r.out_trade_no.as_str(),
                r.amount_fen.fen(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        [("DEBIT", "BKT1", 10_000), ("REVERSAL", "BKT1", 10_000)]
    );
    assert_eq!((statement.count, statement.sum_fen), (2, Fen(0)));
    bank.stop();
}

#[actix_rt::test]
async fn bank_refusals_are_rejections_and_a_refused_key_queries_as_failed() {
    let sim = sim().await;
    let bank = bank::actor::start(&upstream(&sim, "/sim/bank")).unwrap();
    // someone whose whole bank balance is below the per-transfer limit
    let (sno, balance) = sim
        .state
        .campus()
        .people()
        .iter()
        .filter_map(|p| Some((p.sno.clone(), sim.state.bank().balance(&sim.state, &p.sno)?)))
        .find(|(_, b)| (1..50_000).contains(b))
        .expect("a bound person with a small balance");
    assert_eq!(
        rejected_code(bank.debit(&debit(&sno, balance + 1, "BKPOOR1")).await),
        Some(ErrorCode::BankInsufficientFunds)
    );
    assert_eq!(
        bank.query("BKPOOR1").await.unwrap().state,
        TradeState::Failed
    );
    assert_eq!(bank_balance(&sim, &sno), balance);

    let unbound = sim
        .state
        .campus()
        .people()
        .iter()
        .find(|p| sim.state.bank().balance(&sim.state, &p.sno).is_none())
        .map(|p| StudentId::parse(&p.sno).unwrap())
        .expect("someone without a bound bank card");
    assert_eq!(
        rejected_code(bank.binding(&unbound).await),
        Some(ErrorCode::BankNotBound)
    );
    bank.stop();
}

#[actix_rt::test]
async fn bank_answer_lost_after_commit_then_query_by_key_never_debits_twice() {
    let sim = sim().await;
    let mut cfg = upstream(&sim, "/sim/bank");
    // one lost answer must not open the breaker for the query that follows
    cfg.breaker_failures = 3;
    let bank = bank::actor::start(&cfg).unwrap();
    let sno = "2024000002";
    let before = bank_balance(&sim, sno);

    lose_responses(&sim, "bank", true).await;
    let lost = bank.debit(&debit(sno, 5_000, "BKLOST1")).await;
    assert_eq!(
        lost,
        Err(AdapterError::Unavailable(Unavailable::Status(503))),
        "the outcome is unknown to us"
    );
    // the bank did commit, exactly once (writes are never retried by the adapter)
    assert_eq!(bank_balance(&sim, sno), before - 5_000);
    lose_responses(&sim, "bank", false).await;

    let status = bank.query("BKLOST1").await.unwrap();
    assert_eq!(
        (status.state, status.amount_fen),
        (TradeState::Success, Some(Fen(5_000)))
    );
    // re-sending with the same key is safe: the original result, no second debit
    let resent = bank.debit(&debit(sno, 5_000, "BKLOST1")).await.unwrap();
    assert_eq!(resent.bank_trade_no, status.bank_trade_no);
    assert_eq!(bank_balance(&sim, sno), before - 5_000);
    bank.stop();
}

#[actix_rt::test]
async fn biller_catalog_locations_lookup_pay_query_and_statement() {
    let sim = sim().await;
    let billers = billers::actor::start(&upstream(&sim, "/sim/billers")).unwrap();

    let catalog = billers.catalog().await.unwrap();
    let ids: Vec<&str> = catalog.items.iter().map(|b| b.biller_id.as_str()).collect();
    assert_eq!(ids, ["elec", "net", "photo", "library", "exam", "donation"]);
    let elec = &catalog.items[0];
    let unit_fen = elec
        .unit_price_fen
        .expect("electricity has a unit price")
        .fen();

    // campus → building → floor → room, always taking the first entry
    let mut parent = None;
    let mut last = None;
    for level in ["campus", "building", "floor", "room"] {
        let items = billers
            .locations(&LocationsQuery {
                biller_id: "elec".into(),
                level: level.into(),
                parent_id: parent.clone(),
            })
            .await
            .unwrap()
            .items;
        let first = items.first().expect("every level has entries").clone();
        parent = Some(first.id.clone());
        last = Some(first);
    }
    let first_room = last.unwrap();
    assert_eq!(first_room.name, "101");
    // a meter may be offline (6002); walk the floor's rooms to one that answers
    let floor = first_room.id.rsplit_once('-').unwrap().0.to_owned();
    let mut room = None;
    for n in 1..=20 {
        let id = format!("{floor}-1{n:02}");
        match billers.lookup("elec", &id).await {
            Ok(target) => {
                room = Some(target);
                break;
            }
            Err(e) => assert_eq!(e.code(), Some(ErrorCode::MeterOffline), "{id}: {e:?}"),
        }
    }
    let room = room.expect("a room with its meter online");
    let kwh_before = room.remaining_kwh_hundredths.unwrap();

    let pay = BillerPay {
        biller_id: "elec".into(),
        target_id: room.target_id.clone(),
        amount_fen: Fen(2_800),
        receivable_ids: Vec::new(),
        out_trade_no: "JFT1".into(),
        payer: BillerPayer {
            sno: "2024000001".into(),
            card_out_trade_no: "CDT1".into(),
        },
        message: None,
    };
    let accepted = billers.pay(&pay).await.unwrap();
    assert_eq!(
        accepted.state,
        BillerState::Accepted,
        "meters are credited later"
    );
    assert_eq!(
        billers.pay(&pay).await.unwrap(),
        accepted,
        "replayed by key"
    );
    assert_eq!(
        billers.query("JFT1").await.unwrap().state,
        BillerState::Accepted
    );
    sim.state.clock().advance(121);
    let done = billers.query("JFT1").await.unwrap();
    assert_eq!(
        (done.state, done.biller_trade_no.as_ref()),
        (BillerState::Success, accepted.biller_trade_no.as_ref())
    );
    let after = billers.lookup("elec", &room.target_id).await.unwrap();
    assert_eq!(
        after.remaining_kwh_hundredths.unwrap() - kwh_before,
        2_800 * 100 / unit_fen
    );
    assert_eq!(
        billers.query("JFTNEVER").await.unwrap().state,
        BillerState::NotFound
    );

    // a receivable can be paid once; the second attempt is refused and queries as failed
    let photo = billers.lookup("photo", "2024000002").await.unwrap();
    let owed = photo
        .receivables
        .first()
        .expect("the photo fee is owed")
        .clone();
    let photo_pay = |key: &str| BillerPay {
        biller_id: "photo".into(),
        target_id: "2024000002".into(),
        amount_fen: owed.amount_fen,
        receivable_ids: vec![owed.id.clone()],
        out_trade_no: key.into(),
        payer: BillerPayer {
            sno: "2024000002".into(),
            card_out_trade_no: format!("C{key}"),
        },
        message: None,
    };
    assert_eq!(
        billers.pay(&photo_pay("JFPH1")).await.unwrap().state,
        BillerState::Success
    );
    assert_eq!(
        rejected_code(billers.pay(&photo_pay("JFPH2")).await),
        Some(ErrorCode::AlreadyPaid)
    );
    let refused = billers.query("JFPH2").await.unwrap();
    assert_eq!(
        (refused.state, refused.fail_reason.as_deref()),
        (
            BillerState::Failed,
            Some(ErrorCode::AlreadyPaid.default_message())
        )
    );

    let date = today(&sim);
    sim.state.clock().advance(2 * 86_400);
    let statement = billers.statement(&statement_of(date)).await.unwrap();
    let keys: Vec<(&str, i64)> = statement
        .page
        .items
        .iter()
        .map(|r| (r.out_trade_no.as_str(), r.amount_fen.fen()))
        .collect();
    assert_eq!(keys, [("JFT1", 2_800), ("JFPH1", owed.amount_fen.fen())]);
    assert_eq!(statement.sum_fen.fen(), 2_800 + owed.amount_fen.fen());
    billers.stop();
}

#[actix_rt::test]
async fn biller_answer_lost_after_commit_then_query_by_key_pays_once() {
    let sim = sim().await;
    let billers = billers::actor::start(&upstream(&sim, "/sim/billers")).unwrap();
    let pay = BillerPay {
        biller_id: "donation".into(),
        target_id: "FUND-LIB".into(),
        amount_fen: Fen(1_000),
        receivable_ids: Vec::new(),
        out_trade_no: "JFLOST1".into(),
        payer: BillerPayer {
            sno: "2024000003".into(),
            card_out_trade_no: "CDLOST1".into(),
        },
        message: None,
    };
    lose_responses(&sim, "billers", true).await;
    assert_eq!(
        billers.pay(&pay).await,
        Err(AdapterError::Unavailable(Unavailable::Status(503)))
    );
    lose_responses(&sim, "billers", false).await;

    let status = billers.query("JFLOST1").await.unwrap();
    assert_eq!(status.state, BillerState::Success);
    let resent = billers.pay(&pay).await.unwrap();
    assert_eq!(resent.biller_trade_no, status.biller_trade_no);

    let date = today(&sim);
    sim.state.clock().advance(2 * 86_400);
    let statement = billers.statement(&statement_of(date)).await.unwrap();
    assert_eq!(
        (statement.count, statement.sum_fen),
        (1, Fen(1_000)),
        "paid once"
    );
    billers.stop();
}
