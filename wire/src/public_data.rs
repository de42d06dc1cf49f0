//! Body types of the public data store (read-only): meetings, grades, timetable, library
//! loans, lockers.

use chrono::{DateTime, FixedOffset, NaiveDate};

use super::domain::Fen;
use serde::{Deserialize, Serialize};

/// `data/meetings/list`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingsQuery {
    pub sno: String,
    /// `YYYY-MM-DD` on the wire, inclusive
    pub from: NaiveDate,
    /// `YYYY-MM-DD` on the wire, inclusive
    pub to: NaiveDate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignInStatus {
    /// 已签到
    Signed,
    /// 未签到
    Absent,
    /// 请假
    Leave,
    /// 迟到
    Late,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meeting {
    pub meeting_id: String,
    pub name: String,
    pub room: String,
    /// RFC 3339 on the wire
    pub start: DateTime<FixedOffset>,
    pub end: DateTime<FixedOffset>,
    pub status: SignInStatus,
    /// when the sign-in was recorded; `null` unless signed or late
    pub signed_at: Option<DateTime<FixedOffset>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meetings {
    pub items: Vec<Meeting>,
}

/// `data/grades/list`; no `term` = all published terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GradesQuery {
    pub sno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grade {
    /// `2025-2026-1`
    pub term: String,
    pub course_code: String,
    pub course_name: String,
    /// credits × 10 (3.5 学分 = 35), to stay integer
    pub credit_tenths: u32,
    /// 必修 | 选修 | 限选 …
    pub category: String,
    /// as published: "92", "优秀", "缺考"
    pub score: String,
    /// grade point × 100 (3.70 = 370); absent when not applicable
    pub grade_point_hundredths: Option<u32>,
    /// 正常 | 补考 | 重修
    pub exam_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grades {
    pub terms: Vec<String>,
    pub items: Vec<Grade>,
}

/// `data/timetable/get`; no `term` = current term, no `week` = current week.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimetableQuery {
    pub sno: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub week: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lesson {
    pub course_name: String,
    pub teacher: String,
    pub location: String,
    /// 1 = Monday … 7 = Sunday
    pub weekday: u8,
    pub start_section: u8,
    pub end_section: u8,
    /// the teaching weeks this lesson runs in
    pub weeks: Vec<u32>,
}

/// Only the lessons of `week_no` are listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timetable {
    pub term: String,
    /// `YYYY-MM-DD` on the wire, Monday of week 1
    pub term_start: NaiveDate,
    pub week_no: u32,
    pub items: Vec<Lesson>,
}

/// `data/library/loans`, `data/locker/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonRef {
    pub sno: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loan {
    pub barcode: String,
    pub title: String,
    pub author: String,
    /// `YYYY-MM-DD` on the wire (dates despite the `_at`, as in v1 of the protocol)
    pub borrowed_at: NaiveDate,
    pub due_at: NaiveDate,
    pub renew_count: u32,
    /// 0 when not overdue
    pub overdue_days: u32,
    pub fine_fen: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loans {
    pub items: Vec<Loan>,
    pub total_fine_fen: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locker {
    pub assigned: bool,
    pub locker_no: Option<String>,
    pub location: Option<String>,
    /// `YYYY-MM-DD` on the wire (dates despite the `_at`, as in v1 of the protocol)
    pub assigned_at: Option<NaiveDate>,
    pub expires_at: Option<NaiveDate>,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::test_support::{refused, round_trip};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_meetings_query_asks_for_a_range_of_dates() {
        let json = r#"{"sno":"2025000001","from":"2025-11-01","to":"2025-11-30"}"#;
        let q: MeetingsQuery = round_trip(json);
        assert_eq!((q.from, q.to), (day(2025, 11, 1), day(2025, 11, 30)));
        refused::<MeetingsQuery>(json, "2025-11-01", &["2025-11-00", "11月1日", ""]);
        refused::<MeetingsQuery>(json, r#""2025-11-30""#, &["20251130"]);
    }

    #[test]
    fn a_sign_in_is_a_time_or_null() {
        let json = r#"{"items":[{"meeting_id":"MT2025112500001","name":"班会","room":"教一201","start":"2025-11-25T14:30:00+08:00","end":"2025-11-25T16:00:00+08:00","status":"signed","signed_at":"2025-11-25T14:21:07+08:00"},{"meeting_id":"MT2025112500002","name":"讲座","room":"图书馆报告厅","start":"2025-11-25T19:00:00+08:00","end":"2025-11-25T20:30:00+08:00","status":"leave","signed_at":null}]}"#;
        let m: Meetings = round_trip(json);
        assert_eq!(
            m.items[0].signed_at.map(|t| t.timestamp()),
            Some(1_764_051_667)
        );
        assert_eq!(m.items[1].signed_at, None);
        refused::<Meetings>(
            json,
            "2025-11-25T14:21:07+08:00",
            &["14:21", "2025-11-25", "2025-11-25T25:00:00+08:00"],
        );
    }

    #[test]
    fn a_timetable_starts_on_a_date() {
        let json = r#"{"term":"2025-2026-1","term_start":"2025-09-08","week_no":12,"items":[{"course_name":"数据结构","teacher":"李老师","location":"教二305","weekday":2,"start_section":3,"end_section":4,"weeks":[1,2,3]}]}"#;
        let t: Timetable = round_trip(json);
        assert_eq!(t.term_start, day(2025, 9, 8));
        refused::<Timetable>(json, "2025-09-08", &["2025年9月8日"]);
    }

    #[test]
    fn loans_carry_dates_and_fines_in_fen() {
        let json = r#"{"items":[{"barcode":"C1234567","title":"算法导论","author":"Cormen","borrowed_at":"2025-10-01","due_at":"2025-11-01","renew_count":0,"overdue_days":24,"fine_fen":240}],"total_fine_fen":240}"#;
        let l: Loans = round_trip(json);
        assert_eq!(
            (l.items[0].borrowed_at, l.items[0].due_at),
            (day(2025, 10, 1), day(2025, 11, 1))
        );
        assert_eq!(
            (l.items[0].fine_fen, l.total_fine_fen),
            (Fen(240), Fen(240))
        );
        refused::<Loans>(json, "2025-11-01", &["2025-11-01T00:00:00+08:00", "11-01"]);
        refused::<Loans>(json, r#""fine_fen":240"#, &[r#""fine_fen":2.4"#]);
    }

    #[test]
    fn a_locker_is_held_between_dates_or_not_at_all() {
        let json = r#"{"assigned":true,"locker_no":"A-017","location":"图书馆一楼","assigned_at":"2025-09-10","expires_at":"2026-01-15"}"#;
        let l: Locker = round_trip(json);
        assert_eq!(
            (l.assigned_at, l.expires_at),
            (Some(day(2025, 9, 10)), Some(day(2026, 1, 15)))
        );
        round_trip::<Locker>(
            r#"{"assigned":false,"locker_no":null,"location":null,"assigned_at":null,"expires_at":null}"#,
        );
        refused::<Locker>(json, "2026-01-15", &["下学期", "2026-01-32"]);
    }
}
