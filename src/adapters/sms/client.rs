//! The SMS platform over HTTP (see [`SmsPlatform`]).

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{SmsPlatform, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery, UPSTREAM};
use crate::adapters::events::Health;
use crate::adapters::handle::Upstream;
use crate::adapters::policy::Policy;
use crate::adapters::transport::UpstreamClient;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::wire::paths;

#[derive(Debug)]
pub struct SmsClient {
    http: UpstreamClient,
}

impl SmsClient {
    pub fn new(cfg: &UpstreamConfig, policy: Arc<Policy>) -> Result<Self, AdapterError> {
        Ok(Self {
            http: UpstreamClient::new(UPSTREAM, cfg, policy)?,
        })
    }
}

impl SmsPlatform for SmsClient {
    fn send<'a>(&'a self, req: &'a SmsSend) -> BoxFuture<'a, Result<SmsSendResult, AdapterError>> {
        async move {
            if req.phone.is_some() == req.sno.is_some() {
                return Err(AdapterError::Protocol(
                    "sms_send: exactly one of phone and sno".to_owned(),
                ));
            }
            self.http
                .write("sms_send", paths::SMS_SEND, req, &req.out_id)
                .await
        }
        .boxed()
    }

    fn status<'a>(
        &'a self,
        query: &'a SmsStatusQuery,
    ) -> BoxFuture<'a, Result<SmsStatus, AdapterError>> {
        self.http
            .read("sms_status", paths::SMS_STATUS, query)
            .boxed()
    }
}

impl Upstream for SmsClient {
    fn health(&self) -> BoxFuture<'_, Health> {
        self.http.health().boxed()
    }
}
