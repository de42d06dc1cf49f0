//! WeChat's limits on broadcasting, for the simulator: the daily quota of each message
//! template, the rate a caller may send at, user tags, followers, and mass sends (群发) with
//! the quotas of a service account (docs/wechat-protocol.md §8.4, §8.9).
//!
//! It owns its own state (followers, tags, counters, mass-send records) behind its own lock;
//! the message endpoints in `wechat` call in here (always after taking their own lock, never
//! the other way round) and deliver to the outbox themselves.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::lock;
use super::wechat::{WxError, wx};

// WeChat's documented limits, one named constant each like the message-window limits in
// wechat/mod.rs: alike in shape only, each a different fact.

/// Template messages one template may send per day (WeChat's default: 100 000).
const TEMPLATE_DAILY_QUOTA: u32 = 100_000;
/// A service account's follower receives at most 4 mass messages per natural month.
const MASS_PER_USER_PER_MONTH: u32 = 4;
/// `sendall` calls per day (service account) and per minute.
const MASS_DAILY_CALLS: u32 = 100;
const MASS_PER_MINUTE: u32 = 60;
/// `clear_quota` may be used 10 times a month.
const CLEAR_QUOTA_PER_MONTH: u32 = 10;
/// At most 50 openids per tagging call, 100 tags per account, 20 tags per user.
const TAGGING_BATCH: usize = 50;
const MAX_TAGS: usize = 100;
const TAGS_PER_USER: usize = 20;
/// Tag names are at most 30 bytes.
const TAG_NAME_MAX: usize = 30;

const E_QUOTA: WxError = wx(45009, "reach max api daily quota limit");
const E_FREQ: WxError = wx(45009, "api freq out of limit");
const E_NO_MASS_QUOTA: WxError = wx(45028, "has no masssend quota");
const E_CLEAR_LIMIT: WxError = wx(48006, "forbid to clear quota because of reaching the limit");
const E_OPENID_LIST: WxError = wx(40032, "invalid openid list size");
const E_OPENID: WxError = wx(40003, "invalid openid");
const E_TAG_NAME: WxError = wx(45157, "invalid tag name");
const E_TAG_NAME_SIZE: WxError = wx(45158, "tag name too long");
const E_TOO_MANY_TAGS: WxError = wx(45056, "too many tag now, no need to add new");
const E_TAG_ID: WxError = wx(45159, "invalid tag id");
const E_USER_TAGS: WxError = wx(45059, "tag list size of fans too large");
const E_DATA_FORMAT: WxError = wx(47001, "data format error");
const E_MSGTYPE: WxError = wx(40008, "invalid message type");
const E_EMPTY_CONTENT: WxError = wx(44004, "empty content");
const E_APPID: WxError = wx(40013, "invalid appid");
/// A mass send repeated with a `clientmsgid` already used: the answer names the first send.
pub const MASS_CLIENT_MSG_ID_EXISTS: i64 = 45065;

/// Service accounts (服务号): 4 mass messages per follower a month. Subscription accounts
/// (订阅号): one successful mass send a day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Service,
    Subscription,
}

/// The limits in force; `[sim.wechat.limits]` and `POST /sim/wechat/limits` change them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    pub account: AccountKind,
    /// Template messages per template per campus day.
    pub template_daily_quota: u32,
    /// Template and customer-service messages per second over the account; 0 = no limit
    /// (WeChat publishes none, but answers 45009 to a caller that floods it).
    pub messages_per_second: u32,
    pub mass_per_user_per_month: u32,
    pub mass_daily_calls: u32,
    pub mass_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            account: AccountKind::Service,
            template_daily_quota: TEMPLATE_DAILY_QUOTA,
            messages_per_second: 0,
            mass_per_user_per_month: MASS_PER_USER_PER_MONTH,
            mass_daily_calls: MASS_DAILY_CALLS,
            mass_per_minute: MASS_PER_MINUTE,
        }
    }
}

/// A counter that starts over when its period (day, minute, second …) changes.
#[derive(Clone, Copy, Debug, Default)]
struct Window {
    period: i64,
    count: u32,
}

impl Window {
    /// Take one if fewer than `max` were taken this period.
    fn take(&mut self, period: i64, max: u32) -> bool {
        if self.period != period {
            *self = Self { period, count: 0 };
        }
        if self.count >= max {
            return false;
        }
        self.count += 1;
        true
    }
}

#[derive(Clone, Debug, Serialize)]
struct Tag {
    id: u64,
    name: String,
    #[serde(skip)]
    members: BTreeSet<String>,
}

/// One mass send as `message/mass/get` and the inspection endpoint show it.
#[derive(Clone, Debug, Serialize)]
pub struct MassRecord {
    pub msg_id: u64,
    pub msg_status: &'static str,
    pub total_count: u64,
    pub sent_count: u64,
    /// Followers over their monthly allowance of mass messages.
    pub error_count: u64,
    pub client_msg_id: Option<String>,
}

#[derive(Default)]
struct MassState {
    followers: BTreeSet<String>,
    unfollowed: BTreeSet<String>,
    tags: BTreeMap<u64, Tag>,
    next_tag_id: u64,
    /// template_id → today's sends.
    template_days: HashMap<String, Window>,
    messages_second: Window,
    mass_day: Window,
    mass_minute: Window,
    /// Subscription accounts: successful mass sends today.
    mass_success_day: Window,
    /// openid → mass messages received this month.
    mass_month: HashMap<String, Window>,
    clear_quota_month: Window,
    mass: BTreeMap<u64, MassRecord>,
    by_client_msg_id: HashMap<String, u64>,
    next_mass_id: u64,
}

/// The broadcasting side of the simulated account.
pub struct MassSim {
    st: Mutex<MassState>,
    limits: Mutex<Limits>,
}

/// Campus (UTC+8) day, month and minute numbers of `now`.
fn day(now: i64) -> i64 {
    (now + 8 * 3600).div_euclid(86_400)
}
fn month(now: i64) -> i64 {
    chrono::DateTime::from_timestamp(now + 8 * 3600, 0).map_or(0, |t| {
        use chrono::Datelike;
        i64::from(t.year()) * 12 + i64::from(t.month0())
    })
}

/// A mass send the caller asked for, checked.
pub struct MassRequest {
    pub to_all: bool,
    pub tag_id: Option<u64>,
    /// The message as delivered to each follower's outbox.
    pub message: Value,
    pub client_msg_id: Option<String>,
}

/// What a mass send delivers: to whom, under which id.
pub struct MassDelivery {
    pub msg_id: u64,
    pub recipients: Vec<String>,
}

/// A mass send refused; `Exists` names the earlier send with the same `clientmsgid`.
pub enum MassRefusal {
    Error(WxError),
    Exists(u64),
}

impl From<WxError> for MassRefusal {
    fn from(e: WxError) -> Self {
        Self::Error(e)
    }
}

impl MassSim {
    pub fn new(limits: Limits) -> Self {
        Self {
            st: Mutex::new(MassState {
                next_tag_id: 100,
                next_mass_id: 1_000_000_001,
                ..MassState::default()
            }),
            limits: Mutex::new(limits),
        }
    }

    pub fn limits(&self) -> Limits {
        lock(&self.limits).clone()
    }

    pub fn set_limits(&self, limits: Limits) {
        *lock(&self.limits) = limits;
    }

    /// The user follows (subscribe, or any message: only followers can write).
    pub fn follow(&self, openid: &str) {
        let mut st = lock(&self.st);
        st.unfollowed.remove(openid);
        st.followers.insert(openid.to_owned());
    }

    pub fn unfollow(&self, openid: &str) {
        let mut st = lock(&self.st);
        st.followers.remove(openid);
        st.unfollowed.insert(openid.to_owned());
    }

    /// One template message of `template_id` may go out now (rate, then the daily quota).
    pub fn admit_template(&self, template_id: &str, now: i64) -> Result<(), WxError> {
        let limits = self.limits();
        let mut st = lock(&self.st);
        if limits.messages_per_second > 0
            && !st.messages_second.take(now, limits.messages_per_second)
        {
            return Err(E_FREQ);
        }
        let today = st.template_days.entry(template_id.to_owned()).or_default();
        if !today.take(day(now), limits.template_daily_quota) {
            return Err(E_QUOTA);
        }
        Ok(())
    }

    /// `POST cgi-bin/clear_quota {"appid"}`: today's counts start over, 10 times a month.
    pub fn clear_quota(&self, app_id: &str, raw: &Value, now: i64) -> Result<(), WxError> {
        if raw.get("appid").and_then(Value::as_str) != Some(app_id) {
            return Err(E_APPID);
        }
        let mut st = lock(&self.st);
        if !st.clear_quota_month.take(month(now), CLEAR_QUOTA_PER_MONTH) {
            return Err(E_CLEAR_LIMIT);
        }
        st.template_days.clear();
        st.mass_day = Window::default();
        st.mass_success_day = Window::default();
        Ok(())
    }

    /// `POST cgi-bin/tags/create {"tag":{"name"}}`.
    pub fn create_tag(&self, body: &Value) -> Result<Value, WxError> {
        let name = body
            .pointer("/tag/name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty())
            .ok_or(E_TAG_NAME)?;
        if name.len() > TAG_NAME_MAX {
            return Err(E_TAG_NAME_SIZE);
        }
        let mut st = lock(&self.st);
        if st.tags.values().any(|t| t.name == name) {
            return Err(E_TAG_NAME);
        }
        if st.tags.len() >= MAX_TAGS {
            return Err(E_TOO_MANY_TAGS);
        }
        let id = st.next_tag_id;
        st.next_tag_id += 1;
        st.tags.insert(
            id,
            Tag {
                id,
                name: name.to_owned(),
                members: BTreeSet::new(),
            },
        );
        Ok(json!({ "tag": { "id": id, "name": name } }))
    }

    /// `GET cgi-bin/tags/get`.
    pub fn tags(&self) -> Value {
        let st = lock(&self.st);
        let tags: Vec<Value> = st
            .tags
            .values()
            .map(|t| json!({ "id": t.id, "name": t.name, "count": t.members.len() }))
            .collect();
        json!({ "tags": tags })
    }

    /// `POST cgi-bin/tags/members/batchtagging {"openid_list":[…],"tagid"}`.
    pub fn tag_users(&self, body: &Value) -> Result<(), WxError> {
        let list = body
            .get("openid_list")
            .and_then(Value::as_array)
            .ok_or(E_OPENID_LIST)?;
        if list.is_empty() || list.len() > TAGGING_BATCH {
            return Err(E_OPENID_LIST);
        }
        let openids = list
            .iter()
            .map(|o| {
                o.as_str()
                    .filter(|o| onecard_wire::domain::OpenId::parse(o).is_ok())
                    .map(str::to_owned)
                    .ok_or(E_OPENID)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tag_id = body.get("tagid").and_then(Value::as_u64).ok_or(E_TAG_ID)?;
        let mut st = lock(&self.st);
        if !st.tags.contains_key(&tag_id) {
            return Err(E_TAG_ID);
        }
        for openid in &openids {
            let tags_of_user = st
                .tags
                .values()
                .filter(|t| t.id != tag_id && t.members.contains(openid))
                .count();
            if tags_of_user >= TAGS_PER_USER {
                return Err(E_USER_TAGS);
            }
        }
        if let Some(tag) = st.tags.get_mut(&tag_id) {
            tag.members.extend(openids);
        }
        Ok(())
    }

    /// Check a `message/mass/sendall` body: filter and a text message (the kind news pushes
    /// use; media types need uploaded material the simulator does not keep).
    pub fn parse_sendall(body: &Value) -> Result<MassRequest, WxError> {
        let filter = body.get("filter").ok_or(E_DATA_FORMAT)?;
        let to_all = filter
            .get("is_to_all")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let tag_id = filter.get("tag_id").and_then(Value::as_u64);
        if !to_all && tag_id.is_none() {
            return Err(E_TAG_ID);
        }
        let msgtype = body
            .get("msgtype")
            .and_then(Value::as_str)
            .ok_or(E_MSGTYPE)?;
        if msgtype != "text" {
            return Err(E_MSGTYPE);
        }
        let content = body
            .pointer("/text/content")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty())
            .ok_or(E_EMPTY_CONTENT)?;
        Ok(MassRequest {
            to_all,
            tag_id: if to_all { None } else { tag_id },
            message: json!({ "msgtype": "text", "text": { "content": content } }),
            client_msg_id: body
                .get("clientmsgid")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty())
                .map(str::to_owned),
        })
    }

    /// Accept a mass send: quotas, the `clientmsgid` check, then who receives it (followers,
    /// or the tag's members who still follow, each within their monthly allowance).
    pub fn sendall(&self, req: &MassRequest, now: i64) -> Result<MassDelivery, MassRefusal> {
        let limits = self.limits();
        let mut st = lock(&self.st);
        if let Some(id) = &req.client_msg_id
            && let Some(msg_id) = st.by_client_msg_id.get(id)
        {
            return Err(MassRefusal::Exists(*msg_id));
        }
        if let Some(tag) = req.tag_id
            && !st.tags.contains_key(&tag)
        {
            return Err(E_TAG_ID.into());
        }
        if !st
            .mass_minute
            .take(now.div_euclid(60), limits.mass_per_minute)
        {
            return Err(E_FREQ.into());
        }
        if !st.mass_day.take(day(now), limits.mass_daily_calls) {
            return Err(E_QUOTA.into());
        }
        if limits.account == AccountKind::Subscription && !st.mass_success_day.take(day(now), 1) {
            return Err(E_NO_MASS_QUOTA.into());
        }
        let audience: Vec<String> = match req.tag_id {
            None => st.followers.iter().cloned().collect(),
            Some(tag) => st.tags[&tag]
                .members
                .iter()
                .filter(|o| !st.unfollowed.contains(*o))
                .cloned()
                .collect(),
        };
        let this_month = month(now);
        let per_user = match limits.account {
            AccountKind::Service => limits.mass_per_user_per_month,
            AccountKind::Subscription => u32::MAX,
        };
        let mut recipients = Vec::with_capacity(audience.len());
        for openid in &audience {
            if st
                .mass_month
                .entry(openid.clone())
                .or_default()
                .take(this_month, per_user)
            {
                recipients.push(openid.clone());
            }
        }
        let msg_id = st.next_mass_id;
        st.next_mass_id += 1;
        if let Some(id) = &req.client_msg_id {
            st.by_client_msg_id.insert(id.clone(), msg_id);
        }
        st.mass.insert(
            msg_id,
            MassRecord {
                msg_id,
                msg_status: "SEND_SUCCESS",
                total_count: audience.len() as u64,
                sent_count: recipients.len() as u64,
                error_count: (audience.len() - recipients.len()) as u64,
                client_msg_id: req.client_msg_id.clone(),
            },
        );
        Ok(MassDelivery { msg_id, recipients })
    }

    /// `POST cgi-bin/message/mass/get {"msg_id"}`.
    pub fn mass_status(&self, body: &Value) -> Result<Value, WxError> {
        let id = body
            .get("msg_id")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or(E_DATA_FORMAT)?;
        let st = lock(&self.st);
        let rec = st.mass.get(&id).ok_or(E_DATA_FORMAT)?;
        Ok(json!({ "msg_id": rec.msg_id, "msg_status": rec.msg_status }))
    }

    /// Every mass send so far (inspection).
    pub fn mass_records(&self) -> Vec<MassRecord> {
        lock(&self.st).mass.values().cloned().collect()
    }

    /// Register followers (the WeChat side: people who follow the account).
    pub fn add_followers(&self, openids: &[String]) {
        let mut st = lock(&self.st);
        for o in openids {
            st.unfollowed.remove(o);
            st.followers.insert(o.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(sim: &MassSim, body: Value, now: i64) -> Result<MassDelivery, i64> {
        let req = MassSim::parse_sendall(&body).map_err(|e| e.code)?;
        sim.sendall(&req, now).map_err(|r| match r {
            MassRefusal::Error(e) => e.code,
            MassRefusal::Exists(_) => MASS_CLIENT_MSG_ID_EXISTS,
        })
    }

    fn text_to_all(cmid: &str) -> Value {
        json!({"filter": {"is_to_all": true}, "msgtype": "text", "text": {"content": "通知"}, "clientmsgid": cmid})
    }

    #[test]
    fn a_follower_gets_four_mass_messages_a_month_and_a_clientmsgid_is_used_once() {
        let sim = MassSim::new(Limits::default());
        sim.add_followers(&["oA".repeat(14), "oB".repeat(14)]);
        let now = 1_767_225_600; // 2026-01-01 08:00 campus time
        for i in 0..4 {
            let d = send(&sim, text_to_all(&format!("m{i}")), now + i).unwrap();
            assert_eq!(d.recipients.len(), 2);
        }
        let fifth = send(&sim, text_to_all("m4"), now + 10).unwrap();
        assert!(fifth.recipients.is_empty());
        assert_eq!(sim.mass_records()[4].error_count, 2);
        assert_eq!(send(&sim, text_to_all("m0"), now + 11).err(), Some(45065));
        // A new month, a new allowance.
        let next_month = now + 31 * 86_400;
        assert_eq!(
            send(&sim, text_to_all("m5"), next_month)
                .unwrap()
                .recipients
                .len(),
            2
        );
    }

    #[test]
    fn a_subscription_account_has_one_mass_send_a_day() {
        let sim = MassSim::new(Limits {
            account: AccountKind::Subscription,
            ..Limits::default()
        });
        let now = 1_767_225_600;
        assert!(send(&sim, text_to_all("a"), now).is_ok());
        assert_eq!(send(&sim, text_to_all("b"), now + 60).err(), Some(45028));
        assert!(send(&sim, text_to_all("c"), now + 86_400).is_ok());
    }

    #[test]
    fn template_quota_is_per_template_per_day_and_clear_quota_resets_it() {
        let sim = MassSim::new(Limits {
            template_daily_quota: 2,
            ..Limits::default()
        });
        let now = 1_767_225_600;
        assert!(sim.admit_template("T1", now).is_ok());
        assert!(sim.admit_template("T1", now).is_ok());
        assert_eq!(sim.admit_template("T1", now).unwrap_err().code, 45009);
        assert!(sim.admit_template("T2", now).is_ok());
        let appid = json!({"appid": "wx1"});
        sim.clear_quota("wx1", &appid, now).unwrap();
        assert!(sim.admit_template("T1", now).is_ok());
        for _ in 0..9 {
            sim.clear_quota("wx1", &appid, now).unwrap();
        }
        assert_eq!(sim.clear_quota("wx1", &appid, now).unwrap_err().code, 48006);
    }

    #[test]
    fn tags_follow_wechat_limits() {
        let sim = MassSim::new(Limits::default());
        let tag = sim.create_tag(&json!({"tag": {"name": "学生"}})).unwrap();
        assert_eq!(
            sim.create_tag(&json!({"tag": {"name": "学生"}}))
                .unwrap_err()
                .code,
            45157
        );
        let id = tag["tag"]["id"].as_u64().unwrap();
        let too_many: Vec<String> = (0..51).map(|i| format!("oUser{i:023}")).collect();
        assert_eq!(
            sim.tag_users(&json!({"openid_list": too_many, "tagid": id}))
                .unwrap_err()
                .code,
            40032
        );
        sim.tag_users(&json!({"openid_list": &too_many[..50], "tagid": id}))
            .unwrap();
        assert_eq!(sim.tags()["tags"][0]["count"], 50);
    }
}
