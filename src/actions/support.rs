//! What the campus actions share: reaching the adapters, turning adapter errors into action
//! errors, masking personal data for replies, and campus-local dates.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde_json::{Value, json};

use super::{ActionError, ActionInput};
use crate::adapters::{AdapterError, Adapters};
use crate::rules::RuleTable;
use crate::store::Binding;

/// The running adapters, or a clear error where the deployment has none.
pub fn adapters<'a>(input: &ActionInput<'a>) -> Result<&'a Adapters, ActionError> {
    input
        .services
        .adapters
        .as_ref()
        .ok_or(ActionError::NotConfigured("upstream adapters"))
}

/// The caller's binding (the router checks `requires_binding` first; this is the same check
/// for actions reached through a dialog).
pub fn binding<'a>(input: &ActionInput<'a>) -> Result<&'a Binding, ActionError> {
    input.binding.ok_or(ActionError::NotBound)
}

pub fn upstream(name: &'static str) -> impl Fn(AdapterError) -> ActionError {
    move |e| match e {
        AdapterError::Timeout => ActionError::Timeout { upstream: name },
        other => ActionError::Upstream {
            upstream: name,
            detail: other.outcome().to_owned(),
        },
    }
}

/// 张三 → 张*, 欧阳娜娜 → 欧***.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => {
            let rest = chars.count();
            format!("{first}{}", "*".repeat(rest.max(1)))
        }
        None => String::new(),
    }
}

/// Keep the last four characters: `****1234`.
pub fn mask_card(card_no: &str) -> String {
    let chars: Vec<char> = card_no.chars().collect();
    let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
    format!("****{tail}")
}

/// The last four digits of a masked phone (`138****1234` → `1234`).
pub fn phone_tail(masked: &str) -> String {
    let chars: Vec<char> = masked.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

pub fn yuan(fen: i64) -> String {
    crate::domain::Fen(fen).yuan()
}

fn offset(input: &ActionInput<'_>) -> FixedOffset {
    crate::settings::campus_offset(input.services.utc_offset_hours)
}

/// Today on campus.
pub fn today(input: &ActionInput<'_>) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(input.now, 0)
        .unwrap_or_default()
        .with_timezone(&offset(input))
        .date_naive()
}

/// A time as campus-local `MM-DD HH:MM` (an upstream's unreadable time never gets here: it
/// fails the upstream's answer, which is answered as busy).
pub fn short_time(input: &ActionInput<'_>, at: &DateTime<FixedOffset>) -> String {
    at.with_timezone(&offset(input))
        .format("%m-%d %H:%M")
        .to_string()
}

/// A name or label from the message tables (a card state, a weekday, a period): user-facing
/// words live in config, not here. The key must be among the action's declared `messages`.
pub fn label(input: &ActionInput<'_>, key: &str, fields: Value) -> Result<String, ActionError> {
    Ok(input.messages.message(key, &fields)?)
}

/// A weekday's name (1 = Monday … 7 = Sunday) from the message tables: `weekday.1` …
/// `weekday.7`, which the action must declare.
pub fn weekday_label(input: &ActionInput<'_>, weekday: u32) -> Result<String, ActionError> {
    let key = format!("weekday.{}", weekday.clamp(1, 7));
    label(input, &key, json!({}))
}

/// The `[words]` lists that name a day relative to today, and how many days from today each
/// is: an action that calls [`parse_day`] declares them with [`with_day_words`].
pub const DAY_WORDS: [(&str, i64); 4] = [
    ("today", 0),
    ("yesterday", -1),
    ("day_before_yesterday", -2),
    ("tomorrow", 1),
];

/// An action's `words`: the [`DAY_WORDS`] lists, then its own.
macro_rules! with_day_words {
    ($($own:literal),* $(,)?) => {
        &["today", "yesterday", "day_before_yesterday", "tomorrow", $($own),*]
    };
}
pub(crate) use with_day_words;

/// A day the user named: a word of the [`DAY_WORDS`] lists (今天, 昨天 …), `2026-11-20`,
/// `11-20`, `11月20日`.
pub fn parse_day(words: &RuleTable, text: &str, today: NaiveDate) -> Option<NaiveDate> {
    let t = text.trim();
    if let Some((_, shift)) = DAY_WORDS.iter().find(|(list, _)| words.is_word(list, t)) {
        return Some(today + Duration::days(*shift));
    }
    if let Ok(d) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        return Some(d);
    }
    let digits: Vec<u32> = t
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    match digits.as_slice() {
        [m, d] => NaiveDate::from_ymd_opt(today.year(), *m, *d).map(|date| {
            // "12-30" typed in January means last year.
            if date > today {
                NaiveDate::from_ymd_opt(today.year() - 1, *m, *d).unwrap_or(date)
            } else {
                date
            }
        }),
        [y, m, d] => NaiveDate::from_ymd_opt(*y as i32, *m, *d),
        _ => None,
    }
}

/// The user confirmed: their reply is one of the `confirm` words (确认, 是, yes …), which the
/// action must declare in its `words`.
pub fn is_confirm(input: &ActionInput<'_>) -> bool {
    input.messages.is_word("confirm", input.text)
}

/// What follows a keyword: the first regex/prefix capture, else the text after the first space.
pub fn argument(input: &ActionInput<'_>) -> Option<String> {
    input
        .captures
        .iter()
        .map(|c| c.trim())
        .find(|c| !c.is_empty())
        .map(str::to_owned)
        .or_else(|| {
            input
                .text
                .split_once(' ')
                .map(|(_, rest)| rest.trim().to_owned())
                .filter(|r| !r.is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_card("1234567890"), "****7890");
        assert_eq!(phone_tail("138****1234"), "1234");
    }

    #[test]
    fn actions_reading_days_declare_every_day_list() {
        let declared: &[&str] = with_day_words!();
        let read: Vec<&str> = DAY_WORDS.iter().map(|(list, _)| *list).collect();
        assert_eq!(declared, read.as_slice());
    }

    #[test]
    fn days_in_the_forms_students_type() {
        let words = crate::rules::load::tests::shipped_table();
        let today = NaiveDate::from_ymd_opt(2026, 1, 5).unwrap();
        let day = |text: &str| parse_day(&words, text, today);
        assert_eq!(day("今天"), Some(today));
        assert_eq!(day("昨天"), NaiveDate::from_ymd_opt(2026, 1, 4));
        assert_eq!(day("前天"), NaiveDate::from_ymd_opt(2026, 1, 3));
        assert_eq!(day("明日"), NaiveDate::from_ymd_opt(2026, 1, 6));
        assert_eq!(day("2025-12-30"), NaiveDate::from_ymd_opt(2025, 12, 30));
        assert_eq!(day("12-30"), NaiveDate::from_ymd_opt(2025, 12, 30));
        assert_eq!(day("1月3日"), NaiveDate::from_ymd_opt(2026, 1, 3));
        assert_eq!(day("随便"), None);
    }
}
