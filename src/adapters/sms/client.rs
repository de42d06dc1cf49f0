//! The SMS platform over HTTP (see [`SmsPlatform`]).

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{SmsPlatform, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery, UPSTREAM};
use crate::adapters::AdapterError;
use crate::adapters::transport::{AdapterClient, UpstreamName};
use crate::wire::paths;

/// Marks an [`AdapterClient`] as the SMS platform's.
#[derive(Debug)]
pub enum SmsApi {}

impl UpstreamName for SmsApi {
    const UPSTREAM: &'static str = UPSTREAM;
}

pub type SmsClient = AdapterClient<SmsApi>;

// Alike the other adapters' clients by design: see `src/adapters/mod.rs`.
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
