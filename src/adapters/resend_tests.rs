//! Which typed adapter calls are sent again to a restarted actor: reads are, writes never are.
//! A write sent twice is money moved twice (a second bank debit, a second card load), so each
//! typed method's choice between `read` and `write` is pinned here, one line per method.
//!
//! Each case kills the adapter's actor, makes one call through the typed handle and looks at
//! what reached a recording fake of the adapter's interface. The call finds the actor dead and
//! restarts it; a read is then sent to the new actor (the fake sees it once), a write comes
//! back `Unavailable(ActorDown)` without reaching it (outcome unknown: the caller queries its
//! key). That dead mailbox is the only place the handle chooses: a panic inside a call loses
//! only that call's answer and leaves the actor alive, so nothing is re-sent then (the tests
//! in `supervise.rs` show both).

use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, LocalBoxFuture};

use super::bank::{
    BankBinding, BankDebit, BankDebitResult, BankStatement, BankSystem, BankTradeStatus,
};
use super::billers::{
    BillerCatalog, BillerLookup, BillerPay, BillerPayResult, BillerPayer, BillerStatement,
    BillerTarget, Billers, Locations, LocationsQuery,
};
use super::card::{
    Account, Balance, CardInfo, CardSystem, ClaimPending, ClaimResult, DailyRecords,
    DailyRecordsQuery, Debit, DebitResult, FoundCard, IdType, LoadCreate, LoadResult, LossResult,
    Page, PasswordVerifyResult, Refund, Reverse, ReverseResult, TradeStatus, Transaction,
    TransactionFeed, TransactionFeedQuery, TransactionsQuery,
};
use super::events::Health;
use super::handle::{AdapterHandle, Upstream};
use super::public_data::{Grades, Loans, Locker, Meeting, PublicData, Timetable};
use super::sms::{SmsPlatform, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery};
use super::{AdapterError, Unavailable};
use crate::domain::{Fen, StudentId};
use crate::wire::{LoadSource, ReconKind, StatementQuery};

/// A fake of every adapter interface that answers each operation with [`reached`] and
/// records its name. The builder's copies (one per restart) share the record.
#[derive(Clone, Default)]
struct Recorder {
    seen: Arc<Mutex<Vec<&'static str>>>,
}

/// What the fake answers `op`: an error naming it, so a test sees which operation ran.
fn reached(op: &'static str) -> AdapterError {
    AdapterError::Protocol(format!("{op} reached the fake"))
}

impl Recorder {
    fn answer<'a, R: Send + 'a>(
        &'a self,
        op: &'static str,
    ) -> BoxFuture<'a, Result<R, AdapterError>> {
        self.seen.lock().unwrap().push(op);
        async move { Err(reached(op)) }.boxed()
    }

    /// The operations that reached the fake since the last look.
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

/// The methods of an interface, each recorded and answered by [`Recorder::answer`].
macro_rules! recorded {
    ($($op:ident($($arg:ty),*) -> $out:ty;)*) => {
        $(fn $op<'a>(&'a self, $(_: $arg),*) -> BoxFuture<'a, Result<$out, AdapterError>> {
            self.answer(stringify!($op))
        })*
    };
}

impl Upstream for Recorder {
    fn health(&self) -> BoxFuture<'_, Health> {
        unreachable!("the cases never ask for health")
    }
}

impl CardSystem for Recorder {
    recorded! {
        find_accounts(IdType, &'a str) -> Vec<Account>;
        balance(&'a str) -> Balance;
        transactions(&'a TransactionsQuery) -> Page<Transaction>;
        transactions_feed(&'a TransactionFeedQuery) -> TransactionFeed;
        card_info(&'a str) -> CardInfo;
        verify_password(&'a str, &'a str) -> PasswordVerifyResult;
        report_loss(&'a str, &'a str) -> LossResult;
        cancel_loss(&'a str, &'a str, &'a str) -> LossResult;
        found_card(&'a str) -> FoundCard;
        load(&'a LoadCreate) -> LoadResult;
        reverse_load(&'a Reverse) -> ReverseResult;
        claim_pending(&'a ClaimPending) -> ClaimResult;
        debit(&'a Debit, Option<&'a str>) -> DebitResult;
        refund(&'a Refund) -> DebitResult;
        trade_status(&'a str) -> TradeStatus;
        daily_records(&'a DailyRecordsQuery) -> DailyRecords;
    }
}

impl BankSystem for Recorder {
    recorded! {
        binding(&'a str) -> BankBinding;
        debit(&'a BankDebit) -> BankDebitResult;
        query(&'a str) -> BankTradeStatus;
        reverse(&'a Reverse) -> ReverseResult;
        statement(&'a StatementQuery) -> BankStatement;
    }
}

impl Billers for Recorder {
    recorded! {
        catalog() -> BillerCatalog;
        locations(&'a LocationsQuery) -> Locations;
        lookup(&'a BillerLookup) -> BillerTarget;
        pay(&'a BillerPay) -> BillerPayResult;
        query(&'a str) -> BillerPayResult;
        statement(&'a StatementQuery) -> BillerStatement;
    }
}

impl SmsPlatform for Recorder {
    recorded! {
        send(&'a SmsSend) -> SmsSendResult;
        status(&'a SmsStatusQuery) -> SmsStatus;
    }
}

impl PublicData for Recorder {
    recorded! {
        meetings(&'a str, NaiveDate, NaiveDate) -> Vec<Meeting>;
        grades(&'a str, Option<&'a str>) -> Grades;
        timetable(&'a str, Option<&'a str>, Option<u32>) -> Timetable;
        library_loans(&'a str) -> Loans;
        locker(&'a str) -> Locker;
    }
}

/// Whether a typed method may be sent again to a restarted actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Read,
    Write,
}

/// One typed method of handle `H`, named as the interface operation it calls; `call` keeps
/// only the error (the fake answers nothing else).
struct Case<H> {
    op: &'static str,
    kind: Kind,
    call: fn(H) -> LocalBoxFuture<'static, Option<AdapterError>>,
}

/// `case!(Write "debit": |bank| bank.debit(&bank_debit()))`
macro_rules! case {
    ($kind:ident $op:literal: |$handle:ident| $call:expr) => {
        Case {
            op: $op,
            kind: Kind::$kind,
            call: |$handle| async move { $call.await.err() }.boxed_local(),
        }
    };
}

/// Start `T`'s typed handle over a [`Recorder`] and run every case against a freshly killed
/// actor. `as_interface` is `|fake| Box::new(fake)`: the compiler makes it a `Box<dyn T>`.
async fn each_after_a_kill<T: ?Sized + Upstream>(
    upstream: &'static str,
    as_interface: fn(Recorder) -> Box<T>,
    cases: Vec<Case<AdapterHandle<T>>>,
) {
    let fake = Recorder::default();
    let builder = {
        let fake = fake.clone();
        Arc::new(move || Ok(as_interface(fake.clone())))
    };
    let handle = AdapterHandle::start_with_idle_keeper(upstream, builder);
    for Case { op, kind, call } in cases {
        handle.kill_actor().await;
        let restarts = handle.restarts();
        let answer = call(handle.clone()).await;
        let seen = fake.take();
        match kind {
            Kind::Read => assert_eq!(
                (answer, seen),
                (Some(reached(op)), vec![op]),
                "{upstream} {op} is a read: after its actor died it is sent to the restarted one"
            ),
            Kind::Write => assert_eq!(
                (answer, seen),
                (
                    Some(AdapterError::Unavailable(Unavailable::ActorDown)),
                    vec![]
                ),
                "{upstream} {op} is a write: after its actor died it must come back ActorDown \
                 and never reach the restarted actor (sent again, it may be done twice)"
            ),
        }
        assert_eq!(
            handle.restarts(),
            restarts + 1,
            "{upstream} {op} restarts it"
        );
    }
    handle.stop();
}

#[actix_rt::test]
async fn bank_debits_and_reversals_are_never_sent_to_a_restarted_actor() {
    each_after_a_kill::<dyn BankSystem>(
        "bank",
        |fake| Box::new(fake),
        vec![
            case!(Read "binding": |bank| bank.binding(&sno())),
            case!(Write "debit": |bank| bank.debit(&bank_debit())),
            case!(Read "query": |bank| bank.query("T1")),
            case!(Write "reverse": |bank| bank.reverse(&reverse())),
            case!(Read "statement": |bank| bank.statement(&statement())),
        ],
    )
    .await;
}

#[actix_rt::test]
async fn card_writes_are_never_sent_to_a_restarted_actor() {
    each_after_a_kill::<dyn CardSystem>(
        "card",
        |fake| Box::new(fake),
        vec![
            case!(Read "find_accounts": |card| card.find_accounts(IdType::Sno, "2023001")),
            case!(Read "balance": |card| card.balance("1001")),
            case!(Read "transactions": |card| card.transactions(&transactions())),
            case!(Read "transactions_feed": |card| card.transactions_feed(&feed())),
            case!(Read "card_info": |card| card.card_info("1001")),
            // every attempt may count against the card's password attempts
            case!(Write "verify_password": |card| card.verify_password("1001", "123456")),
            case!(Write "report_loss": |card| card.report_loss("1001", "T1")),
            case!(Write "cancel_loss": |card| card.cancel_loss("1001", "T1", "123456")),
            case!(Read "found_card": |card| card.found_card("1001")),
            case!(Write "load": |card| card.load(&load())),
            case!(Write "reverse_load": |card| card.reverse_load(&reverse())),
            case!(Write "claim_pending": |card| card.claim_pending(&claim())),
            case!(Write "debit": |card| card.debit(&card_debit(), Some("123456"))),
            case!(Write "refund": |card| card.refund(&refund())),
            case!(Read "trade_status": |card| card.trade_status("T1")),
            case!(Read "daily_records": |card| card.daily_records(&daily_records())),
        ],
    )
    .await;
}

#[actix_rt::test]
async fn biller_payments_are_never_sent_to_a_restarted_actor() {
    each_after_a_kill::<dyn Billers>(
        "billers",
        |fake| Box::new(fake),
        vec![
            case!(Read "catalog": |billers| billers.catalog()),
            case!(Read "locations": |billers| billers.locations(&locations())),
            case!(Read "lookup": |billers| billers.lookup("power", "R101")),
            case!(Write "pay": |billers| billers.pay(&pay())),
            case!(Read "query": |billers| billers.query("T1")),
            case!(Read "statement": |billers| billers.statement(&statement())),
        ],
    )
    .await;
}

#[actix_rt::test]
async fn text_messages_are_never_sent_to_a_restarted_actor() {
    each_after_a_kill::<dyn SmsPlatform>(
        "sms",
        |fake| Box::new(fake),
        vec![
            case!(Write "send": |sms| sms.send(&text_message())),
            case!(Read "status": |sms| sms.status_of("M1")),
        ],
    )
    .await;
}

#[actix_rt::test]
async fn public_data_reads_are_sent_to_a_restarted_actor() {
    each_after_a_kill::<dyn PublicData>(
        "public_data",
        |fake| Box::new(fake),
        vec![
            case!(Read "meetings": |data| data.meetings(&sno(), first_of_december(), first_of_december())),
            case!(Read "grades": |data| data.grades(&sno(), None)),
            case!(Read "timetable": |data| data.timetable(&sno(), None, None)),
            case!(Read "library_loans": |data| data.library_loans(&sno())),
            case!(Read "locker": |data| data.locker(&sno())),
        ],
    )
    .await;
}

// The requests: any well-formed value will do, the fake never reads them.

fn sno() -> StudentId {
    StudentId::parse("2023001").unwrap()
}

fn first_of_december() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()
}

fn bank_debit() -> BankDebit {
    BankDebit {
        sno: "2023001".to_owned(),
        amount_fen: Fen(5000),
        out_trade_no: "T1".to_owned(),
        purpose: "campus_card_load".to_owned(),
    }
}

fn reverse() -> Reverse {
    Reverse {
        orig_out_trade_no: "T1".to_owned(),
        out_trade_no: "R1".to_owned(),
    }
}

fn statement() -> StatementQuery {
    StatementQuery {
        date: first_of_december(),
        page: 1,
        page_size: 50,
    }
}

fn transactions() -> TransactionsQuery {
    TransactionsQuery {
        account: "1001".to_owned(),
        from: first_of_december(),
        to: first_of_december(),
        page: 1,
        page_size: 50,
        direction: None,
        tx_type: None,
    }
}

fn feed() -> TransactionFeedQuery {
    TransactionFeedQuery {
        cursor: 0,
        limit: 100,
    }
}

fn load() -> LoadCreate {
    LoadCreate {
        account: "1001".to_owned(),
        amount_fen: Fen(5000),
        out_trade_no: "T1".to_owned(),
        source: LoadSource::Bank,
        source_ref: "B1".to_owned(),
    }
}

fn claim() -> ClaimPending {
    ClaimPending {
        account: "1001".to_owned(),
        out_trade_no: "T1".to_owned(),
    }
}

fn card_debit() -> Debit {
    Debit {
        account: "1001".to_owned(),
        amount_fen: Fen(5000),
        out_trade_no: "T1".to_owned(),
        biller_id: "power".to_owned(),
        target_id: "R101".to_owned(),
        remark: String::new(),
        password_digest: None,
    }
}

fn refund() -> Refund {
    Refund {
        orig_out_trade_no: "T1".to_owned(),
        out_trade_no: "F1".to_owned(),
        amount_fen: Fen(5000),
    }
}

fn daily_records() -> DailyRecordsQuery {
    DailyRecordsQuery {
        acc_date: first_of_december(),
        kind: ReconKind::Load,
        page: 1,
        page_size: 50,
    }
}

fn locations() -> LocationsQuery {
    LocationsQuery {
        biller_id: "power".to_owned(),
        level: "campus".to_owned(),
        parent_id: None,
    }
}

fn pay() -> BillerPay {
    BillerPay {
        biller_id: "power".to_owned(),
        target_id: "R101".to_owned(),
        amount_fen: Fen(5000),
        receivable_ids: Vec::new(),
        out_trade_no: "P1".to_owned(),
        payer: BillerPayer {
            sno: "2023001".to_owned(),
            card_out_trade_no: "T1".to_owned(),
        },
        message: None,
    }
}

fn text_message() -> SmsSend {
    SmsSend {
        phone: None,
        sno: Some("2023001".to_owned()),
        sign: "校园一卡通".to_owned(),
        template_id: "SMS_1".to_owned(),
        params: Default::default(),
        out_id: "M1".to_owned(),
    }
}
