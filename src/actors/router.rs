//! The router: from one inbound message (plus the user's session record) to the replies.
//!
//! Order of decisions: unsubscribe forgets the user; a per-user rate limit; a dialog in
//! progress takes the user's next text (unless they cancel or clearly start something else);
//! otherwise the live rule table picks a rule, `requires_binding` is checked, the rule's action
//! runs and its reply template is rendered. Errors of actions become named messages here and
//! only here.
//!
//! It runs as one [`RouterActor`] per arbiter (thread), found through [`RouterHandle`]: a
//! message is routed on the thread it is already on, so there is no cross-thread hop and no
//! single mailbox that every user waits in. The actors share one [`Router`] (the arc-swapped
//! rule table and the actions) and keep no per-user state; per-user order is the caller's.

use std::cell::RefCell;
use std::future::Future;
use std::hash::BuildHasher;
use std::num::NonZeroU32;
use std::sync::Arc;

use actix::prelude::*;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::{Value, json};
use thread_local::ThreadLocal;

use super::session::SessionError;
use crate::actions::{
    ActionError, ActionInput, ActionOutput, ActionRegistry, DialogChange, MoreChange, Services,
};
use crate::domain::OpenId;
use crate::rules::{LiveRules, Matched, RuleTable, Trigger, normalize};
use crate::store::{Dialog, SessionRecord};
use crate::wechat::{Event, InboundBody, InboundMessage, Reply};

/// What the router decided for one message.
#[derive(Debug, Default)]
pub struct Routed {
    pub replies: Vec<Reply>,
    pub record: SessionRecord,
    /// The user unsubscribed: forget everything about them.
    pub forget_user: bool,
}

/// The rule table and the actions, shared by every thread's [`RouterActor`]: pure apart from
/// the per-user rate limit (thread-safe), so sharing it is safe.
pub struct Router {
    rules: LiveRules,
    actions: Arc<ActionRegistry>,
    services: Services,
    dialog_ttl_secs: i64,
    /// Keyed by a hash of the openid: 8 bytes a user instead of a string, and no allocation
    /// per message (two users colliding would share one allowance).
    user_limiter: DefaultKeyedRateLimiter<u64>,
    limiter_keys: std::collections::hash_map::RandomState,
}

impl Router {
    pub fn new(
        rules: LiveRules,
        actions: Arc<ActionRegistry>,
        services: Services,
        dialog_ttl_secs: u64,
        user_burst: u32,
        user_per_minute: u32,
    ) -> Self {
        let per_minute = NonZeroU32::new(user_per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(user_burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Self {
            rules,
            actions,
            services,
            dialog_ttl_secs: dialog_ttl_secs as i64,
            user_limiter: RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst)),
            limiter_keys: Default::default(),
        }
    }

    pub fn rules(&self) -> &LiveRules {
        &self.rules
    }

    /// Forget rate-limiter keys of users who have been quiet (governor never evicts by itself).
    pub fn sweep_limiters(&self) {
        self.user_limiter.retain_recent();
        self.user_limiter.shrink_to_fit();
        metrics::gauge!("onecard_router_limiter_keys").set(self.user_limiter.len() as f64);
    }

    fn local_now(&self, now: i64) -> chrono::NaiveDateTime {
        let offset = chrono::Duration::hours(self.services.utc_offset_hours as i64);
        chrono::DateTime::from_timestamp(now, 0)
            .map(|t| t.naive_utc() + offset)
            .unwrap_or_default()
    }

    pub async fn route(
        &self,
        openid: &OpenId,
        message: &InboundMessage,
        mut record: SessionRecord,
        now: i64,
    ) -> Routed {
        let table = self.rules.current();
        let (trigger_text, trigger) = match &message.body {
            InboundBody::Event(Event::Unsubscribe) => {
                return Routed {
                    forget_user: true,
                    ..Routed::default()
                };
            }
            InboundBody::Text { content, .. } => (content.clone(), None),
            InboundBody::Voice {
                recognition: Some(text),
                ..
            } => (text.clone(), None),
            InboundBody::Event(Event::Click { key }) => {
                (String::new(), Some(TriggerKind::Click(key.clone())))
            }
            InboundBody::Event(Event::ScanCode { key, .. }) => {
                (String::new(), Some(TriggerKind::Click(key.clone())))
            }
            InboundBody::Event(Event::Scan { key, .. }) => {
                (String::new(), Some(TriggerKind::Scan(key.clone())))
            }
            InboundBody::Event(Event::Subscribe { scene, .. }) => {
                (String::new(), Some(TriggerKind::Subscribe(scene.clone())))
            }
            // Events that expect no answer (location reports, page views, job results).
            InboundBody::Event(_) => {
                return Routed {
                    record,
                    ..Routed::default()
                };
            }
            // Pictures, voice without recognition, locations, links: the default reply.
            _ => (String::new(), None),
        };

        if self
            .user_limiter
            .check_key(&self.limiter_keys.hash_one(openid))
            .is_err()
        {
            metrics::counter!("onecard_router_rate_limited_total").increment(1);
            return Routed {
                replies: self.named(&table, "rate.limited", &json!({})),
                record,
                forget_user: false,
            };
        }

        let normalized = normalize(&trigger_text);
        let raw = trigger_text.trim();
        // A picture can answer a dialog's question (the photo of a repair ticket).
        let media_id = match &message.body {
            InboundBody::Image { media_id, .. } => Some(media_id.as_str()),
            _ => None,
        };
        let local = self.local_now(now);
        let owned_trigger = trigger;
        let t = match &owned_trigger {
            // The table normalises it, and cuts captures from it with the user's capitals.
            None => Trigger::Text(&trigger_text),
            Some(TriggerKind::Click(k)) => Trigger::Click(k),
            Some(TriggerKind::Scan(k)) => Trigger::Scan(k),
            Some(TriggerKind::Subscribe(s)) => Trigger::Subscribe {
                scene: s.as_deref(),
            },
        };
        // Not counted yet: a dialog in progress or the default reply's cooldown may still answer
        // instead of the rule.
        let matched = table.peek(&t, local);

        // A dialog in progress takes plain text, unless the user cancels or starts something else.
        if let (Some(dialog), None) = (record.dialog.clone(), &owned_trigger) {
            let expired = now - dialog.started_at > self.dialog_ttl_secs;
            if !expired {
                if table.is_word("cancel", &normalized) {
                    record.dialog = None;
                    return Routed {
                        replies: self.named(&table, "dialog.cancelled", &json!({})),
                        record,
                        forget_user: false,
                    };
                }
                let starts_other = matches!(&matched, Some(m) if !m.is_default);
                if !starts_other {
                    let replies = self
                        .run_action(
                            &table,
                            openid,
                            &dialog.action.clone(),
                            None,
                            &normalized,
                            raw,
                            media_id,
                            &[],
                            Some(&dialog),
                            &mut record,
                            now,
                        )
                        .await;
                    return Routed {
                        replies,
                        record,
                        forget_user: false,
                    };
                }
            }
            record.dialog = None;
        }

        let Some(matched) = matched else {
            return Routed {
                record,
                ..Routed::default()
            };
        };
        if matched.is_default {
            let cooldown = table.default_cooldown().as_secs() as i64;
            if let Some(last) = record.last_default_reply_at
                && now - last < cooldown
            {
                // The full default text answers once per cooldown; later misses still get a
                // one-line pointer to 「帮助」, so nobody is left without an answer.
                return Routed {
                    replies: self.named(&table, "default.hint", &json!({})),
                    record,
                    forget_user: false,
                };
            }
            // Without a cooldown there is nothing to remember (and nothing to write).
            if cooldown > 0 {
                record.last_default_reply_at = Some(now);
            }
        }
        table.count_hit(&matched);
        let replies = match matched.action.clone() {
            Some(action) => {
                self.run_action(
                    &table,
                    openid,
                    &action,
                    Some(&matched),
                    &normalized,
                    raw,
                    media_id,
                    &matched.captures,
                    None,
                    &mut record,
                    now,
                )
                .await
            }
            None if !matched.requires_binding => self.render(&table, &matched, &json!({})),
            // A store that cannot be read is "busy", never "not bound": a bound user must not
            // be told to bind again.
            None => match self.services.store.bindings().get(openid) {
                Ok(Some(_)) => self.render(&table, &matched, &json!({})),
                Ok(None) => self.named(&table, "binding.required", &json!({})),
                Err(e) => {
                    tracing::error!(error = %e, "cannot read binding");
                    self.named(&table, "error.busy", &json!({}))
                }
            },
        };
        Routed {
            replies,
            record,
            forget_user: false,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn run_action(
        &self,
        table: &RuleTable,
        openid: &OpenId,
        action: &str,
        matched: Option<&Matched>,
        text: &str,
        raw: &str,
        media_id: Option<&str>,
        captures: &[String],
        dialog: Option<&Dialog>,
        record: &mut SessionRecord,
        now: i64,
    ) -> Vec<Reply> {
        let Some(def) = self.actions.get(action) else {
            // The validator refuses unknown actions, so this is a stale dialog from an older build.
            record.dialog = None;
            return self.named(table, "error.busy", &json!({}));
        };
        let binding = match self.services.store.bindings().get(openid) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "cannot read binding");
                return self.named(table, "error.busy", &json!({}));
            }
        };
        if matched.is_some_and(|m| m.requires_binding) && binding.is_none() {
            return self.named(table, "binding.required", &json!({}));
        }
        let input = ActionInput {
            openid,
            text,
            raw_text: raw,
            captures,
            media_id,
            dialog,
            more: record.more.as_ref(),
            binding: binding.as_ref(),
            now,
            services: &self.services,
            messages: table,
        };
        let started = std::time::Instant::now();
        let result = (def.run)(input).await;
        metrics::histogram!("onecard_action_duration_seconds", "action" => def.name)
            .record(started.elapsed().as_secs_f64());
        match result {
            Ok(ActionOutput {
                fields,
                message,
                dialog: change,
                more,
            }) => {
                match more {
                    MoreChange::Keep => {}
                    MoreChange::Next(cursor) => record.more = Some(*cursor),
                    MoreChange::Done => record.more = None,
                }
                match change {
                    DialogChange::Keep => {}
                    DialogChange::End => record.dialog = None,
                    DialogChange::Step { step, data } => {
                        let started_at = record
                            .dialog
                            .as_ref()
                            .filter(|d| d.action == def.name)
                            .map(|d| d.started_at)
                            .unwrap_or(now);
                        record.dialog = Some(Dialog {
                            action: def.name.to_owned(),
                            step,
                            data,
                            started_at,
                        });
                    }
                }
                match (message, matched) {
                    (Some(key), _) => self.named(table, key, &fields),
                    (None, Some(m)) => self.render(table, m, &fields),
                    (None, None) => Vec::new(),
                }
            }
            Err(e) => {
                metrics::counter!("onecard_action_errors_total", "action" => def.name).increment(1);
                tracing::warn!(action = def.name, error = %e, "action failed");
                let key = match e {
                    ActionError::Timeout { .. } => "error.timeout",
                    ActionError::NotBound => "binding.required",
                    ActionError::NotConfigured(_) => "error.unavailable",
                    ActionError::Store(_)
                    | ActionError::Upstream { .. }
                    | ActionError::Label(_) => "error.busy",
                };
                self.named(table, key, &json!({}))
            }
        }
    }

    fn render(&self, table: &RuleTable, matched: &Matched, fields: &Value) -> Vec<Reply> {
        match matched.replies.render(fields, &matched.captures) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(rule = %matched.rule_id, error = %e, "reply template failed");
                self.named(table, "error.busy", &json!({}))
            }
        }
    }

    fn named(&self, table: &RuleTable, key: &str, fields: &Value) -> Vec<Reply> {
        vec![Reply::Text(table.say(key, fields))]
    }
}

/// Route one message: what a session (or a user's turn without one) asks of the router actor
/// on its own thread.
pub struct Route {
    pub openid: OpenId,
    pub message: Arc<InboundMessage>,
    pub record: SessionRecord,
    pub now: i64,
}

impl Message for Route {
    type Result = Routed;
}

/// The router actor of one arbiter (thread). Every arbiter that routes messages has its own,
/// all reading the same arc-swapped rule table, so a message never crosses threads to be
/// routed and no single mailbox serialises the platform. It holds no per-user state: routes
/// run concurrently, and per-user order is the caller's (the user's turn or session actor).
pub struct RouterActor {
    router: Arc<Router>,
}

impl Actor for RouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(ROUTER_MAILBOX);
    }
}

impl Handler<Route> for RouterActor {
    type Result = Response<Routed>;

    fn handle(&mut self, msg: Route, _ctx: &mut Self::Context) -> Self::Result {
        let router = self.router.clone();
        let mut routing = Box::pin(async move {
            router
                .route(&msg.openid, &msg.message, msg.record, msg.now)
                .await
        });
        // Most messages are literal keyword replies that never wait: answer those here instead
        // of spawning a task per message. One that waits (an upstream call) is polled to the
        // end on this thread by its own task (a future re-registers its waker at every poll).
        let mut first_poll = std::task::Context::from_waker(futures_util::task::noop_waker_ref());
        match routing.as_mut().poll(&mut first_poll) {
            std::task::Poll::Ready(routed) => Response::reply(routed),
            std::task::Poll::Pending => Response::fut(routing),
        }
    }
}

/// Messages a router actor may have queued before senders wait (they are on the same thread,
/// so the queue drains as soon as they yield).
const ROUTER_MAILBOX: usize = 1024;

/// Finds the router actor of the calling thread, starting it on first use and again after it
/// died. actix's `Supervisor` does not restart an actor that panicked (its mailbox just
/// closes), so this handle is the supervisor, like the adapters' keeper: a closed mailbox is
/// noticed on the next message and a fresh actor started on the same thread.
#[derive(Clone)]
pub struct RouterHandle {
    inner: Arc<RouterPool>,
}

struct RouterPool {
    router: Arc<Router>,
    /// The router actor of each thread that has routed a message.
    local: ThreadLocal<RefCell<Option<Addr<RouterActor>>>>,
}

impl RouterHandle {
    pub fn new(router: Arc<Router>) -> Self {
        Self {
            inner: Arc::new(RouterPool {
                router,
                local: ThreadLocal::new(),
            }),
        }
    }

    pub fn router(&self) -> &Arc<Router> {
        &self.inner.router
    }

    /// This thread's router actor, (re)started if it is not running.
    /// A named message from the live tables, as [`RuleTable::say`]: for answers given outside
    /// a route (a session that failed).
    pub fn say(&self, key: &str) -> String {
        self.inner.router.rules.current().say(key, &json!({}))
    }

    fn local(&self) -> Addr<RouterActor> {
        let mut slot = self.inner.local.get_or_default().borrow_mut();
        match slot.as_ref() {
            Some(addr) if addr.connected() => addr.clone(),
            previous => {
                if previous.is_some() {
                    metrics::counter!("onecard_router_restarts_total").increment(1);
                    tracing::warn!("router actor died; starting a fresh one on this thread");
                }
                let router = self.inner.router.clone();
                let addr = RouterActor { router }.start();
                *slot = Some(addr.clone());
                addr
            }
        }
    }

    /// Route one message through this thread's router actor. No mailbox deadline: the callback
    /// keeps its own (a route that outlives it ends in a push), and actions bound their
    /// upstream calls. A route that dies (a bug in an action panicked) is not run again: it may
    /// have half-run its action.
    pub async fn route(
        &self,
        openid: &OpenId,
        message: Arc<InboundMessage>,
        record: SessionRecord,
        now: i64,
    ) -> Result<Routed, SessionError> {
        let request = Route {
            openid: openid.clone(),
            message,
            record,
            now,
        };
        self.local().send(request).await.map_err(|_| {
            metrics::counter!("onecard_router_failures_total").increment(1);
            SessionError::Router
        })
    }
}

enum TriggerKind {
    Click(String),
    Scan(String),
    Subscribe(Option<String>),
}
