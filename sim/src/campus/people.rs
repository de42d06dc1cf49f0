//! Who is on campus: the person and card types, the ten fixed demo users (sim/src/README.md)
//! and the generator of everyone else (names, departments, phones, habits, card states).

use std::collections::HashMap;

use chrono::{Datelike, NaiveDate};

use super::merchants::CANTEENS;
use super::{Rng, local_ts};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonKind {
    Undergrad,
    Master,
    Phd,
    Staff,
}

impl PersonKind {
    /// Customer type code and name from a real school's dictionary (docs/campus-domain.md §1.5).
    pub fn cust_type(self) -> (&'static str, &'static str) {
        match self {
            PersonKind::Undergrad => ("40", "本科"),
            PersonKind::Master => ("31", "硕士研究生"),
            PersonKind::Phd => ("30", "博士研究生"),
            PersonKind::Staff => ("10", "在职教职工"),
        }
    }
    pub fn is_student(self) -> bool {
        !matches!(self, PersonKind::Staff)
    }
}

/// A card's state when the simulator started; the card simulator copies it into its live state.
#[derive(Clone, Debug)]
pub struct CardSeed {
    /// 账号, 5–6 digits: the key of every card operation.
    pub account: String,
    /// 交易卡号
    pub card_no: String,
    /// 显示卡号, 10 digits
    pub card_no_display: String,
    pub card_type: &'static str,
    pub card_type_name: &'static str,
    pub issue_date: NaiveDate,
    pub expire_date: NaiveDate,
    pub lost: bool,
    pub frozen: bool,
    pub closed: bool,
    /// When the card stopped being used (lost / frozen / closed), unix seconds.
    pub inactive_since: Option<i64>,
    /// Spendable balance at `t0`.
    pub balance_fen: i64,
    /// 过渡余额 at `t0`.
    pub pending_fen: i64,
    /// 补助 waiting at `t0`.
    pub subsidy_pending_fen: i64,
}

impl CardSeed {
    /// Status with the Kingstar precedence closed > lost > frozen > normal.
    pub fn status_str(lost: bool, frozen: bool, closed: bool) -> &'static str {
        if closed {
            "closed"
        } else if lost {
            "lost"
        } else if frozen {
            "frozen"
        } else {
            "normal"
        }
    }
}

/// One card holder.
#[derive(Clone, Debug)]
pub struct Person {
    pub index: usize,
    /// 学工号, 10 digits.
    pub sno: String,
    pub name: String,
    pub kind: PersonKind,
    pub dept: String,
    /// Enrolment (students) or hire (staff) year.
    pub year: i32,
    /// Full number on file; the card system only ever shows it masked.
    pub phone: Option<String>,
    /// 6-digit card password.
    pub password: String,
    /// The first card is the primary one.
    pub cards: Vec<CardSeed>,
    /// Per-person spending habits, fixed for the person's lifetime.
    pub habits: Habits,
}

#[derive(Clone, Copy, Debug)]
pub struct Habits {
    pub appetite: f64,
    pub favourite_canteen: usize,
    pub breakfast_p: f64,
    /// Going backwards in time, a load happens once the balance would exceed this.
    pub reload_above_fen: i64,
}

/// Mask a phone as `138****1234`.
pub fn mask_phone(phone: &str) -> String {
    if phone.len() == 11 && phone.is_ascii() {
        format!("{}****{}", &phone[..3], &phone[7..])
    } else {
        "****".to_owned()
    }
}

/// A fixed, documented demo user (see sim/src/README.md).
pub(super) struct DemoUser {
    pub(super) sno: &'static str,
    pub(super) name: &'static str,
    pub(super) kind: PersonKind,
    pub(super) dept: &'static str,
    pub(super) phone: Option<&'static str>,
    pub(super) balance_fen: i64,
    pub(super) pending_fen: i64,
    pub(super) lost: bool,
    pub(super) frozen: bool,
    pub(super) closed: bool,
    pub(super) second_card: bool,
}

/// The state of a demo user unless the entry says otherwise: one card, in use, nothing
/// pending. Every entry gives its own identity and balance.
const ORDINARY: DemoUser = DemoUser {
    sno: "",
    name: "",
    kind: PersonKind::Undergrad,
    dept: "",
    phone: None,
    balance_fen: 0,
    pending_fen: 0,
    lost: false,
    frozen: false,
    closed: false,
    second_card: false,
};

pub(super) const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        sno: "2024000001",
        name: "张三",
        kind: PersonKind::Undergrad,
        dept: "计算机科学与技术学院",
        phone: Some("13800000001"),
        balance_fen: 5230,
        ..ORDINARY
    },
    DemoUser {
        sno: "2024000002",
        name: "李四",
        kind: PersonKind::Undergrad,
        dept: "电子信息与电气工程学院",
        phone: Some("13800000002"),
        balance_fen: 1280,
        pending_fen: 10000,
        ..ORDINARY
    },
    DemoUser {
        sno: "2024000003",
        name: "王五",
        kind: PersonKind::Undergrad,
        dept: "机械工程学院",
        phone: Some("13800000003"),
        balance_fen: 8650,
        lost: true,
        ..ORDINARY
    },
    DemoUser {
        sno: "2024000004",
        name: "赵六",
        kind: PersonKind::Undergrad,
        dept: "数学科学学院",
        phone: Some("13800000004"),
        balance_fen: 2000,
        frozen: true,
        ..ORDINARY
    },
    DemoUser {
        sno: "2025000005",
        name: "陈晓雨",
        kind: PersonKind::Master,
        dept: "经济管理学院",
        phone: Some("13800000005"),
        balance_fen: 350,
        ..ORDINARY
    },
    DemoUser {
        sno: "2024000006",
        name: "刘洋",
        kind: PersonKind::Undergrad,
        dept: "物理学院",
        phone: Some("13800000006"),
        balance_fen: 15000,
        second_card: true,
        ..ORDINARY
    },
    DemoUser {
        sno: "2024000007",
        name: "孙佳琪",
        kind: PersonKind::Undergrad,
        dept: "外国语学院",
        phone: None,
        balance_fen: 4200,
        ..ORDINARY
    },
    DemoUser {
        sno: "2008900001",
        name: "周建国",
        kind: PersonKind::Staff,
        dept: "计算机科学与技术学院",
        phone: Some("13800000008"),
        balance_fen: 32000,
        ..ORDINARY
    },
    DemoUser {
        sno: "2019000009",
        name: "吴敏",
        kind: PersonKind::Undergrad,
        dept: "土木工程学院",
        phone: Some("13800000009"),
        balance_fen: 0,
        closed: true,
        ..ORDINARY
    },
    DemoUser {
        sno: "2023000010",
        name: "郑一诺",
        kind: PersonKind::Phd,
        dept: "材料科学与工程学院",
        phone: Some("13800000010"),
        balance_fen: 99000,
        ..ORDINARY
    },
];

/// Password of every demo user's card.
pub const DEMO_PASSWORD: &str = "123456";

pub(super) const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史",
];
pub(super) const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "华", "玉", "萍", "红", "玲", "燕", "彬", "鹏", "辉", "宇", "浩",
    "然", "轩", "涵", "欣", "怡", "佳", "琪", "思", "远", "博", "文", "雨", "婷", "晨", "曦", "俊",
    "嘉", "子", "梓", "一", "诺", "睿", "泽", "晓", "海", "天", "昊", "瑶", "雪", "梦", "颖", "凯",
];
pub(super) const DEPTS: &[&str] = &[
    "计算机科学与技术学院",
    "电子信息与电气工程学院",
    "机械工程学院",
    "化工学院",
    "土木工程学院",
    "数学科学学院",
    "物理学院",
    "经济管理学院",
    "外国语学院",
    "人文与社会科学学院",
    "建筑与艺术学院",
    "生命科学与技术学院",
    "材料科学与工程学院",
    "能源与动力学院",
    "马克思主义学院",
];
pub(super) const STAFF_DEPTS: &[&str] =
    &["图书馆", "后勤管理处", "财务处", "教务处", "网络与信息中心"];
pub(super) const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "157", "158", "159", "166", "177", "180", "181", "183", "186", "187", "188", "189", "199",
];

pub(super) fn habits(r: &mut Rng, kind: PersonKind) -> Habits {
    Habits {
        appetite: 0.85 + r.f64() * 0.4,
        favourite_canteen: r.range(0, CANTEENS.len() as i64 - 1) as usize,
        breakfast_p: if kind.is_student() {
            0.2 + r.f64() * 0.5
        } else {
            0.0
        },
        reload_above_fen: r.range(12_000, 26_000),
    }
}

pub(super) fn account_no(index: usize) -> String {
    (20_001 + index).to_string()
}

pub(super) fn make_card(
    account: String,
    primary: bool,
    issue: NaiveDate,
    expire: NaiveDate,
) -> CardSeed {
    let n: u64 = account.parse().unwrap_or(0);
    CardSeed {
        card_no: format!("1{:0>8}", account),
        card_no_display: format!("{:010}", n * 10 + n % 7),
        account,
        card_type: if primary { "1" } else { "2" },
        card_type_name: if primary {
            "正式卡"
        } else {
            "过渡临时卡"
        },
        issue_date: issue,
        expire_date: expire,
        lost: false,
        frozen: false,
        closed: false,
        inactive_since: None,
        balance_fen: 0,
        pending_fen: 0,
        subsidy_pending_fen: 0,
    }
}

pub(super) fn dates_for(kind: PersonKind, year: i32) -> (NaiveDate, NaiveDate) {
    let issue = NaiveDate::from_ymd_opt(year, 9, 1).unwrap_or_default();
    let years = match kind {
        PersonKind::Undergrad => 4,
        PersonKind::Master => 3,
        PersonKind::Phd => 5,
        PersonKind::Staff => 30,
    };
    let expire = NaiveDate::from_ymd_opt(year + years, 7, 1).unwrap_or_default();
    (issue, expire)
}

pub(super) fn demo_person(seed: u64, i: usize, d: &DemoUser, today: NaiveDate, t0: i64) -> Person {
    let mut r = Rng::derive(seed, &[i as u64, 0xD3]);
    let year: i32 = d.sno[..4].parse().unwrap_or(2021);
    let (issue, expire) = dates_for(d.kind, year);
    let mut card = make_card(account_no(i), true, issue, expire);
    card.balance_fen = d.balance_fen;
    card.pending_fen = d.pending_fen;
    card.lost = d.lost;
    card.frozen = d.frozen;
    card.closed = d.closed;
    if d.lost {
        card.inactive_since = Some(t0 - 5 * 3600);
    } else if d.frozen {
        card.inactive_since = Some(t0 - 3 * 86_400);
    } else if d.closed {
        card.inactive_since = Some(local_ts(expire.min(today), 10 * 3600));
    }
    let mut cards = vec![card];
    if d.second_card {
        let mut second = make_card((900_001 + i).to_string(), false, issue, expire);
        second.balance_fen = 880;
        cards.push(second);
    }
    Person {
        index: i,
        sno: d.sno.to_owned(),
        name: d.name.to_owned(),
        kind: d.kind,
        dept: d.dept.to_owned(),
        year,
        phone: d.phone.map(str::to_owned),
        password: DEMO_PASSWORD.to_owned(),
        cards,
        habits: habits(&mut r, d.kind),
    }
}

pub(super) fn random_person(
    seed: u64,
    i: usize,
    today: NaiveDate,
    t0: i64,
    student_seq: &mut HashMap<i32, u32>,
    staff_seq: &mut u32,
) -> Person {
    let mut r = Rng::derive(seed, &[i as u64, 0xA1]);
    let roll = r.f64();
    // docs/campus-domain.md §11: ~85 % students (本科 ~50 %, 硕士 ~30 %, 博士 ~5 %), ~15 % staff.
    let kind = if roll < 0.50 {
        PersonKind::Undergrad
    } else if roll < 0.80 {
        PersonKind::Master
    } else if roll < 0.85 {
        PersonKind::Phd
    } else {
        PersonKind::Staff
    };
    let this_year = today.year() - i32::from(today.month() < 9);
    let (year, sno) = match kind {
        PersonKind::Staff => {
            let y = r.range(1995, i64::from(this_year)) as i32;
            *staff_seq += 1;
            (y, format!("{y}9{:05}", *staff_seq))
        }
        _ => {
            let span = match kind {
                PersonKind::Undergrad => 3,
                PersonKind::Master => 2,
                _ => 4,
            };
            let y = this_year - r.range(0, span) as i32;
            let seq = student_seq.entry(y).or_insert(100);
            *seq += 1;
            (y, format!("{y}{:06}", *seq))
        }
    };
    let surname = *r.pick(SURNAMES);
    let mut name = surname.to_owned();
    for _ in 0..r.range(1, 2) {
        let given: &str = r.pick::<&str>(GIVEN);
        name.push_str(given);
    }
    let dept = if kind == PersonKind::Staff && r.chance(0.3) {
        *r.pick(STAFF_DEPTS)
    } else {
        *r.pick(DEPTS)
    };
    let phone = (!r.chance(0.03))
        .then(|| format!("{}{:08}", r.pick(PHONE_PREFIXES), r.range(0, 99_999_999)));
    let (issue, expire) = dates_for(kind, year);
    let mut card = make_card(account_no(i), true, issue, expire);
    // Balance: log-normal around 60 元, capped at 1,000 元 (docs/campus-domain.md §11).
    card.balance_fen = ((6000f64.ln() + 0.8 * r.normal()).exp() as i64 / 10 * 10).clamp(0, 95_000);
    if r.chance(0.02) {
        card.pending_fen = *r.pick(&[5000, 10_000, 20_000]);
    }
    let status = r.f64();
    if status < 0.015 {
        card.lost = true;
        card.inactive_since = Some(t0 - r.range(3600, 20 * 86_400));
        card.frozen = r.chance(0.1);
    } else if status < 0.020 {
        card.frozen = true;
        card.inactive_since = Some(t0 - r.range(86_400, 60 * 86_400));
    } else if status < 0.030 {
        card.closed = true;
        card.balance_fen = 0;
        card.pending_fen = 0;
        card.inactive_since = Some(t0 - r.range(30 * 86_400, 150 * 86_400));
    }
    let mut cards = vec![card];
    if r.chance(0.005) {
        let mut second = make_card((900_001 + i).to_string(), false, issue, expire);
        second.balance_fen = r.range(0, 50) * 100;
        cards.push(second);
    }
    let password = format!("{:06}", r.range(0, 999_999));
    Person {
        index: i,
        sno,
        name,
        kind,
        dept: dept.to_owned(),
        year,
        phone,
        password,
        cards,
        habits: habits(&mut r, kind),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campus::test_support::campus;

    #[test]
    fn population_mix_matches_calibration() {
        let c = campus();
        let n = c.people().len() as f64;
        assert_eq!(c.people().len(), 5000);
        let share =
            |f: &dyn Fn(&Person) -> bool| c.people().iter().filter(|p| f(p)).count() as f64 / n;
        let staff = share(&|p| p.kind == PersonKind::Staff);
        assert!((0.12..0.18).contains(&staff), "staff {staff}");
        let ug = share(&|p| p.kind == PersonKind::Undergrad);
        assert!((0.46..0.54).contains(&ug), "undergrad {ug}");
        let lost = share(&|p| p.cards[0].lost);
        assert!((0.008..0.025).contains(&lost), "lost {lost}");
        let frozen = share(&|p| p.cards[0].frozen && !p.cards[0].lost);
        assert!((0.002..0.01).contains(&frozen), "frozen {frozen}");
        let closed = share(&|p| p.cards[0].closed);
        assert!((0.005..0.016).contains(&closed), "closed {closed}");
        let multi = c.people().iter().filter(|p| p.cards.len() > 1).count();
        assert!((5..=60).contains(&multi), "multi-card {multi}");
        // Unique keys.
        assert_eq!(c.by_sno.len(), 5000);
        assert!(
            c.people()
                .iter()
                .all(|p| p.sno.len() == 10 && p.sno.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(
            c.people()
                .iter()
                .flat_map(|p| &p.phone)
                .all(|ph| ph.len() == 11)
        );
        let mean_balance = c
            .people()
            .iter()
            .map(|p| p.cards[0].balance_fen)
            .sum::<i64>() as f64
            / n;
        assert!(
            (5000.0..12000.0).contains(&mean_balance),
            "mean balance {mean_balance}"
        );
    }

    #[test]
    fn demo_users_are_fixed() {
        let c = campus();
        let p = c.person_by_sno("2024000001").unwrap();
        assert_eq!(p.name, "张三");
        assert_eq!(p.phone.as_deref(), Some("13800000001"));
        assert_eq!(p.cards[0].balance_fen, 5230);
        assert_eq!(p.password, DEMO_PASSWORD);
        assert!(c.person_by_sno("2024000003").unwrap().cards[0].lost);
        let (_, card) = c
            .by_account(&c.person_by_sno("2024000006").unwrap().cards[1].account)
            .unwrap();
        assert_eq!(card, 1);
        let wang = c.person_by_sno("2024000003").unwrap();
        let (place, _, collected) = c.found_entry(wang, 0).unwrap();
        assert!(!place.is_empty());
        assert!(!collected);
    }
}
