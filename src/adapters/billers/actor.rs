//! The billers adapter's typed handle: `adapters.billers.pay(&req).await?`. Payments are
//! writes (sent once); catalog, locations, lookup, query and statement are reads.

use std::sync::Arc;

use super::client::BillersApi;
use super::{
    BillerCatalog, BillerLookup, BillerPay, BillerPayResult, BillerStatement, BillerTarget,
    Billers, Locations, LocationsQuery, StatementQuery,
};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::supervise::boxed;
use crate::adapters::{AdapterError, UpstreamConfig};

/// The typed handle to the billers' gateway. Cheap to clone.
pub type BillersHandle = AdapterHandle<dyn Billers>;

/// Start the billers adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<BillersHandle, AdapterError> {
    BillersHandle::start_client::<BillersApi>(cfg, |client| client)
}

type Gateway = Arc<Box<dyn Billers>>;

// Alike the other adapters' handles by design: see `src/adapters/mod.rs`.
impl AdapterHandle<dyn Billers> {
    pub async fn catalog(&self) -> Result<BillerCatalog, AdapterError> {
        self.read((), |c: Gateway, ()| boxed(async move { c.catalog().await }))
            .await
    }

    pub async fn locations(&self, query: &LocationsQuery) -> Result<Locations, AdapterError> {
        self.read_with(query.clone(), Billers::locations).await
    }

    /// What `target` (a room id, a student number, a fund) holds or owes at `biller_id`.
    pub async fn lookup(
        &self,
        biller_id: &str,
        target: &str,
    ) -> Result<BillerTarget, AdapterError> {
        let query = BillerLookup {
            biller_id: biller_id.to_owned(),
            target: target.to_owned(),
        };
        self.read_with(query, Billers::lookup).await
    }

    /// Sent once. After `Timeout` or `Unavailable` the outcome is unknown: [`Self::query`].
    pub async fn pay(&self, req: &BillerPay) -> Result<BillerPayResult, AdapterError> {
        self.write_with(req.clone(), Billers::pay).await
    }

    pub async fn query(&self, out_trade_no: &str) -> Result<BillerPayResult, AdapterError> {
        self.read_with(out_trade_no.to_owned(), Billers::query)
            .await
    }

    pub async fn statement(&self, query: &StatementQuery) -> Result<BillerStatement, AdapterError> {
        self.read_with(query.clone(), Billers::statement).await
    }
}
