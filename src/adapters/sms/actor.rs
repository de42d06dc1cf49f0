//! The SMS adapter's actor and typed handle: `adapters.sms.send(&msg).await?`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::{SmsClient, SmsPlatform, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery, UPSTREAM};
use crate::adapters::events::Health;
use crate::adapters::policy::Policy;
use crate::adapters::supervise::{Builder, Kept, boxed, start_on_own_arbiter};
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// The typed handle to the SMS platform. Cheap to clone.
#[derive(Clone)]
pub struct SmsHandle {
    kept: Kept<Box<dyn SmsPlatform>>,
}

impl std::fmt::Debug for SmsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsHandle")
            .field("restarts", &self.kept.restarts())
            .finish()
    }
}

/// Start the SMS adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<SmsHandle, AdapterError> {
    let policy = Arc::new(Policy::new(UPSTREAM, cfg));
    SmsClient::new(cfg, Arc::clone(&policy))?;
    let deadline = policy.worst_case() + Duration::from_millis(500);
    let cfg = cfg.clone();
    let builder: Builder<Box<dyn SmsPlatform>> = Arc::new(move || {
        SmsClient::new(&cfg, Arc::clone(&policy)).map(|c| Box::new(c) as Box<dyn SmsPlatform>)
    });
    SmsHandle::start_with(builder, deadline)
}

impl SmsHandle {
    /// Run any [`SmsPlatform`] (a fake in tests) behind the actor, keeper and deadline.
    pub fn start_with(
        builder: Builder<Box<dyn SmsPlatform>>,
        deadline: Duration,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            kept: start_on_own_arbiter(UPSTREAM, builder, deadline)?,
        })
    }

    /// Send a templated message (write: sent once; after a timeout ask [`Self::status_of`]).
    pub async fn send(&self, req: &SmsSend) -> Result<SmsSendResult, AdapterError> {
        let req = req.clone();
        self.kept
            .invoke(false, move |c: Arc<Box<dyn SmsPlatform>>| {
                let req = req.clone();
                boxed(async move { c.send(&req).await })
            })
            .await
    }

    /// Send a template to the phone on file of `sno` (the platform resolves the number).
    pub async fn send_to_sno(
        &self,
        sno: &StudentId,
        sign: &str,
        template_id: &str,
        params: BTreeMap<String, String>,
        out_id: &str,
    ) -> Result<SmsSendResult, AdapterError> {
        self.send(&SmsSend {
            phone: None,
            sno: Some(sno.as_str().to_owned()),
            sign: sign.to_owned(),
            template_id: template_id.to_owned(),
            params,
            out_id: out_id.to_owned(),
        })
        .await
    }

    pub async fn status(&self, query: &SmsStatusQuery) -> Result<SmsStatus, AdapterError> {
        let query = query.clone();
        self.kept
            .invoke(true, move |c: Arc<Box<dyn SmsPlatform>>| {
                let query = query.clone();
                boxed(async move { c.status(&query).await })
            })
            .await
    }

    /// Delivery status of the message sent with `out_id`.
    pub async fn status_of(&self, out_id: &str) -> Result<SmsStatus, AdapterError> {
        self.status(&SmsStatusQuery {
            biz_id: None,
            out_id: Some(out_id.to_owned()),
        })
        .await
    }

    pub async fn health(&self) -> Health {
        let r = self
            .kept
            .invoke(true, |c: Arc<Box<dyn SmsPlatform>>| {
                boxed(async move { Ok(c.health().await) })
            })
            .await;
        r.unwrap_or_else(|e| Health {
            upstream: UPSTREAM,
            ok: false,
            breaker: "unknown",
            detail: e.outcome().to_owned(),
            latency_ms: 0,
        })
    }

    pub fn restarts(&self) -> u64 {
        self.kept.restarts()
    }

    pub fn stop(&self) {
        self.kept.stop();
    }
}
