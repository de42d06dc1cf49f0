//! Session records: a user's dialog state and reply bookkeeping, restored when their session
//! actor starts again (after an idle stop or a restart of the whole process).

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;

/// A multi-step conversation in progress, e.g. binding: which action owns it, which step it is
/// at and what it has collected so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dialog {
    pub action: String,
    pub step: String,
    #[serde(default)]
    pub data: serde_json::Value,
    pub started_at: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub dialog: Option<Dialog>,
    /// When the default reply was last sent (it has a per-user cooldown, like WeChat's own).
    pub last_default_reply_at: Option<i64>,
    /// Where the last paged list stopped ("回复 更多" continues it).
    #[serde(default, deserialize_with = "cursor_or_none")]
    pub more: Option<MoreCursor>,
}

/// Where a paged list stopped: what 「更多」 continues. Tagged by `kind`, so another paged list
/// is one more variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MoreCursor {
    /// The card transactions of the campus days `from..=to`; `page` is the next one to show.
    Transactions {
        account: String,
        from: NaiveDate,
        to: NaiveDate,
        page: u32,
    },
}

/// A cursor this build cannot read (an older or newer shape) is dropped rather than making the
/// whole record unreadable: losing it costs one 「更多」, losing the record costs the dialog.
fn cursor_or_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<MoreCursor>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    if value.is_null() {
        return Ok(None);
    }
    match serde_json::from_value(value) {
        Ok(cursor) => Ok(Some(cursor)),
        Err(e) => {
            tracing::warn!(error = %e, "unreadable paging cursor in a session record; dropped");
            Ok(None)
        }
    }
}

#[derive(Clone)]
pub struct SessionsRepo {
    tree: sled::Tree,
}

impl SessionsRepo {
    pub(super) fn new(tree: sled::Tree) -> Self {
        Self { tree }
    }

    pub fn get(&self, openid: &OpenId) -> Result<Option<SessionRecord>, StoreError> {
        match self.tree.get(openid.as_str())? {
            Some(bytes) => Ok(Some(from_json("sessions", &bytes)?)),
            None => Ok(None),
        }
    }

    pub fn put(&self, openid: &OpenId, record: &SessionRecord) -> Result<(), StoreError> {
        if *record == SessionRecord::default() {
            self.tree.remove(openid.as_str())?;
        } else {
            self.tree.insert(openid.as_str(), to_json(record))?;
        }
        Ok(())
    }

    pub fn remove(&self, openid: &OpenId) -> Result<(), StoreError> {
        self.tree.remove(openid.as_str())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_record_from_before_the_cursor_field_loads() {
        let old = r#"{"dialog":null,"last_default_reply_at":1764000000}"#;
        let record: SessionRecord = serde_json::from_slice(old.as_bytes()).unwrap();
        assert_eq!(record.last_default_reply_at, Some(1_764_000_000));
        assert_eq!(record.more, None);
    }

    #[test]
    fn a_record_with_an_untyped_cursor_keeps_its_dialog() {
        // Older builds declared the field as any JSON value; one that is not a cursor of this
        // build must not cost the user their dialog.
        let old = r#"{"dialog":{"action":"feedback","step":"await_text","data":{},"started_at":7},
            "last_default_reply_at":null,"more":{"kind":"grades","term":"2025-1"}}"#;
        let record: SessionRecord = serde_json::from_slice(old.as_bytes()).unwrap();
        assert_eq!(record.dialog.map(|d| d.step), Some("await_text".to_owned()));
        assert_eq!(record.more, None);
        let null = r#"{"dialog":null,"last_default_reply_at":null,"more":null}"#;
        let record: SessionRecord = serde_json::from_slice(null.as_bytes()).unwrap();
        assert_eq!(record, SessionRecord::default());
    }

    #[test]
    fn the_counter_trees_cursor_shape_reads_as_a_typed_cursor() {
        let counters = r#"{"dialog":null,"last_default_reply_at":null,"more":{"kind":"transactions",
            "account":"2024000001","from":"2026-11-01","to":"2026-12-01","page":3}}"#;
        let record: SessionRecord = serde_json::from_slice(counters.as_bytes()).unwrap();
        assert_eq!(
            record.more,
            Some(MoreCursor::Transactions {
                account: "2024000001".into(),
                from: day("2026-11-01"),
                to: day("2026-12-01"),
                page: 3,
            })
        );
    }

    #[test]
    fn a_cursor_round_trips_through_the_repository() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let repo = SessionsRepo::new(db.open_tree("sessions").unwrap());
        let user = OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").unwrap();
        let record = SessionRecord {
            more: Some(MoreCursor::Transactions {
                account: "2024000001".into(),
                from: day("2026-11-01"),
                to: day("2026-11-01"),
                page: 2,
            }),
            ..SessionRecord::default()
        };
        repo.put(&user, &record).unwrap();
        assert_eq!(repo.get(&user).unwrap(), Some(record));
    }
}
