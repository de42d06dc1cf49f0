//! Content: news items, campus announcements and service-guide articles, as operators publish
//! them (today from Markdown files through `onecard content publish`, later from the back
//! office).
//!
//! It owns the item's shape, its state machine (draft → published → withdrawn), who it is for
//! ([`Audience`]) and which items are visible at a given moment. Items are keyed by a readable
//! slug (`guide-lost-card`), so publishing the same file again updates the item instead of
//! adding a copy, and the page address `/h5/articles/{id}` stays the same.
//!
//! It never renders anything: Markdown stays Markdown here; the H5 page renders it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};

/// What kind of item this is; chat answers 「新闻」 and 「公告」 from different categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    News,
    Announcement,
    Guide,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::News => "news",
            Self::Announcement => "announcement",
            Self::Guide => "guide",
        }
    }
}

/// Guide topics, in the order 「指南」 lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuideTopic {
    Binding,
    TopUp,
    LostCard,
    Refunds,
    ServiceDesks,
}

impl GuideTopic {
    pub const ALL: [GuideTopic; 5] = [
        Self::Binding,
        Self::TopUp,
        Self::LostCard,
        Self::Refunds,
        Self::ServiceDesks,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Binding => "binding",
            Self::TopUp => "top_up",
            Self::LostCard => "lost_card",
            Self::Refunds => "refunds",
            Self::ServiceDesks => "service_desks",
        }
    }
}

/// Who an item is for. Written in front matter as `everyone`, `students`, `staff` or
/// `college:计算机科学与技术学院` (the college name as the card system spells the department).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Audience {
    Everyone,
    Students,
    Staff,
    College(String),
}

impl TryFrom<String> for Audience {
    type Error = ContentError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.trim() {
            "everyone" => Ok(Self::Everyone),
            "students" => Ok(Self::Students),
            "staff" => Ok(Self::Staff),
            other => match other.strip_prefix("college:").map(str::trim) {
                Some(name) if !name.is_empty() => Ok(Self::College(name.to_owned())),
                _ => Err(ContentError::Invalid(format!(
                    "audience `{other}`: expected everyone, students, staff or college:NAME"
                ))),
            },
        }
    }
}

impl From<Audience> for String {
    fn from(a: Audience) -> Self {
        a.to_string()
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Everyone => f.write_str("everyone"),
            Self::Students => f.write_str("students"),
            Self::Staff => f.write_str("staff"),
            Self::College(name) => write!(f, "college:{name}"),
        }
    }
}

/// What we know about a reader, to choose the items meant for them. An unbound user (or one
/// whose card record cannot be read right now) is [`Reader::anyone`]: they see `everyone` items.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reader {
    pub student: bool,
    pub staff: bool,
    /// The department on the card record.
    pub college: Option<String>,
}

impl Reader {
    pub fn anyone() -> Self {
        Self::default()
    }

    pub fn sees(&self, audience: &Audience) -> bool {
        match audience {
            Audience::Everyone => true,
            Audience::Students => self.student,
            Audience::Staff => self.staff,
            Audience::College(name) => self.college.as_deref() == Some(name.as_str()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentState {
    Draft,
    Published,
    Withdrawn,
}

impl ContentState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// One news item, announcement or guide article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentItem {
    /// Slug, `[a-z0-9-]{1,64}`: the key and the last part of the page address.
    pub id: String,
    pub title: String,
    /// One or two sentences: the description line of the 图文 card.
    pub summary: String,
    /// Markdown, as the author wrote it; raw HTML in it is shown as text, never run.
    pub body: String,
    /// JPG/PNG for the 图文 card (WeChat shows 360×200 or 200×200); empty for none.
    #[serde(default)]
    pub cover_url: String,
    pub category: Category,
    /// Guide articles only: the topic 「指南」 lists them under.
    #[serde(default)]
    pub topic: Option<GuideTopic>,
    /// Guide articles only: words in a user's question that lead to this article.
    #[serde(default)]
    pub keywords: Vec<String>,
    pub audience: Audience,
    /// Unix seconds; not shown before.
    pub publish_at: i64,
    /// Unix seconds; not shown from then on.
    #[serde(default)]
    pub expires_at: Option<i64>,
    pub author: String,
    pub state: ContentState,
    pub updated_at: i64,
}

impl ContentItem {
    /// Published, already out and not yet expired.
    pub fn visible_at(&self, now: i64) -> bool {
        self.state == ContentState::Published
            && self.publish_at <= now
            && self.expires_at.is_none_or(|end| now < end)
    }
}

/// A field of an item that a push template can carry (`push.template_fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemField {
    Title,
    Summary,
    /// Campus time, `2026-01-05 09:00`.
    PublishTime,
    Author,
}

impl ContentItem {
    /// The article page on the public site (`services.public_url`).
    pub fn page_url(&self, public_url: &str) -> String {
        format!(
            "{}/h5/articles/{}",
            public_url.trim_end_matches('/'),
            self.id
        )
    }

    /// The value of `field`, times in campus local time (`utc_offset_hours`).
    pub fn field(&self, field: ItemField, utc_offset_hours: i32) -> String {
        match field {
            ItemField::Title => self.title.clone(),
            ItemField::Summary => self.summary.clone(),
            ItemField::Author => self.author.clone(),
            ItemField::PublishTime => chrono::DateTime::from_timestamp(
                self.publish_at + i64::from(utc_offset_hours) * 3600,
                0,
            )
            .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{0}")]
    Invalid(String),
    #[error("no content item `{0}`")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sled::Error> for ContentError {
    fn from(e: sled::Error) -> Self {
        Self::Store(e.into())
    }
}

/// Check a slug: lowercase ASCII letters, digits and dashes, 1–64 long.
pub fn valid_slug(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The front matter of a content file (TOML between `+++` lines, as Hugo and Zola write it).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    /// Defaults to the file name without `.md`.
    id: Option<String>,
    title: String,
    summary: String,
    #[serde(default)]
    cover_url: String,
    category: Category,
    topic: Option<GuideTopic>,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default = "everyone")]
    audience: Audience,
    /// Absent: now.
    publish_at: Option<toml::value::Datetime>,
    expires_at: Option<toml::value::Datetime>,
    author: String,
    /// `true` keeps the item a draft: stored, listed by the CLI, shown to nobody.
    #[serde(default)]
    draft: bool,
}

fn everyone() -> Audience {
    Audience::Everyone
}

/// Read a content file: TOML front matter between `+++` lines, then the Markdown body.
/// `default_id` is the file stem; datetimes without an offset are campus local time.
pub fn parse_document(
    default_id: &str,
    text: &str,
    utc_offset_hours: i32,
    now: i64,
) -> Result<ContentItem, ContentError> {
    let invalid = |m: String| ContentError::Invalid(m);
    let rest = text
        .trim_start_matches('\u{feff}')
        .strip_prefix("+++")
        .and_then(|r| r.strip_prefix('\n').or_else(|| r.strip_prefix("\r\n")))
        .ok_or_else(|| {
            invalid("the file must start with front matter between `+++` lines".into())
        })?;
    let (front, body) = rest
        .split_once("\n+++")
        .ok_or_else(|| invalid("the front matter has no closing `+++` line".into()))?;
    let fm: FrontMatter =
        toml::from_str(front).map_err(|e| invalid(format!("front matter: {e}")))?;
    let id = fm.id.unwrap_or_else(|| default_id.to_owned());
    if !valid_slug(&id) {
        return Err(invalid(format!(
            "id `{id}`: use 1–64 lowercase letters, digits and dashes (set `id` or rename the file)"
        )));
    }
    match (fm.category, fm.topic) {
        (Category::Guide, None) => {
            return Err(invalid(
                "a guide article needs `topic` (binding, top_up, lost_card, refunds, service_desks)"
                    .into(),
            ));
        }
        (Category::News | Category::Announcement, Some(_)) => {
            return Err(invalid("`topic` is for guide articles only".into()));
        }
        _ => {}
    }
    if fm.title.trim().is_empty() {
        return Err(invalid("`title` is empty".into()));
    }
    let when =
        |dt: Option<toml::value::Datetime>, name: &str| -> Result<Option<i64>, ContentError> {
            dt.map(|d| {
                to_unix(&d, utc_offset_hours).ok_or_else(|| {
                    invalid(format!(
                        "`{name}` = {d}: give a date and time, e.g. 2026-09-01T08:00:00+08:00"
                    ))
                })
            })
            .transpose()
        };
    let publish_at = when(fm.publish_at, "publish_at")?.unwrap_or(now);
    let expires_at = when(fm.expires_at, "expires_at")?;
    if expires_at.is_some_and(|end| end <= publish_at) {
        return Err(invalid("`expires_at` is not after `publish_at`".into()));
    }
    let body = body.split_once('\n').map(|(_, b)| b).unwrap_or_default();
    Ok(ContentItem {
        id,
        title: fm.title.trim().to_owned(),
        summary: fm.summary.trim().to_owned(),
        body: body.trim().to_owned(),
        cover_url: fm.cover_url,
        category: fm.category,
        topic: fm.topic,
        keywords: fm.keywords,
        audience: fm.audience,
        publish_at,
        expires_at,
        author: fm.author,
        state: if fm.draft {
            ContentState::Draft
        } else {
            ContentState::Published
        },
        updated_at: now,
    })
}

/// Read one content file (`NAME.md`; the id defaults to `NAME`).
pub fn read_document(
    path: &std::path::Path,
    utc_offset_hours: i32,
    now: i64,
) -> Result<ContentItem, ContentError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ContentError::Invalid(format!("{}: {e}", path.display())))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    parse_document(stem, &text, utc_offset_hours, now)
        .map_err(|e| ContentError::Invalid(format!("{}: {e}", path.display())))
}

/// Every `*.md` file of `dir`, in name order; the first bad file stops the whole load, so a
/// directory is published completely or not at all.
pub fn read_dir(
    dir: &std::path::Path,
    utc_offset_hours: i32,
    now: i64,
) -> Result<Vec<ContentItem>, ContentError> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ContentError::Invalid(format!("{}: {e}", dir.display())))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "md"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| read_document(p, utc_offset_hours, now))
        .collect()
}

/// A TOML datetime as Unix seconds; one without an offset is campus local time.
fn to_unix(d: &toml::value::Datetime, utc_offset_hours: i32) -> Option<i64> {
    let text = d.to_string();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(&text) {
        return Some(t.timestamp());
    }
    let local = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S"))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map(|day| day.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .ok()?;
    Some(local.and_utc().timestamp() - i64::from(utc_offset_hours) * 3600)
}

#[derive(Clone)]
pub struct ContentRepo {
    items: sled::Tree,
}

impl ContentRepo {
    pub(super) fn new(items: sled::Tree) -> Self {
        Self { items }
    }

    /// Insert or replace an item (same id = same item). The caller flushes the store before
    /// telling the operator it is saved.
    pub fn put(&self, item: &ContentItem) -> Result<(), ContentError> {
        if !valid_slug(&item.id) {
            return Err(ContentError::Invalid(format!(
                "id `{}`: use 1–64 lowercase letters, digits and dashes",
                item.id
            )));
        }
        self.items.insert(item.id.as_bytes(), to_json(item))?;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Result<Option<ContentItem>, ContentError> {
        match self.items.get(id.as_bytes())? {
            Some(v) => Ok(Some(from_json("content", &v)?)),
            None => Ok(None),
        }
    }

    /// Every item, in id order.
    pub fn all(&self) -> Result<Vec<ContentItem>, ContentError> {
        self.items
            .iter()
            .map(|kv| {
                let (_, v) = kv?;
                Ok(from_json("content", &v)?)
            })
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Take an item off every list and its page; it stays in the store for the record.
    pub fn withdraw(&self, id: &str, now: i64) -> Result<ContentItem, ContentError> {
        let mut item = self
            .get(id)?
            .ok_or_else(|| ContentError::NotFound(id.to_owned()))?;
        item.state = ContentState::Withdrawn;
        item.updated_at = now;
        self.put(&item)?;
        Ok(item)
    }

    /// The newest visible items of `category` meant for `reader`, newest first.
    pub fn latest(
        &self,
        category: Category,
        reader: &Reader,
        now: i64,
        limit: usize,
    ) -> Result<Vec<ContentItem>, ContentError> {
        let mut items: Vec<ContentItem> = self
            .all()?
            .into_iter()
            .filter(|i| i.category == category && i.visible_at(now) && reader.sees(&i.audience))
            .collect();
        items.sort_by(|a, b| b.publish_at.cmp(&a.publish_at).then(a.id.cmp(&b.id)));
        items.truncate(limit);
        Ok(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn item(id: &str, category: Category, audience: Audience, publish_at: i64) -> ContentItem {
        ContentItem {
            id: id.into(),
            title: id.into(),
            summary: String::new(),
            body: String::new(),
            cover_url: String::new(),
            category,
            topic: None,
            keywords: Vec::new(),
            audience,
            publish_at,
            expires_at: None,
            author: "一卡通中心".into(),
            state: ContentState::Published,
            updated_at: publish_at,
        }
    }

    #[test]
    fn latest_filters_by_audience_time_and_state_newest_first() {
        let store = Store::temporary().unwrap();
        let repo = store.content();
        let a = Category::Announcement;
        repo.put(&item("all-old", a, Audience::Everyone, 100))
            .unwrap();
        repo.put(&item("all-new", a, Audience::Everyone, 300))
            .unwrap();
        repo.put(&item("staff", a, Audience::Staff, 200)).unwrap();
        repo.put(&item("future", a, Audience::Everyone, 10_000))
            .unwrap();
        let mut expired = item("expired", a, Audience::Everyone, 100);
        expired.expires_at = Some(400);
        repo.put(&expired).unwrap();
        repo.put(&item("news", Category::News, Audience::Everyone, 100))
            .unwrap();
        repo.withdraw("all-old", 450).unwrap();

        let ids = |reader: &Reader| -> Vec<String> {
            repo.latest(a, reader, 500, 8)
                .unwrap()
                .into_iter()
                .map(|i| i.id)
                .collect()
        };
        assert_eq!(ids(&Reader::anyone()), ["all-new"]);
        let staff = Reader {
            staff: true,
            ..Reader::default()
        };
        assert_eq!(ids(&staff), ["all-new", "staff"]);
    }

    #[test]
    fn audience_reads_and_writes_its_front_matter_spelling() {
        for s in ["everyone", "students", "staff", "college:物理学院"] {
            let a = Audience::try_from(s.to_owned()).unwrap();
            assert_eq!(a.to_string(), s);
        }
        assert!(Audience::try_from("college:".to_owned()).is_err());
        assert!(Audience::try_from("teachers".to_owned()).is_err());
    }

    #[test]
    fn a_bad_slug_is_refused() {
        let store = Store::temporary().unwrap();
        let bad = item("Bad Slug", Category::News, Audience::Everyone, 1);
        assert!(matches!(
            store.content().put(&bad),
            Err(ContentError::Invalid(_))
        ));
    }
}
