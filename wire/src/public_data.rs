//! Body types of the public data store (read-only): meetings, grades, timetable, library
//! loans, lockers.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// `data/meetings/list`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeetingsQuery {
    pub sno: String,
    /// `YYYY-MM-DD`, inclusive
    pub from: String,
    pub to: String,
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
    pub signed_at: Option<String>,
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
    /// `YYYY-MM-DD`, Monday of week 1
    pub term_start: String,
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
    /// `YYYY-MM-DD`
    pub borrowed_at: String,
    pub due_at: String,
    pub renew_count: u32,
    /// 0 when not overdue
    pub overdue_days: u32,
    pub fine_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Loans {
    pub items: Vec<Loan>,
    pub total_fine_fen: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locker {
    pub assigned: bool,
    pub locker_no: Option<String>,
    pub location: Option<String>,
    /// `YYYY-MM-DD`
    pub assigned_at: Option<String>,
    pub expires_at: Option<String>,
}
