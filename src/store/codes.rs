//! SMS verification codes and the limits around them, kept in the store so that neither a
//! restart nor an unfollow/refollow forgets any of them.
//!
//! What the limits stop (docs/SECURITY.md, "Binding by SMS"):
//! - guessing: every wrong code counts against the *subject* (the card being bound, or the
//!   number being verified) for the whole campus day, whoever typed it and whichever code it
//!   was; at the day's limit the subject is locked until the next campus day or an operator's
//!   [`CodesRepo::unlock`];
//! - spraying: one WeChat user reaches few subjects and few codes per day;
//! - pumping: optionally, one purpose sends few codes per day over all users.
//!
//! Every limit is checked and counted in one sled transaction, so two users racing on two
//! threads cannot both pass a limit. Day counters live under keys that carry the campus day
//! (`d:{day}:…`) and are swept once the day is over. Per-user day counters are keyed by a keyed
//! hash of the openid, not the openid, so unsubscribing (which deletes `u:{openid}:…`) leaves
//! them in place and they hold nothing that names the user.
//!
//! A pending code is stored as an HMAC-SHA256 under the server's code key, bound to the openid
//! and purpose: a copy of the store does not reveal the code by trying all 10⁶ of them.
//! It must never log a code or a full phone number.

use hmac::{Hmac, KeyInit, Mac};
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::{StoreError, from_json, to_json};
use crate::domain::OpenId;

/// What a code confirms; each purpose has its own limits and counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Binding a campus card: the subject is the 学工号, the code goes to its phone on file.
    Bind,
    /// Verifying a new phone number (绑定手机): the subject is the number.
    Phone,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Bind => "bind",
            Purpose::Phone => "phone",
        }
    }
}

/// The limits of one purpose. Every "per day" is a campus day.
#[derive(Debug, Clone)]
pub struct CodeLimits {
    pub resend_secs: i64,
    pub valid_secs: i64,
    pub wrong_per_code: u32,
    pub wrong_per_subject_per_day: u32,
    pub codes_per_subject_per_day: u32,
    pub subjects_per_user_per_day: u32,
    pub codes_per_user_per_day: u32,
    /// Codes of this purpose per day over all users; None = no such cap.
    pub codes_per_day_all_users: Option<u32>,
    pub utc_offset_hours: i32,
}

/// Days since 1970-01-01 in campus local time: the key of every day counter.
pub fn campus_day(now: i64, utc_offset_hours: i32) -> i64 {
    (now + i64::from(utc_offset_hours) * 3600).div_euclid(86_400)
}

/// A code waiting to be typed back, and what it will unlock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingCode {
    /// HMAC of purpose, openid and code under the server's code key.
    hash: String,
    /// The subject's counter key part (a 学工号, or the keyed hash of a phone number).
    subject: String,
    expires_at: i64,
    wrong: u32,
    /// What the code confirms (e.g. the card being bound).
    payload: serde_json::Value,
}

/// One subject's day: codes sent to it and wrong codes typed for it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct SubjectDay {
    sent: u32,
    last_sent: i64,
    wrong: u32,
}

/// One user's day: which subjects they reached and how many codes they had sent.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct UserDay {
    subjects: Vec<String>,
    codes: u32,
}

/// All users' day for one purpose.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct AllDay {
    sent: u32,
}

#[derive(Debug, PartialEq)]
pub enum Issue {
    /// Send this code.
    Code(String),
    /// A code went to this subject less than `resend_secs` ago.
    TooSoon { wait_secs: i64 },
    /// The subject has had its codes for today.
    SubjectDailyLimit,
    /// This user has had their codes for today.
    UserDailyLimit,
    /// This user has reached as many subjects today as allowed.
    TooManySubjects,
    /// All users together have had today's codes of this purpose.
    AllUsersDailyLimit,
    /// Too many wrong codes for this subject today.
    Locked,
}

#[derive(Debug, PartialEq)]
pub enum Check {
    /// Right code: what it confirms.
    Ok(serde_json::Value),
    Wrong {
        tries_left: u32,
    },
    /// This code had its wrong tries; a new one may be asked for.
    Spent,
    /// Too many wrong codes for this subject today.
    Locked,
    Expired,
    NoCode,
}

type Tx = ConflictableTransactionError<StoreError>;

#[derive(Clone)]
pub struct CodesRepo {
    tree: sled::Tree,
    key: std::sync::Arc<[u8]>,
}

impl CodesRepo {
    pub(super) fn new(tree: sled::Tree, key: std::sync::Arc<[u8]>) -> Self {
        Self { tree, key }
    }

    fn mac(&self, parts: &[&str]) -> String {
        // HMAC takes keys of any length, so this cannot fail; if it ever did, the empty hash
        // never confirms a code (an empty pending hash reads as a spent code).
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn code_hash(&self, purpose: Purpose, openid: &OpenId, code: &str) -> String {
        self.mac(&["code", purpose.as_str(), openid.as_str(), code])
    }

    /// The counter key part of a phone number: its keyed hash, so the store keeps no full number.
    pub fn phone_subject(&self, phone: &str) -> String {
        short(self.mac(&["phone", phone]))
    }

    fn user_key(&self, purpose: Purpose, openid: &OpenId, day: i64) -> String {
        let user = short(self.mac(&["user", openid.as_str()]));
        format!("d:{day:08}:{}:user:{user}", purpose.as_str())
    }

    fn subject_key(purpose: Purpose, subject: &str, day: i64) -> String {
        format!("d:{day:08}:{}:subject:{subject}", purpose.as_str())
    }

    fn all_key(purpose: Purpose, day: i64) -> String {
        format!("d:{day:08}:{}:all", purpose.as_str())
    }

    fn pending_key(purpose: Purpose, openid: &OpenId) -> String {
        // Under the user's own prefix: unsubscribing deletes a pending code with the rest.
        format!("u:{}:code:{}", openid.as_str(), purpose.as_str())
    }

    /// Count `subject` among the user's subjects today, unless the user has reached their
    /// limit of distinct subjects. Called before a lookup that would tell whether the subject
    /// exists, so that lookups themselves are limited.
    pub fn reach_subject(
        &self,
        purpose: Purpose,
        openid: &OpenId,
        subject: &str,
        limits: &CodeLimits,
        now: i64,
    ) -> Result<bool, StoreError> {
        let day = campus_day(now, limits.utc_offset_hours);
        let user_key = self.user_key(purpose, openid, day);
        self.transact(|t| {
            let mut user: UserDay = read(t, &user_key)?;
            if user.subjects.iter().any(|s| s == subject) {
                return Ok(true);
            }
            if user.subjects.len() as u32 >= limits.subjects_per_user_per_day {
                return Ok(false);
            }
            user.subjects.push(subject.to_owned());
            t.insert(user_key.as_str(), to_json(&user))?;
            Ok(true)
        })
    }

    /// Issue a code for `subject` and remember `payload` until it is typed back. Every limit
    /// is checked and counted in one transaction.
    pub fn issue(
        &self,
        purpose: Purpose,
        openid: &OpenId,
        subject: &str,
        payload: serde_json::Value,
        limits: &CodeLimits,
        now: i64,
    ) -> Result<Issue, StoreError> {
        let day = campus_day(now, limits.utc_offset_hours);
        self.sweep_days_before(day)?;
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let pending = to_json(&PendingCode {
            hash: self.code_hash(purpose, openid, &code),
            subject: subject.to_owned(),
            expires_at: now + limits.valid_secs,
            wrong: 0,
            payload,
        });
        let (subject_key, user_key, all_key) = (
            Self::subject_key(purpose, subject, day),
            self.user_key(purpose, openid, day),
            Self::all_key(purpose, day),
        );
        let pending_key = Self::pending_key(purpose, openid);
        let issued = self.transact(|t| {
            let mut subj: SubjectDay = read(t, &subject_key)?;
            if subj.wrong >= limits.wrong_per_subject_per_day {
                return Ok(Issue::Locked);
            }
            let mut user: UserDay = read(t, &user_key)?;
            let known = user.subjects.iter().any(|s| s == subject);
            if !known && user.subjects.len() as u32 >= limits.subjects_per_user_per_day {
                return Ok(Issue::TooManySubjects);
            }
            let since = now - subj.last_sent;
            if subj.sent > 0 && (0..limits.resend_secs).contains(&since) {
                return Ok(Issue::TooSoon {
                    wait_secs: limits.resend_secs - since,
                });
            }
            if subj.sent >= limits.codes_per_subject_per_day {
                return Ok(Issue::SubjectDailyLimit);
            }
            if user.codes >= limits.codes_per_user_per_day {
                return Ok(Issue::UserDailyLimit);
            }
            if let Some(cap) = limits.codes_per_day_all_users {
                let mut all: AllDay = read(t, &all_key)?;
                if all.sent >= cap {
                    return Ok(Issue::AllUsersDailyLimit);
                }
                all.sent += 1;
                t.insert(all_key.as_str(), to_json(&all))?;
            }
            subj.sent += 1;
            subj.last_sent = now;
            user.codes += 1;
            if !known {
                user.subjects.push(subject.to_owned());
            }
            t.insert(subject_key.as_str(), to_json(&subj))?;
            t.insert(user_key.as_str(), to_json(&user))?;
            t.insert(pending_key.as_str(), pending.clone())?;
            Ok(Issue::Code(String::new()))
        })?;
        Ok(match issued {
            Issue::Code(_) => Issue::Code(code),
            refused => refused,
        })
    }

    /// What the user's pending code would confirm, if one is waiting (e.g. the number to send
    /// a new code to, so the dialog need not carry it).
    pub fn pending_payload(
        &self,
        purpose: Purpose,
        openid: &OpenId,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        match self.tree.get(Self::pending_key(purpose, openid))? {
            Some(bytes) => Ok(from_json::<PendingCode>("counters", &bytes)
                .ok()
                .map(|p| p.payload)),
            None => Ok(None),
        }
    }

    /// Check a typed code. A right code is consumed; a wrong one counts against its subject
    /// for the day and against the code itself.
    pub fn check(
        &self,
        purpose: Purpose,
        openid: &OpenId,
        typed: &str,
        limits: &CodeLimits,
        now: i64,
    ) -> Result<Check, StoreError> {
        let day = campus_day(now, limits.utc_offset_hours);
        let pending_key = Self::pending_key(purpose, openid);
        let typed_hash = self.code_hash(purpose, openid, typed.trim());
        self.transact(|t| {
            let Some(bytes) = t.get(pending_key.as_str())? else {
                return Ok(Check::NoCode);
            };
            let Ok(mut pending) = serde_json::from_slice::<PendingCode>(&bytes) else {
                t.remove(pending_key.as_str())?;
                return Ok(Check::NoCode);
            };
            let subject_key = Self::subject_key(purpose, &pending.subject, day);
            let mut subj: SubjectDay = read(t, &subject_key)?;
            if subj.wrong >= limits.wrong_per_subject_per_day {
                t.remove(pending_key.as_str())?;
                return Ok(Check::Locked);
            }
            // A spent or expired code stays until a new one replaces it (or the user leaves):
            // its payload is what a resend sends the new code to.
            if pending.hash.is_empty() {
                return Ok(Check::Spent);
            }
            if now > pending.expires_at {
                return Ok(Check::Expired);
            }
            let right =
                subtle::ConstantTimeEq::ct_eq(typed_hash.as_bytes(), pending.hash.as_bytes());
            if bool::from(right) {
                t.remove(pending_key.as_str())?;
                return Ok(Check::Ok(pending.payload.clone()));
            }
            subj.wrong += 1;
            pending.wrong += 1;
            t.insert(subject_key.as_str(), to_json(&subj))?;
            if subj.wrong >= limits.wrong_per_subject_per_day {
                t.remove(pending_key.as_str())?;
                return Ok(Check::Locked);
            }
            if pending.wrong >= limits.wrong_per_code {
                pending.hash.clear();
                t.insert(pending_key.as_str(), to_json(&pending))?;
                return Ok(Check::Spent);
            }
            t.insert(pending_key.as_str(), to_json(&pending))?;
            Ok(Check::Wrong {
                tries_left: (limits.wrong_per_code - pending.wrong)
                    .min(limits.wrong_per_subject_per_day - subj.wrong),
            })
        })
    }

    /// Clear a card's binding counters (wrong codes and codes sent) for the current day, after
    /// an operator checked the owner's ID. Returns whether there was anything to clear.
    /// Works without knowing the campus offset: it clears the UTC day and its neighbours,
    /// which contain every campus day of this moment.
    pub fn unlock(&self, purpose: Purpose, subject: &str, now: i64) -> Result<bool, StoreError> {
        let day = campus_day(now, 0);
        let mut cleared = false;
        for d in day - 1..=day + 1 {
            cleared |= self
                .tree
                .remove(Self::subject_key(purpose, subject, d))?
                .is_some();
        }
        Ok(cleared)
    }

    /// Remove the day counters of days before `day`. Called on every issue: when nothing is
    /// stale this is one empty range lookup.
    fn sweep_days_before(&self, day: i64) -> Result<usize, StoreError> {
        let end = format!("d:{day:08}");
        let mut removed = 0;
        for item in self.tree.range("d:".to_owned()..end) {
            let (key, _) = item?;
            self.tree.remove(key)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Day counter keys currently stored (for tests and the store-size picture).
    pub fn day_counter_keys(&self) -> usize {
        self.tree.scan_prefix("d:").count()
    }

    fn transact<T>(
        &self,
        f: impl Fn(&TransactionalTree) -> Result<T, Tx>,
    ) -> Result<T, StoreError> {
        self.tree.transaction(f).map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => e.into(),
        })
    }
}

/// 96 bits of a hex MAC: plenty to tell users or numbers apart, short enough for keys.
fn short(mut mac: String) -> String {
    mac.truncate(24);
    mac
}

/// A day record inside a transaction; absent = a fresh day.
fn read<T: serde::de::DeserializeOwned + Default>(
    t: &TransactionalTree,
    key: &str,
) -> Result<T, Tx> {
    match t.get(key)? {
        Some(bytes) => from_json("counters", &bytes).map_err(Tx::Abort),
        None => Ok(T::default()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use sha2::Digest;

    use super::*;
    use crate::store::Store;

    /// 2025-12-01 00:00 UTC.
    const UTC_MIDNIGHT: i64 = 1_764_547_200;
    /// The same day's campus midnight at UTC+8 is 16:00 UTC the day before.
    const CAMPUS_MIDNIGHT: i64 = UTC_MIDNIGHT - 8 * 3600;

    fn limits() -> CodeLimits {
        CodeLimits {
            resend_secs: 60,
            valid_secs: 300,
            wrong_per_code: 5,
            wrong_per_subject_per_day: 10,
            codes_per_subject_per_day: 10,
            subjects_per_user_per_day: 3,
            codes_per_user_per_day: 5,
            codes_per_day_all_users: None,
            utc_offset_hours: 8,
        }
    }

    fn user(n: u32) -> OpenId {
        OpenId::parse(&format!("oCodeTest{n:018}")).unwrap()
    }

    fn code(issued: Issue) -> String {
        match issued {
            Issue::Code(code) => code,
            other => panic!("expected a code, got {other:?}"),
        }
    }

    fn wrong_for(code: &str) -> &'static str {
        if code == "000000" { "111111" } else { "000000" }
    }

    fn issue(codes: &CodesRepo, who: &OpenId, subject: &str, now: i64) -> Issue {
        codes
            .issue(Purpose::Bind, who, subject, json(subject), &limits(), now)
            .unwrap()
    }

    fn check(codes: &CodesRepo, who: &OpenId, typed: &str, now: i64) -> Check {
        codes
            .check(Purpose::Bind, who, typed, &limits(), now)
            .unwrap()
    }

    fn json(subject: &str) -> serde_json::Value {
        serde_json::json!({ "sno": subject })
    }

    /// Type wrong codes for `subject` as `who` until `n` have been judged, asking for new
    /// codes as needed (each `resend_secs` apart); returns the time after the last one.
    fn type_wrong(codes: &CodesRepo, who: &OpenId, subject: &str, n: u32, mut now: i64) -> i64 {
        let mut judged = 0;
        while judged < n {
            let c = code(issue(codes, who, subject, now));
            while judged < n {
                judged += 1;
                match check(codes, who, wrong_for(&c), now) {
                    Check::Wrong { .. } => {}
                    Check::Spent | Check::Locked => break,
                    other => panic!("unexpected {other:?}"),
                }
            }
            now += 61;
        }
        now
    }

    #[test]
    fn a_right_code_confirms_its_payload_once() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let c = code(issue(&codes, &user(1), "S1", 1000));
        assert_eq!(check(&codes, &user(1), &c, 1010), Check::Ok(json("S1")));
        assert_eq!(check(&codes, &user(1), &c, 1011), Check::NoCode);
    }

    #[test]
    fn a_stored_code_is_a_keyed_hash_not_a_plain_sha256() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let who = user(2);
        let c = code(issue(&codes, &who, "S2", 1000));
        let stored = store
            .counters()
            .get_value(&CodesRepo::pending_key(Purpose::Bind, &who))
            .unwrap()
            .unwrap();
        let hash = stored["hash"].as_str().unwrap();
        // What the old scheme stored, and what anyone could recompute from a copy of the store.
        let plain = hex::encode(sha2::Sha256::digest(format!("{}:{c}", who.as_str())));
        assert_ne!(hash, plain);
        assert!(
            !stored.to_string().contains(&c),
            "the code itself is not stored"
        );
        // Under another key the same code does not match.
        let other_key = store.clone().with_code_secret("another server's secret");
        assert_eq!(
            other_key
                .codes()
                .check(Purpose::Bind, &who, &c, &limits(), 1010)
                .unwrap(),
            Check::Wrong { tries_left: 4 }
        );
    }

    #[test]
    fn one_code_per_card_per_minute_and_ten_per_card_per_day() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let now = CAMPUS_MIDNIGHT + 3600;
        // Users take turns so that no per-user limit is reached first.
        let who = |i: i64| user(100 + i as u32);
        code(issue(&codes, &who(0), "S3", now));
        assert_eq!(
            issue(&codes, &who(1), "S3", now + 30),
            Issue::TooSoon { wait_secs: 30 }
        );
        for i in 1..10 {
            code(issue(&codes, &who(i), "S3", now + i * 61));
        }
        assert_eq!(
            issue(&codes, &who(10), "S3", now + 10 * 61),
            Issue::SubjectDailyLimit
        );
        code(issue(&codes, &who(10), "S3", CAMPUS_MIDNIGHT + 86_400 + 5));
    }

    #[test]
    fn ten_wrong_codes_per_card_per_day_whoever_types_them_and_new_codes_do_not_reset() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let now = CAMPUS_MIDNIGHT + 3600;
        let (a, b, c) = (user(20), user(21), user(22));
        // A types four wrong codes, B four, C two: the tenth locks the card.
        let ca = code(issue(&codes, &a, "S4", now));
        for left in (1..5).rev() {
            assert_eq!(
                check(&codes, &a, wrong_for(&ca), now),
                Check::Wrong { tries_left: left }
            );
        }
        let cb = code(issue(&codes, &b, "S4", now + 61));
        for _ in 0..4 {
            assert!(matches!(
                check(&codes, &b, wrong_for(&cb), now + 61),
                Check::Wrong { .. }
            ));
        }
        let cc = code(issue(&codes, &c, "S4", now + 122));
        assert_eq!(
            check(&codes, &c, wrong_for(&cc), now + 122),
            Check::Wrong { tries_left: 1 }
        );
        assert_eq!(check(&codes, &c, wrong_for(&cc), now + 122), Check::Locked);
        // Nobody gets a code or has one judged for the rest of the day, not even the right one.
        assert_eq!(check(&codes, &a, &ca, now + 130), Check::Locked);
        assert_eq!(issue(&codes, &user(23), "S4", now + 200), Issue::Locked);
        // The next campus day it works again.
        code(issue(&codes, &user(23), "S4", CAMPUS_MIDNIGHT + 86_400));
    }

    #[test]
    fn five_wrong_tries_spend_a_code() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let who = user(30);
        let c = code(issue(&codes, &who, "S5", 0));
        for _ in 0..4 {
            assert!(matches!(
                check(&codes, &who, wrong_for(&c), 10),
                Check::Wrong { .. }
            ));
        }
        assert_eq!(check(&codes, &who, wrong_for(&c), 10), Check::Spent);
        assert_eq!(
            check(&codes, &who, &c, 11),
            Check::Spent,
            "the right code is void too"
        );
        let fresh = code(issue(&codes, &who, "S5", 100));
        assert_eq!(check(&codes, &who, &fresh, 101), Check::Ok(json("S5")));
    }

    #[test]
    fn an_expired_code_fails() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let c = code(issue(&codes, &user(31), "S6", 0));
        assert_eq!(check(&codes, &user(31), &c, 301), Check::Expired);
    }

    #[test]
    fn one_user_reaches_three_cards_and_five_codes_a_day() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let who = user(40);
        let now = CAMPUS_MIDNIGHT + 3600;
        for card in ["C1", "C2", "C3"] {
            assert!(
                codes
                    .reach_subject(Purpose::Bind, &who, card, &limits(), now)
                    .unwrap()
            );
        }
        assert!(
            !codes
                .reach_subject(Purpose::Bind, &who, "C4", &limits(), now)
                .unwrap()
        );
        assert_eq!(issue(&codes, &who, "C4", now), Issue::TooManySubjects);
        // Cards already reached stay open: five codes in all.
        for i in 0..5 {
            let card = ["C1", "C2", "C3"][i % 3];
            code(issue(&codes, &who, card, now + 61 * i as i64));
        }
        assert_eq!(issue(&codes, &who, "C2", now + 400), Issue::UserDailyLimit);
    }

    #[test]
    fn an_all_users_cap_bounds_codes_of_one_purpose() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let capped = CodeLimits {
            codes_per_day_all_users: Some(2),
            ..limits()
        };
        let send = |n: u32| {
            codes
                .issue(
                    Purpose::Phone,
                    &user(50 + n),
                    &codes.phone_subject(&format!("1391234560{n}")),
                    serde_json::Value::Null,
                    &capped,
                    1000,
                )
                .unwrap()
        };
        code(send(0));
        code(send(1));
        assert_eq!(send(2), Issue::AllUsersDailyLimit);
    }

    #[test]
    fn two_users_racing_on_two_threads_get_one_code_per_minute() {
        let store = Store::temporary().unwrap();
        let rounds = 200;
        let mut granted = vec![0; rounds];
        for (round, granted) in granted.iter_mut().enumerate() {
            let subject = format!("RACE{round}");
            let barrier = Arc::new(Barrier::new(2));
            let racers: Vec<_> = (0..2)
                .map(|n| {
                    let (codes, barrier, subject) =
                        (store.codes(), barrier.clone(), subject.clone());
                    std::thread::spawn(move || {
                        let who = user(1000 + 2 * round as u32 + n);
                        barrier.wait();
                        codes
                            .issue(
                                Purpose::Bind,
                                &who,
                                &subject,
                                json(&subject),
                                &limits(),
                                5000,
                            )
                            .unwrap()
                    })
                })
                .collect();
            for racer in racers {
                if matches!(racer.join().unwrap(), Issue::Code(_)) {
                    *granted += 1;
                }
            }
        }
        assert!(
            granted.iter().all(|&n| n == 1),
            "codes per round: {granted:?}"
        );
    }

    #[test]
    fn the_day_is_the_campus_day_not_the_utc_day() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        // Locked at 23:59 campus time …
        let end = type_wrong(&codes, &user(60), "S7", 10, CAMPUS_MIDNIGHT - 300);
        assert!(end <= CAMPUS_MIDNIGHT, "all ten before campus midnight");
        assert_eq!(
            issue(&codes, &user(61), "S7", CAMPUS_MIDNIGHT - 1),
            Issue::Locked
        );
        // … open at 00:00:10 campus time, although the UTC day has not changed.
        assert_eq!(
            campus_day(CAMPUS_MIDNIGHT - 1, 0),
            campus_day(CAMPUS_MIDNIGHT + 10, 0)
        );
        code(issue(&codes, &user(61), "S7", CAMPUS_MIDNIGHT + 10));
        // Locked again in the morning, it stays locked across the UTC midnight (08:00 campus).
        type_wrong(&codes, &user(62), "S8", 10, UTC_MIDNIGHT - 1200);
        assert_eq!(
            issue(&codes, &user(63), "S8", UTC_MIDNIGHT + 60),
            Issue::Locked
        );
    }

    #[test]
    fn past_days_are_swept_and_unsubscribing_keeps_the_limits() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let who = user(70);
        let today = CAMPUS_MIDNIGHT + 3600;
        type_wrong(&codes, &who, "S9", 10, today);
        // A subject, a user and nothing else: two day records.
        assert_eq!(codes.day_counter_keys(), 2);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(store.forget_user(&who)).unwrap();
        assert_eq!(codes.day_counter_keys(), 2, "the limits outlive the user");
        assert_eq!(issue(&codes, &who, "S9", today + 600), Issue::Locked);
        // The first code of the next day sweeps yesterday's records.
        code(issue(&codes, &who, "S10", today + 86_400));
        assert_eq!(codes.day_counter_keys(), 2, "only today's records are left");
    }

    #[test]
    fn an_operator_unlock_clears_the_cards_day() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let now = CAMPUS_MIDNIGHT + 3600;
        let end = type_wrong(&codes, &user(80), "S11", 10, now);
        assert_eq!(issue(&codes, &user(81), "S11", end), Issue::Locked);
        assert!(codes.unlock(Purpose::Bind, "S11", end).unwrap());
        let c = code(issue(&codes, &user(81), "S11", end + 1));
        assert_eq!(
            check(&codes, &user(81), &c, end + 2),
            Check::Ok(json("S11"))
        );
        assert!(
            !codes.unlock(Purpose::Bind, "S12", end).unwrap(),
            "nothing to clear"
        );
    }
}
