//! SMS verification codes and their limits, kept in the store so that a restart forgets none
//! of them: one code per phone per 60 s and 10 per day, a code is valid for 5 minutes, and 5
//! wrong tries lock the user (and the card they were binding) for 30 minutes.
//!
//! Codes are never stored in clear: only a SHA-256 of the code salted with the openid.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{CountersRepo, StoreError};
use crate::domain::OpenId;

pub const RESEND_SECS: i64 = 60;
pub const DAILY_LIMIT: u32 = 10;
pub const VALID_SECS: i64 = 300;
pub const MAX_WRONG: u32 = 5;
pub const LOCK_SECS: i64 = 30 * 60;

/// A code waiting to be typed back, and what it will unlock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct PendingCode {
    hash: String,
    expires_at: i64,
    wrong: u32,
    /// What the code confirms (e.g. the student id and phone being bound).
    payload: serde_json::Value,
}

#[derive(Debug, PartialEq)]
pub enum Issue {
    /// Send this code.
    Code(String),
    /// A code went to this phone less than a minute ago.
    TooSoon {
        wait_secs: i64,
    },
    /// Ten codes went to this phone today.
    DailyLimit,
    Locked {
        minutes_left: i64,
    },
}

#[derive(Debug, PartialEq)]
pub enum Check {
    /// Right code: what it confirms.
    Ok(serde_json::Value),
    Wrong {
        tries_left: u32,
    },
    /// Too many wrong tries: locked now.
    Locked {
        minutes_left: i64,
    },
    Expired,
    NoCode,
}

#[derive(Clone)]
pub struct CodesRepo {
    counters: CountersRepo,
}

fn hash(openid: &OpenId, code: &str) -> String {
    hex::encode(Sha256::digest(
        format!("{}:{code}", openid.as_str()).as_bytes(),
    ))
}

impl CodesRepo {
    pub(super) fn new(counters: CountersRepo) -> Self {
        Self { counters }
    }

    fn lock_keys(openid: &OpenId, subject: &str) -> [String; 2] {
        [
            format!("u:{}:lock", openid.as_str()),
            format!("s:{subject}:lock"),
        ]
    }

    /// Minutes left on a lock of this user or this subject (card), if any.
    pub fn locked(
        &self,
        openid: &OpenId,
        subject: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        for key in Self::lock_keys(openid, subject) {
            if let Some(until) = self.counters.get_value(&key)?.and_then(|v| v.as_i64())
                && until > now
            {
                return Ok(Some((until - now + 59) / 60));
            }
        }
        Ok(None)
    }

    /// Issue a code for `purpose` (e.g. "bind") to `phone`, remembering `payload`.
    /// `subject` names what is being confirmed (a student id) for the lock-out.
    pub fn issue(
        &self,
        purpose: &str,
        openid: &OpenId,
        subject: &str,
        phone: &str,
        payload: serde_json::Value,
        now: i64,
    ) -> Result<Issue, StoreError> {
        if let Some(minutes_left) = self.locked(openid, subject, now)? {
            return Ok(Issue::Locked { minutes_left });
        }
        let last_key = format!("p:{phone}:last");
        if let Some(last) = self.counters.get_value(&last_key)?.and_then(|v| v.as_i64())
            && now - last < RESEND_SECS
        {
            return Ok(Issue::TooSoon {
                wait_secs: RESEND_SECS - (now - last),
            });
        }
        let day = now.div_euclid(86_400);
        let day_key = format!("p:{phone}:day:{day}");
        if self.counters.peek(&day_key, now, 86_400)? >= DAILY_LIMIT {
            return Ok(Issue::DailyLimit);
        }
        self.counters.hit(&day_key, now, 86_400)?;
        self.counters.put_value(&last_key, &now.into())?;
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let pending = PendingCode {
            hash: hash(openid, &code),
            expires_at: now + VALID_SECS,
            wrong: 0,
            payload,
        };
        self.counters.put_value(
            &format!("u:{}:code:{purpose}", openid.as_str()),
            &serde_json::to_value(&pending).unwrap_or_default(),
        )?;
        Ok(Issue::Code(code))
    }

    /// Check a typed code. A right code is consumed; wrong ones count toward the lock-out.
    pub fn check(
        &self,
        purpose: &str,
        openid: &OpenId,
        subject: &str,
        typed: &str,
        now: i64,
    ) -> Result<Check, StoreError> {
        if let Some(minutes_left) = self.locked(openid, subject, now)? {
            return Ok(Check::Locked { minutes_left });
        }
        let key = format!("u:{}:code:{purpose}", openid.as_str());
        let Some(value) = self.counters.get_value(&key)? else {
            return Ok(Check::NoCode);
        };
        let Ok(mut pending) = serde_json::from_value::<PendingCode>(value) else {
            self.counters.remove(&key)?;
            return Ok(Check::NoCode);
        };
        if now > pending.expires_at {
            self.counters.remove(&key)?;
            return Ok(Check::Expired);
        }
        let right = subtle::ConstantTimeEq::ct_eq(
            hash(openid, typed.trim()).as_bytes(),
            pending.hash.as_bytes(),
        );
        if bool::from(right) {
            self.counters.remove(&key)?;
            return Ok(Check::Ok(pending.payload));
        }
        pending.wrong += 1;
        if pending.wrong >= MAX_WRONG {
            self.counters.remove(&key)?;
            for lock in Self::lock_keys(openid, subject) {
                self.counters.put_value(&lock, &(now + LOCK_SECS).into())?;
            }
            return Ok(Check::Locked {
                minutes_left: LOCK_SECS / 60,
            });
        }
        let tries_left = MAX_WRONG - pending.wrong;
        self.counters
            .put_value(&key, &serde_json::to_value(&pending).unwrap_or_default())?;
        Ok(Check::Wrong { tries_left })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    fn user() -> OpenId {
        OpenId::parse("oCodeTest000000000000000001").unwrap()
    }

    #[test]
    fn a_right_code_confirms_its_payload_once() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let Issue::Code(code) = codes
            .issue(
                "bind",
                &user(),
                "S1",
                "13800000001",
                serde_json::json!({"sno":"S1"}),
                1000,
            )
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            codes.check("bind", &user(), "S1", &code, 1010).unwrap(),
            Check::Ok(serde_json::json!({"sno":"S1"}))
        );
        assert_eq!(
            codes.check("bind", &user(), "S1", &code, 1011).unwrap(),
            Check::NoCode
        );
    }

    #[test]
    fn resend_waits_a_minute_and_ten_a_day_is_the_limit() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let phone = "13800000002";
        assert!(matches!(
            codes
                .issue("bind", &user(), "S", phone, serde_json::Value::Null, 0)
                .unwrap(),
            Issue::Code(_)
        ));
        assert_eq!(
            codes
                .issue("bind", &user(), "S", phone, serde_json::Value::Null, 30)
                .unwrap(),
            Issue::TooSoon { wait_secs: 30 }
        );
        for i in 1..10 {
            assert!(
                matches!(
                    codes
                        .issue("bind", &user(), "S", phone, serde_json::Value::Null, i * 61)
                        .unwrap(),
                    Issue::Code(_)
                ),
                "code {i}"
            );
        }
        assert_eq!(
            codes
                .issue(
                    "bind",
                    &user(),
                    "S",
                    phone,
                    serde_json::Value::Null,
                    10 * 61
                )
                .unwrap(),
            Issue::DailyLimit
        );
        // The next day it works again.
        assert!(matches!(
            codes
                .issue(
                    "bind",
                    &user(),
                    "S",
                    phone,
                    serde_json::Value::Null,
                    86_400 + 5
                )
                .unwrap(),
            Issue::Code(_)
        ));
    }

    #[test]
    fn five_wrong_tries_lock_for_thirty_minutes_and_expired_codes_fail() {
        let store = Store::temporary().unwrap();
        let codes = store.codes();
        let Issue::Code(code) = codes
            .issue(
                "bind",
                &user(),
                "S3",
                "13800000003",
                serde_json::Value::Null,
                0,
            )
            .unwrap()
        else {
            panic!()
        };
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for left in (1..5).rev() {
            assert_eq!(
                codes.check("bind", &user(), "S3", wrong, 10).unwrap(),
                Check::Wrong { tries_left: left }
            );
        }
        assert_eq!(
            codes.check("bind", &user(), "S3", wrong, 10).unwrap(),
            Check::Locked { minutes_left: 30 }
        );
        assert_eq!(
            codes
                .issue(
                    "bind",
                    &user(),
                    "S3",
                    "13800000003",
                    serde_json::Value::Null,
                    100
                )
                .unwrap(),
            Issue::Locked { minutes_left: 29 }
        );
        // Another user binding the same card is locked out too.
        let other = OpenId::parse("oCodeTest000000000000000002").unwrap();
        assert!(matches!(
            codes
                .issue(
                    "bind",
                    &other,
                    "S3",
                    "13800000003",
                    serde_json::Value::Null,
                    100
                )
                .unwrap(),
            Issue::Locked { .. }
        ));
        // After the lock, a new code works; an old one expires after 5 minutes.
        let Issue::Code(_) = codes
            .issue(
                "bind",
                &user(),
                "S3",
                "13800000003",
                serde_json::Value::Null,
                1900,
            )
            .unwrap()
        else {
            panic!()
        };
        assert_eq!(
            codes
                .check("bind", &user(), "S3", "123456", 1900 + 301)
                .unwrap(),
            Check::Expired
        );
    }
}
