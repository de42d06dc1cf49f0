use chrono::{NaiveDate, NaiveTime};

use super::*;
use crate::wire::{Direction, Transaction, TxType};

fn categories() -> Vec<CategoryRule> {
    vec![
        CategoryRule {
            name: "食堂".into(),
            merchant_prefixes: vec!["M01".into()],
            types: vec![],
            meals: true,
        },
        CategoryRule {
            name: "超市".into(),
            merchant_prefixes: vec!["M02".into()],
            types: vec![],
            meals: false,
        },
        CategoryRule {
            name: "缴费".into(),
            merchant_prefixes: vec![],
            types: vec![TxType::BillPay],
            meals: false,
        },
    ]
}

fn tx(at: &str, tx_type: TxType, dir: Direction, fen: i64, merchant: (&str, &str)) -> Transaction {
    Transaction {
        trade_no: format!("T{at}"),
        occurred_at: chrono::DateTime::parse_from_rfc3339(at).unwrap(),
        acc_date: at[..10].parse().unwrap(),
        tx_type,
        type_name: String::new(),
        direction: dir,
        amount_fen: Fen(fen),
        balance_after_fen: Fen(0),
        merchant_id: merchant.0.to_owned(),
        merchant_name: merchant.1.to_owned(),
        terminal_id: String::new(),
        location: String::new(),
        remark: String::new(),
    }
}

const FIRST: (&str, &str) = ("M0101", "第一食堂");
const SECOND: (&str, &str) = ("M0102", "第二食堂");
const SHOP: (&str, &str) = ("M0201", "红太阳超市");
const CLINIC: (&str, &str) = ("M0501", "校医院");

fn meal(at: &str, fen: i64, place: (&str, &str)) -> Transaction {
    tx(at, TxType::Consume, Direction::Out, fen, place)
}

fn day(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

#[test]
fn spending_is_grouped_by_the_first_matching_category_and_top_ups_are_apart() {
    let cats = categories();
    let c = Classifier::new(&cats, 8);
    let txs = vec![
        meal("2026-11-02T07:31:00+08:00", 450, FIRST),
        meal("2026-11-02T12:05:00+08:00", 1280, SECOND),
        tx(
            "2026-11-03T18:00:00+08:00",
            TxType::Consume,
            Direction::Out,
            3990,
            SHOP,
        ),
        tx(
            "2026-11-04T10:00:00+08:00",
            TxType::BillPay,
            Direction::Out,
            5000,
            ("M0700", "代扣代缴"),
        ),
        tx(
            "2026-11-05T09:00:00+08:00",
            TxType::Consume,
            Direction::Out,
            1500,
            CLINIC,
        ),
        tx(
            "2026-11-06T09:00:00+08:00",
            TxType::LoadBank,
            Direction::In,
            10000,
            ("M0901", "自助圈存机"),
        ),
        tx(
            "2026-11-06T09:01:00+08:00",
            TxType::Claim,
            Direction::In,
            5000,
            ("M0901", "自助圈存机"),
        ),
        tx(
            "2026-11-07T09:00:00+08:00",
            TxType::Subsidy,
            Direction::In,
            20000,
            ("M0900", "一卡通管理中心"),
        ),
        tx(
            "2026-11-08T09:00:00+08:00",
            TxType::Refund,
            Direction::In,
            300,
            SHOP,
        ),
    ];
    let s = summarise(&c, &txs);
    assert_eq!(s.spent, Fen(450 + 1280 + 3990 + 5000 + 1500));
    assert_eq!(s.spent_count, 5);
    assert_eq!(s.topped_up, Fen(15000));
    assert_eq!(s.other_in, Fen(20300));
    let names: Vec<(Option<&str>, i64, u32)> = s
        .by_category
        .iter()
        .map(|c| (c.name.as_deref(), c.spent.0, c.count))
        .collect();
    assert_eq!(
        names,
        vec![
            (Some("食堂"), 1730, 2),
            (Some("超市"), 3990, 1),
            (Some("缴费"), 5000, 1),
            (None, 1500, 1),
        ]
    );
}

#[test]
fn without_categories_everything_spent_is_other() {
    let c = Classifier::new(&[], 8);
    let s = summarise(&c, &[meal("2026-11-02T07:31:00+08:00", 450, FIRST)]);
    assert_eq!(s.by_category.len(), 1);
    assert_eq!(s.by_category[0].name, None);
}

#[test]
fn the_fun_bill_finds_the_favourite_canteen_earliest_breakfast_biggest_meal_and_top_month() {
    let cats = categories();
    let c = Classifier::new(&cats, 8);
    let txs = vec![
        meal("2026-09-03T07:12:40+08:00", 400, FIRST),
        meal("2026-09-04T06:58:10+08:00", 350, SECOND),
        // Before 05:00 is a night-batch posting, not breakfast.
        meal("2026-09-05T03:10:00+08:00", 100, FIRST),
        meal("2026-10-10T12:00:00+08:00", 2600, FIRST),
        meal("2026-10-11T12:00:00+08:00", 900, FIRST),
        tx(
            "2026-10-12T20:00:00+08:00",
            TxType::Consume,
            Direction::Out,
            8800,
            SHOP,
        ),
        // Outside the span: ignored.
        meal("2026-08-31T06:00:00+08:00", 9900, SECOND),
        // UTC time of a campus-local 07:40 breakfast on 11-01.
        meal("2026-10-31T23:40:00Z", 300, SECOND),
    ];
    let bill = fun_bill(&c, day(2026, 9, 1), day(2026, 11, 30), &txs);
    assert_eq!(
        bill.summary.spent,
        Fen(400 + 350 + 100 + 2600 + 900 + 8800 + 300)
    );
    assert_eq!(bill.spend_days, 7);
    assert_eq!(bill.meals, 6);
    assert_eq!(
        bill.favourite,
        Some(Favourite {
            place: "第一食堂".into(),
            visits: 4,
            spent: Fen(4000),
        })
    );
    assert_eq!(
        bill.earliest_breakfast,
        Some(Meal {
            date: day(2026, 9, 4),
            time: NaiveTime::from_hms_opt(6, 58, 0).unwrap(),
            place: "第二食堂".into(),
            amount: Fen(350),
        })
    );
    assert_eq!(
        bill.biggest_meal.as_ref().map(|m| (m.date, m.amount)),
        Some((day(2026, 10, 10), Fen(2600)))
    );
    assert_eq!(
        bill.top_month,
        Some((
            Month {
                year: 2026,
                month: 10
            },
            Fen(2600 + 900 + 8800)
        ))
    );
}

#[test]
fn an_empty_span_has_no_highlights() {
    let c = Classifier::new(&[], 8);
    let bill = fun_bill(&c, day(2026, 9, 1), day(2026, 9, 30), &[]);
    assert_eq!(bill.spend_days, 0);
    assert_eq!(bill.favourite, None);
    assert_eq!(bill.earliest_breakfast, None);
    assert_eq!(bill.top_month, None);
}

#[test]
fn percent_below_counts_only_strictly_smaller_totals() {
    let sorted = [100, 200, 200, 300, 400];
    assert_eq!(percent_below(&sorted, 50), 0);
    assert_eq!(percent_below(&sorted, 200), 20);
    assert_eq!(percent_below(&sorted, 301), 80);
    assert_eq!(percent_below(&sorted, 1000), 100);
    assert_eq!(percent_below(&[], 1000), 0);
}

#[test]
fn months_roll_over_years() {
    let jan = Month {
        year: 2026,
        month: 1,
    };
    assert_eq!(
        jan.previous(),
        Month {
            year: 2025,
            month: 12
        }
    );
    assert_eq!(jan.previous().last_day(), day(2025, 12, 31));
    assert_eq!(
        Month {
            year: 2024,
            month: 2
        }
        .last_day(),
        day(2024, 2, 29)
    );
}
