//! The bank over HTTP (see [`BankSystem`]): reads retried under the policy, debits and
//! reversals sent once with their key.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{
    BankBinding, BankDebit, BankDebitResult, BankStatement, BankSystem, BankTradeStatus, Reverse,
    ReverseResult, StatementQuery, UPSTREAM,
};
use crate::adapters::events::Health;
use crate::adapters::handle::Upstream;
use crate::adapters::policy::Policy;
use crate::adapters::transport::UpstreamClient;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::wire::{self, paths};

#[derive(Debug)]
pub struct BankClient {
    http: UpstreamClient,
}

impl BankClient {
    pub fn new(cfg: &UpstreamConfig, policy: Arc<Policy>) -> Result<Self, AdapterError> {
        Ok(Self {
            http: UpstreamClient::new(UPSTREAM, cfg, policy)?,
        })
    }
}

impl BankSystem for BankClient {
    fn binding<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<BankBinding, AdapterError>> {
        async move {
            let req = wire::PersonRef {
                sno: sno.to_owned(),
            };
            self.http
                .read("binding_get", paths::BANK_BINDING_GET, &req)
                .await
        }
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
        async move {
            let req = wire::TradeQuery {
                out_trade_no: out_trade_no.to_owned(),
            };
            self.http.read("query", paths::BANK_QUERY, &req).await
        }
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

impl Upstream for BankClient {
    fn health(&self) -> BoxFuture<'_, Health> {
        self.http.health().boxed()
    }
}
