//! The WeChat callback: `GET /wechat` (URL verification) and `POST /wechat` (messages).
//!
//! POST path, in order: timestamp and signature check, replayed (nonce, signature) check,
//! decryption (safe/compatible mode), parse, dedup key (remembered while the request can still
//! be replayed), hand to the user's session, and answer within the budget — the passive reply if
//! it is ready, otherwise "success" at once and the reply later through the pusher.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};

use crate::actors::deliveries::{Begin, Completion, Deliveries, Waited};
use crate::actors::pusher::{Interaction, PusherHandle};
use crate::actors::sessions::Sessions;
use crate::wechat::{CallbackQuery, Codec, Event, InboundBody, InboundMessage, WeChatError};

pub struct CallbackState {
    pub codec: Codec,
    pub sessions: Sessions,
    pub deliveries: Arc<Deliveries>,
    pub pusher: PusherHandle,
    /// Answer every callback within this long.
    pub budget: Duration,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn refuse(e: &WeChatError, kind: &'static str) -> HttpResponse {
    metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "refused")
        .increment(1);
    tracing::info!(reason = e.reason(), "callback refused");
    e.error_response()
}

/// The status of a refused callback, decided here and nowhere else. Authentication failures
/// (signature, stale timestamp, replay, refused plaintext, another account) are 403; anything
/// else the caller sent wrong is 400; a configuration problem on our side is 500. 413 (body too
/// large) is actix's own `PayloadConfig`.
pub fn refusal_status(e: &WeChatError) -> StatusCode {
    match e {
        WeChatError::BadSignature
        | WeChatError::BadMsgSignature
        | WeChatError::StaleTimestamp { .. }
        | WeChatError::PlaintextRefused
        | WeChatError::ReplayedNonce
        | WeChatError::WrongAccount => StatusCode::FORBIDDEN,
        WeChatError::Config(_) => StatusCode::INTERNAL_SERVER_ERROR,
        WeChatError::MissingParam(_)
        | WeChatError::UnsupportedEncryptType
        | WeChatError::BadTimestamp
        | WeChatError::NoAesKey
        | WeChatError::PlaintextInSafeMode
        | WeChatError::Doctype
        | WeChatError::MalformedXml(_)
        | WeChatError::MissingField(_)
        | WeChatError::NotAnOpenId
        | WeChatError::NotUtf8
        | WeChatError::InvalidAesKey(_)
        | WeChatError::Base64(_)
        | WeChatError::CipherLength(_)
        | WeChatError::Padding
        | WeChatError::LengthField
        | WeChatError::AppIdMismatch => StatusCode::BAD_REQUEST,
    }
}

/// The HTTP answer to a callback that is not a genuine, well-formed WeChat callback: the
/// status of [`refusal_status`], the error's short English reason as the body.
impl ResponseError for WeChatError {
    fn status_code(&self) -> StatusCode {
        refusal_status(self)
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .content_type("text/plain; charset=utf-8")
            .body(self.reason())
    }
}

fn parse_query(req: &HttpRequest) -> Result<CallbackQuery, Box<HttpResponse>> {
    web::Query::<CallbackQuery>::from_query(req.query_string())
        .map(|q| q.into_inner())
        .map_err(|_| {
            Box::new(
                HttpResponse::BadRequest()
                    .content_type("text/plain; charset=utf-8")
                    .body("malformed query string"),
            )
        })
}

fn success() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(crate::wechat::reply::SUCCESS)
}

/// GET /wechat: WeChat's URL verification handshake.
pub async fn verify(state: web::Data<CallbackState>, req: HttpRequest) -> HttpResponse {
    let q = match parse_query(&req) {
        Ok(q) => q,
        Err(resp) => return *resp,
    };
    match state.codec.verify_url(&q, now_unix()) {
        Ok(echostr) => {
            metrics::counter!("onecard_callback_requests_total", "kind" => "verify", "outcome" => "ok").increment(1);
            HttpResponse::Ok()
                .content_type("text/plain; charset=utf-8")
                .body(echostr)
        }
        Err(e) => refuse(&e, "verify"),
    }
}

/// Which customer-service window a message opens (WeChat counts menu clicks, follows and scans
/// separately from messages).
fn interaction_of(msg: &InboundMessage) -> Option<Interaction> {
    match &msg.body {
        InboundBody::Event(Event::Click { .. })
        | InboundBody::Event(Event::ScanCode { .. })
        | InboundBody::Event(Event::Subscribe { .. })
        | InboundBody::Event(Event::Scan { .. }) => Some(Interaction::Event),
        InboundBody::Event(_) | InboundBody::Unknown { .. } => None,
        _ => Some(Interaction::Message),
    }
}

/// POST /wechat: one message or event.
pub async fn receive(
    state: web::Data<CallbackState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let started = Instant::now();
    let deadline = started + state.budget;
    let now = now_unix();
    let q = match parse_query(&req) {
        Ok(q) => q,
        Err(resp) => return *resp,
    };
    let opened = match state.codec.open(&q, &body, now) {
        Ok(o) => o,
        Err(e) => return refuse(&e, "message"),
    };
    let kind = opened.message.kind_label();
    let openid = opened.message.from_user.clone();
    if matches!(opened.message.body, InboundBody::Unknown { .. }) {
        metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "ignored").increment(1);
        return success();
    }
    if matches!(opened.message.body, InboundBody::Event(Event::Unsubscribe)) {
        state.pusher.forget(&openid);
    } else if let Some(interaction) = interaction_of(&opened.message) {
        state.pusher.record_interaction(&openid, interaction, now);
    }

    let crate::wechat::Opened {
        message,
        mode,
        token_index,
        replayable_until,
    } = opened;
    let message = Arc::new(message);
    let key = message.dedup_key();
    let replayable_for = Duration::from_secs(replayable_until.saturating_sub(now).max(0) as u64);
    let delivery = match state.deliveries.begin(&key, replayable_for) {
        Begin::New(delivery) => {
            let (sessions, pusher) = (state.sessions.clone(), state.pusher.clone());
            let (d, oid, msg) = (delivery.clone(), openid.clone(), message.clone());
            state.pusher.spawn_work(async move {
                let replies = sessions.replies_for(&oid, msg, now).await;
                let (replies, completion) = d.complete(replies);
                match completion {
                    // Late: the kept message (named by its dedup key) is retired with the push.
                    Completion::PushAll => {
                        pusher.hand_over(&oid, Some(&key), replies.to_vec()).await
                    }
                    Completion::PushRest => {
                        let rest = replies.iter().skip(1).cloned().collect();
                        pusher.hand_over(&oid, None, rest).await
                    }
                }
            });
            delivery
        }
        Begin::Retry(delivery) => delivery,
        // Answered before and past its retries: recognised, not run again.
        Begin::Seen => {
            metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "duplicate").increment(1);
            return success();
        }
    };

    let keep = || state.pusher.keep_job(&openid, &message, now);
    let response = match delivery.wait_or_keep(deadline, keep).await {
        Waited::Ready(replies) => match replies.first() {
            Some(first) => {
                let xml = crate::wechat::reply::passive_xml(
                    message.from_user.as_str(),
                    &message.to_user,
                    now,
                    first,
                );
                let nonce = q.nonce.as_deref().unwrap_or_default();
                metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "replied").increment(1);
                HttpResponse::Ok()
                    .content_type("text/xml; charset=utf-8")
                    .body(state.codec.seal_reply(&mode, token_index, &xml, nonce, now))
            }
            None => {
                metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "no_reply").increment(1);
                success()
            }
        },
        Waited::Late => {
            // The kept message is on disk before WeChat hears "success".
            state.pusher.flush().await;
            metrics::counter!("onecard_callback_deadline_fallbacks_total").increment(1);
            metrics::counter!("onecard_callback_requests_total", "kind" => kind, "outcome" => "late").increment(1);
            success()
        }
    };
    metrics::histogram!("onecard_callback_duration_seconds")
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_403_for_authentication_400_for_garbage_500_for_our_config() {
        let forbidden = [
            WeChatError::BadSignature,
            WeChatError::BadMsgSignature,
            WeChatError::StaleTimestamp {
                skew_secs: 1,
                window_secs: 0,
            },
            WeChatError::PlaintextRefused,
            WeChatError::ReplayedNonce,
            WeChatError::WrongAccount,
        ];
        let bad_request = [
            WeChatError::MissingParam("nonce"),
            WeChatError::UnsupportedEncryptType,
            WeChatError::BadTimestamp,
            WeChatError::PlaintextInSafeMode,
            WeChatError::NoAesKey,
            WeChatError::Doctype,
            WeChatError::MalformedXml("x".into()),
            WeChatError::MissingField("Content"),
            WeChatError::NotAnOpenId,
            WeChatError::NotUtf8,
            WeChatError::InvalidAesKey("x"),
            WeChatError::CipherLength(48),
            WeChatError::Padding,
            WeChatError::LengthField,
            WeChatError::AppIdMismatch,
        ];
        for e in &forbidden {
            assert_eq!(e.status_code(), StatusCode::FORBIDDEN, "{e}");
        }
        for e in &bad_request {
            assert_eq!(e.status_code(), StatusCode::BAD_REQUEST, "{e}");
        }
        assert_eq!(
            WeChatError::Config("x").status_code(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[actix_web::test]
    async fn a_refusal_says_its_reason_in_plain_text() {
        let response = WeChatError::WrongAccount.error_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            response.headers().get("content-type").unwrap(),
            "text/plain; charset=utf-8"
        );
        let body = actix_web::body::to_bytes(response.into_body())
            .await
            .unwrap();
        assert_eq!(&body[..], b"wrong account");
    }
}
