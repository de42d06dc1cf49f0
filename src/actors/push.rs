//! The news push worker: works through the push jobs in the store (`store::push`) until every
//! recipient has an outcome, within WeChat's limits, across restarts.
//!
//! One task on its own thread takes the oldest open job and advances it a step at a time:
//! - **resolving**: the recipients are the bound users whose card record matches the item's
//!   audience; they are added as `pending` (adding again after a restart adds only who is
//!   missing).
//! - **template** pushes go in batches: every recipient of the batch is marked `sending` (with
//!   the moment and the job's `client_msg_id`) and the marks are flushed *before* any request
//!   leaves; each answer is then recorded (`sent`, `failed`, or back to `pending` when WeChat
//!   refused for a limit) and flushed.
//! - **mass** sends (群发) tag the recipients (unless the audience is everyone) and make one
//!   `sendall` call with the job's `clientmsgid`.
//!
//! **The rule for an unknown outcome.** A recipient found `sending` (the process stopped, or
//! the request timed out, between the mark and the answer) is sent again only while WeChat
//! still deduplicates the retry: template messages with the same `client_msg_id` to the same
//! openid within 10 minutes are delivered once (docs/wechat-protocol.md §8.4). We retry within
//! [`RESEND_WITHIN_SECS`] of the first attempt, a minute short of WeChat's horizon; after that
//! the recipient is recorded `unknown` and not sent again. A user may then miss a news item,
//! but nobody gets it twice. A mass send's `clientmsgid` makes its repeat safe at any time
//! (45065 names the first send).
//!
//! WeChat's limits: sends are paced by `push.per_second` (governor); a refusal for a limit
//! (45009 quota or frequency, 45011 per-minute, 45047 customer-service count, -1 busy) puts the
//! job to sleep for a back-off that doubles up to `push.backoff_max_ms`, and the refused
//! recipients stay `pending`. A refusal for good (43004 unfollowed, 40003 bad openid) is that
//! recipient's outcome. Users who said 「退订新闻」 are skipped by template pushes.
//!
//! It never sends anything that is not a recorded job, and never holds recipients only in
//! memory: stopping the worker at any point loses nothing.

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_rt::ArbiterHandle;
use futures_util::StreamExt;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::Notify;

use super::token_keeper::TokenKeeperHandle;
use crate::domain::OpenId;
use crate::rules::{LiveRules, RuleTable};
use crate::settings::PushSettings;
use crate::store::{
    Audience, ContentError, ContentItem, ContentState, Delivery, DeliveryCounts, JobState,
    MassSend, PushChannel, PushJob, Store, StoreError,
};
use crate::wechat::api::{ApiClient, ApiError, MassAudience, TAGGING_BATCH, TemplateMessage};

/// A recipient left `sending` is sent again (same `client_msg_id`) only this soon after the
/// first attempt: WeChat deduplicates for 10 minutes; a minute is kept for clock skew.
pub const RESEND_WITHIN_SECS: i64 = 9 * 60;
/// With nothing to do, look at the jobs again this often (a wake-up comes sooner).
const IDLE: Duration = Duration::from_secs(30);
/// Card records read at once while resolving an audience.
const LOOKUPS_IN_FLIGHT: usize = 8;

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Why a push could not be started.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("no content item `{0}`")]
    NotFound(String),
    #[error("`{id}` is {state}: only published items are pushed")]
    NotPublished { id: String, state: &'static str },
    #[error("template pushes need `push.template_id` in the settings (or push with --push mass)")]
    NoTemplate,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<ContentError> for PushError {
    fn from(e: ContentError) -> Self {
        match e {
            ContentError::NotFound(id) => Self::NotFound(id),
            ContentError::Store(s) => Self::Store(s),
            other => Self::Store(StoreError::Engine(other.to_string())),
        }
    }
}

/// Record a push job for a published item; the worker (now, or at the next start) runs it.
/// The caller flushes.
pub fn create_job(
    store: &Store,
    settings: &PushSettings,
    content_id: &str,
    channel: PushChannel,
    now: i64,
) -> Result<PushJob, PushError> {
    let item = store
        .content()
        .get(content_id)?
        .ok_or_else(|| PushError::NotFound(content_id.to_owned()))?;
    if item.state != ContentState::Published {
        return Err(PushError::NotPublished {
            id: item.id,
            state: item.state.as_str(),
        });
    }
    if channel == PushChannel::Template && settings.template_id.is_empty() {
        return Err(PushError::NoTemplate);
    }
    let job =
        store
            .push()
            .create_job(&item.id, &item.title, channel, item.audience.clone(), now)?;
    tracing::info!(job = job.id, content = %item.id, channel = channel.as_str(), audience = %item.audience, "push job created");
    metrics::counter!("onecard_push_jobs_created_total", "channel" => channel.as_str())
        .increment(1);
    Ok(job)
}

/// A job and how its recipients stand, as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobReport {
    #[serde(flatten)]
    pub job: PushJob,
    pub counts: DeliveryCounts,
}

/// Every job with its counts, oldest first.
pub fn reports(store: &Store) -> Result<Vec<JobReport>, StoreError> {
    let push = store.push();
    push.jobs()?
        .into_iter()
        .map(|job| {
            let counts = push.counts(job.id)?;
            Ok(JobReport { job, counts })
        })
        .collect()
}

struct Inner {
    store: Store,
    api: ApiClient,
    tokens: TokenKeeperHandle,
    rules: LiveRules,
    /// Card records decide who is a student, staff, or in a college; `None` = only
    /// `everyone` items can be pushed.
    adapters: Option<crate::adapters::Adapters>,
    settings: PushSettings,
    public_url: String,
    utc_offset_hours: i32,
    limiter: DefaultDirectRateLimiter,
    wake: Notify,
}

/// The handle: wake the worker after creating a job. Cheap to clone.
#[derive(Clone)]
pub struct PushHandle {
    inner: Arc<Inner>,
}

/// What the worker needs; built by `startup`.
pub struct PushDeps {
    pub store: Store,
    pub api: ApiClient,
    pub tokens: TokenKeeperHandle,
    pub rules: LiveRules,
    pub adapters: Option<crate::adapters::Adapters>,
    pub settings: PushSettings,
    pub public_url: String,
    pub utc_offset_hours: i32,
}

impl PushHandle {
    /// Start the worker on `arbiter` (its own thread). Open jobs resume at once.
    pub fn start(deps: PushDeps, arbiter: &ArbiterHandle) -> Self {
        let per_second =
            NonZeroU32::new(deps.settings.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let inner = Arc::new(Inner {
            limiter: RateLimiter::direct(Quota::per_second(per_second)),
            store: deps.store,
            api: deps.api,
            tokens: deps.tokens,
            rules: deps.rules,
            adapters: deps.adapters,
            settings: deps.settings,
            public_url: deps.public_url,
            utc_offset_hours: deps.utc_offset_hours,
            wake: Notify::new(),
        });
        let worker = inner.clone();
        arbiter.spawn(supervise(worker));
        Self { inner }
    }

    /// Record a job for `content_id` and start on it.
    pub async fn push(&self, content_id: &str, channel: PushChannel) -> Result<PushJob, PushError> {
        let inner = &self.inner;
        let job = create_job(
            &inner.store,
            &inner.settings,
            content_id,
            channel,
            now_unix(),
        )?;
        inner.store.flush().await?;
        self.wake();
        Ok(job)
    }

    /// Look at the jobs now (one was created elsewhere).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    pub fn settings(&self) -> &PushSettings {
        &self.inner.settings
    }
}

/// Run the worker; if it ever panics, log it and start it again (the store has its place).
async fn supervise(inner: Arc<Inner>) {
    loop {
        let run = actix_rt::spawn(run(inner.clone()));
        match run.await {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, "push worker stopped; restarting it");
                metrics::counter!("onecard_actor_restarts_total", "actor" => "push").increment(1);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Per-job memory of the worker: where the last batch ended, and the current refusal streak.
#[derive(Default)]
struct Progress {
    cursor: Option<OpenId>,
    streak: u32,
}

async fn run(inner: Arc<Inner>) {
    let mut progress: HashMap<u64, Progress> = HashMap::new();
    loop {
        let now = now_unix();
        let open: Vec<PushJob> = match inner.store.push().jobs() {
            Ok(jobs) => jobs.into_iter().filter(|j| j.state.is_open()).collect(),
            Err(e) => {
                tracing::error!(error = %e, "cannot read push jobs");
                Vec::new()
            }
        };
        if let Some(job) = open.iter().find(|j| j.not_before <= now) {
            let p = progress.entry(job.id).or_default();
            if let Err(e) = step(&inner, job.clone(), p).await {
                // A store failure: nothing was sent that is not recorded; try again shortly.
                tracing::error!(job = job.id, error = %e, "push step failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            continue;
        }
        progress.retain(|id, _| open.iter().any(|j| j.id == *id));
        let wait = open
            .iter()
            .map(|j| Duration::from_secs(u64::try_from(j.not_before - now).unwrap_or(0)))
            .min()
            .unwrap_or(IDLE)
            .min(IDLE);
        tokio::select! {
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(wait) => {}
        }
    }
}

async fn step(inner: &Inner, mut job: PushJob, p: &mut Progress) -> Result<(), StoreError> {
    let item = match inner.store.content().get(&job.content_id) {
        Ok(Some(item)) if item.state == ContentState::Published => item,
        Ok(_) => {
            return finish(
                inner,
                &mut job,
                JobState::Failed,
                Some("the item was withdrawn or removed: the rest is not sent".into()),
            )
            .await;
        }
        Err(ContentError::Store(e)) => return Err(e),
        Err(e) => return Err(StoreError::Engine(e.to_string())),
    };
    match (job.state, job.channel) {
        (JobState::Resolving, _) => resolve(inner, job, p).await,
        (JobState::Sending, PushChannel::Template) => send_batch(inner, job, &item, p).await,
        (JobState::Sending, PushChannel::Mass) => send_mass(inner, job, &item, p).await,
        (JobState::Done | JobState::Failed, _) => Ok(()),
    }
}

async fn finish(
    inner: &Inner,
    job: &mut PushJob,
    state: JobState,
    error: Option<String>,
) -> Result<(), StoreError> {
    job.state = state;
    job.finished_at = Some(now_unix());
    if error.is_some() {
        job.last_error = error;
    }
    inner.store.push().save_job(job)?;
    inner.store.flush().await?;
    let counts = inner.store.push().counts(job.id)?;
    tracing::info!(
        job = job.id,
        state = state.as_str(),
        sent = counts.sent,
        failed = counts.failed,
        unsubscribed = counts.unsubscribed,
        unknown = counts.unknown,
        "push job finished"
    );
    metrics::counter!("onecard_push_jobs_finished_total", "state" => state.as_str()).increment(1);
    Ok(())
}

/// A limit refusal: sleep the job, longer each time in a row.
async fn back_off(
    inner: &Inner,
    job: &mut PushJob,
    p: &mut Progress,
    why: String,
) -> Result<(), StoreError> {
    let s = &inner.settings;
    let factor = 1u64 << p.streak.min(20);
    let wait_ms = s
        .backoff_initial_ms
        .saturating_mul(factor)
        .min(s.backoff_max_ms)
        .max(1);
    p.streak += 1;
    p.cursor = None;
    job.backoffs += 1;
    job.not_before = now_unix() + i64::try_from(wait_ms.div_ceil(1000)).unwrap_or(i64::MAX);
    tracing::warn!(job = job.id, wait_ms, reason = %why, "WeChat refused for a limit: push backs off");
    metrics::counter!("onecard_push_backoffs_total").increment(1);
    job.last_error = Some(why);
    inner.store.push().save_job(job)?;
    inner.store.flush().await?;
    // Sub-second waits: `not_before` has whole seconds, so wait here for the rest.
    if wait_ms < 1000 {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        job.not_before = 0;
        inner.store.push().save_job(job)?;
    }
    Ok(())
}

async fn resolve(inner: &Inner, mut job: PushJob, p: &mut Progress) -> Result<(), StoreError> {
    let everyone_by_mass = job.channel == PushChannel::Mass && job.audience == Audience::Everyone;
    if !everyone_by_mass {
        let bound = inner.store.bindings().openids()?;
        let recipients = match matching(inner, &job.audience, bound).await {
            Ok(r) => r,
            Err(why) => return back_off(inner, &mut job, p, why).await,
        };
        let push = inner.store.push();
        push.add_recipients(job.id, &recipients)?;
        let c = push.counts(job.id)?;
        job.recipients = c.pending + c.sending + c.sent + c.unsubscribed + c.failed + c.unknown;
    }
    job.state = JobState::Sending;
    p.streak = 0;
    inner.store.push().save_job(&job)?;
    inner.store.flush().await?;
    tracing::info!(
        job = job.id,
        recipients = job.recipients,
        "push audience resolved"
    );
    Ok(())
}

/// The bound users in `audience`. Everyone needs no card record; the others need every
/// record read, and a failure to read one retries the whole resolution later (leaving
/// someone out silently would be worse than a late push).
async fn matching(
    inner: &Inner,
    audience: &Audience,
    bound: Vec<OpenId>,
) -> Result<Vec<OpenId>, String> {
    if *audience == Audience::Everyone {
        return Ok(bound);
    }
    let adapters = inner.adapters.clone().ok_or_else(|| {
        "no card system configured: only `everyone` items can be pushed".to_owned()
    })?;
    let store = inner.store.clone();
    let checks = futures_util::stream::iter(bound)
        .map(|openid| {
            let (adapters, store) = (adapters.clone(), store.clone());
            async move {
                let binding = match store.bindings().get(&openid) {
                    Ok(Some(b)) => b,
                    Ok(None) => return Ok(None),
                    Err(e) => return Err(e.to_string()),
                };
                let account = adapters
                    .card
                    .primary_account(&binding.student_id)
                    .await
                    .map_err(|e| format!("card record unreadable: {e}"))?;
                Ok(crate::actions::reader_of(&account)
                    .sees(audience)
                    .then_some(openid))
            }
        })
        .buffer_unordered(LOOKUPS_IN_FLIGHT)
        .collect::<Vec<Result<Option<OpenId>, String>>>()
        .await;
    let mut out = Vec::new();
    for c in checks {
        if let Some(openid) = c? {
            out.push(openid);
        }
    }
    Ok(out)
}

/// How one template send ended, for the recipient's record and the job.
enum Answer {
    Sent(u64),
    /// Refused for good: this recipient's outcome.
    Refused(i64),
    /// Refused for a limit or a problem of ours: not sent, try later.
    Later(String),
    /// May or may not have arrived: stays `sending`.
    InDoubt(String),
}

fn classify(result: Result<u64, ApiError>) -> Answer {
    match result {
        Ok(msgid) => Answer::Sent(msgid),
        Err(e) => match e.errcode() {
            // unfollowed, bad openid, blacklisted, refused the messages
            Some(code @ (43004 | 40003 | 43019 | 43101)) => Answer::Refused(code),
            Some(_) => Answer::Later(e.to_string()),
            None => match e {
                ApiError::Unavailable(_) | ApiError::Config(_) => Answer::Later(e.to_string()),
                _ => Answer::InDoubt(e.to_string()),
            },
        },
    }
}

/// The job's `client_msg_id`: the same for every recipient (WeChat keys it with the openid).
fn client_msg_id(job: &PushJob) -> String {
    format!("onecard-push-{}", job.id)
}

async fn send_batch(
    inner: &Inner,
    mut job: PushJob,
    item: &ContentItem,
    p: &mut Progress,
) -> Result<(), StoreError> {
    let push = inner.store.push();
    let batch = push.open_deliveries(job.id, p.cursor.as_ref(), inner.settings.batch.max(1))?;
    let Some((last, _)) = batch.last() else {
        if p.cursor.take().is_some() {
            // Reached the end: look once more from the start (refused ones went back to pending).
            return Ok(());
        }
        return finish(inner, &mut job, JobState::Done, None).await;
    };
    p.cursor = Some(last.clone());
    let now = now_unix();
    let cmid = client_msg_id(&job);
    let mut marks = Vec::new();
    let mut to_send = Vec::new();
    for (openid, delivery) in batch {
        match delivery {
            Delivery::Pending => {
                if push.news_subscribed(&openid)? {
                    marks.push((
                        openid.clone(),
                        Delivery::Sending {
                            attempt_at: now,
                            client_msg_id: cmid.clone(),
                        },
                    ));
                    to_send.push((openid, now));
                } else {
                    marks.push((openid, Delivery::Unsubscribed));
                }
            }
            Delivery::Sending { attempt_at, .. } if now - attempt_at < RESEND_WITHIN_SECS => {
                to_send.push((openid, attempt_at));
            }
            Delivery::Sending { attempt_at, .. } => {
                tracing::warn!(job = job.id, user = %openid.log_tag(), "push outcome unknown beyond the dedup window: not sent again");
                marks.push((openid, Delivery::Unknown { attempt_at }));
            }
            _ => {}
        }
    }
    push.record(job.id, &marks)?;
    inner.store.flush().await?;

    let message = |openid: &OpenId| TemplateMessage {
        touser: openid.as_str().to_owned(),
        template_id: inner.settings.template_id.clone(),
        url: Some(item.page_url(&inner.public_url)),
        client_msg_id: Some(cmid.clone()),
        data: template_data(&inner.settings, item, inner.utc_offset_hours),
    };
    let answers = futures_util::stream::iter(to_send)
        .map(|(openid, attempt_at)| {
            let msg = message(&openid);
            async move {
                inner.limiter.until_ready().await;
                let result = inner
                    .tokens
                    .call(|token| {
                        let msg = msg.clone();
                        async move { inner.api.send_template(&token, &msg).await }
                    })
                    .await;
                (openid, attempt_at, classify(result))
            }
        })
        .buffer_unordered(inner.settings.concurrency.max(1))
        .collect::<Vec<_>>()
        .await;

    let at = now_unix();
    let mut outcomes = Vec::new();
    let mut limited: Option<String> = None;
    let mut sent = 0u64;
    for (openid, _attempt_at, answer) in answers {
        match answer {
            Answer::Sent(msgid) => {
                sent += 1;
                outcomes.push((openid, Delivery::Sent { msgid, at }));
            }
            Answer::Refused(errcode) => outcomes.push((openid, Delivery::Failed { errcode, at })),
            Answer::Later(why) => {
                outcomes.push((openid, Delivery::Pending));
                limited.get_or_insert(why);
            }
            Answer::InDoubt(why) => {
                limited.get_or_insert(why);
            }
        }
    }
    push.record(job.id, &outcomes)?;
    inner.store.flush().await?;
    metrics::counter!("onecard_push_sent_total", "channel" => "template").increment(sent);
    match limited {
        Some(why) => back_off(inner, &mut job, p, why).await,
        None => {
            p.streak = 0;
            Ok(())
        }
    }
}

fn template_data(
    settings: &PushSettings,
    item: &ContentItem,
    utc_offset_hours: i32,
) -> BTreeMap<String, String> {
    settings
        .template_fields
        .iter()
        .map(|(key, field)| (key.clone(), item.field(*field, utc_offset_hours)))
        .collect()
}

/// The tag a mass send to `audience` goes to: the message table's `push.tag.students` or
/// `push.tag.staff`, or the college's name; cut to the 30 bytes WeChat allows.
fn tag_name(table: &RuleTable, audience: &Audience) -> Result<Option<String>, String> {
    let named = |key: &str| {
        table
            .message(key, &serde_json::json!({}))
            .map(|name| name.trim().to_owned())
            .map_err(|e| format!("{key} failed to render: {e}"))
    };
    let name = match audience {
        Audience::Everyone => return Ok(None),
        Audience::Students => named("push.tag.students")?,
        Audience::Staff => named("push.tag.staff")?,
        Audience::College(name) => name.clone(),
    };
    let mut cut = name.len().min(30);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    Ok(Some(name[..cut].to_owned()))
}

async fn send_mass(
    inner: &Inner,
    mut job: PushJob,
    item: &ContentItem,
    p: &mut Progress,
) -> Result<(), StoreError> {
    let mut mass = job.mass.clone().unwrap_or_else(|| MassSend {
        tag_id: None,
        client_msg_id: client_msg_id(&job),
        msg_id: None,
    });
    // 1. The audience's tag, and every recipient tagged (tagging twice is harmless).
    let tag = match tag_name(&inner.rules.current(), &job.audience) {
        Ok(tag) => tag,
        Err(why) => return back_off(inner, &mut job, p, why).await,
    };
    if let Some(name) = tag {
        if mass.tag_id.is_none() {
            match find_or_create_tag(inner, &name).await {
                Ok(id) => {
                    mass.tag_id = Some(id);
                    job.mass = Some(mass.clone());
                    inner.store.push().save_job(&job)?;
                }
                Err(why) => return back_off(inner, &mut job, p, why).await,
            }
        }
        let tag_id = mass.tag_id.unwrap_or_default();
        if tag_pending(inner, &mut job, tag_id, p).await? {
            return Ok(());
        }
    }
    // 2. One send, repeatable thanks to its clientmsgid.
    let content = mass_text(inner, item);
    let audience = mass.tag_id.map_or(MassAudience::All, MassAudience::Tag);
    let result = inner
        .tokens
        .call(|token| {
            let (content, cmid) = (content.clone(), mass.client_msg_id.clone());
            async move {
                inner
                    .api
                    .mass_send_text(&token, audience, &content, &cmid)
                    .await
            }
        })
        .await;
    match result {
        Ok(msg_id) => {
            mass.msg_id = Some(msg_id);
            job.mass = Some(mass);
            let push = inner.store.push();
            let tagged: Vec<(OpenId, Delivery)> = push
                .open_deliveries(job.id, None, usize::MAX)?
                .into_iter()
                .map(|(o, _)| {
                    (
                        o,
                        Delivery::Sent {
                            msgid: msg_id,
                            at: now_unix(),
                        },
                    )
                })
                .collect();
            push.record(job.id, &tagged)?;
            metrics::counter!("onecard_push_sent_total", "channel" => "mass").increment(1);
            finish(inner, &mut job, JobState::Done, None).await
        }
        Err(e) if e.errcode() == Some(45028) => {
            job.mass = Some(mass);
            finish(
                inner,
                &mut job,
                JobState::Failed,
                Some(format!("no mass-send quota left: {e}")),
            )
            .await
        }
        Err(e) => back_off(inner, &mut job, p, e.to_string()).await,
    }
}

/// Tag one batch of pending recipients (marking them `sending`: in the mass send). Returns
/// whether there was a batch (the caller comes back for the next).
async fn tag_pending(
    inner: &Inner,
    job: &mut PushJob,
    tag_id: u64,
    p: &mut Progress,
) -> Result<bool, StoreError> {
    let push = inner.store.push();
    let open = push.open_deliveries(job.id, p.cursor.as_ref(), usize::MAX)?;
    let mut batch = Vec::new();
    let mut skipped = Vec::new();
    let mut last = None;
    for (openid, delivery) in open {
        last = Some(openid.clone());
        if delivery != Delivery::Pending {
            continue;
        }
        if push.news_subscribed(&openid)? {
            batch.push(openid);
        } else {
            skipped.push((openid, Delivery::Unsubscribed));
        }
        if batch.len() >= TAGGING_BATCH {
            break;
        }
    }
    push.record(job.id, &skipped)?;
    if batch.is_empty() {
        p.cursor = None;
        return Ok(false);
    }
    let ids: Vec<&str> = batch.iter().map(OpenId::as_str).collect();
    let result = inner
        .tokens
        .call(|token| {
            let ids = ids.clone();
            async move { inner.api.tag_users(&token, tag_id, &ids).await }
        })
        .await;
    match result {
        Ok(()) => {
            let at = now_unix();
            let marks: Vec<(OpenId, Delivery)> = batch
                .into_iter()
                .map(|o| {
                    (
                        o,
                        Delivery::Sending {
                            attempt_at: at,
                            client_msg_id: client_msg_id(job),
                        },
                    )
                })
                .collect();
            push.record(job.id, &marks)?;
            inner.store.flush().await?;
            p.cursor = last;
            p.streak = 0;
        }
        Err(e) => back_off(inner, job, p, e.to_string()).await?,
    }
    Ok(true)
}

async fn find_or_create_tag(inner: &Inner, name: &str) -> Result<u64, String> {
    let tags = inner
        .tokens
        .call(|token| async move { inner.api.tags(&token).await })
        .await
        .map_err(|e| e.to_string())?;
    if let Some(tag) = tags.iter().find(|t| t.name == name) {
        return Ok(tag.id);
    }
    inner
        .tokens
        .call(|token| async move { inner.api.create_tag(&token, name).await })
        .await
        .map(|t| t.id)
        .map_err(|e| e.to_string())
}

fn mass_text(inner: &Inner, item: &ContentItem) -> String {
    let fields = serde_json::json!({
        "category": item.category.as_str(),
        "title": item.title,
        "summary": item.summary,
        "url": item.page_url(&inner.public_url),
    });
    inner
        .rules
        .current()
        .message("push.mass_text", &fields)
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "push.mass_text failed to render; sending the title and link");
            format!("{}\n{}", item.title, item.page_url(&inner.public_url))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_wait_refusals_stick_and_lost_answers_stay_in_doubt() {
        let platform = |errcode| {
            Err(ApiError::Platform {
                errcode,
                errmsg: "x".into(),
            })
        };
        assert!(matches!(classify(Ok(7)), Answer::Sent(7)));
        assert!(matches!(classify(platform(43004)), Answer::Refused(43004)));
        for limit in [45009, 45011, 45047, -1, 40037] {
            assert!(
                matches!(classify(platform(limit)), Answer::Later(_)),
                "{limit}"
            );
        }
        assert!(matches!(
            classify(Err(ApiError::Decode("cut".into()))),
            Answer::InDoubt(_)
        ));
    }

    #[test]
    fn audience_tags_come_from_the_message_tables_and_fit_wechat_name_limit() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/rules");
        let table =
            crate::rules::load_dir(&dir, &crate::actions::ActionRegistry::builtin()).unwrap();
        assert_eq!(tag_name(&table, &Audience::Everyone), Ok(None));
        for (audience, key) in [
            (Audience::Students, "push.tag.students"),
            (Audience::Staff, "push.tag.staff"),
        ] {
            let configured = table.message(key, &serde_json::json!({})).unwrap();
            assert_eq!(tag_name(&table, &audience), Ok(Some(configured)));
        }
        let long = Audience::College("马克思主义学院继续教育与培训中心".into());
        let name = tag_name(&table, &long).unwrap().unwrap();
        assert_eq!(name, "马克思主义学院继续教");
        assert_eq!(name.len(), 30);
    }
}
