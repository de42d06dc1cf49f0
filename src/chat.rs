//! Playing the WeChat platform against a callback: what `onecard chat`, `onecard doctor` and
//! the integration tests use to talk to `/wechat` exactly as WeChat would — signed, encrypted
//! in safe mode, with unique MsgIds — and to read what the platform pushed afterwards.
//!
//! When the target serves the WeChat simulator (`/sim/wechat`), every delivery is also reported
//! to it as a user interaction, because the real platform knows when a user last wrote and
//! opens the customer-service window accordingly.

use std::time::Duration;

use rand::Rng;
use serde_json::Value;

use crate::domain::OpenId;
use crate::wechat::platform::Platform;
use crate::wechat::{Event, InboundBody, InboundMessage, Reply};

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("cannot reach {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("the callback answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("the callback's reply is not valid: {0}")]
    Reply(String),
}

/// How long a kept-alive connection may sit idle and still be reused: well under the 5 s
/// after which actix-web (the platform's listeners) closes an idle one, so that no request goes
/// out on a connection the server is closing at that moment (the request fails with
/// "connection closed before message completed").
pub const REUSE_IDLE_CONNECTIONS_FOR: Duration = Duration::from_secs(2);

/// One exchange with the callback.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub status: u16,
    /// Raw HTTP body as received.
    pub body: String,
    /// The passive reply, decrypted and parsed; None for "success" / empty.
    pub reply: Option<Reply>,
}

pub struct WeChatClient {
    http: reqwest::Client,
    base_url: String,
    callback_url: String,
    platform: Platform,
    safe: bool,
    /// Our account's original id (`gh_…`), the ToUserName of inbound messages.
    account: String,
    report_to_sim: bool,
}

impl WeChatClient {
    /// `base_url` is the server root (`http://127.0.0.1:8080`); the callback is `/wechat`.
    pub fn new(
        base_url: &str,
        token: &str,
        encoding_aes_key: Option<&str>,
        app_id: &str,
        safe: bool,
    ) -> Result<Self, ChatError> {
        let platform = Platform::new(token, encoding_aes_key, app_id)
            .map_err(|e| ChatError::Reply(e.to_string()))?;
        let http = crate::tls::client_builder()
            .timeout(Duration::from_secs(30))
            .pool_idle_timeout(REUSE_IDLE_CONNECTIONS_FOR)
            .build()
            .map_err(http_error(base_url))?;
        let base_url = base_url.trim_end_matches('/').to_owned();
        Ok(Self {
            http,
            callback_url: format!("{base_url}/wechat"),
            base_url,
            platform,
            safe,
            account: "gh_onecard0demo".into(),
            report_to_sim: true,
        })
    }

    /// Don't report interactions to `/sim/wechat` (the target has no simulator).
    pub fn without_sim(mut self) -> Self {
        self.report_to_sim = false;
        self
    }

    /// Address messages to this account (its original id, `gh_…`) instead of the demo's.
    pub fn with_account(mut self, original_id: &str) -> Self {
        if !original_id.is_empty() {
            self.account = original_id.to_owned();
        }
        self
    }

    /// Post to this exact callback URL instead of `{base_url}/wechat`.
    pub fn with_callback_url(mut self, url: &str) -> Self {
        self.callback_url = url.to_owned();
        self
    }

    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// A message from `openid` as WeChat would build it.
    ///
    /// # Panics
    /// If `openid` is not an OpenID: WeChat never sends one, so this client cannot either
    /// (`onecard chat` checks its `--openid` before it gets here; tests pass their own ids).
    pub fn message(&self, openid: &str, body: InboundBody) -> InboundMessage {
        let from_user = OpenId::parse(openid)
            .unwrap_or_else(|_| panic!("{openid:?} is not an OpenID: WeChat never sends one"));
        InboundMessage {
            to_user: self.account.clone(),
            from_user,
            create_time: chrono::Utc::now().timestamp(),
            body,
        }
    }

    pub fn text_message(&self, openid: &str, content: &str) -> InboundMessage {
        self.message(
            openid,
            InboundBody::Text {
                content: content.to_owned(),
                msg_id: rand::rng().random_range(1u64 << 60..u64::MAX),
            },
        )
    }

    pub fn event_message(&self, openid: &str, event: Event) -> InboundMessage {
        self.message(openid, InboundBody::Event(event))
    }

    /// Send a text message and return the exchange.
    pub async fn text(&self, openid: &str, content: &str) -> Result<Exchange, ChatError> {
        let msg = self.text_message(openid, content);
        self.send(&msg).await
    }

    pub async fn event(&self, openid: &str, event: Event) -> Result<Exchange, ChatError> {
        let msg = self.event_message(openid, event);
        self.send(&msg).await
    }

    /// Deliver one message as WeChat does (one attempt).
    pub async fn send(&self, msg: &InboundMessage) -> Result<Exchange, ChatError> {
        if self.report_to_sim {
            self.report_interaction(msg).await;
        }
        self.deliver(msg).await
    }

    /// One delivery attempt of an already-built message (retries reuse the same message).
    pub async fn deliver(&self, msg: &InboundMessage) -> Result<Exchange, ChatError> {
        let now = chrono::Utc::now().timestamp();
        let nonce = rand::rng()
            .random_range(100_000_000u64..999_999_999)
            .to_string();
        let (query, body) = self.platform.seal_inbound(
            &msg.to_xml(),
            self.safe,
            now,
            &nonce,
            msg.from_user.as_str(),
        );
        let url = format!("{}?{}", self.callback_url, query);
        let resp = self
            .http
            .post(&url)
            .header("content-type", "text/xml")
            .body(body)
            .send()
            .await
            .map_err(http_error(&url))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(http_error(&url))?;
        if status != 200 {
            return Ok(Exchange {
                status,
                body,
                reply: None,
            });
        }
        let reply = match self
            .platform
            .open_reply(&body)
            .map_err(|e| ChatError::Reply(e.to_string()))?
        {
            Some(xml) => Some(
                crate::wechat::reply::parse_passive(&xml)
                    .map_err(|e| ChatError::Reply(e.to_string()))?
                    .1,
            ),
            None => None,
        };
        Ok(Exchange {
            status,
            body,
            reply,
        })
    }

    async fn report_interaction(&self, msg: &InboundMessage) {
        let kind = match &msg.body {
            InboundBody::Event(Event::Click { .. })
            | InboundBody::Event(Event::ScanCode { .. }) => "click",
            InboundBody::Event(Event::Subscribe { .. }) => "subscribe",
            InboundBody::Event(Event::Scan { .. }) => "scan",
            InboundBody::Event(_) | InboundBody::Unknown { .. } => return,
            _ => "message",
        };
        let url = format!("{}/sim/wechat/interactions", self.base_url);
        let body =
            serde_json::json!({ "openid": msg.from_user, "kind": kind, "at": msg.create_time });
        // Best effort: a deployment without the simulator simply has no such route.
        let _ = self.http.post(&url).json(&body).send().await;
    }

    /// Messages the platform pushed to `openid` (simulator only), oldest first.
    pub async fn outbox(&self, openid: &str) -> Result<Vec<Value>, ChatError> {
        let url = format!("{}/sim/wechat/outbox?openid={openid}", self.base_url);
        let resp = self.http.get(&url).send().await.map_err(http_error(&url))?;
        resp.json().await.map_err(http_error(&url))
    }
}

/// The error for a request to `url` that got no (readable) answer.
fn http_error(url: &str) -> impl FnOnce(reqwest::Error) -> ChatError + '_ {
    move |source| ChatError::Http {
        url: url.to_owned(),
        source,
    }
}

/// The text of a pushed message as the simulator recorded it (custom text, news title, or
/// template content).
pub fn pushed_text(msg: &Value) -> String {
    if let Some(t) = msg.pointer("/text/content").and_then(Value::as_str) {
        return t.to_owned();
    }
    if let Some(t) = msg
        .pointer("/news/articles/0/title")
        .and_then(Value::as_str)
    {
        return t.to_owned();
    }
    if let Some(t) = msg.pointer("/data/content/value").and_then(Value::as_str) {
        return t.to_owned();
    }
    msg.to_string()
}
