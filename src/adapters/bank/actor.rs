//! The bank adapter's typed handle: `adapters.bank.debit(&req).await?`. Debits and reversals
//! are writes (sent once); binding, query and statement are reads.

use super::client::BankApi;
use super::{
    BankBinding, BankDebit, BankDebitResult, BankStatement, BankSystem, BankTradeStatus, Reverse,
    ReverseResult, StatementQuery,
};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// The typed handle to the bank. Cheap to clone.
pub type BankHandle = AdapterHandle<dyn BankSystem>;

/// Start the bank adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<BankHandle, AdapterError> {
    BankHandle::start_client::<BankApi>(cfg, |client| client)
}

// Alike the other adapters' handles by design: see `src/adapters/mod.rs`.
impl AdapterHandle<dyn BankSystem> {
    /// The bank card bound to this person (masked); `Rejected 5001` when none is bound.
    pub async fn binding(&self, sno: &StudentId) -> Result<BankBinding, AdapterError> {
        self.read_with(sno.as_str().to_owned(), BankSystem::binding)
            .await
    }

    /// Sent once. After `Timeout` or `Unavailable` the outcome is unknown: [`Self::query`].
    pub async fn debit(&self, req: &BankDebit) -> Result<BankDebitResult, AdapterError> {
        self.write_with(req.clone(), BankSystem::debit).await
    }

    pub async fn query(&self, out_trade_no: &str) -> Result<BankTradeStatus, AdapterError> {
        self.read_with(out_trade_no.to_owned(), BankSystem::query)
            .await
    }

    /// 冲正: sent once; safe to send again with the same key when its answer was lost.
    pub async fn reverse(&self, req: &Reverse) -> Result<ReverseResult, AdapterError> {
        self.write_with(req.clone(), BankSystem::reverse).await
    }

    pub async fn statement(&self, query: &StatementQuery) -> Result<BankStatement, AdapterError> {
        self.read_with(query.clone(), BankSystem::statement).await
    }
}
