//! The simulated campus: a deterministic, seeded generator of people, cards and a year of card
//! transactions, calibrated on docs/campus-domain.md (§1 account model, §2.3 daily
//! rhythm, §11 calibration).
//!
//! Why it exists: the card, SMS and public-data simulators need a realistic world that is the
//! same on every run (same seed → same campus) so demos and tests can name people. It owns the
//! population (eagerly generated: a few hundred bytes per person) and the *generated* history,
//! which is computed lazily and deterministically per account and per day on each query, so
//! nothing holds millions of rows. It must never hold mutable state: balances that change
//! through the API live in `card.rs`; this module only describes the world as it was when the
//! simulator started (`t0`).

use std::collections::HashMap;

use chrono::{Datelike, FixedOffset, NaiveDate, Offset, Weekday};

/// SplitMix64: tiny, fast and fully specified, so the campus does not change when a crate
/// upgrades its generator.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A generator for one sub-stream, e.g. `(seed, person, day)`.
    pub fn derive(seed: u64, parts: &[u64]) -> Self {
        let mut r = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
        for p in parts {
            r.0 ^= p.wrapping_mul(0xD6E8_FEB8_6659_FD93);
            r.next_u64();
        }
        r
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Uniform integer in `lo..=hi` (returns `lo` if the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64 + 1;
        lo + (self.next_u64() % span) as i64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(1e-12);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        // Callers pass non-empty constant tables.
        &xs[(self.next_u64() % xs.len().max(1) as u64) as usize]
    }
}

/// China Standard Time, the offset every campus timestamp carries.
pub fn cst() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| chrono::Utc.fix())
}

/// `2025-11-25T12:03:04+08:00`
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&cst())
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The campus-local date of a unix timestamp.
pub fn local_date(ts: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&cst())
        .date_naive()
}

/// Unix seconds of `date` at `secs` seconds after local midnight.
pub fn local_ts(date: NaiveDate, secs: i64) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc()
        .timestamp()
        - 8 * 3600
        + secs
}

/// Seconds since local midnight.
pub fn local_secs(ts: i64) -> i64 {
    (ts + 8 * 3600).rem_euclid(86_400)
}

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
struct DemoUser {
    sno: &'static str,
    name: &'static str,
    kind: PersonKind,
    dept: &'static str,
    phone: Option<&'static str>,
    balance_fen: i64,
    pending_fen: i64,
    lost: bool,
    frozen: bool,
    closed: bool,
    second_card: bool,
}

const DEMO_USERS: &[DemoUser] = &[
    DemoUser {
        sno: "2024000001",
        name: "张三",
        kind: PersonKind::Undergrad,
        dept: "计算机科学与技术学院",
        phone: Some("13800000001"),
        balance_fen: 5230,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2024000002",
        name: "李四",
        kind: PersonKind::Undergrad,
        dept: "电子信息与电气工程学院",
        phone: Some("13800000002"),
        balance_fen: 1280,
        pending_fen: 10000,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2024000003",
        name: "王五",
        kind: PersonKind::Undergrad,
        dept: "机械工程学院",
        phone: Some("13800000003"),
        balance_fen: 8650,
        pending_fen: 0,
        lost: true,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2024000004",
        name: "赵六",
        kind: PersonKind::Undergrad,
        dept: "数学科学学院",
        phone: Some("13800000004"),
        balance_fen: 2000,
        pending_fen: 0,
        lost: false,
        frozen: true,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2025000005",
        name: "陈晓雨",
        kind: PersonKind::Master,
        dept: "经济管理学院",
        phone: Some("13800000005"),
        balance_fen: 350,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2024000006",
        name: "刘洋",
        kind: PersonKind::Undergrad,
        dept: "物理学院",
        phone: Some("13800000006"),
        balance_fen: 15000,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: true,
    },
    DemoUser {
        sno: "2024000007",
        name: "孙佳琪",
        kind: PersonKind::Undergrad,
        dept: "外国语学院",
        phone: None,
        balance_fen: 4200,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2008900001",
        name: "周建国",
        kind: PersonKind::Staff,
        dept: "计算机科学与技术学院",
        phone: Some("13800000008"),
        balance_fen: 32000,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
    DemoUser {
        sno: "2019000009",
        name: "吴敏",
        kind: PersonKind::Undergrad,
        dept: "土木工程学院",
        phone: Some("13800000009"),
        balance_fen: 0,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: true,
        second_card: false,
    },
    DemoUser {
        sno: "2023000010",
        name: "郑一诺",
        kind: PersonKind::Phd,
        dept: "材料科学与工程学院",
        phone: Some("13800000010"),
        balance_fen: 99000,
        pending_fen: 0,
        lost: false,
        frozen: false,
        closed: false,
        second_card: false,
    },
];

/// Password of every demo user's card.
pub const DEMO_PASSWORD: &str = "123456";

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "方", "白", "邹", "孟", "熊", "秦", "邱", "江", "尹", "薛", "段", "雷", "侯", "龙", "史",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "华", "玉", "萍", "红", "玲", "燕", "彬", "鹏", "辉", "宇", "浩",
    "然", "轩", "涵", "欣", "怡", "佳", "琪", "思", "远", "博", "文", "雨", "婷", "晨", "曦", "俊",
    "嘉", "子", "梓", "一", "诺", "睿", "泽", "晓", "海", "天", "昊", "瑶", "雪", "梦", "颖", "凯",
];
const DEPTS: &[&str] = &[
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
const STAFF_DEPTS: &[&str] = &["图书馆", "后勤管理处", "财务处", "教务处", "网络与信息中心"];
const PHONE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
    "157", "158", "159", "166", "177", "180", "181", "183", "186", "187", "188", "189", "199",
];

/// A merchant and where its terminals are.
#[derive(Clone, Copy, Debug)]
pub struct Merchant {
    pub id: &'static str,
    pub name: &'static str,
    /// `{n}` is replaced by a window / device number.
    pub location: &'static str,
    pub windows: i64,
}

pub const CANTEENS: &[Merchant] = &[
    Merchant {
        id: "M0101",
        name: "第一食堂",
        location: "第一食堂一楼{n}号窗口",
        windows: 14,
    },
    Merchant {
        id: "M0102",
        name: "第二食堂",
        location: "第二食堂二楼{n}号窗口",
        windows: 12,
    },
    Merchant {
        id: "M0103",
        name: "第三食堂",
        location: "第三食堂{n}号档口",
        windows: 10,
    },
    Merchant {
        id: "M0104",
        name: "第四食堂",
        location: "第四食堂一楼{n}号窗口",
        windows: 12,
    },
    Merchant {
        id: "M0106",
        name: "清真餐厅",
        location: "清真餐厅{n}号窗口",
        windows: 4,
    },
];
pub const STAFF_CANTEEN: Merchant = Merchant {
    id: "M0105",
    name: "教师食堂",
    location: "教师食堂自选餐{n}号台",
    windows: 3,
};
pub const SUPERMARKET: Merchant = Merchant {
    id: "M0201",
    name: "红太阳超市",
    location: "学生活动中心红太阳超市{n}号收银台",
    windows: 4,
};
pub const BAKERY: Merchant = Merchant {
    id: "M0203",
    name: "好利来食品店",
    location: "第二食堂一楼好利来",
    windows: 1,
};
pub const HOT_WATER: Merchant = Merchant {
    id: "M0301",
    name: "开水房",
    location: "{n}号宿舍楼开水房",
    windows: 12,
};
pub const SHOWER: Merchant = Merchant {
    id: "M0302",
    name: "西区浴室",
    location: "西区浴室{n}号水控",
    windows: 40,
};
pub const LAUNDRY: Merchant = Merchant {
    id: "M0303",
    name: "洗衣房",
    location: "{n}号宿舍楼洗衣房",
    windows: 12,
};
pub const PRINTING: Merchant = Merchant {
    id: "M0402",
    name: "文印中心",
    location: "图书馆一楼文印中心",
    windows: 2,
};
pub const CLINIC: Merchant = Merchant {
    id: "M0501",
    name: "校医院",
    location: "校医院收费处",
    windows: 2,
};
pub const KIOSK: Merchant = Merchant {
    id: "M0901",
    name: "自助圈存机",
    location: "第一食堂门口自助圈存机{n}",
    windows: 3,
};
pub const CARD_CENTER: Merchant = Merchant {
    id: "M0900",
    name: "一卡通管理中心",
    location: "行政楼一楼卡务中心",
    windows: 1,
};

/// A generated card transaction (the wire type is built from it in `card.rs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenTx {
    pub trade_no: String,
    pub at: i64,
    /// Wire `type` (`CONSUME`, `LOAD_BANK`, …).
    pub tx_type: &'static str,
    pub type_name: &'static str,
    /// `true` = money into the balance.
    pub incoming: bool,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub merchant_id: &'static str,
    pub merchant_name: &'static str,
    pub terminal_id: String,
    pub location: String,
}

/// The generated campus as of `t0`.
pub struct Campus {
    seed: u64,
    /// Simulator start: generated history ends here.
    t0: i64,
    people: Vec<Person>,
    by_sno: HashMap<String, usize>,
    /// account / card_no / card_no_display → (person, card)
    by_account: HashMap<String, (usize, usize)>,
    by_card_no: HashMap<String, (usize, usize)>,
}

impl Campus {
    /// Generate `count` people (at least the demo users) from `seed`, as of `t0`.
    pub fn generate(seed: u64, count: usize, t0: i64) -> Self {
        let count = count.max(DEMO_USERS.len());
        let today = local_date(t0);
        let mut people = Vec::with_capacity(count);
        let mut student_seq: HashMap<i32, u32> = HashMap::new();
        let mut staff_seq = 1u32;
        for (i, demo) in DEMO_USERS.iter().enumerate() {
            people.push(demo_person(seed, i, demo, today, t0));
        }
        for i in DEMO_USERS.len()..count {
            people.push(random_person(
                seed,
                i,
                today,
                t0,
                &mut student_seq,
                &mut staff_seq,
            ));
        }
        let mut by_sno = HashMap::with_capacity(count);
        let mut by_account = HashMap::with_capacity(count);
        let mut by_card_no = HashMap::with_capacity(count * 2);
        for (pi, p) in people.iter().enumerate() {
            by_sno.insert(p.sno.clone(), pi);
            for (ci, c) in p.cards.iter().enumerate() {
                by_account.insert(c.account.clone(), (pi, ci));
                by_card_no.insert(c.card_no.clone(), (pi, ci));
                by_card_no.insert(c.card_no_display.clone(), (pi, ci));
            }
        }
        Self {
            seed,
            t0,
            people,
            by_sno,
            by_account,
            by_card_no,
        }
    }

    pub fn t0(&self) -> i64 {
        self.t0
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person_by_sno(&self, sno: &str) -> Option<&Person> {
        self.by_sno.get(sno).map(|&i| &self.people[i])
    }

    /// `(person, card index)` of a ledger account.
    pub fn by_account(&self, account: &str) -> Option<(&Person, usize)> {
        self.by_account
            .get(account)
            .map(|&(p, c)| (&self.people[p], c))
    }

    /// `(person, card index)` of a transaction or printed card number.
    pub fn by_card_no(&self, card_no: &str) -> Option<(&Person, usize)> {
        self.by_card_no
            .get(card_no)
            .map(|&(p, c)| (&self.people[p], c))
    }

    /// The lost-and-found registry: is this (initially lost) card at a service point?
    /// `(place, found_at, collected)`.
    pub fn found_entry(&self, person: &Person, card: usize) -> Option<(&'static str, i64, bool)> {
        let c = person.cards.get(card)?;
        if !c.lost {
            return None;
        }
        let lost_at = c.inactive_since?;
        let mut r = Rng::derive(self.seed, &[person.index as u64, card as u64, 0xF0F0]);
        // Demo user 王五's card is always waiting at a service desk.
        if person.index != 2 && !r.chance(0.5) {
            return None;
        }
        const PLACES: &[&str] = &[
            "第一食堂服务台",
            "第二食堂服务台",
            "图书馆总服务台",
            "保卫处值班室",
            "行政楼一楼卡务中心",
        ];
        let place = *r.pick(PLACES);
        let found_at = (lost_at + r.range(1800, 2 * 86_400)).min(self.t0 - 600);
        let collected = person.index != 2 && r.chance(0.2);
        Some((place, found_at, collected))
    }

    /// Generated transactions of one card with trade dates in `from..=to`, newest first. Only
    /// history before `t0` exists; what happened since is `card.rs`'s live journal.
    pub fn history(
        &self,
        person: &Person,
        card: usize,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<GenTx> {
        let Some(c) = person.cards.get(card) else {
            return Vec::new();
        };
        let today = local_date(self.t0);
        let oldest = today - chrono::Days::new(365);
        let stop_at = c.inactive_since.unwrap_or(self.t0).min(self.t0);
        let from = from.max(oldest);
        let mut running = c.balance_fen;
        let mut out = Vec::new();
        let mut day = today;
        while day >= from {
            let events = self.day_events(person, card, day);
            let mut i = events.len();
            let mut day_out: Vec<GenTx> = Vec::new();
            // Nobody tops up twice a day: a high balance is worked off over several days.
            let mut loaded_today = false;
            while i > 0 {
                i -= 1;
                let ev = &events[i];
                if ev.at >= stop_at {
                    continue;
                }
                let after = running;
                let before = if ev.incoming {
                    after - ev.amount
                } else {
                    after + ev.amount
                };
                day_out.push(ev.to_tx(c, day, day_out.len(), after));
                running = before;
                if !ev.incoming && !loaded_today && running > person.habits.reload_above_fen {
                    loaded_today = true;
                    // Going back in time: the balance was low, so the person had loaded.
                    let amount = if running >= 20_500 {
                        20_000
                    } else if running >= 10_500 {
                        10_000
                    } else {
                        5_000
                    };
                    let earlier = if i > 0 {
                        events[i - 1].at
                    } else {
                        local_ts(day, 6 * 3600)
                    };
                    let at = if ev.at - earlier > 1200 {
                        ev.at - 600
                    } else {
                        (ev.at + earlier) / 2
                    };
                    let load = Event::load(self.seed, person, day, at, amount);
                    day_out.push(load.to_tx(c, day, day_out.len(), running));
                    running -= amount;
                }
            }
            if day <= to {
                out.extend(day_out);
            }
            match day.pred_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        out
    }

    /// One day of a person's activity (oldest first), independent of the balance.
    fn day_events(&self, person: &Person, card: usize, day: NaiveDate) -> Vec<Event> {
        let mut r = Rng::derive(
            self.seed,
            &[
                person.index as u64,
                card as u64,
                day.num_days_from_ce() as u64,
            ],
        );
        let mut ev = Vec::new();
        if card > 0 && !r.chance(0.1) {
            return ev; // secondary cards are rarely used
        }
        let vacation = is_vacation(day);
        if vacation && !r.chance(0.1) {
            return ev;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let h = person.habits;
        let canteen_factor = if weekend { 0.7 } else { 1.0 };
        let meal = |r: &mut Rng,
                    m: Merchant,
                    p: f64,
                    lo: i64,
                    hi: i64,
                    center: i64,
                    spread: f64,
                    ev: &mut Vec<Event>| {
            if r.chance(p * canteen_factor) {
                let t = (center as f64 + r.normal() * spread) as i64;
                let amt = canteen_price(
                    r,
                    (lo as f64 * h.appetite) as i64,
                    (hi as f64 * h.appetite) as i64,
                );
                ev.push(Event::consume(r, m, local_ts(day, t), amt));
            }
        };
        if person.kind.is_student() {
            let fav = CANTEENS[h.favourite_canteen % CANTEENS.len()];
            let other = *r.pick(CANTEENS);
            meal(
                &mut r,
                fav,
                h.breakfast_p,
                300,
                800,
                7 * 3600 + 50 * 60,
                900.0,
                &mut ev,
            );
            let lunch = if r.chance(0.6) { fav } else { other };
            meal(&mut r, lunch, 0.9, 800, 2000, 12 * 3600, 1500.0, &mut ev);
            let dinner = if r.chance(0.5) {
                fav
            } else {
                *r.pick(CANTEENS)
            };
            meal(&mut r, dinner, 0.8, 800, 2000, 18 * 3600, 1800.0, &mut ev);
            let extras = r.range(0, 2) + i64::from(weekend && r.chance(0.5));
            for _ in 0..extras {
                let roll = r.f64();
                // (merchant, time window in hours, amount range, amount step), docs/campus-domain.md §2.3
                let (m, h0, h1, a0, a1, step) = if roll < 0.30 {
                    (SUPERMARKET, 9, 22, 30, 400, 10)
                } else if roll < 0.45 {
                    (HOT_WATER, 7, 22, 2, 5, 10)
                } else if roll < 0.70 {
                    (SHOWER, 20, 23, 10, 40, 10)
                } else if roll < 0.80 {
                    (LAUNDRY, 10, 22, 3, 6, 100)
                } else if roll < 0.92 {
                    (PRINTING, 8, 21, 2, 50, 10)
                } else if roll < 0.97 {
                    (BAKERY, 8, 21, 5, 25, 100)
                } else {
                    (CLINIC, 8, 17, 5, 80, 100)
                };
                let at = local_ts(day, r.range(h0 * 3600, h1 * 3600));
                let amount = r.range(a0, a1) * step;
                let e = Event::consume(&mut r, m, at, amount);
                ev.push(e);
            }
        } else {
            if !weekend {
                meal(
                    &mut r,
                    STAFF_CANTEEN,
                    0.85,
                    1200,
                    2500,
                    12 * 3600,
                    1200.0,
                    &mut ev,
                );
            }
            if r.chance(0.15) {
                let at = local_ts(day, r.range(12 * 3600, 19 * 3600));
                let amount = r.range(5, 60) * 100;
                ev.push(Event::consume(&mut r, SUPERMARKET, at, amount));
            }
        }
        // Semester hot-water subsidy for students (docs/campus-domain.md §2.3: 15 元/semester).
        if person.kind.is_student()
            && ((day.month() == 9 && day.day() == 15) || (day.month() == 3 && day.day() == 10))
        {
            ev.push(Event {
                at: local_ts(day, 3 * 3600),
                merchant: CARD_CENTER,
                window: 1,
                amount: 1500,
                incoming: true,
                kind: TxKind::Subsidy,
            });
        }
        for e in &mut ev {
            e.at = e.at.clamp(local_ts(day, 5 * 3600), local_ts(day, 86_399));
        }
        ev.sort_by_key(|e| e.at);
        ev
    }
}

fn is_vacation(day: NaiveDate) -> bool {
    let md = (day.month(), day.day());
    ((1, 20)..=(2, 25)).contains(&md) || ((7, 10)..=(8, 31)).contains(&md)
}

/// Canteen prices end in .0 or .5 more often than not.
fn canteen_price(r: &mut Rng, lo: i64, hi: i64) -> i64 {
    let raw = r.range(lo.max(100), hi.max(lo.max(100)));
    if r.chance(0.75) {
        (raw / 50) * 50
    } else {
        (raw / 10) * 10
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TxKind {
    Consume,
    LoadBank,
    LoadOnline,
    Subsidy,
}

#[derive(Clone, Debug)]
struct Event {
    at: i64,
    merchant: Merchant,
    window: i64,
    amount: i64,
    incoming: bool,
    kind: TxKind,
}

impl Event {
    fn consume(r: &mut Rng, merchant: Merchant, at: i64, amount: i64) -> Self {
        Event {
            at,
            merchant,
            window: r.range(1, merchant.windows),
            amount: amount.max(10),
            incoming: false,
            kind: TxKind::Consume,
        }
    }

    fn load(seed: u64, person: &Person, day: NaiveDate, at: i64, amount: i64) -> Self {
        let mut r = Rng::derive(
            seed,
            &[
                person.index as u64,
                day.num_days_from_ce() as u64,
                at as u64,
            ],
        );
        let online = r.chance(0.4);
        Event {
            at,
            merchant: if online { CARD_CENTER } else { KIOSK },
            window: r.range(1, KIOSK.windows),
            amount,
            incoming: true,
            kind: if online {
                TxKind::LoadOnline
            } else {
                TxKind::LoadBank
            },
        }
    }

    fn to_tx(&self, card: &CardSeed, day: NaiveDate, seq: usize, balance_after: i64) -> GenTx {
        let (tx_type, type_name) = match self.kind {
            TxKind::Consume => ("CONSUME", "持卡人消费"),
            TxKind::LoadBank => ("LOAD_BANK", "银行圈存"),
            TxKind::LoadOnline => ("LOAD_ONLINE", "在线充值"),
            TxKind::Subsidy => ("SUBSIDY", "补助领取"),
        };
        GenTx {
            trade_no: format!(
                "T{}{:0>6}{:02}",
                day.format("%Y%m%d"),
                card.account,
                seq % 100
            ),
            at: self.at,
            tx_type,
            type_name,
            incoming: self.incoming,
            amount_fen: self.amount,
            balance_after_fen: balance_after,
            merchant_id: self.merchant.id,
            merchant_name: self.merchant.name,
            terminal_id: format!("P{}{:02}", &self.merchant.id[1..], self.window),
            location: self
                .merchant
                .location
                .replace("{n}", &self.window.to_string()),
        }
    }
}

fn habits(r: &mut Rng, kind: PersonKind) -> Habits {
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

fn account_no(index: usize) -> String {
    (20_001 + index).to_string()
}

fn make_card(account: String, primary: bool, issue: NaiveDate, expire: NaiveDate) -> CardSeed {
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

fn dates_for(kind: PersonKind, year: i32) -> (NaiveDate, NaiveDate) {
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

fn demo_person(seed: u64, i: usize, d: &DemoUser, today: NaiveDate, t0: i64) -> Person {
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

fn random_person(
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

    const T0: i64 = 1_764_062_400; // 2025-11-25T17:20:00+08:00

    fn campus() -> Campus {
        Campus::generate(42, 5000, T0)
    }

    #[test]
    fn same_seed_same_campus_and_history() {
        let a = campus();
        let b = campus();
        for i in [0, 1, 17, 2500, 4999] {
            let (pa, pb) = (&a.people()[i], &b.people()[i]);
            assert_eq!(
                (&pa.sno, &pa.name, &pa.phone),
                (&pb.sno, &pb.name, &pb.phone)
            );
            let from = local_date(T0) - chrono::Days::new(30);
            assert_eq!(
                a.history(pa, 0, from, local_date(T0)),
                b.history(pb, 0, from, local_date(T0))
            );
        }
        let c = Campus::generate(43, 5000, T0);
        assert_ne!(a.people()[100].name, c.people()[100].name);
    }

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

    #[test]
    fn history_is_consistent_and_realistic() {
        let c = campus();
        let today = local_date(T0);
        let year_ago = today - chrono::Days::new(365);
        let mut records = 0usize;
        let mut canteen = 0usize;
        let mut students = 0usize;
        let mut lunch_peak = 0usize;
        let mut meals = 0usize;
        let mut by_merchant: HashMap<&str, usize> = HashMap::new();
        let mut consumes = 0usize;
        for p in c
            .people()
            .iter()
            .filter(|p| p.kind.is_student() && !p.cards[0].closed)
            .take(60)
        {
            students += 1;
            let h = c.history(p, 0, year_ago, today);
            // Newest first, and each balance_after follows from the next older one.
            for w in h.windows(2) {
                assert!(w[0].at >= w[1].at, "order");
                let delta = if w[0].incoming {
                    w[0].amount_fen
                } else {
                    -w[0].amount_fen
                };
                assert_eq!(
                    w[1].balance_after_fen + delta,
                    w[0].balance_after_fen,
                    "{} {:?}",
                    p.sno,
                    w
                );
            }
            if let Some(first) = h.first() {
                assert_eq!(first.balance_after_fen, p.cards[0].balance_fen);
            }
            assert!(
                h.iter()
                    .all(|t| t.balance_after_fen >= 0 && t.amount_fen > 0)
            );
            // Only term-time November counts for the daily rate.
            let nov: Vec<_> = h
                .iter()
                .filter(|t| local_date(t.at) >= today - chrono::Days::new(14))
                .collect();
            records += nov.len();
            for t in &h {
                if t.tx_type == "CONSUME" {
                    consumes += 1;
                    *by_merchant.entry(t.merchant_name).or_default() += 1;
                }
                if t.merchant_id.starts_with("M01") {
                    canteen += 1;
                    let s = local_secs(t.at);
                    if (10 * 3600..15 * 3600).contains(&s) {
                        meals += 1;
                        if (11 * 3600 + 1800..12 * 3600 + 1800).contains(&s) {
                            lunch_peak += 1;
                        }
                    }
                }
            }
            // Range filtering.
            let week = c.history(p, 0, today - chrono::Days::new(6), today);
            assert!(
                week.iter()
                    .all(|t| local_date(t.at) >= today - chrono::Days::new(6))
            );
            assert_eq!(week.as_slice(), &h[..week.len()]);
        }
        // Merchant mix: canteens dominate, and every everyday merchant shows up.
        let canteen_share = canteen as f64 / consumes as f64;
        assert!(
            (0.55..0.9).contains(&canteen_share),
            "canteen share {canteen_share}"
        );
        for m in [
            "红太阳超市",
            "开水房",
            "西区浴室",
            "洗衣房",
            "文印中心",
            "第一食堂",
            "第二食堂",
        ] {
            let n = by_merchant.get(m).copied().unwrap_or(0);
            assert!(n * 200 > consumes, "{m}: {n} of {consumes}");
        }
        let loads = by_merchant.len();
        assert!(loads >= 10, "{by_merchant:?}");
        let per_day = records as f64 / students as f64 / 14.0;
        assert!(
            (2.5..6.0).contains(&per_day),
            "records/student/day {per_day}"
        );
        assert!(canteen > 0);
        assert!(lunch_peak * 2 > meals, "lunch peak {lunch_peak} of {meals}");
    }
}
