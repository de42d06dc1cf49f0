//! Late messages left without a result by the last run (the process stopped between answering
//! "success" and handing the result to the pusher): run them again at start-up, and push what
//! they produce.
//!
//! Running a message again is what WeChat itself does when a callback goes unanswered, so the
//! actions already have to tolerate a repeat (money through its persisted order states). If the
//! stop came after the action finished but before its replies were stored, the message runs a
//! second time, from whatever state the session had saved.

use std::sync::Arc;

use super::pusher::PusherHandle;
use super::sessions::Sessions;
use crate::wechat::InboundMessage;

/// Run every unfinished late message again, then push every reply the last run kept as due.
pub fn resume(sessions: &Sessions, pusher: &PusherHandle) {
    let jobs = match pusher.unfinished_jobs() {
        Ok(jobs) => jobs,
        Err(e) => {
            tracing::error!(error = %e, "cannot read unfinished late messages");
            Vec::new()
        }
    };
    if !jobs.is_empty() {
        tracing::info!(
            jobs = jobs.len(),
            "running late messages the last run did not finish"
        );
    }
    for job in jobs {
        metrics::counter!("onecard_pusher_resumed_jobs_total").increment(1);
        let (sessions, pusher) = (sessions.clone(), pusher.clone());
        match InboundMessage::parse(job.message.as_bytes()) {
            Ok(message) => pusher.clone().spawn_work(async move {
                let replies = sessions
                    .replies_for(&job.openid, Arc::new(message), job.received_at)
                    .await;
                pusher.hand_over(&job.openid, Some(&job.key), replies).await;
            }),
            Err(e) => {
                // Written by us from a parsed message, so this is a damaged record: it can
                // never run, and keeping it would retry it at every start.
                tracing::error!(user = %job.openid.log_tag(), error = %e, "unreadable late message dropped");
                pusher.clone().spawn_work(async move {
                    pusher
                        .hand_over(&job.openid, Some(&job.key), Vec::new())
                        .await;
                });
            }
        }
    }
    pusher.resume_due();
}
