//! The service desk's side of repair tickets: list, show, reply, move — what `onecard tickets`
//! does through the admin listener while the server runs.
//!
//! Every change is checked by the ticket's one transition function, written to the audit trail
//! with the operator's name, flushed, and only then told to the reporter: the update is queued
//! like any alert (`actors::alerts::TicketUpdates`: not when the reporter switched ticket
//! updates off in 「提醒设置」 or already had today's `alerts.daily_caps.ticket_updates`), and
//! the pusher sends it as a customer-service message inside the 48 h window and as the
//! configured template message otherwise (held for the user's next message when there is
//! none). The sentence is `repair.update` in the rule files. The answer says what became of
//! the update (`reporter_update`); the ticket itself changed either way, and 「我的报修」 shows it.

use serde_json::{Value, json};

use crate::actors::alerts::{ReporterUpdate, TicketUpdates};
use crate::domain::OpenId;
use crate::rules::LiveRules;
use crate::store::{Change, Photo, Store, StoreError, Ticket, TicketError, TicketState};
use crate::wechat::Reply;

/// Longest operator reply (it goes to the user as one message).
const NOTE_MAX_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("no ticket {0}")]
    NotFound(String),
    #[error("{0}")]
    BadInput(String),
    #[error("{0}")]
    Refused(TicketError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TicketError> for DeskError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::NotFound(no) => Self::NotFound(no),
            TicketError::Store(s) => Self::Store(s),
            other @ (TicketError::BadMove { .. }
            | TicketError::WindowClosed(_)
            | TicketError::NotYours(_)) => Self::Refused(other),
        }
    }
}

/// What the desk needs: the store, the rule files' sentences and the way updates reach the
/// reporter. Cheap to clone.
#[derive(Clone)]
pub struct TicketDesk {
    store: Store,
    rules: LiveRules,
    updates: TicketUpdates,
}

impl TicketDesk {
    pub fn new(store: Store, rules: LiveRules, updates: TicketUpdates) -> Self {
        Self {
            store,
            rules,
            updates,
        }
    }

    /// Tickets, oldest first; only those in `state` if given.
    pub fn list(&self, state: Option<TicketState>) -> Result<Vec<Value>, DeskError> {
        Ok(self
            .store
            .tickets()
            .all()?
            .iter()
            .filter(|t| state.is_none_or(|s| t.state == s))
            .map(|t| {
                json!({
                    "no": t.no,
                    "state": t.state.as_str(),
                    "category": t.category.as_str(),
                    "place": t.place,
                    "created_at": t.created_at,
                    "updated_at": t.updated_at,
                    "photo": t.photo.is_some(),
                })
            })
            .collect())
    }

    /// One ticket with its history (the reporter shown by a log tag, never the openid).
    pub fn show(&self, no: &str) -> Result<Value, DeskError> {
        let t = self.get(no)?;
        Ok(view(&t))
    }

    pub fn photo(&self, no: &str) -> Result<Photo, DeskError> {
        self.store
            .tickets()
            .photo(no)?
            .ok_or_else(|| DeskError::NotFound(format!("{no} (photo)")))
    }

    /// An operator's reply without a state change, told to the reporter.
    pub async fn reply(&self, no: &str, operator: &str, text: &str) -> Result<Value, DeskError> {
        let operator = operator_name(operator)?;
        let text = note(text)?;
        if text.is_empty() {
            return Err(DeskError::BadInput("the reply is empty".into()));
        }
        let now = chrono::Utc::now().timestamp();
        let t = self.store.tickets().reply(no, operator, text, now)?;
        self.store.audit(&json!({
            "event": "ticket_replied",
            "ticket": t.no,
            "operator": operator,
        }))?;
        self.store.flush().await?;
        tracing::info!(ticket = %t.no, "operator replied to a ticket");
        let told = self.tell_reporter(&t, false, text).await;
        Ok(answer(&t, told))
    }

    /// Move a ticket (with an optional reply), told to the reporter.
    pub async fn move_to(
        &self,
        no: &str,
        to: &str,
        operator: &str,
        text: &str,
    ) -> Result<Value, DeskError> {
        let operator = operator_name(operator)?;
        let text = note(text)?;
        let to = TicketState::parse(to).ok_or_else(|| {
            DeskError::BadInput(format!(
                "unknown state {to:?}: accepted, in_progress, resolved or rejected"
            ))
        })?;
        let from = self.get(no)?.state;
        let now = chrono::Utc::now().timestamp();
        let t = self
            .store
            .tickets()
            .move_to(no, to, Change::operator(operator, text, now))?;
        self.store.audit(&json!({
            "event": "ticket_moved",
            "ticket": t.no,
            "from": from.as_str(),
            "to": to.as_str(),
            "operator": operator,
        }))?;
        self.store.flush().await?;
        tracing::info!(ticket = %t.no, from = from.as_str(), to = to.as_str(), "operator moved a ticket");
        let told = self.tell_reporter(&t, true, text).await;
        Ok(answer(&t, told))
    }

    fn get(&self, no: &str) -> Result<Ticket, DeskError> {
        self.store
            .tickets()
            .get(no)?
            .ok_or_else(|| DeskError::NotFound(no.to_owned()))
    }

    /// Queue the update for the reporter (stored and flushed before it is sent); `None` when
    /// it could not be queued (logged).
    async fn tell_reporter(&self, t: &Ticket, moved: bool, note: &str) -> Option<ReporterUpdate> {
        let Ok(openid) = OpenId::parse(&t.openid) else {
            tracing::error!(ticket = %t.no, "ticket without a valid reporter; nobody told");
            return None;
        };
        let fields = json!({
            "ticket_no": t.no,
            "place": t.place,
            "state": t.state.as_str(),
            "moved": moved,
            "note": note,
        });
        let text = match self.rules.current().message("repair.update", &fields) {
            Ok(text) => text,
            Err(e) => {
                tracing::error!(error = %e, "repair.update failed to render; the reporter is not told");
                return None;
            }
        };
        // Each change appends one history entry: its position names the change.
        let change = format!("{}:{}", t.no, t.history.len());
        match self.updates.tell(&openid, &change, Reply::Text(text)).await {
            Ok(told) => {
                if told != ReporterUpdate::Queued {
                    tracing::info!(ticket = %t.no, reporter_update = told.as_str(), "the reporter is not pushed this update");
                }
                Some(told)
            }
            Err(e) => {
                tracing::error!(ticket = %t.no, error = %e, "cannot queue the ticket update; the reporter is not told");
                None
            }
        }
    }
}

fn operator_name(operator: &str) -> Result<&str, DeskError> {
    let operator = operator.trim();
    if operator.is_empty() || operator.chars().count() > 40 {
        return Err(DeskError::BadInput(
            "name the operator (--operator, 1–40 characters)".into(),
        ));
    }
    Ok(operator)
}

fn note(text: &str) -> Result<&str, DeskError> {
    let text = text.trim();
    if text.chars().count() > NOTE_MAX_CHARS {
        return Err(DeskError::BadInput(format!(
            "the reply is longer than {NOTE_MAX_CHARS} characters"
        )));
    }
    Ok(text)
}

/// The ticket after a change, with what became of the reporter's update.
fn answer(t: &Ticket, told: Option<ReporterUpdate>) -> Value {
    let mut v = view(t);
    v["reporter_update"] = json!(told.map_or("failed", ReporterUpdate::as_str));
    v
}

fn view(t: &Ticket) -> Value {
    let user = OpenId::parse(&t.openid)
        .map(|o| o.log_tag())
        .unwrap_or_default();
    json!({
        "no": t.no,
        "user": user,
        "state": t.state.as_str(),
        "category": t.category.as_str(),
        "place": t.place,
        "description": t.description,
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "resolved_at": t.resolved_at,
        "photo": t.photo,
        "history": t.history,
    })
}
