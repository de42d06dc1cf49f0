//! The billers' gateway over HTTP (see [`Billers`]): reads retried under the policy,
//! payments sent once with their key.

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{
    BillerCatalog, BillerLookup, BillerPay, BillerPayResult, BillerStatement, BillerTarget,
    Billers, Locations, LocationsQuery, StatementQuery, UPSTREAM,
};
use crate::adapters::AdapterError;
use crate::adapters::transport::{AdapterClient, UpstreamName};
use crate::wire::paths;

/// Marks an [`AdapterClient`] as the billers' gateway's.
#[derive(Debug)]
pub enum BillersApi {}

impl UpstreamName for BillersApi {
    const UPSTREAM: &'static str = UPSTREAM;
}

pub type BillersClient = AdapterClient<BillersApi>;

// Alike the other adapters' clients by design: see `src/adapters/mod.rs`.
impl Billers for BillersClient {
    fn catalog(&self) -> BoxFuture<'_, Result<BillerCatalog, AdapterError>> {
        async move {
            self.http
                .read("catalog", paths::BILLERS_CATALOG, &serde_json::json!({}))
                .await
        }
        .boxed()
    }

    fn locations<'a>(
        &'a self,
        query: &'a LocationsQuery,
    ) -> BoxFuture<'a, Result<Locations, AdapterError>> {
        self.http
            .read("locations", paths::BILLERS_LOCATIONS, query)
            .boxed()
    }

    fn lookup<'a>(
        &'a self,
        query: &'a BillerLookup,
    ) -> BoxFuture<'a, Result<BillerTarget, AdapterError>> {
        self.http
            .read("lookup", paths::BILLERS_LOOKUP, query)
            .boxed()
    }

    fn pay<'a>(
        &'a self,
        req: &'a BillerPay,
    ) -> BoxFuture<'a, Result<BillerPayResult, AdapterError>> {
        self.http
            .write("pay", paths::BILLERS_PAY, req, &req.out_trade_no)
            .boxed()
    }

    fn query<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<BillerPayResult, AdapterError>> {
        self.http
            .query_by_key("query", paths::BILLERS_QUERY, out_trade_no)
            .boxed()
    }

    fn statement<'a>(
        &'a self,
        query: &'a StatementQuery,
    ) -> BoxFuture<'a, Result<BillerStatement, AdapterError>> {
        self.http
            .read("statement", paths::BILLERS_STATEMENT, query)
            .boxed()
    }
}
