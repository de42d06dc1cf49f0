//! The SMS adapter's typed handle: `adapters.sms.send(&msg).await?`.

use std::collections::BTreeMap;

use super::client::SmsApi;
use super::{SmsPlatform, SmsSend, SmsSendResult, SmsStatus, SmsStatusQuery};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// The typed handle to the SMS platform. Cheap to clone.
pub type SmsHandle = AdapterHandle<dyn SmsPlatform>;

/// Start the SMS adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<SmsHandle, AdapterError> {
    SmsHandle::start_client::<SmsApi>(cfg, |client| client)
}

// Alike the other adapters' handles by design: see `src/adapters/mod.rs`.
impl AdapterHandle<dyn SmsPlatform> {
    /// Send a templated message (write: sent once; after a timeout ask [`Self::status_of`]).
    pub async fn send(&self, req: &SmsSend) -> Result<SmsSendResult, AdapterError> {
        self.write_with(req.clone(), SmsPlatform::send).await
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
        self.read_with(query.clone(), SmsPlatform::status).await
    }

    /// Delivery status of the message sent with `out_id`.
    pub async fn status_of(&self, out_id: &str) -> Result<SmsStatus, AdapterError> {
        self.status(&SmsStatusQuery {
            biz_id: None,
            out_id: Some(out_id.to_owned()),
        })
        .await
    }
}
