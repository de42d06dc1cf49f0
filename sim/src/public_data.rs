//! The simulated public data store (数据中心), docs/upstream-api.md §7: meeting sign-ins, grades
//! by term, timetable by week, library loans (due, overdue, fines) and lockers.
//!
//! Why it exists: the "查成绩 / 查课表 / 图书借阅 / 会议签到" replies need realistic, stable data
//! per person. Everything is derived deterministically from the seed, the person and the term
//! (or week), as of the simulator's start, so it costs no memory and never changes under a
//! test. It owns no state. It must never log grades or names.

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde_json::Value;

use super::SimState;
use super::campus::{Campus, Person, PersonKind, Rng, campus_time, local_date, local_ts};
use super::upstream::{Ctx, Op, OpError, OpResult, parse, parse_dated, range_too_long, to_value};
use onecard_wire::domain::Fen;
use onecard_wire::{
    self as wire, ErrorCode, Grade, Grades, GradesQuery, Lesson, Loan, Loans, Locker, Meeting,
    Meetings, MeetingsQuery, PersonRef, SignInStatus, Timetable, TimetableQuery,
};

/// Weeks in a term (teaching + exams).
const TERM_WEEKS: u32 = 20;

/// The highest week a timetable query may name (docs/upstream-api.md §7.3).
const MAX_WEEK: u32 = 30;

/// A term: `2025-2026-1` is the autumn term of academic year 2025–2026.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Term {
    pub year: i32,
    pub half: u8,
}

impl Term {
    pub fn name(self) -> String {
        format!("{}-{}-{}", self.year, self.year + 1, self.half)
    }

    pub fn parse(s: &str) -> Option<Self> {
        let mut it = s.split('-');
        let y: i32 = it.next()?.parse().ok()?;
        let y2: i32 = it.next()?.parse().ok()?;
        let half: u8 = it.next()?.parse().ok()?;
        ((1900..2200).contains(&y)
            && y2 == y + 1
            && (half == 1 || half == 2)
            && it.next().is_none())
        .then_some(Term { year: y, half })
    }

    /// Monday of week 1: the first Monday on or after 1 Sep (autumn) / 24 Feb (spring).
    pub fn start(self) -> NaiveDate {
        let d = if self.half == 1 {
            NaiveDate::from_ymd_opt(self.year, 9, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year + 1, 2, 24)
        }
        .unwrap_or_default();
        let offset = (7 - d.weekday().num_days_from_monday()) % 7;
        d + Days::new(u64::from(offset))
    }

    pub fn end(self) -> NaiveDate {
        self.start() + Days::new(u64::from(TERM_WEEKS) * 7 - 1)
    }

    fn next(self) -> Self {
        if self.half == 1 {
            Term {
                year: self.year,
                half: 2,
            }
        } else {
            Term {
                year: self.year + 1,
                half: 1,
            }
        }
    }

    /// The latest term that has started on `day`.
    pub fn current(day: NaiveDate) -> Self {
        let mut t = Term {
            year: day.year() - 1,
            half: 1,
        };
        while t.next().start() <= day {
            t = t.next();
        }
        t
    }

    /// 1-based teaching week of `day` in this term (may exceed [`TERM_WEEKS`] in vacations).
    pub fn week_of(self, day: NaiveDate) -> u32 {
        let days = (day - self.start()).num_days().max(0);
        (days / 7) as u32 + 1
    }
}

/// Terms a person has been at school, oldest first, up to the current one.
fn terms_of(p: &Person, today: NaiveDate) -> Vec<Term> {
    let cur = Term::current(today);
    let mut t = Term {
        year: p.year,
        half: 1,
    };
    let mut out = Vec::new();
    while t <= cur {
        out.push(t);
        t = t.next();
    }
    out
}

/// Grades of a term are published a week after it ends.
fn published(t: Term, today: NaiveDate) -> bool {
    today > t.end() + Days::new(7)
}

struct Course {
    code: &'static str,
    name: &'static str,
    credit_tenths: u32,
    category: &'static str,
}

const fn c(
    code: &'static str,
    name: &'static str,
    credit_tenths: u32,
    category: &'static str,
) -> Course {
    Course {
        code,
        name,
        credit_tenths,
        category,
    }
}

const COURSES: &[Course] = &[
    c("MA1001", "高等数学A(1)", 50, "必修"),
    c("MA1002", "高等数学A(2)", 50, "必修"),
    c("MA1101", "线性代数", 30, "必修"),
    c("MA2101", "概率论与数理统计", 30, "必修"),
    c("PH1001", "大学物理(1)", 40, "必修"),
    c("PH1002", "大学物理(2)", 40, "必修"),
    c("EN1001", "大学英语(1)", 30, "必修"),
    c("EN1002", "大学英语(2)", 30, "必修"),
    c("CS1001", "程序设计基础", 35, "必修"),
    c("CS2001", "数据结构", 35, "必修"),
    c("CS2002", "计算机组成原理", 40, "必修"),
    c("CS3001", "操作系统", 35, "必修"),
    c("CS3002", "计算机网络", 35, "必修"),
    c("CS3003", "数据库系统原理", 30, "必修"),
    c("MX1001", "思想道德与法治", 30, "必修"),
    c("MX1002", "中国近现代史纲要", 30, "必修"),
    c("MX2001", "马克思主义基本原理", 30, "必修"),
    c("PE1001", "体育(1)", 10, "必修"),
    c("PE1002", "体育(2)", 10, "必修"),
    c("EE2001", "电路原理", 40, "必修"),
    c("ME2001", "工程制图", 30, "必修"),
    c("EC2001", "微观经济学", 30, "限选"),
    c("GE3001", "创新创业基础", 20, "选修"),
    c("GE3002", "中国传统文化", 20, "选修"),
    c("GE3003", "艺术鉴赏", 10, "选修"),
    c("GE3004", "心理健康教育", 10, "选修"),
    c("GR5001", "数值分析", 30, "必修"),
    c("GR5002", "矩阵论", 30, "必修"),
    c("GR5003", "学术英语写作", 20, "必修"),
    c("GR5004", "自然辩证法概论", 10, "必修"),
];

const BUILDINGS: &[&str] = &[
    "综合教学楼A",
    "综合教学楼B",
    "第二教学馆",
    "研究生教学楼",
    "主楼",
];
const TEACHERS: &[&str] = &[
    "王建华",
    "李明",
    "张秀英",
    "刘伟",
    "陈静",
    "杨帆",
    "赵磊",
    "黄丽",
    "周涛",
    "吴晓燕",
];

/// The courses a person takes (or teaches) in a term, with their weekly slot.
fn courses(seed: u64, p: &Person, t: Term) -> Vec<(&'static Course, Lesson)> {
    let mut r = Rng::derive(
        seed,
        &[p.index as u64, t.year as u64, u64::from(t.half), 0xC0],
    );
    let grad = matches!(p.kind, PersonKind::Master | PersonKind::Phd);
    let n = if p.kind == PersonKind::Staff {
        r.range(2, 4)
    } else if grad {
        r.range(3, 5)
    } else {
        r.range(6, 9)
    };
    let pool: Vec<&Course> = COURSES
        .iter()
        .filter(|c| c.code.starts_with("GR") == grad || c.code.starts_with("GE"))
        .collect();
    let mut chosen: Vec<&Course> = Vec::new();
    let mut slots: Vec<(u8, u8)> = Vec::new();
    let mut out = Vec::new();
    let mut guard = 0;
    while (out.len() as i64) < n && guard < 100 {
        guard += 1;
        let course = *r.pick(&pool);
        if chosen.iter().any(|c| c.code == course.code) {
            continue;
        }
        let weekday = r.range(1, 5) as u8;
        let start = *r.pick(&[1u8, 3, 5, 7, 9]);
        if slots.contains(&(weekday, start)) {
            continue;
        }
        chosen.push(course);
        slots.push((weekday, start));
        let weeks: Vec<u32> = match r.range(0, 3) {
            0 => (1..=8).collect(),
            1 => (9..=16).collect(),
            2 => (1..=16).step_by(2).collect(),
            _ => (1..=16).collect(),
        };
        let teacher = if p.kind == PersonKind::Staff {
            p.name.clone()
        } else {
            (*r.pick(TEACHERS)).to_owned()
        };
        out.push((
            course,
            Lesson {
                course_name: course.name.to_owned(),
                teacher,
                location: format!(
                    "{}-{}{:02}",
                    r.pick(BUILDINGS),
                    r.range(1, 5),
                    r.range(1, 30)
                ),
                weekday,
                start_section: start,
                end_section: start + 1,
                weeks,
            },
        ));
    }
    out
}

fn person<'a>(campus: &'a Campus, sno: &str) -> Result<&'a Person, OpError> {
    campus
        .person_by_sno(sno)
        .ok_or_else(|| ErrorCode::PersonNotFound.into())
}

fn grades(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: GradesQuery = parse(body)?;
    let p = person(state.campus(), &q.sno)?;
    if p.kind == PersonKind::Staff {
        // A known person without a transcript has no grades: the documented empty answer, not
        // `4001`, which the other data operations would contradict for the same 学工号.
        return to_value(&Grades {
            terms: Vec::new(),
            items: Vec::new(),
        });
    }
    let today = local_date(ctx.now);
    let all = terms_of(p, today);
    let terms: Vec<Term> = all
        .iter()
        .copied()
        .filter(|t| published(*t, today))
        .collect();
    let wanted: Vec<Term> = match &q.term {
        None => terms.clone(),
        Some(name) => {
            let t = Term::parse(name)
                .filter(|t| all.contains(t))
                .ok_or_else(|| OpError::from(ErrorCode::TermNotFound))?;
            if !published(t, today) {
                return Err(ErrorCode::GradesNotPublished.into());
            }
            vec![t]
        }
    };
    let seed = state.config().seed;
    let mut items = Vec::new();
    for t in wanted {
        let mut r = Rng::derive(
            seed,
            &[p.index as u64, t.year as u64, u64::from(t.half), 0x6D],
        );
        for (course, _) in courses(seed, p, t) {
            let roll = r.f64();
            let (score, gp, exam_type) = if roll < 0.01 {
                ("缺考".to_owned(), Some(0), "正常")
            } else if roll < 0.06 || course.category == "选修" && roll < 0.4 {
                let (s, gp) = *r.pick(&[
                    ("优秀", 400u32),
                    ("良好", 350),
                    ("中等", 250),
                    ("及格", 150),
                ]);
                (s.to_owned(), Some(gp), "正常")
            } else {
                let s = (82.0 + 8.0 * r.normal()).round().clamp(35.0, 100.0) as u32;
                let gp = if s >= 60 { ((s - 50) * 10).min(400) } else { 0 };
                (s.to_string(), Some(gp), "正常")
            };
            let failed = score.parse::<u32>().is_ok_and(|s| s < 60);
            let graded =
                |score: String, grade_point_hundredths: Option<u32>, exam_type: &str| Grade {
                    term: t.name(),
                    course_code: course.code.to_owned(),
                    course_name: course.name.to_owned(),
                    credit_tenths: course.credit_tenths,
                    category: course.category.to_owned(),
                    score,
                    grade_point_hundredths,
                    exam_type: exam_type.to_owned(),
                };
            items.push(graded(score, gp, exam_type));
            if failed {
                let s = r.range(60, 75) as u32;
                items.push(graded(s.to_string(), Some(100), "补考"));
            }
        }
    }
    to_value(&Grades {
        terms: terms.iter().map(|t| t.name()).collect(),
        items,
    })
}

fn timetable(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: TimetableQuery = parse(body)?;
    let p = person(state.campus(), &q.sno)?;
    let today = local_date(ctx.now);
    let all = terms_of(p, today);
    let term = match &q.term {
        None => Term::current(today),
        Some(name) => Term::parse(name)
            .filter(|t| all.contains(t) || p.kind == PersonKind::Staff)
            .ok_or_else(|| OpError::from(ErrorCode::TermNotFound))?,
    };
    if p.kind != PersonKind::Staff && !all.contains(&term) {
        return Err(ErrorCode::TermNotFound.into());
    }
    // Default week: today's in the current term (its last week during the vacation after it),
    // week 1 of any other term.
    let week = match q.week {
        Some(w) => w,
        None if term == Term::current(today) => term.week_of(today).min(TERM_WEEKS),
        None => 1,
    };
    // Weeks after the term's last one (a user asking for 下周 in exam week) simply have no
    // lessons; only a week no term can have is a bad request.
    if !(1..=MAX_WEEK).contains(&week) {
        return Err(OpError::msg(
            ErrorCode::BadRequest,
            format!("week 须在 1 到 {MAX_WEEK} 之间"),
        ));
    }
    let mut items: Vec<Lesson> = courses(state.config().seed, p, term)
        .into_iter()
        .map(|(_, l)| l)
        .filter(|l| l.weeks.contains(&week))
        .collect();
    items.sort_by_key(|l| (l.weekday, l.start_section));
    to_value(&Timetable {
        term: term.name(),
        term_start: term.start(),
        week_no: week,
        items,
    })
}

const BOOKS: &[(&str, &str)] = &[
    ("深入理解计算机系统", "Randal E. Bryant"),
    ("算法导论", "Thomas H. Cormen"),
    ("活着", "余华"),
    ("三体", "刘慈欣"),
    ("平凡的世界", "路遥"),
    ("围城", "钱锺书"),
    ("乡土中国", "费孝通"),
    ("经济学原理", "N. Gregory Mankiw"),
    ("高等数学同济第七版", "同济大学数学系"),
    ("Rust程序设计语言", "Steve Klabnik"),
    ("红楼梦", "曹雪芹"),
    ("人类简史", "尤瓦尔·赫拉利"),
    ("数据库系统概念", "Abraham Silberschatz"),
    ("百年孤独", "加西亚·马尔克斯"),
];

/// 0.10 元 per overdue day, as most Chinese university libraries charge.
const FINE_PER_DAY_FEN: i64 = 10;

fn loans(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: PersonRef = parse(body)?;
    to_value(&loans_of(state, &q.sno)?)
}

/// The library loans of `sno` as of the simulator's start (also the library-fine biller's
/// receivables).
pub(crate) fn loans_of(state: &SimState, sno: &str) -> Result<Loans, OpError> {
    let campus = state.campus();
    let p = campus
        .person_by_sno(sno)
        .ok_or_else(|| OpError::from(ErrorCode::ReaderNotFound))?;
    let mut r = Rng::derive(state.config().seed, &[p.index as u64, 0x1B]);
    if p.cards.first().is_some_and(|c| c.closed) || (p.index >= 10 && r.chance(0.03)) {
        return Err(ErrorCode::ReaderNotFound.into());
    }
    // As of the simulator's start, so a test sees the same fines all day.
    let today = local_date(campus.t0());
    let n = match p.index {
        0 => 2,
        4 => 3,
        _ => r.range(0, 5),
    };
    let mut items = Vec::new();
    for i in 0..n {
        let (title, author) = *r.pick(BOOKS);
        let overdue_wanted = p.index == 4 && i < 2;
        let borrowed_ago = if overdue_wanted {
            r.range(45, 80)
        } else {
            r.range(1, 70)
        };
        let borrowed = today - Days::new(borrowed_ago as u64);
        let renew_count = if overdue_wanted {
            0
        } else {
            r.range(0, 1) as u32
        };
        let due = borrowed + Days::new(30 * (u64::from(renew_count) + 1));
        let overdue_days = (today - due).num_days().max(0) as u32;
        items.push(Loan {
            barcode: format!("C{:07}", r.range(100_000, 9_999_999)),
            title: title.to_owned(),
            author: author.to_owned(),
            borrowed_at: borrowed,
            due_at: due,
            renew_count,
            overdue_days,
            fine_fen: Fen(i64::from(overdue_days) * FINE_PER_DAY_FEN),
        });
    }
    let total_fine_fen = Fen(items.iter().map(|l| l.fine_fen.fen()).sum());
    Ok(Loans {
        items,
        total_fine_fen,
    })
}

fn locker(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: PersonRef = parse(body)?;
    let campus = state.campus();
    let p = person(campus, &q.sno)?;
    let mut r = Rng::derive(state.config().seed, &[p.index as u64, 0x10C]);
    let assigned = p.index == 0 || (p.index >= 10 && p.kind.is_student() && r.chance(0.3));
    let term = Term::current(local_date(campus.t0()));
    let answer = if assigned {
        let floor = r.range(1, 4);
        Locker {
            assigned: true,
            locker_no: Some(format!(
                "{}{}-{:03}",
                *r.pick(&["A", "B", "C"]),
                floor,
                r.range(1, 240)
            )),
            location: Some(format!(
                "图书馆{}楼",
                ["一", "二", "三", "四"][(floor - 1) as usize % 4]
            )),
            assigned_at: Some(term.start() + Days::new(r.range(1, 10) as u64)),
            expires_at: Some(term.end()),
        }
    } else {
        Locker {
            assigned: false,
            locker_no: None,
            location: None,
            assigned_at: None,
            expires_at: None,
        }
    };
    to_value(&answer)
}

const MEETINGS_STAFF: &[&str] = &[
    "学院教职工大会",
    "党支部组织生活会",
    "系务会议",
    "教学工作例会",
    "安全工作会议",
];
const MEETINGS_STUDENT: &[&str] = &[
    "年级大会",
    "班会",
    "学术报告会",
    "就业指导讲座",
    "团日活动",
    "安全教育讲座",
];
const ROOMS: &[&str] = &[
    "行政楼第一会议室",
    "学院报告厅",
    "图书馆报告厅",
    "大学生活动中心多功能厅",
    "主楼201",
];

fn meetings(state: &SimState, ctx: &Ctx, body: Value) -> OpResult {
    let q: MeetingsQuery = parse_dated(body, &["from", "to"])?;
    let (from, to) = (q.from, q.to);
    if from > to || range_too_long(from, to) {
        return Err(OpError::msg(ErrorCode::BadRequest, "日期范围无效"));
    }
    let p = person(state.campus(), &q.sno)?;
    let seed = state.config().seed;
    let staff = p.kind == PersonKind::Staff;
    let mut items = Vec::new();
    // One draw per ISO week, so a range query is consistent with its sub-ranges.
    let mut monday = from - Days::new(u64::from(from.weekday().num_days_from_monday()));
    while monday <= to {
        let iso = monday.iso_week();
        let mut r = Rng::derive(
            seed,
            &[
                p.index as u64,
                iso.year() as u64,
                u64::from(iso.week()),
                0x3E,
            ],
        );
        if r.chance(if staff { 0.6 } else { 0.3 }) {
            let day = monday + Days::new(r.range(0, 4) as u64);
            let start_secs = if r.chance(0.7) {
                14 * 3600 + 30 * 60
            } else {
                19 * 3600
            };
            let start = local_ts(day, start_secs);
            let end = start + 90 * 60;
            if (from..=to).contains(&day) && end <= ctx.now && day.weekday() != Weekday::Sun {
                let roll = r.f64();
                let (status, signed_at) = if roll < 0.80 {
                    (SignInStatus::Signed, Some(start - r.range(60, 900)))
                } else if roll < 0.88 {
                    (SignInStatus::Late, Some(start + r.range(120, 1200)))
                } else if roll < 0.93 {
                    (SignInStatus::Leave, None)
                } else {
                    (SignInStatus::Absent, None)
                };
                items.push(Meeting {
                    meeting_id: format!("MT{}{:05}", day.format("%Y%m%d"), p.index % 100_000),
                    name: (*r.pick(if staff {
                        MEETINGS_STAFF
                    } else {
                        MEETINGS_STUDENT
                    }))
                    .to_owned(),
                    room: (*r.pick(ROOMS)).to_owned(),
                    start: campus_time(start),
                    end: campus_time(end),
                    status,
                    signed_at: signed_at.map(campus_time),
                });
            }
        }
        monday = monday + Days::new(7);
    }
    items.reverse();
    to_value(&Meetings { items })
}

/// Every operation of the public data gateway.
pub static OPS: &[Op] = &[
    Op {
        path: wire::paths::DATA_MEETINGS_LIST,
        write: None,
        run: meetings,
    },
    Op {
        path: wire::paths::DATA_GRADES_LIST,
        write: None,
        run: grades,
    },
    Op {
        path: wire::paths::DATA_TIMETABLE_GET,
        write: None,
        run: timetable,
    },
    Op {
        path: wire::paths::DATA_LIBRARY_LOANS,
        write: None,
        run: loans,
    },
    Op {
        path: wire::paths::DATA_LOCKER_GET,
        write: None,
        run: locker,
    },
];

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::{TERM_WEEKS, Term};

    use crate::campus::local_date;
    use crate::upstream::testkit::{Sim, spawn_campus};
    use onecard_wire::paths;

    const DATA: &str = "/sim/data";

    async fn sim() -> Sim {
        spawn_campus(100).await
    }

    async fn ok(s: &Sim, path: &str, body: Value) -> Value {
        s.ok(DATA, path, body).await
    }

    /// The envelope code a call is answered with.
    async fn code(s: &Sim, path: &str, body: Value) -> u64 {
        s.call(DATA, path, body).await.code()
    }

    #[test]
    fn terms_start_on_mondays_and_roll_over() {
        let d = |y, m, day| chrono::NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let t = Term::current(d(2025, 11, 25));
        assert_eq!(t.name(), "2025-2026-1");
        assert_eq!(t.start(), d(2025, 9, 1));
        assert_eq!(t.week_of(d(2025, 11, 25)), 13);
        assert_eq!(Term::current(d(2026, 3, 10)).name(), "2025-2026-2");
        assert_eq!(Term::current(d(2026, 8, 1)).name(), "2025-2026-2");
        assert_eq!(
            Term::parse("2024-2025-2"),
            Some(Term {
                year: 2024,
                half: 2
            })
        );
        assert_eq!(Term::parse("2024-2026-1"), None);
    }

    #[actix_web::test]
    async fn grades_by_term_with_published_and_missing_terms() {
        let s = sim().await;
        let all = ok(&s, paths::DATA_GRADES_LIST, json!({"sno": "2024000001"})).await;
        let terms: Vec<&str> = all["terms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert!(!terms.is_empty());
        assert_eq!(terms[0], "2024-2025-1");
        let items = all["items"].as_array().unwrap();
        assert!(items.len() >= 6 * terms.len());
        for g in items {
            assert!(terms.contains(&g["term"].as_str().unwrap()));
            assert!(g["credit_tenths"].as_u64().unwrap() >= 10);
            assert!(["必修", "选修", "限选"].contains(&g["category"].as_str().unwrap()));
            assert!(g["grade_point_hundredths"].as_u64().unwrap() <= 400);
        }
        let one = ok(
            &s,
            paths::DATA_GRADES_LIST,
            json!({"sno": "2024000001", "term": terms[0]}),
        )
        .await;
        assert!(
            one["items"]
                .as_array()
                .unwrap()
                .iter()
                .all(|g| g["term"] == terms[0])
        );
        assert_eq!(
            ok(&s, paths::DATA_GRADES_LIST, json!({"sno": "2024000001"})).await,
            all,
            "stable"
        );
        let today = local_date(s.state.clock().now());
        let current = Term::current(today);
        let running = json!({"sno": "2024000001", "term": current.name()});
        // The running term is unpublished (late July / August: already published).
        let expected = if super::published(current, today) {
            0
        } else {
            4002
        };
        assert_eq!(code(&s, paths::DATA_GRADES_LIST, running).await, expected);
        let unknown_term = json!({"sno": "2024000001", "term": "2010-2011-1"});
        assert_eq!(code(&s, paths::DATA_GRADES_LIST, unknown_term).await, 4003);
        assert_eq!(
            code(&s, paths::DATA_GRADES_LIST, json!({"sno": "0000000000"})).await,
            4001
        );
    }

    #[actix_web::test]
    async fn timetable_lists_only_the_weeks_lessons() {
        let s = sim().await;
        let now = ok(&s, paths::DATA_TIMETABLE_GET, json!({"sno": "2024000001"})).await;
        let term = Term::current(local_date(s.state.clock().now()));
        assert_eq!(now["term"], term.name());
        assert_eq!(now["term_start"], term.start().to_string());
        let mut busy_weeks = 0;
        for week in 1u64..=16 {
            let t = ok(
                &s,
                paths::DATA_TIMETABLE_GET,
                json!({"sno": "2024000001", "term": term.name(), "week": week}),
            )
            .await;
            assert_eq!(t["week_no"], week);
            let items = t["items"].as_array().unwrap();
            busy_weeks += usize::from(!items.is_empty());
            for l in items {
                assert!(l["weeks"].as_array().unwrap().contains(&json!(week)));
                assert!((1..=5).contains(&l["weekday"].as_u64().unwrap()));
                assert_eq!(
                    l["end_section"].as_u64().unwrap(),
                    l["start_section"].as_u64().unwrap() + 1
                );
            }
        }
        assert!(busy_weeks >= 12, "lessons in {busy_weeks} of 16 weeks");
        let t = ok(
            &s,
            paths::DATA_TIMETABLE_GET,
            json!({"sno": "2024000001", "term": term.name(), "week": 20}),
        )
        .await;
        assert_eq!(t["items"], json!([]), "exam week: no lessons");
        let unknown_term = json!({"sno": "2024000001", "term": "2030-2031-1"});
        assert_eq!(
            code(&s, paths::DATA_TIMETABLE_GET, unknown_term).await,
            4003
        );
    }

    /// Asking for a past term without a week answered `1007` (today's week of that term was
    /// far past its end): another term defaults to week 1; weeks 1 to 30 may be asked for.
    #[actix_web::test]
    async fn timetable_of_a_past_term_defaults_to_week_one_and_weeks_run_one_to_thirty() {
        let s = sim().await;
        let past = ok(
            &s,
            paths::DATA_TIMETABLE_GET,
            json!({"sno": "2024000001", "term": "2024-2025-1"}),
        )
        .await;
        assert_eq!(
            (&past["term"], &past["week_no"]),
            (&json!("2024-2025-1"), &json!(1))
        );
        let current = ok(&s, paths::DATA_TIMETABLE_GET, json!({"sno": "2024000001"})).await;
        let today = local_date(s.state.clock().now());
        let term = Term::current(today);
        assert_eq!(current["week_no"], term.week_of(today).min(TERM_WEEKS));
        let after_the_term = ok(
            &s,
            paths::DATA_TIMETABLE_GET,
            json!({"sno": "2024000001", "term": "2024-2025-1", "week": TERM_WEEKS + 1}),
        )
        .await;
        assert_eq!(
            after_the_term["items"],
            json!([]),
            "no lessons after the term"
        );
        for week in [0, super::MAX_WEEK + 1] {
            let a = s
                .call(
                    DATA,
                    paths::DATA_TIMETABLE_GET,
                    json!({"sno": "2024000001", "term": "2024-2025-1", "week": week}),
                )
                .await;
            assert_eq!((a.status, a.code()), (400, 1007), "week {week}");
        }
    }

    /// Staff asking for grades got `4001` "unknown person" while meetings and timetables knew
    /// them: a person without a transcript answers the documented empty lists.
    #[actix_web::test]
    async fn grades_of_a_person_without_a_transcript_are_empty_not_unknown() {
        let s = sim().await;
        let staff = ok(&s, paths::DATA_GRADES_LIST, json!({"sno": "2008900001"})).await;
        assert_eq!(staff, json!({"terms": [], "items": []}));
        let with_term = ok(
            &s,
            paths::DATA_GRADES_LIST,
            json!({"sno": "2008900001", "term": "2024-2025-1"}),
        )
        .await;
        assert_eq!(with_term, json!({"terms": [], "items": []}));
    }

    #[actix_web::test]
    async fn library_loans_with_overdue_fines_and_lockers() {
        let s = sim().await;
        let l = ok(&s, paths::DATA_LIBRARY_LOANS, json!({"sno": "2025000005"})).await;
        let items = l["items"].as_array().unwrap();
        assert_eq!(items.len(), 3);
        let overdue: Vec<&Value> = items
            .iter()
            .filter(|i| i["overdue_days"].as_u64().unwrap() > 0)
            .collect();
        assert!(overdue.len() >= 2);
        for i in items {
            assert_eq!(
                i["fine_fen"].as_u64().unwrap(),
                i["overdue_days"].as_u64().unwrap() * 10
            );
        }
        let total: u64 = items.iter().map(|i| i["fine_fen"].as_u64().unwrap()).sum();
        assert_eq!(l["total_fine_fen"].as_u64().unwrap(), total);
        assert_eq!(
            code(&s, paths::DATA_LIBRARY_LOANS, json!({"sno": "2019000009"})).await,
            4004
        );
        let locker = ok(&s, paths::DATA_LOCKER_GET, json!({"sno": "2024000001"})).await;
        assert_eq!(locker["assigned"], true);
        assert!(locker["location"].as_str().unwrap().starts_with("图书馆"));
        let none = ok(&s, paths::DATA_LOCKER_GET, json!({"sno": "2008900001"})).await;
        assert_eq!(
            none,
            json!({"assigned": false, "locker_no": null, "location": null, "assigned_at": null, "expires_at": null})
        );
    }

    #[actix_web::test]
    async fn meetings_in_range_with_sign_in_states() {
        let s = sim().await;
        let today = local_date(s.state.clock().now());
        let from = (today - chrono::Days::new(120)).to_string();
        let m = ok(
            &s,
            paths::DATA_MEETINGS_LIST,
            json!({"sno": "2008900001", "from": from, "to": today.to_string()}),
        )
        .await;
        let items = m["items"].as_array().unwrap();
        assert!(items.len() >= 5, "staff go to meetings: {}", items.len());
        for i in items {
            let status = i["status"].as_str().unwrap();
            assert!(["signed", "absent", "leave", "late"].contains(&status));
            assert_eq!(
                i["signed_at"].is_null(),
                matches!(status, "absent" | "leave")
            );
            assert!(i["start"].as_str().unwrap() >= from.as_str());
        }
        for w in items.windows(2) {
            assert!(
                w[0]["start"].as_str() >= w[1]["start"].as_str(),
                "newest first"
            );
        }
        let nobody = json!({"sno": "nobody", "from": from, "to": from});
        assert_eq!(code(&s, paths::DATA_MEETINGS_LIST, nobody).await, 4001);
        // A range the request alone gets wrong is refused before the person is looked up.
        let backwards = json!({"sno": "nobody", "from": from, "to": "2000-01-01"});
        assert_eq!(code(&s, paths::DATA_MEETINGS_LIST, backwards).await, 1007);
    }
}
