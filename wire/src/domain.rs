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
    /// An amount typed by a person in yuan: `50`, `50.5`, `0.05`, optionally ending in `元`.
    /// Positive, at most two decimals, at most 100 000 元 (nobody tops up more in a chat).
    /// Never goes through a float.
    pub fn parse_yuan(raw: &str) -> Result<Self, DomainError> {
        const MAX_FEN: i64 = 100_000 * 100;
        let raw = raw.trim();
        let raw = raw.strip_suffix('元').unwrap_or(raw).trim_end();
        let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 6 || frac.len() > 2 || !digits(whole) || !digits(frac)
        {
            return Err(DomainError::Amount);
        }
        let whole: i64 = whole.parse().map_err(|_| DomainError::Amount)?;
        let frac: i64 = format!("{frac:0<2}")
            .parse()
            .map_err(|_| DomainError::Amount)?;
        let fen = whole * 100 + frac;
        if fen <= 0 || fen > MAX_FEN {
            return Err(DomainError::Amount);
        }
        Ok(Self(fen))
    }

    /// The amount in 分, for the wire (`*_fen` fields).
    pub fn fen(self) -> i64 {
        self.0
    }

    /// `None` on overflow, so a sum of amounts can never wrap.
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }

    /// The total of `amounts`, `None` on overflow.
    pub fn checked_sum(amounts: impl IntoIterator<Item = Fen>) -> Option<Fen> {
        amounts.into_iter().try_fold(Fen(0), Fen::checked_add)
    }

    /// `None` on overflow, as [`Fen::checked_add`].
    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }

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

/// One order (a top-up or a payment): `O` + its UTC creation date + 12 random letters and
/// digits, 21 characters. Short enough that the order's external idempotency keys
/// ([`OrderId::step_key`]) fit the upstreams' 32-character `out_trade_no`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    const RANDOM_LEN: usize = 12;

    /// A fresh id for an order created at `now_ms` (Unix milliseconds).
    pub fn generate(now_ms: i64) -> Self {
        use rand::Rng as _;
        const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        let date = chrono::DateTime::from_timestamp_millis(now_ms)
            .unwrap_or_default()
            .format("%Y%m%d");
        let mut rng = rand::rng();
        let random: String = (0..Self::RANDOM_LEN)
            .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
            .collect();
        Self(format!("O{date}{random}"))
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = raw.len() == 1 + 8 + Self::RANDOM_LEN
            && raw.starts_with('O')
            && raw[1..]
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::OrderId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The idempotency key (`out_trade_no`) of one external step of this order. Derived, not
    /// random, so it exists as soon as the order does: a retry after a crash sends the same
    /// key, and a reversal names the debit it undoes.
    pub fn step_key(&self, step: OrderStep) -> String {
        let suffix = match step {
            OrderStep::Debit => "D",
            OrderStep::Credit => "C",
            OrderStep::Reverse => "R",
            OrderStep::CancelCredit => "X",
            OrderStep::Redeliver => "S",
            OrderStep::Claim => "K",
        };
        format!("{}{suffix}", self.0)
    }
}

/// The external steps an order takes, each with its own idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStep {
    /// Money out of the source: the bank (top-up) or the card e-wallet (payment).
    Debit,
    /// Money into the destination: the card's 过渡余额 (top-up) or the biller (payment).
    Credit,
    /// Undoing the debit: the bank's 冲正 (top-up) or a refund to the card (payment).
    Reverse,
    /// Cancelling a credit whose outcome is unclear before the debit is undone (the card's
    /// 冲正 of a load): a late-arriving original is then refused, so money cannot land twice.
    CancelCredit,
    /// Delivering the money after all (补单) once the debit can no longer be undone: a fresh
    /// key, because the credit's own key was cancelled and is refused from then on.
    Redeliver,
    /// Claiming the loaded 过渡余额 online (领款) right after a top-up's 圈存, where the school
    /// claims automatically.
    Claim,
}

impl TryFrom<String> for OrderId {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}
impl From<OrderId> for String {
    fn from(value: OrderId) -> Self {
        value.0
    }
}
impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
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
    #[error("not a valid amount in yuan")]
    Amount,
    #[error("not a valid order id")]
    OrderId,
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
    fn yuan_typed_by_a_person_becomes_fen_without_floats() {
        let parsed: Vec<_> = ["50", "50.5", "0.05", " 12.30元", "100000"]
            .iter()
            .map(|raw| Fen::parse_yuan(raw).map(Fen::fen))
            .collect();
        assert_eq!(
            parsed,
            [Ok(5_000), Ok(5_050), Ok(5), Ok(1_230), Ok(10_000_000)]
        );
        for bad in [
            "",
            "0",
            "-5",
            "1.005",
            "1e3",
            "五十",
            ".5",
            "100000.01",
            "1,000",
        ] {
            assert_eq!(Fen::parse_yuan(bad), Err(DomainError::Amount), "{bad:?}");
        }
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
    }

    #[test]
    fn order_ids_leave_room_for_step_keys_within_32_chars() {
        let id = OrderId::generate(1_764_062_400_000);
        assert!(id.as_str().starts_with("O20251125"), "{id}");
        assert_eq!(OrderId::parse(id.as_str()), Ok(id.clone()));
        let keys = [
            OrderStep::Debit,
            OrderStep::Credit,
            OrderStep::Reverse,
            OrderStep::CancelCredit,
            OrderStep::Redeliver,
        ]
        .map(|s| id.step_key(s));
        assert!(keys.iter().all(|k| crate::valid_idempotency_key(k)));
        assert_eq!(keys[0], format!("{id}D"));
        assert_eq!(
            keys.iter().collect::<std::collections::HashSet<_>>().len(),
            keys.len()
        );
        assert_ne!(OrderId::generate(0), OrderId::generate(0));
        assert_eq!(OrderId::parse("O2025"), Err(DomainError::OrderId));
    }

    #[test]
    fn openid_rejects_markup() {
        assert!(OpenId::parse("oyORnuP8q7ou2gfYjqLzSIWZf0rs").is_ok());
        assert!(OpenId::parse("<x>").is_err());
        assert!(OpenId::parse("").is_err());
    }
}
