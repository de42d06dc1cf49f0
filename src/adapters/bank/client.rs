//! The bank over HTTP (see [`BankSystem`]): reads retried under the policy, debits and
//! reversals sent once with their key.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{
    BankBinding, BankDebit, BankDebitResult, BankStatement, BankSystem, BankTradeStatus, Reverse,
    ReverseResult, StatementQuery, UPSTREAM,
};
use crate::adapters::AdapterError;
use crate::adapters::transport::{AdapterClient, UpstreamName};
use crate::wire::paths;

/// Marks an [`AdapterClient`] as the bank's.
#[derive(Debug)]
pub enum BankApi {}

impl UpstreamName for BankApi {
    const UPSTREAM: &'static str = UPSTREAM;
}

pub type BankClient = AdapterClient<BankApi>;

// Alike the other adapters' clients by design: see `src/adapters/mod.rs`.
impl BankSystem for BankClient {
    fn binding<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<BankBinding, AdapterError>> {
        self.http
            .read_for_person("binding_get", paths::BANK_BINDING_GET, sno)
            .boxed()
    }

    fn debit<'a>(
        &'a self,
        req: &'a BankDebit,
    ) -> BoxFuture<'a, Result<BankDebitResult, AdapterError>> {
        self.http
            .write("debit", paths::BANK_DEBIT, req, &req.out_trade_no)
            .boxed()
    }

    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<BankTradeStatus, AdapterError>> {
        self.http
            .query_by_key("query", paths::BANK_QUERY, out_trade_no)
            .boxed()
    }

    fn reverse<'a>(
        &'a self,
        req: &'a Reverse,
    ) -> BoxFuture<'a, Result<ReverseResult, AdapterError>> {
        self.http
            .write("reverse", paths::BANK_REVERSE, req, &req.out_trade_no)
            .boxed()
    }

    fn statement<'a>(
        &'a self,
        query: &'a StatementQuery,
    ) -> BoxFuture<'a, Result<BankStatement, AdapterError>> {
        self.http
            .read("statement", paths::BANK_STATEMENT, query)
            .boxed()
    }
}
