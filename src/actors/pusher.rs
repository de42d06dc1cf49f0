//! Pusher: delivers replies that could not go out as the passive reply — results that missed
//! the callback budget, and the second and later replies of a rule that sends several.
//!
//! WeChat only accepts customer-service messages inside a window opened by the user: 5
//! messages within 48 h after the user sends a message, 3 within 1 minute after a menu click,
//! a follow or a scan ([`ServiceWindows`] tracks both per user, fed by the callback). A push
//! the window does not allow, or that WeChat refuses (45015 / 45047), is never dropped: it goes
//! out as a template message where one is configured, otherwise it is stored (flushed to disk)
//! and delivered as soon as the user writes again.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use actix::prelude::*;

use super::token_keeper::TokenKeeperHandle;
use crate::domain::OpenId;
use crate::store::Store;
use crate::wechat::Reply;
use crate::wechat::api::{ApiClient, ApiError, CustomMessage, TemplateMessage};

const MESSAGE_WINDOW_SECS: i64 = 48 * 3600;
const MESSAGE_QUOTA: u32 = 5;
const EVENT_WINDOW_SECS: i64 = 60;
const EVENT_QUOTA: u32 = 3;

/// What the user did that opens a customer-service window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    Message,
    /// Menu click (click / scancode types), follow or scan.
    Event,
}

#[derive(Debug, Default, Clone)]
struct Window {
    message_at: Option<i64>,
    sent_since_message: u32,
    event_at: Option<i64>,
    sent_since_event: u32,
}

/// Per-user customer-service windows and quotas, as WeChat counts them.
#[derive(Clone, Default)]
pub struct ServiceWindows {
    inner: Arc<Mutex<HashMap<OpenId, Window>>>,
}

impl ServiceWindows {
    pub fn record(&self, openid: &OpenId, kind: Interaction, at: i64) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let w = map.entry(openid.clone()).or_default();
        match kind {
            Interaction::Message => {
                w.message_at = Some(at);
                w.sent_since_message = 0;
            }
            Interaction::Event => {
                w.event_at = Some(at);
                w.sent_since_event = 0;
            }
        }
    }

    /// Take one push from the user's quota if a window allows it.
    pub fn try_consume(&self, openid: &OpenId, now: i64) -> bool {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let Some(w) = map.get_mut(openid) else {
            return false;
        };
        if let Some(at) = w.message_at
            && now - at < MESSAGE_WINDOW_SECS
            && w.sent_since_message < MESSAGE_QUOTA
        {
            w.sent_since_message += 1;
            return true;
        }
        if let Some(at) = w.event_at
            && now - at < EVENT_WINDOW_SECS
            && w.sent_since_event < EVENT_QUOTA
        {
            w.sent_since_event += 1;
            return true;
        }
        false
    }

    /// Forget users whose windows have all closed (bounded memory).
    pub fn sweep(&self, now: i64) {
        let mut map = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| {
            w.message_at
                .is_some_and(|at| now - at < MESSAGE_WINDOW_SECS)
        });
        metrics::gauge!("onecard_pusher_windows").set(map.len() as f64);
    }

    pub fn forget(&self, openid: &OpenId) {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(openid);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Push {
    openid: OpenId,
    replies: Vec<Reply>,
}

#[derive(Message)]
#[rtype(result = "()")]
struct FlushPending {
    openid: OpenId,
}

struct Pusher {
    api: ApiClient,
    tokens: TokenKeeperHandle,
    store: Store,
    windows: ServiceWindows,
    pending: Arc<Mutex<HashSet<OpenId>>>,
    template_id: Option<String>,
}

/// How one push attempt ended.
enum Sent {
    Custom,
    Template,
    Kept,
}

async fn deliver_one(
    api: &ApiClient,
    tokens: &TokenKeeperHandle,
    windows: &ServiceWindows,
    template_id: Option<&str>,
    openid: &OpenId,
    reply: &Reply,
) -> Sent {
    let now = chrono::Utc::now().timestamp();
    if windows.try_consume(openid, now) {
        let msg = CustomMessage::from_reply(openid.as_str(), reply);
        match tokens
            .call(|t| {
                let api = api.clone();
                let msg = msg.clone();
                async move { api.send_custom(&t, &msg).await }
            })
            .await
        {
            Ok(()) => return Sent::Custom,
            Err(e) => {
                tracing::warn!(user = %openid.log_tag(), errcode = ?e.errcode(), error = %e, "customer-service push refused");
            }
        }
    }
    if let Some(template_id) = template_id {
        let content = match reply {
            Reply::Text(t) => t.clone(),
            Reply::News(a) => format!("{}\n{}", a.title, a.description),
        };
        let msg = TemplateMessage {
            touser: openid.as_str().to_owned(),
            template_id: template_id.to_owned(),
            url: None,
            client_msg_id: None,
            data: [("content".to_owned(), content)].into_iter().collect(),
        };
        let sent: Result<u64, ApiError> = tokens
            .call(|t| {
                let api = api.clone();
                let msg = msg.clone();
                async move { api.send_template(&t, &msg).await }
            })
            .await;
        match sent {
            Ok(_) => return Sent::Template,
            Err(e) => {
                tracing::warn!(user = %openid.log_tag(), error = %e, "template fallback refused")
            }
        }
    }
    Sent::Kept
}

impl Pusher {
    fn send_all(&mut self, openid: OpenId, replies: Vec<Reply>) -> ResponseActFuture<Self, ()> {
        let api = self.api.clone();
        let tokens = self.tokens.clone();
        let windows = self.windows.clone();
        let store = self.store.clone();
        let pending = self.pending.clone();
        let template_id = self.template_id.clone();
        Box::pin(
            async move {
                let mut kept = Vec::new();
                for reply in &replies {
                    // Once one is kept, keep the rest too so the user sees them in order.
                    if !kept.is_empty() {
                        kept.push(reply.clone());
                        continue;
                    }
                    match deliver_one(&api, &tokens, &windows, template_id.as_deref(), &openid, reply).await {
                        Sent::Custom => metrics::counter!("onecard_pusher_sent_total", "via" => "custom").increment(1),
                        Sent::Template => metrics::counter!("onecard_pusher_sent_total", "via" => "template").increment(1),
                        Sent::Kept => kept.push(reply.clone()),
                    }
                }
                if !kept.is_empty() {
                    let now = chrono::Utc::now().timestamp();
                    let stored = store.outbox().push(&openid, &kept, now);
                    let flushed = store.flush().await;
                    match (stored, flushed) {
                        (Ok(()), Ok(())) => {
                            metrics::counter!("onecard_pusher_kept_total").increment(kept.len() as u64);
                            pending.lock().unwrap_or_else(|p| p.into_inner()).insert(openid.clone());
                            tracing::info!(user = %openid.log_tag(), kept = kept.len(), "replies kept for the user's next message");
                        }
                        (Err(e), _) | (_, Err(e)) => {
                            tracing::error!(user = %openid.log_tag(), error = %e, "cannot keep undeliverable replies");
                        }
                    }
                }
            }
            .into_actor(self),
        )
    }
}

impl Actor for Pusher {
    type Context = Context<Self>;
    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
    }
}

impl Handler<Push> for Pusher {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, msg: Push, _: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(self.send_all(msg.openid, msg.replies))
    }
}

impl Handler<FlushPending> for Pusher {
    type Result = AtomicResponse<Self, ()>;
    fn handle(&mut self, msg: FlushPending, _: &mut Self::Context) -> Self::Result {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&msg.openid);
        let replies: Vec<Reply> = match self.store.outbox().take_all(&msg.openid) {
            Ok(items) => items.into_iter().map(|p| p.reply.into()).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read kept replies");
                Vec::new()
            }
        };
        AtomicResponse::new(self.send_all(msg.openid, replies))
    }
}

/// The handle the callback uses.
#[derive(Clone)]
pub struct PusherHandle {
    addr: Addr<Pusher>,
    windows: ServiceWindows,
    pending: Arc<Mutex<HashSet<OpenId>>>,
}

impl PusherHandle {
    pub fn start(
        api: ApiClient,
        tokens: TokenKeeperHandle,
        store: Store,
        template_id: Option<String>,
    ) -> Self {
        let windows = ServiceWindows::default();
        let pending: HashSet<OpenId> = store
            .outbox()
            .users_with_pending()
            .unwrap_or_default()
            .into_iter()
            .collect();
        let pending = Arc::new(Mutex::new(pending));
        let addr = Pusher {
            api,
            tokens,
            store,
            windows: windows.clone(),
            pending: pending.clone(),
            template_id,
        }
        .start();
        Self {
            addr,
            windows,
            pending,
        }
    }

    pub fn windows(&self) -> &ServiceWindows {
        &self.windows
    }

    /// The user did something that opens a window; a message also releases kept replies.
    pub fn record_interaction(&self, openid: &OpenId, kind: Interaction, at: i64) {
        self.windows.record(openid, kind, at);
        if kind == Interaction::Message
            && self
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(openid)
        {
            self.addr.do_send(FlushPending {
                openid: openid.clone(),
            });
        }
    }

    /// Queue replies for pushing. Uses the bounded mailbox; if it is full (rare: a burst of late
    /// replies) the push is queued past the bound rather than dropped.
    pub fn push(&self, openid: &OpenId, replies: Vec<Reply>) {
        if replies.is_empty() {
            return;
        }
        if let Err(e) = self.addr.try_send(Push {
            openid: openid.clone(),
            replies,
        }) {
            let msg = match e {
                SendError::Full(m) | SendError::Closed(m) => m,
            };
            tracing::warn!(user = %openid.log_tag(), "pusher busy; keeping replies for the next message");
            self.addr.do_send(msg);
        }
    }

    pub fn forget(&self, openid: &OpenId) {
        self.windows.forget(openid);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(openid);
    }
}
