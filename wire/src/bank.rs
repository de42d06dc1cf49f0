//! Body types of the bank (银校转账): binding, debit (idempotent by `out_trade_no`), query by
//! key, statement. Reversal (冲正) uses the card system's [`super::Reverse`] /
//! [`super::ReverseResult`].

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::domain::Fen;
use super::envelope::{Page, TradeState, default_page, default_page_size};

/// `bank/binding/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankBinding {
    pub bound: bool,
    pub bank_code: Option<String>,
    pub bank_name: Option<String>,
    /// first 6 + last 4
    pub card_masked: Option<String>,
    pub holder_name_masked: Option<String>,
    /// `YYYY-MM-DD` on the wire (a date despite the `_at`, as in v1 of the protocol)
    pub bound_at: Option<NaiveDate>,
}

/// `bank/debit` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDebit {
    pub sno: String,
    pub amount_fen: Fen,
    pub out_trade_no: String,
    /// `campus_card_load`
    pub purpose: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankDebitResult {
    pub bank_trade_no: Option<String>,
    /// `YYYY-MM-DD` on the wire
    pub bank_date: NaiveDate,
    pub state: TradeState,
}

/// `bank/query` answer (`bank/reverse` takes [`super::Reverse`], answers
/// [`super::ReverseResult`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankTradeStatus {
    pub out_trade_no: String,
    pub state: TradeState,
    pub bank_trade_no: Option<String>,
    pub amount_fen: Option<Fen>,
}

/// `bank/statement`, `billers/statement`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementQuery {
    /// `YYYY-MM-DD` on the wire
    pub date: NaiveDate,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStatementRow {
    pub bank_date: NaiveDate,
    pub bank_trade_no: String,
    pub out_trade_no: String,
    pub card_masked: String,
    pub sno: String,
    pub amount_fen: Fen,
    /// DEBIT | REVERSAL
    #[serde(rename = "type")]
    pub row_type: String,
    pub state: TradeState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankStatement {
    pub date: NaiveDate,
    pub count: u64,
    pub sum_fen: Fen,
    /// hex SHA-256 of the whole day's rows ([`super::statement_sha256`]), when the upstream
    /// provides one: the receiver recomputes it over every page to know the file is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    pub page: Page<BankStatementRow>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fen;
    use crate::test_support::{one_row_statement, refused, round_trip};

    #[test]
    fn a_bank_debit_carries_fen_and_answers_a_bank_date() {
        let debit: BankDebit = round_trip(
            r#"{"sno":"2025000001","amount_fen":10000,"out_trade_no":"O20251125ABCDEFGHJKMND","purpose":"campus_card_load"}"#,
        );
        assert_eq!(debit.amount_fen, Fen(10000));
        let answer =
            r#"{"bank_trade_no":"B20251125000001","bank_date":"2025-11-25","state":"SUCCESS"}"#;
        let r: BankDebitResult = round_trip(answer);
        assert_eq!(r.bank_date, NaiveDate::from_ymd_opt(2025, 11, 25).unwrap());
        refused::<BankDebitResult>(answer, "2025-11-25", &["", "2025/11/25"]);
        let status: BankTradeStatus = round_trip(
            r#"{"out_trade_no":"O20251125ABCDEFGHJKMND","state":"SUCCESS","bank_trade_no":"B20251125000001","amount_fen":10000}"#,
        );
        assert_eq!(status.amount_fen, Some(Fen(10000)));
        round_trip::<BankTradeStatus>(
            r#"{"out_trade_no":"O20251125ABCDEFGHJKMND","state":"NOT_FOUND","bank_trade_no":null,"amount_fen":null}"#,
        );
    }

    /// The billers' statement is asked for the same way.
    #[test]
    fn a_statement_query_names_a_date() {
        let json = r#"{"date":"2025-11-25","page":1,"page_size":50}"#;
        let q: StatementQuery = round_trip(json);
        assert_eq!(q.date, NaiveDate::from_ymd_opt(2025, 11, 25).unwrap());
        refused::<StatementQuery>(
            json,
            "2025-11-25",
            &["2025.11.25", "今天", "2025-11-25T00:00:00+08:00"],
        );
        refused::<StatementQuery>(json, r#""2025-11-25""#, &["20251125", "null"]);
    }

    #[test]
    fn a_bank_statement_carries_fen_and_dates_and_hashes_as_sent() {
        let row = r#"{"bank_date":"2025-11-25","bank_trade_no":"B20251125000001","out_trade_no":"O20251125ABCDEFGHJKMND","card_masked":"622202****1234","sno":"2025000001","amount_fen":10000,"type":"DEBIT","state":"SUCCESS"}"#;
        let json = one_row_statement(r#""date":"2025-11-25","count":1,"sum_fen":10000"#, row);
        let s: BankStatement = round_trip(&json);
        assert_eq!(
            (s.sum_fen, s.page.items[0].amount_fen),
            (Fen(10000), Fen(10000))
        );
        assert_eq!(Some(crate::statement_sha256(&s.page.items)), s.file_sha256);
        refused::<BankStatementRow>(row, "2025-11-25", &["2025.11.25"]);
    }

    #[test]
    fn a_bank_binding_dates_from_a_day() {
        let json = r#"{"bound":true,"bank_code":"ICBC","bank_name":"中国工商银行","card_masked":"622202****1234","holder_name_masked":"张*","bound_at":"2025-09-05"}"#;
        let b: BankBinding = round_trip(json);
        assert_eq!(b.bound_at, NaiveDate::from_ymd_opt(2025, 9, 5));
        round_trip::<BankBinding>(
            r#"{"bound":false,"bank_code":null,"bank_name":null,"card_masked":null,"holder_name_masked":null,"bound_at":null}"#,
        );
        refused::<BankBinding>(
            json,
            "2025-09-05",
            &["20250905", "2025-09-05T00:00:00+08:00"],
        );
    }
}
