//! The card system (一卡通) adapter: accounts, balances, transactions, card status, loss
//! reports, lost-and-found, and the money operations of top-up and payments (loads, claims of
//! 过渡余额, debits, refunds, reversals).
//!
//! Why it exists: it is the upstream most features depend on and the one most likely to be
//! slow at lunch time. It owns the [`CardSystem`] trait (what the card system can do, in
//! protocol types from [`crate::wire`]), its HTTP client and its supervised actor.
//! It must never turn an answer into user text, never log an account number, a name or a
//! password, and never retry a write (loss reports, loads, debits): those go out once with
//! their `out_trade_no`, and a caller that saw a timeout asks [`CardSystem::trade_status`].

pub mod actor;
pub mod client;

use futures_util::future::BoxFuture;

pub use crate::wire::{
    Account, Balance, CardFlags, CardInfo, CardStatus, ClaimPending, ClaimResult, DailyRecords,
    DailyRecordsQuery, Debit, DebitResult, FoundCard, IdType, LoadCreate, LoadResult, LossResult,
    Page, PasswordVerifyResult, Refund, Reverse, ReverseResult, TradeStatus, Transaction,
    TransactionFeed, TransactionFeedItem, TransactionFeedQuery, TransactionsQuery,
};
pub use actor::CardHandle;
pub use client::CardClient;

use super::AdapterError;
use super::handle::Upstream;

/// The upstream's name in metrics and logs.
pub const UPSTREAM: &str = "card";

/// Everything onecard asks of the card system. Implemented by [`CardClient`] (HTTP) and by
/// fakes in tests; [`CardHandle`] runs an implementation inside the adapter actor.
///
/// Alike the other adapters' traits by design: see `src/adapters/mod.rs`.
pub trait CardSystem: Upstream {
    /// `card/account/get`: every account of one person (the first is the primary card).
    fn find_accounts<'a>(
        &'a self,
        id_type: IdType,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Account>, AdapterError>>;

    /// `card/balance/get`
    fn balance<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<Balance, AdapterError>>;

    /// `card/transactions/list`
    fn transactions<'a>(
        &'a self,
        query: &'a TransactionsQuery,
    ) -> BoxFuture<'a, Result<Page<Transaction>, AdapterError>>;

    /// `card/transactions/feed`: every card's transactions after `cursor`, oldest first.
    fn transactions_feed<'a>(
        &'a self,
        query: &'a TransactionFeedQuery,
    ) -> BoxFuture<'a, Result<TransactionFeed, AdapterError>>;

    /// `card/info/get`
    fn card_info<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<CardInfo, AdapterError>>;

    /// `card/password/verify`; the password is sent only as a digest.
    fn verify_password<'a>(
        &'a self,
        account: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<PasswordVerifyResult, AdapterError>>;

    /// `card/report_loss` (write, channel `wechat`).
    fn report_loss<'a>(
        &'a self,
        account: &'a str,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<LossResult, AdapterError>>;

    /// `card/cancel_loss` (write).
    fn cancel_loss<'a>(
        &'a self,
        account: &'a str,
        out_trade_no: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<LossResult, AdapterError>>;

    /// `card/found/get`: is the lost card waiting at a service point?
    fn found_card<'a>(&'a self, account: &'a str)
    -> BoxFuture<'a, Result<FoundCard, AdapterError>>;

    /// `card/load/create` (write): credits 过渡余额.
    fn load<'a>(&'a self, req: &'a LoadCreate) -> BoxFuture<'a, Result<LoadResult, AdapterError>>;

    /// `card/load/reverse` (write, 冲正).
    fn reverse_load<'a>(
        &'a self,
        req: &'a Reverse,
    ) -> BoxFuture<'a, Result<ReverseResult, AdapterError>>;

    /// `card/load/claim` (write, 领款): every pending load becomes spendable at once.
    fn claim_pending<'a>(
        &'a self,
        req: &'a ClaimPending,
    ) -> BoxFuture<'a, Result<ClaimResult, AdapterError>>;

    /// `card/pay/debit` (write). `password` (plain) is turned into `password_digest`.
    fn debit<'a>(
        &'a self,
        req: &'a Debit,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DebitResult, AdapterError>>;

    /// `card/pay/refund` (write).
    fn refund<'a>(&'a self, req: &'a Refund) -> BoxFuture<'a, Result<DebitResult, AdapterError>>;

    /// `card/trade/query`: any card write by its `out_trade_no` (a read; retried).
    fn trade_status<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<TradeStatus, AdapterError>>;

    /// `card/recon/daily`
    fn daily_records<'a>(
        &'a self,
        query: &'a DailyRecordsQuery,
    ) -> BoxFuture<'a, Result<DailyRecords, AdapterError>>;
}
