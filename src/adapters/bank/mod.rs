//! The bank adapter (银校转账): a person's bound bank card, the debit that funds a campus-card
//! load, query by key, reversal (冲正) and the daily statement.
//!
//! Why it exists: top-up starts with money leaving a student's bank account; that call is
//! the one most likely to have an unknown outcome (the bank committed, the answer was lost).
//! It owns the [`BankSystem`] interface, its HTTP client and its typed handle. It must never
//! re-send a debit or a reversal except with the same `out_trade_no` (so a retry cannot
//! debit twice), never log a bank card number, a holder name or a student number, and never
//! decide what an unknown outcome means: after a timeout the caller asks
//! [`BankSystem::query`] by the key.

pub mod actor;
pub mod client;

use futures_util::future::BoxFuture;

pub use crate::wire::{
    BankBinding, BankDebit, BankDebitResult, BankStatement, BankStatementRow, BankTradeStatus,
    Reverse, ReverseResult, ReverseState, StatementQuery, TradeState,
};
pub use actor::BankHandle;
pub use client::BankClient;

use super::AdapterError;
use super::handle::Upstream;

/// The upstream's name in metrics, logs and the simulators' fault knobs.
pub const UPSTREAM: &str = "bank";

/// The only `purpose` the bank accepts on a debit: funding a campus-card load.
pub const PURPOSE_CAMPUS_CARD_LOAD: &str = "campus_card_load";

/// What onecard asks of the bank.
///
/// Alike the other adapters' traits by design: see `src/adapters/mod.rs`.
pub trait BankSystem: Upstream {
    /// `bank/binding/get`: the bank card bound to `sno` (masked); `Rejected 5001` if none.
    fn binding<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<BankBinding, AdapterError>>;

    /// `bank/debit` (write, key `out_trade_no`). `PROCESSING` means 未决: query again later.
    fn debit<'a>(
        &'a self,
        req: &'a BankDebit,
    ) -> BoxFuture<'a, Result<BankDebitResult, AdapterError>>;

    /// `bank/query`: a debit by its key (a read; retried). `FAILED` for a refused key,
    /// `NOT_FOUND` for a key the bank never saw.
    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<BankTradeStatus, AdapterError>>;

    /// `bank/reverse` (write, 冲正, key `out_trade_no`; the debit is `orig_out_trade_no`).
    /// Idempotent: an unknown or failed debit answers `NOTHING_TO_REVERSE`.
    fn reverse<'a>(
        &'a self,
        req: &'a Reverse,
    ) -> BoxFuture<'a, Result<ReverseResult, AdapterError>>;

    /// `bank/statement` of one bank day (`Rejected 5301` before it is ready).
    fn statement<'a>(
        &'a self,
        query: &'a StatementQuery,
    ) -> BoxFuture<'a, Result<BankStatement, AdapterError>>;
}
