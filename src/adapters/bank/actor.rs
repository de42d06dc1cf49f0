//! The bank adapter's typed handle: `adapters.bank.debit(&req).await?`. Debits and reversals
//! are writes (sent once); binding, query and statement are reads.

use std::sync::Arc;

use super::{
    BankBinding, BankClient, BankDebit, BankDebitResult, BankStatement, BankSystem,
    BankTradeStatus, Reverse, ReverseResult, StatementQuery, UPSTREAM,
};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::supervise::boxed;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// The typed handle to the bank. Cheap to clone.
pub type BankHandle = AdapterHandle<dyn BankSystem>;

/// Start the bank adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<BankHandle, AdapterError> {
    BankHandle::start(UPSTREAM, cfg, |cfg, policy| {
        BankClient::new(cfg, policy).map(|c| Box::new(c) as Box<dyn BankSystem>)
    })
}

type Bank = Arc<Box<dyn BankSystem>>;

impl AdapterHandle<dyn BankSystem> {
    /// The bank card bound to this person (masked); `Rejected 5001` when none is bound.
    pub async fn binding(&self, sno: &StudentId) -> Result<BankBinding, AdapterError> {
        self.read(sno.as_str().to_owned(), |c: Bank, sno| {
            boxed(async move { c.binding(&sno).await })
        })
        .await
    }

    /// Sent once. After `Timeout` or `Unavailable` the outcome is unknown: [`Self::query`].
    pub async fn debit(&self, req: &BankDebit) -> Result<BankDebitResult, AdapterError> {
        self.write(req.clone(), |c: Bank, req| {
            boxed(async move { c.debit(&req).await })
        })
        .await
    }

    pub async fn query(&self, out_trade_no: &str) -> Result<BankTradeStatus, AdapterError> {
        self.read(out_trade_no.to_owned(), |c: Bank, key| {
            boxed(async move { c.query(&key).await })
        })
        .await
    }

    /// 冲正: sent once; safe to send again with the same key when its answer was lost.
    pub async fn reverse(&self, req: &Reverse) -> Result<ReverseResult, AdapterError> {
        self.write(req.clone(), |c: Bank, req| {
            boxed(async move { c.reverse(&req).await })
        })
        .await
    }

    pub async fn statement(&self, query: &StatementQuery) -> Result<BankStatement, AdapterError> {
        self.read(query.clone(), |c: Bank, query| {
            boxed(async move { c.statement(&query).await })
        })
        .await
    }
}
