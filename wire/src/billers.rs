//! Body types of the billers (缴费: electricity, network, photo, library fines, exams,
//! donations): catalog, locations, lookup, pay (idempotent by `out_trade_no`), query, statement.

use serde::{Deserialize, Serialize};

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
    pub min_fen: i64,
    pub max_fen: i64,
    pub day_max_fen: i64,
    pub unit_price_fen: Option<i64>,
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
    pub amount_fen: i64,
    pub due: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerTarget {
    pub target_id: String,
    pub display_name: String,
    /// kWh × 100
    pub remaining_kwh_hundredths: Option<i64>,
    pub balance_fen: Option<i64>,
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
    pub amount_fen: i64,
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
    pub completed_at: Option<String>,
    pub fail_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatementRow {
    pub date: String,
    /// which biller (`elec`, `net`, …); older gateways may leave it out
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub biller_id: Option<String>,
    pub biller_trade_no: String,
    pub out_trade_no: String,
    pub target_id: String,
    pub amount_fen: i64,
    pub state: BillerState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillerStatement {
    pub date: String,
    pub count: u64,
    pub sum_fen: i64,
    /// hex SHA-256 of the whole day's rows ([`super::statement_sha256`]), when the upstream
    /// provides one: the receiver recomputes it over every page to know the file is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    pub page: Page<BillerStatementRow>,
}
