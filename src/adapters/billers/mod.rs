//! The billers adapter (缴费: dorm electricity, network, photo fee, library fines, exam
//! registration, donations): catalog, the electricity location tree, target lookup, payment
//! by key, query by key and the daily statement.
//!
//! Why it exists: after the card e-wallet is debited, the biller must be credited exactly
//! once, and it may accept a payment now and complete it minutes later. It owns the
//! [`Billers`] interface, its HTTP client and its typed handle. It must never re-send a
//! payment except with the same `out_trade_no`, never log a payer or a target (room numbers
//! and student numbers are personal), and never interpret the vendor's free text.

pub mod actor;
pub mod client;

use futures_util::future::BoxFuture;

pub use crate::wire::{
    AmountRule, Biller, BillerCatalog, BillerLookup, BillerPay, BillerPayResult, BillerPayer,
    BillerState, BillerStatement, BillerStatementRow, BillerTarget, Location, Locations,
    LocationsQuery, Receivable, StatementQuery,
};
pub use actor::BillersHandle;
pub use client::BillersClient;

use super::AdapterError;
use super::handle::Upstream;

/// The upstream's name in metrics, logs and the simulators' fault knobs.
pub const UPSTREAM: &str = "billers";

/// What onecard asks of the billers' gateway.
///
/// Alike the other adapters' traits by design: see `src/adapters/mod.rs`.
pub trait Billers: Upstream {
    /// `billers/catalog`: every biller with its amount rules.
    fn catalog(&self) -> BoxFuture<'_, Result<BillerCatalog, AdapterError>>;

    /// `billers/locations` (electricity): one level of campus → building → floor → room.
    fn locations<'a>(
        &'a self,
        query: &'a LocationsQuery,
    ) -> BoxFuture<'a, Result<Locations, AdapterError>>;

    /// `billers/lookup`: what a target (room, account, person, fund) owes or holds now.
    fn lookup<'a>(
        &'a self,
        query: &'a BillerLookup,
    ) -> BoxFuture<'a, Result<BillerTarget, AdapterError>>;

    /// `billers/pay` (write, key `out_trade_no`). `ACCEPTED` completes later: query it.
    fn pay<'a>(
        &'a self,
        req: &'a BillerPay,
    ) -> BoxFuture<'a, Result<BillerPayResult, AdapterError>>;

    /// `billers/query`: a payment by its key (a read; retried). `FAILED` carries the reason
    /// for a refused key, `NOT_FOUND` a key the billers never saw.
    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<BillerPayResult, AdapterError>>;

    /// `billers/statement` of one day (`Rejected 6301` before it is ready).
    fn statement<'a>(
        &'a self,
        query: &'a StatementQuery,
    ) -> BoxFuture<'a, Result<BillerStatement, AdapterError>>;
}
