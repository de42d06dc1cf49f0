//! Round trip against the real simulators (the `sim/` crate): the adapters and the simulators are
//! written from the same document by different people, so any disagreement on the wire
//! (paths, signing, field names, envelopes) shows up here as a `Protocol` error.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use super::*;
use crate::domain::StudentId;
use crate::sim::SimConfig;
use crate::sim::upstream::testkit;
use crate::wire::TransactionsQuery;

fn upstream(base: &str, mount: &str, sim: &testkit::Sim) -> UpstreamConfig {
    let mut c = UpstreamConfig::new(
        format!("{base}{mount}"),
        sim.creds.app_key.clone(),
        sim.creds.app_secret.clone(),
    );
    c.require_signed_responses = true;
    c
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a calendar date")
}

fn not_protocol<T: std::fmt::Debug>(what: &str, r: &Result<T, AdapterError>) {
    assert!(
        !matches!(r, Err(AdapterError::Protocol(_) | AdapterError::Config(_))),
        "{what}: {r:?}"
    );
}

#[actix_rt::test]
async fn every_adapter_call_decodes_against_the_simulators() {
    let sim = testkit::spawn(SimConfig {
        accounts: 60,
        ..SimConfig::default()
    })
    .await;
    let cfg = AdaptersConfig {
        card: upstream(&sim.base, "/sim/card", &sim),
        sms: upstream(&sim.base, "/sim/sms", &sim),
        public_data: upstream(&sim.base, "/sim/data", &sim),
        bank: None,
        billers: None,
    };
    let adapters = start(&cfg).await.unwrap();

    let health = adapters.health().await;
    assert!(health.iter().all(|h| h.ok), "{health:?}");

    // a student with a phone on file and a normal card
    let mut chosen = None;
    let people: Vec<(String, bool)> = sim
        .state
        .campus()
        .people()
        .iter()
        .map(|p| (p.sno.clone(), p.kind.is_student() && p.phone.is_some()))
        .collect();
    for (sno, eligible) in people {
        if !eligible {
            continue;
        }
        let sno = StudentId::parse(&sno).unwrap();
        let accounts = adapters.card.find_by_sno(&sno).await.unwrap();
        if let Some(a) = accounts
            .iter()
            .find(|a| a.status == wire::CardStatus::Normal)
        {
            chosen = Some((sno, a.clone()));
            break;
        }
    }
    let (sno, account) = chosen.expect("a student with a normal card");
    assert_eq!(account.sno, sno.as_str());

    let card = &adapters.card;
    let balance = card.balance(&account.account).await.unwrap();
    assert!(balance.balance_fen >= crate::domain::Fen(0));
    let primary = card.primary_account(&sno).await.unwrap();
    let by_sno = card.balance_of(&sno).await.unwrap();
    assert_eq!(by_sno.account, primary.account);
    let info = card.card_info(&account.account).await.unwrap();
    assert_eq!(info.account, account.account);
    let page = card
        .transactions(&TransactionsQuery {
            account: account.account.clone(),
            from: day(2020, 1, 1),
            to: day(2030, 12, 31),
            page: 1,
            page_size: 5,
            direction: None,
            tx_type: None,
        })
        .await;
    not_protocol("transactions", &page);
    not_protocol("found", &card.found_card(&account.account).await);
    not_protocol(
        "password",
        &card.verify_password(&account.account, "000000").await,
    );
    let missing = card.balance("nope0").await;
    assert!(
        matches!(missing, Err(AdapterError::Rejected { .. })),
        "{missing:?}"
    );

    // a write, then the same key again (replayed), then its status by key
    let loss = card
        .report_loss(&account.account, "RLroundtrip1")
        .await
        .unwrap();
    assert_eq!(loss.status, wire::CardStatus::Lost);
    let again = card
        .report_loss(&account.account, "RLroundtrip1")
        .await
        .unwrap();
    assert_eq!(again.trade_no, loss.trade_no);
    let status = card.trade_status("RLroundtrip1").await.unwrap();
    assert_eq!(status.state, wire::TradeState::Success);
    let unknown = card.trade_status("RLnever").await.unwrap();
    assert_eq!(unknown.state, wire::TradeState::NotFound);

    let mut params = BTreeMap::new();
    params.insert("code".to_owned(), "482913".to_owned());
    params.insert("minutes".to_owned(), "5".to_owned());
    let sent = adapters
        .sms
        .send_to_sno(&sno, "校园一卡通", "SMS_BIND_CODE", params, "SMSroundtrip1")
        .await;
    not_protocol("sms send", &sent);
    if sent.is_ok() {
        not_protocol("sms status", &adapters.sms.status_of("SMSroundtrip1").await);
    }

    let data = &adapters.public_data;
    not_protocol("grades", &data.grades(&sno, None).await);
    not_protocol("timetable", &data.timetable(&sno, None, None).await);
    not_protocol("loans", &data.library_loans(&sno).await);
    not_protocol("locker", &data.locker(&sno).await);
    not_protocol(
        "meetings",
        &data.meetings(&sno, day(2025, 9, 1), day(2026, 7, 31)).await,
    );
    adapters.stop();
}
