//! Repair tickets (报修): what a user reported, where, and where the repair stands.
//!
//! It owns the ticket's shape, its numbering and its one transition function
//! ([`TicketState::can_move_to`]): submitted → accepted → in progress → resolved / rejected,
//! and a resolved ticket may be confirmed or reopened by its reporter within 7 days.
//! It never notifies anyone: whoever moves a ticket tells the user.

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;

/// How long after "resolved" the reporter may still reopen or confirm.
pub const REOPEN_WINDOW_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketCategory {
    CardReader,
    Pos,
    TopUpMachine,
    CardDamaged,
    Gate,
    Other,
}

impl TicketCategory {
    /// In the order the dialog numbers them (1–6).
    pub const ALL: [TicketCategory; 6] = [
        Self::CardReader,
        Self::Pos,
        Self::TopUpMachine,
        Self::CardDamaged,
        Self::Gate,
        Self::Other,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CardReader => "card_reader",
            Self::Pos => "pos",
            Self::TopUpMachine => "top_up_machine",
            Self::CardDamaged => "card_damaged",
            Self::Gate => "gate",
            Self::Other => "other",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    Submitted,
    Accepted,
    InProgress,
    Resolved,
    Rejected,
    /// The reporter confirmed the repair: closed for good.
    Confirmed,
}

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::Accepted => "accepted",
            Self::InProgress => "in_progress",
            Self::Resolved => "resolved",
            Self::Rejected => "rejected",
            Self::Confirmed => "confirmed",
        }
    }

    /// The one transition rule. Operators move submitted → accepted → in progress → resolved
    /// (or reject anything still open); the reporter confirms a resolved ticket or reopens it
    /// (back to submitted) within [`REOPEN_WINDOW_SECS`].
    pub fn can_move_to(self, to: TicketState) -> bool {
        use TicketState::*;
        match (self, to) {
            (Submitted, Accepted) | (Accepted, InProgress) | (InProgress, Resolved) => true,
            (Submitted | Accepted | InProgress, Rejected) => true,
            (Submitted | Accepted, Resolved) => true,
            (Resolved, Confirmed) | (Resolved, Submitted) => true,
            (Submitted | Accepted | InProgress | Resolved | Rejected | Confirmed, _) => false,
        }
    }
}

/// One change in a ticket's life, kept for the record and for `onecard tickets show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub at: i64,
    pub state: TicketState,
    /// `user` or `operator`.
    pub by: String,
    /// An operator's reply to the user; empty for none.
    #[serde(default)]
    pub note: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    /// `BX` + 6 digits, increasing: what the user quotes on the phone.
    pub no: String,
    pub openid: String,
    pub category: TicketCategory,
    pub place: String,
    pub description: String,
    pub state: TicketState,
    pub created_at: i64,
    pub updated_at: i64,
    /// When it was last resolved (the reopen window counts from here).
    #[serde(default)]
    pub resolved_at: Option<i64>,
    pub history: Vec<TicketEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error("no ticket {0}")]
    NotFound(String),
    #[error("ticket {no} is {from}; it cannot become {to}")]
    BadMove {
        no: String,
        from: &'static str,
        to: &'static str,
    },
    #[error("ticket {0} was resolved more than 7 days ago")]
    WindowClosed(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for TicketError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.into())
    }
}

const SEQ_KEY: &[u8] = b"seq";
const TICKET_PREFIX: &str = "t:";

#[derive(Clone)]
pub struct TicketsRepo {
    tree: sled::Tree,
}

impl TicketsRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// File a new ticket and return it with its number. The caller flushes before telling the
    /// user the number.
    pub fn submit(
        &self,
        openid: &OpenId,
        category: TicketCategory,
        place: &str,
        description: &str,
        now: i64,
    ) -> Result<Ticket, TicketError> {
        let seq = self
            .tree
            .update_and_fetch(SEQ_KEY, |old| {
                let n = old
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                Some((n + 1).to_be_bytes().to_vec())
            })?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(1);
        let ticket = Ticket {
            no: format!("BX{seq:06}"),
            openid: openid.as_str().to_owned(),
            category,
            place: place.to_owned(),
            description: description.to_owned(),
            state: TicketState::Submitted,
            created_at: now,
            updated_at: now,
            resolved_at: None,
            history: vec![TicketEvent {
                at: now,
                state: TicketState::Submitted,
                by: "user".into(),
                note: String::new(),
            }],
        };
        self.save(&ticket)?;
        Ok(ticket)
    }

    fn save(&self, t: &Ticket) -> Result<(), TicketError> {
        self.tree
            .insert(format!("{TICKET_PREFIX}{}", t.no).as_bytes(), to_json(t))?;
        Ok(())
    }

    pub fn get(&self, no: &str) -> Result<Option<Ticket>, TicketError> {
        match self.tree.get(format!("{TICKET_PREFIX}{no}").as_bytes())? {
            Some(v) => Ok(Some(from_json("tickets", &v)?)),
            None => Ok(None),
        }
    }

    /// Every ticket, oldest first.
    pub fn all(&self) -> Result<Vec<Ticket>, TicketError> {
        self.tree
            .scan_prefix(TICKET_PREFIX.as_bytes())
            .map(|kv| {
                let (_, v) = kv?;
                Ok(from_json("tickets", &v)?)
            })
            .collect()
    }

    /// One user's tickets, newest first.
    pub fn of_user(&self, openid: &OpenId) -> Result<Vec<Ticket>, TicketError> {
        let mut mine: Vec<Ticket> = self
            .all()?
            .into_iter()
            .filter(|t| t.openid == openid.as_str())
            .collect();
        mine.reverse();
        Ok(mine)
    }

    /// Move a ticket, checked by [`TicketState::can_move_to`] (and the reopen window for the
    /// reporter's moves). Returns the updated ticket.
    pub fn move_to(
        &self,
        no: &str,
        to: TicketState,
        by: &str,
        note: &str,
        now: i64,
    ) -> Result<Ticket, TicketError> {
        let mut t = self
            .get(no)?
            .ok_or_else(|| TicketError::NotFound(no.to_owned()))?;
        if !t.state.can_move_to(to) {
            return Err(TicketError::BadMove {
                no: no.to_owned(),
                from: t.state.as_str(),
                to: to.as_str(),
            });
        }
        if t.state == TicketState::Resolved
            && t.resolved_at
                .is_some_and(|at| now - at > REOPEN_WINDOW_SECS)
        {
            return Err(TicketError::WindowClosed(no.to_owned()));
        }
        t.state = to;
        t.updated_at = now;
        if to == TicketState::Resolved {
            t.resolved_at = Some(now);
        }
        t.history.push(TicketEvent {
            at: now,
            state: to,
            by: by.to_owned(),
            note: note.to_owned(),
        });
        self.save(&t)?;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_ticket_lives_through_its_states_and_numbers_increase() {
        let store = Store::temporary().unwrap();
        let repo = store.tickets();
        let user = OpenId::parse("oTicketUser0000000000000001").unwrap();
        let t = repo
            .submit(
                &user,
                TicketCategory::Pos,
                "一食堂 3 号窗口",
                "刷卡没反应",
                100,
            )
            .unwrap();
        assert_eq!(t.no, "BX000001");
        let second = repo
            .submit(&user, TicketCategory::Gate, "图书馆", "闸机不开", 101)
            .unwrap();
        assert_eq!(second.no, "BX000002");
        repo.move_to(&t.no, TicketState::Resolved, "operator", "", 102)
            .unwrap();
        assert!(matches!(
            repo.move_to(&t.no, TicketState::InProgress, "operator", "", 103),
            Err(TicketError::BadMove { .. })
        ));
        // Reopened within the window, then too late to reopen once resolved again long ago.
        repo.move_to(&t.no, TicketState::Submitted, "user", "", 200)
            .unwrap();
        repo.move_to(&t.no, TicketState::Resolved, "operator", "", 300)
            .unwrap();
        assert!(matches!(
            repo.move_to(
                &t.no,
                TicketState::Confirmed,
                "user",
                "",
                300 + REOPEN_WINDOW_SECS + 1
            ),
            Err(TicketError::WindowClosed(_))
        ));
        let mine: Vec<String> = repo
            .of_user(&user)
            .unwrap()
            .into_iter()
            .map(|t| t.no)
            .collect();
        assert_eq!(mine, ["BX000002", "BX000001"]);
        assert_eq!(repo.get("BX000001").unwrap().unwrap().history.len(), 4);
    }
}
