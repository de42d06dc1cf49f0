//! Repair tickets (报修): what a user reported, where, and where the repair stands.
//!
//! It owns the ticket's shape, its numbering, the photo that came with it and its one
//! transition function ([`TicketState::can_move_to`]): operators move submitted → accepted →
//! in progress → resolved / rejected, and only the reporter confirms or reopens a resolved
//! ticket, within 7 days. It never notifies anyone: whoever moves a ticket tells the user.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
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

    /// Parse the name an operator types (`accepted`, `in_progress`, …).
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Submitted,
            Self::Accepted,
            Self::InProgress,
            Self::Resolved,
            Self::Rejected,
            Self::Confirmed,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The one transition rule. Operators move submitted → accepted → in progress → resolved
    /// (or reject anything still open); only the reporter confirms a resolved ticket or
    /// reopens it (back to submitted), within [`REOPEN_WINDOW_SECS`] (checked by
    /// [`TicketsRepo::move_to`], which knows the time).
    pub fn can_move_to(self, to: TicketState, by: Actor) -> bool {
        use TicketState::*;
        match (by, self, to) {
            (Actor::Operator, Submitted, Accepted)
            | (Actor::Operator, Accepted, InProgress)
            | (Actor::Operator, InProgress, Resolved)
            | (Actor::Operator, Submitted | Accepted, Resolved)
            | (Actor::Operator, Submitted | Accepted | InProgress, Rejected) => true,
            (Actor::Reporter, Resolved, Confirmed) | (Actor::Reporter, Resolved, Submitted) => true,
            (Actor::Operator | Actor::Reporter, _, _) => false,
        }
    }

    /// Whether the ticket is finished for good.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Rejected | Self::Confirmed)
    }
}

/// Who changes a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// The user who filed it, in chat.
    Reporter,
    /// The service desk, through `onecard tickets`.
    Operator,
}

impl Actor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reporter => "user",
            Self::Operator => "operator",
        }
    }
}

/// One change in a ticket's life, kept for the record and for `onecard tickets show`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketEvent {
    pub at: i64,
    pub state: TicketState,
    /// `user` or `operator` ([`Actor::as_str`]).
    pub by: String,
    /// An operator's reply to the user; empty for none.
    #[serde(default)]
    pub note: String,
    /// Which operator (their login name as they gave it to `onecard tickets`); empty for the
    /// reporter's own moves.
    #[serde(default)]
    pub operator: String,
}

/// What is kept about the photo that came with a ticket; the bytes are stored beside the ticket
/// ([`TicketsRepo::photo`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoInfo {
    /// WeChat's temporary media id it was fetched with (valid there for 3 days only).
    pub media_id: String,
    pub content_type: String,
    pub size: usize,
}

/// A photo as fetched from WeChat's media API.
#[derive(Clone, PartialEq, Eq)]
pub struct Photo {
    pub media_id: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Photo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Photo")
            .field("media_id", &self.media_id)
            .field("content_type", &self.content_type)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The stored form of a photo: base64 inside JSON, so `onecard store export` (JSON lines)
/// keeps it byte for byte.
#[derive(Serialize, Deserialize)]
struct StoredPhoto {
    media_id: String,
    content_type: String,
    base64: String,
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
    /// The photo the reporter sent during the dialog, if any.
    #[serde(default)]
    pub photo: Option<PhotoInfo>,
    pub history: Vec<TicketEvent>,
}

impl Ticket {
    /// The operator's latest reply, if any.
    pub fn latest_note(&self) -> Option<&str> {
        self.history
            .iter()
            .rev()
            .find(|e| !e.note.is_empty())
            .map(|e| e.note.as_str())
    }

    /// Whether the reporter may still confirm or reopen it at `now`.
    pub fn reporter_may_answer(&self, now: i64) -> bool {
        self.state == TicketState::Resolved
            && self
                .resolved_at
                .is_none_or(|at| now - at <= REOPEN_WINDOW_SECS)
    }
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
    #[error("ticket {0} belongs to someone else")]
    NotYours(String),
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
const PHOTO_PREFIX: &str = "p:";

#[derive(Clone)]
pub struct TicketsRepo {
    tree: sled::Tree,
}

impl TicketsRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    /// File a new ticket (with its photo, if one came) and return it with its number. The
    /// caller flushes before telling the user the number.
    pub fn submit(
        &self,
        openid: &OpenId,
        category: TicketCategory,
        place: &str,
        description: &str,
        photo: Option<&Photo>,
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
            photo: photo.map(|p| PhotoInfo {
                media_id: p.media_id.clone(),
                content_type: p.content_type.clone(),
                size: p.bytes.len(),
            }),
            history: vec![TicketEvent {
                at: now,
                state: TicketState::Submitted,
                by: Actor::Reporter.as_str().into(),
                note: String::new(),
                operator: String::new(),
            }],
        };
        // The photo first: a crash in between leaves an unreferenced photo, never a ticket
        // that claims a photo it does not have.
        if let Some(p) = photo {
            let stored = StoredPhoto {
                media_id: p.media_id.clone(),
                content_type: p.content_type.clone(),
                base64: BASE64.encode(&p.bytes),
            };
            self.tree.insert(
                format!("{PHOTO_PREFIX}{}", ticket.no).as_bytes(),
                to_json(&stored),
            )?;
        }
        self.save(&ticket)?;
        Ok(ticket)
    }

    /// The photo filed with ticket `no`, byte for byte as WeChat gave it.
    pub fn photo(&self, no: &str) -> Result<Option<Photo>, TicketError> {
        let Some(v) = self.tree.get(format!("{PHOTO_PREFIX}{no}").as_bytes())? else {
            return Ok(None);
        };
        let stored: StoredPhoto = from_json("tickets", &v)?;
        let bytes = BASE64
            .decode(stored.base64.as_bytes())
            .map_err(|e| StoreError::Engine(format!("photo of {no}: {e}")))?;
        Ok(Some(Photo {
            media_id: stored.media_id,
            content_type: stored.content_type,
            bytes,
        }))
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
    /// reporter's moves). `operator` names the operator (empty for the reporter); `note` is a
    /// reply to the user. Returns the updated ticket; the caller flushes.
    pub fn move_to(
        &self,
        no: &str,
        to: TicketState,
        change: Change<'_>,
    ) -> Result<Ticket, TicketError> {
        let Change {
            by,
            operator,
            note,
            now,
        } = change;
        let mut t = self
            .get(no)?
            .ok_or_else(|| TicketError::NotFound(no.to_owned()))?;
        if !t.state.can_move_to(to, by) {
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
            by: by.as_str().to_owned(),
            note: note.to_owned(),
            operator: operator.to_owned(),
        });
        self.save(&t)?;
        Ok(t)
    }

    /// An operator's reply that does not change the state. Closed tickets take no replies.
    pub fn reply(
        &self,
        no: &str,
        operator: &str,
        note: &str,
        now: i64,
    ) -> Result<Ticket, TicketError> {
        let mut t = self
            .get(no)?
            .ok_or_else(|| TicketError::NotFound(no.to_owned()))?;
        if t.state.is_closed() {
            return Err(TicketError::BadMove {
                no: no.to_owned(),
                from: t.state.as_str(),
                to: "replied",
            });
        }
        t.updated_at = now;
        t.history.push(TicketEvent {
            at: now,
            state: t.state,
            by: Actor::Operator.as_str().to_owned(),
            note: note.to_owned(),
            operator: operator.to_owned(),
        });
        self.save(&t)?;
        Ok(t)
    }
}

/// Who moves a ticket, when, and what they tell the user.
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    pub by: Actor,
    /// The operator's name; empty for the reporter.
    pub operator: &'a str,
    /// A reply to the user; empty for none.
    pub note: &'a str,
    pub now: i64,
}

impl<'a> Change<'a> {
    pub fn reporter(now: i64) -> Self {
        Self {
            by: Actor::Reporter,
            operator: "",
            note: "",
            now,
        }
    }

    pub fn operator(operator: &'a str, note: &'a str, now: i64) -> Self {
        Self {
            by: Actor::Operator,
            operator,
            note,
            now,
        }
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
                None,
                100,
            )
            .unwrap();
        assert_eq!(t.no, "BX000001");
        let second = repo
            .submit(&user, TicketCategory::Gate, "图书馆", "闸机不开", None, 101)
            .unwrap();
        assert_eq!(second.no, "BX000002");
        let desk = |now| Change::operator("王工", "", now);
        repo.move_to(&t.no, TicketState::Resolved, desk(102))
            .unwrap();
        assert!(matches!(
            repo.move_to(&t.no, TicketState::InProgress, desk(103)),
            Err(TicketError::BadMove { .. })
        ));
        // Only the reporter reopens or confirms.
        assert!(matches!(
            repo.move_to(&t.no, TicketState::Submitted, desk(104)),
            Err(TicketError::BadMove { .. })
        ));
        // Reopened within the window, then too late to confirm once resolved again long ago.
        repo.move_to(&t.no, TicketState::Submitted, Change::reporter(200))
            .unwrap();
        repo.move_to(&t.no, TicketState::Resolved, desk(300))
            .unwrap();
        assert!(matches!(
            repo.move_to(
                &t.no,
                TicketState::Confirmed,
                Change::reporter(300 + REOPEN_WINDOW_SECS + 1)
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

    #[test]
    fn a_photo_is_kept_byte_for_byte_beside_its_ticket() {
        let store = Store::temporary().unwrap();
        let repo = store.tickets();
        let user = OpenId::parse("oTicketUser0000000000000002").unwrap();
        let photo = Photo {
            media_id: "m1".into(),
            content_type: "image/jpeg".into(),
            bytes: (0..=255u8).chain([0, 0xff, 0xd8]).collect(),
        };
        let t = repo
            .submit(
                &user,
                TicketCategory::CardDamaged,
                "宿舍",
                "卡裂了",
                Some(&photo),
                1,
            )
            .unwrap();
        assert_eq!(t.photo.as_ref().map(|p| p.size), Some(259));
        assert_eq!(repo.photo(&t.no).unwrap().as_ref(), Some(&photo));
        let mut exported = Vec::new();
        store.export(&mut exported).unwrap();
        // The backup (JSON lines, values as text) carries the photo intact.
        let key = hex::encode(format!("{PHOTO_PREFIX}{}", t.no));
        let value = String::from_utf8(exported)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|l| l["key"] == key.as_str())
            .map(|l| l["value"].as_str().unwrap().to_owned())
            .unwrap();
        let stored: StoredPhoto = serde_json::from_str(&value).unwrap();
        assert_eq!(BASE64.decode(stored.base64).unwrap(), photo.bytes);
    }
}
