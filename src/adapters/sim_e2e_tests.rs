//! The real adapters (signed transport, response-signature check, typed handles) against the
//! simulators on a real port: proof that the two halves of docs/upstream-api.md agree.

use std::collections::BTreeMap;

use crate::adapters::{self, AdapterError, UpstreamConfig};
use crate::domain::{Fen, StudentId};
use crate::sim::SimConfig;
use crate::sim::campus::local_date;
use crate::sim::upstream::testkit::spawn;
use crate::wire::{ErrorCode, IdType, LoadCreate, LoadSource, TradeState, TransactionsQuery};

fn cfg(base: &str, mount: &str) -> UpstreamConfig {
    let mut c = UpstreamConfig::new(
        format!("{base}{mount}"),
        "onecard-demo",
        "demo-secret-change-me",
    );
    c.require_signed_responses = true;
    c.timeout_ms = 3_000;
    c
}

#[actix_web::test]
async fn card_adapter_round_trips_against_the_simulator() {
    let s = spawn(SimConfig {
        accounts: 100,
        ..SimConfig::default()
    })
    .await;
    let card = adapters::card::actor::start(&cfg(&s.base, "/sim/card")).unwrap();
    let sno = StudentId::parse("2024000001").unwrap();
    let accounts = card.find_by_sno(&sno).await.unwrap();
    assert_eq!(accounts[0].account, "20001");
    assert_eq!(accounts[0].phone_masked.as_deref(), Some("138****0001"));
    assert_eq!(
        card.find_accounts(IdType::Account, "20006")
            .await
            .unwrap()
            .len(),
        1
    );
    let b = card.balance("20001").await.unwrap();
    assert_eq!(b.balance_fen, crate::domain::Fen(5230));
    let today = local_date(s.state.clock().now());
    let q = TransactionsQuery {
        account: "20001".into(),
        from: today - chrono::Days::new(120),
        to: today,
        page: 1,
        page_size: 20,
        direction: None,
        tx_type: None,
    };
    let page = card.transactions(&q).await.unwrap();
    assert!(page.total > 0);
    let load = LoadCreate {
        account: "20001".into(),
        amount_fen: Fen(5000),
        out_trade_no: "E2ELOAD1".into(),
        source: LoadSource::Bank,
        source_ref: "BK1".into(),
    };
    assert_eq!(card.load(&load).await.unwrap().pending_fen_after, Fen(5000));
    assert_eq!(card.load(&load).await.unwrap().pending_fen_after, Fen(5000));
    assert_eq!(
        card.trade_status("E2ELOAD1").await.unwrap().state,
        TradeState::Success
    );
    let lost = card.report_loss("20001", "E2ERL1").await.unwrap();
    assert_eq!(lost.status, crate::wire::CardStatus::Lost);
    match card.balance("99999999").await {
        Err(e) => assert_eq!(e.code(), Some(ErrorCode::AccountNotFound), "{e:?}"),
        Ok(b) => panic!("unexpected {b:?}"),
    }
    let ok = card.verify_password("20002", "123456").await.unwrap();
    assert!(ok.ok);
}

#[actix_web::test]
async fn sms_and_public_data_adapters_round_trip() {
    let s = spawn(SimConfig {
        accounts: 100,
        ..SimConfig::default()
    })
    .await;
    let sms = adapters::sms::actor::start(&cfg(&s.base, "/sim/sms")).unwrap();
    let sno = StudentId::parse("2024000002").unwrap();
    let params = BTreeMap::from([
        ("code".to_owned(), "135790".to_owned()),
        ("minutes".to_owned(), "5".to_owned()),
    ]);
    let sent = sms
        .send_to_sno(&sno, "校园一卡通", "SMS_BIND_CODE", params, "E2ESMS1")
        .await
        .unwrap();
    assert_eq!(sent.phone_masked, "138****0002");
    let out = s.state.sms().outbox("13800000002");
    assert!(out[0].text.contains("135790"));
    let again: Result<_, AdapterError> = sms
        .send_to_sno(
            &sno,
            "校园一卡通",
            "SMS_BIND_CODE",
            BTreeMap::new(),
            "E2ESMS2",
        )
        .await;
    assert!(again.is_err());

    let data = adapters::public_data::actor::start(&cfg(&s.base, "/sim/data")).unwrap();
    let zhang = StudentId::parse("2024000001").unwrap();
    let grades = data.grades(&zhang, None).await.unwrap();
    assert!(!grades.items.is_empty());
    let tt = data.timetable(&zhang, None, Some(3)).await.unwrap();
    assert!(tt.items.iter().all(|l| l.weeks.contains(&3)));
    let loans = data.library_loans(&zhang).await.unwrap();
    assert_eq!(loans.items.len(), 2);
    assert!(data.locker(&zhang).await.unwrap().assigned);
}
