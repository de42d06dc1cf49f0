//! Body types of the billers (缴费: electricity, network, photo, library fines, exams,
//! donations): catalog, locations, lookup, pay (idempotent by `out_trade_no`), query, statement.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::domain::Fen;
use super::envelope::Page;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmountRule {
    Any,
    Fixed,
    Receivable,
}

/// `billers/catalog` answer items.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Biller {
    pub biller_id: String,
    pub name: String,
    pub amount_rule: AmountRule,
    pub min_fen: Fen,
    pub max_fen: Fen,
    pub day_max_fen: Fen,
    pub unit_price_fen: Option<Fen>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerCatalog {
    pub items: Vec<Biller>,
}

/// `billers/locations` (electricity): `level` campus | building | floor | room.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationsQuery {
    pub biller_id: String,
    pub level: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Locations {
    pub items: Vec<Location>,
}

/// `billers/lookup`: `target` is the room id, the student number, …
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerLookup {
    pub biller_id: String,
    pub target: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receivable {
    pub id: String,
    pub item: String,
    pub amount_fen: Fen,
    /// `YYYY-MM-DD` on the wire
    pub due: Option<NaiveDate>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerTarget {
    pub target_id: String,
    pub display_name: String,
    /// kWh × 100
    pub remaining_kwh_hundredths: Option<i64>,
    pub balance_fen: Option<Fen>,
    pub used_traffic_mb: Option<i64>,
    pub quota_mb: Option<i64>,
    pub receivables: Vec<Receivable>,
    /// vendor free text, e.g. 当前余额517.05元,当前剩余电量957.50度
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPayer {
    pub sno: String,
    /// the card debit's `out_trade_no` that funded this payment
    pub card_out_trade_no: String,
}

/// `billers/pay` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPay {
    pub biller_id: String,
    pub target_id: String,
    pub amount_fen: Fen,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receivable_ids: Vec<String>,
    pub out_trade_no: String,
    pub payer: BillerPayer,
    /// A donor's message (donations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BillerState {
    Accepted,
    Success,
    Failed,
    NotFound,
}

/// `billers/pay` and `billers/query` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerPayResult {
    pub out_trade_no: String,
    pub biller_trade_no: Option<String>,
    pub state: BillerState,
    /// RFC 3339 on the wire
    pub completed_at: Option<DateTime<FixedOffset>>,
    pub fail_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatementRow {
    /// `YYYY-MM-DD` on the wire
    pub date: NaiveDate,
    /// which biller (`elec`, `net`, …); older gateways may leave it out
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biller_id: Option<String>,
    pub biller_trade_no: String,
    pub out_trade_no: String,
    pub target_id: String,
    pub amount_fen: Fen,
    pub state: BillerState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatement {
    pub date: NaiveDate,
    pub count: u64,
    pub sum_fen: Fen,
    /// hex SHA-256 of the whole day's rows ([`super::statement_sha256`]), when the upstream
    /// provides one: the receiver recomputes it over every page to know the file is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    pub page: Page<BillerStatementRow>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fen;
    use crate::test_support::{one_row_statement, refused, round_trip};

    #[test]
    fn the_catalog_and_a_payment_carry_fen() {
        let catalog = r#"{"items":[{"biller_id":"elec","name":"宿舍电费","amount_rule":"any","min_fen":100,"max_fen":50000,"day_max_fen":100000,"unit_price_fen":56},{"biller_id":"exam","name":"全国大学英语四六级考试报名费","amount_rule":"fixed","min_fen":3000,"max_fen":3000,"day_max_fen":3000,"unit_price_fen":null}]}"#;
        let c: BillerCatalog = round_trip(catalog);
        assert_eq!(
            (c.items[0].min_fen, c.items[0].unit_price_fen),
            (Fen(100), Some(Fen(56)))
        );
        refused::<BillerCatalog>(catalog, r#""min_fen":100,"#, &[r#""min_fen":1.0,"#]);
        let pay: BillerPay = round_trip(
            r#"{"biller_id":"elec","target_id":"E-1-3-301","amount_fen":2800,"out_trade_no":"O20251125ABCDEFGHJKMNC","payer":{"sno":"2025000001","card_out_trade_no":"O20251125ABCDEFGHJKMND"}}"#,
        );
        assert_eq!(pay.amount_fen, Fen(2800));
        let meter: BillerTarget = round_trip(
            r#"{"target_id":"E-1-3-301","display_name":"东区1号楼301","remaining_kwh_hundredths":95750,"balance_fen":51705,"used_traffic_mb":null,"quota_mb":null,"receivables":[],"text":"当前余额517.05元,当前剩余电量957.50度"}"#,
        );
        assert_eq!(meter.balance_fen, Some(Fen(51705)));
    }

    #[test]
    fn a_biller_statement_carries_fen_and_dates_and_hashes_as_sent() {
        let row = r#"{"date":"2025-11-25","biller_id":"elec","biller_trade_no":"E20251125000001","out_trade_no":"O20251125ABCDEFGHJKMNC","target_id":"E-1-3-301","amount_fen":2800,"state":"SUCCESS"}"#;
        let json = one_row_statement(r#""date":"2025-11-25","count":1,"sum_fen":2800"#, row);
        let s: BillerStatement = round_trip(&json);
        assert_eq!(
            (s.sum_fen, s.page.items[0].amount_fen),
            (Fen(2800), Fen(2800))
        );
        assert_eq!(Some(crate::statement_sha256(&s.page.items)), s.file_sha256);
        refused::<BillerStatementRow>(row, "2025-11-25", &["25/11"]);
    }

    #[test]
    fn a_receivable_is_due_on_a_date() {
        let json = r#"{"target_id":"2025000001","display_name":"张三","remaining_kwh_hundredths":null,"balance_fen":null,"used_traffic_mb":null,"quota_mb":null,"receivables":[{"id":"PH-2025000001","item":"学籍照片采集费","amount_fen":2000,"due":"2025-12-31"},{"id":"LIB-C1234567","item":"《算法导论》逾期24天罚款","amount_fen":240,"due":null}],"text":""}"#;
        let t: BillerTarget = round_trip(json);
        assert_eq!(t.receivables[0].due, NaiveDate::from_ymd_opt(2025, 12, 31));
        assert_eq!(t.receivables[1].due, None);
        refused::<BillerTarget>(json, "2025-12-31", &["年底", "2025-12-31 23:59"]);
    }

    #[test]
    fn a_payment_completes_at_a_time() {
        let json = r#"{"out_trade_no":"O20251125ABCDEFGHJKMNC","biller_trade_no":"E20251125000001","state":"SUCCESS","completed_at":"2025-11-25T12:03:09+08:00","fail_reason":null}"#;
        let p: BillerPayResult = round_trip(json);
        assert_eq!(p.completed_at.map(|t| t.timestamp()), Some(1_764_043_389));
        round_trip::<BillerPayResult>(
            r#"{"out_trade_no":"O20251125ABCDEFGHJKMNC","biller_trade_no":"E20251125000001","state":"ACCEPTED","completed_at":null,"fail_reason":null}"#,
        );
        refused::<BillerPayResult>(json, "2025-11-25T12:03:09+08:00", &["刚刚", "2025-11-25"]);
    }
}
