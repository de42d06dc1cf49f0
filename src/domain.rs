//! Domain newtypes: parsed once at the edge, trusted everywhere after.
//!
//! Money is [`Fen`] (integer 分, never floats). [`Phone`] masks itself when displayed so a
//! phone number cannot leak into a log line or a reply by accident; the full number is only
//! reachable through [`Phone::expose`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// A WeChat user's OpenID for this account (28 chars in practice; we accept 1..=64 of
/// `[A-Za-z0-9_-]`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OpenId(String);

impl OpenId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::OpenId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A short, non-reversible tag for logs: enough to correlate lines, useless to identify.
    pub fn log_tag(&self) -> String {
        let tail: String = self
            .0
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

impl TryFrom<String> for OpenId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<OpenId> for String {
    fn from(value: OpenId) -> Self {
        value.0
    }
}
impl fmt::Display for OpenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An amount of money in 分 (1/100 yuan).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Fen(pub i64);

impl Fen {
    /// "12.30" style yuan text, sign kept.
    pub fn yuan(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.yuan())
    }
}

/// A mainland mobile number (11 digits starting with 1). Displays masked: `138****1234`.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if raw.len() == 11 && raw.starts_with('1') && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::Phone)
        }
    }
    /// The full number, for the SMS adapter only.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}
impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}
impl TryFrom<String> for Phone {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

/// 学工号: a student or staff number, 4..=20 ASCII letters or digits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StudentId(String);

impl StudentId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        if (4..=20).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(raw.to_ascii_uppercase()))
        } else {
            Err(DomainError::StudentId)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl TryFrom<String> for StudentId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<StudentId> for String {
    fn from(value: StudentId) -> Self {
        value.0
    }
}
impl fmt::Display for StudentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DomainError {
    #[error("not a valid OpenID")]
    OpenId,
    #[error("not a valid mobile number")]
    Phone,
    #[error("not a valid student or staff number")]
    StudentId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_never_displays_in_full() {
        let p = Phone::parse("13812345678").unwrap();
        assert_eq!(p.to_string(), "138****5678");
        assert_eq!(format!("{p:?}"), "Phone(138****5678)");
        assert_eq!(p.expose(), "13812345678");
        assert!(Phone::parse("2381234567").is_err());
    }

    #[test]
    fn fen_formats_as_yuan() {
        assert_eq!(Fen(1234).yuan(), "12.34");
        assert_eq!(Fen(-5).yuan(), "-0.05");
        assert_eq!(Fen(0).to_string(), "0.00");
    }

    #[test]
    fn openid_rejects_markup() {
        assert!(OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").is_ok());
        assert!(OpenId::parse("<x>").is_err());
        assert!(OpenId::parse("").is_err());
    }
}
