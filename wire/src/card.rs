//! Body types of the card system (一卡通): accounts, balances, transactions, loss reports,
//! loads (圈存) and their reversal, e-wallet debits and refunds, daily records.

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use super::domain::Fen;
use super::envelope::{Page, TradeState, default_page, default_page_size};
use super::signing::{Credentials, hmac_hex};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// 学工号
    Sno,
    /// transaction card number (交易卡号) or printed number (显示卡号)
    CardNo,
    /// ledger account (账号)
    Account,
}

/// `card/account/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountQuery {
    pub id_type: IdType,
    pub id: String,
}

/// 正常 / 挂失 / 冻结 / 注销; precedence closed > lost > frozen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardStatus {
    Normal,
    Lost,
    Frozen,
    Closed,
}

/// The independent flags behind [`CardStatus`] (lost and frozen can coexist).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardFlags {
    pub lost: bool,
    pub frozen: bool,
    pub expired: bool,
    pub dormant: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// ledger account (账号), the key for every other card operation
    pub account: String,
    pub sno: String,
    pub name: String,
    /// customer type code and name, e.g. `"40"`, `"本科"`
    pub cust_type: String,
    pub cust_type_name: String,
    /// card type code and name, e.g. `"1"`, `"正式卡"`
    pub card_type: String,
    pub card_type_name: String,
    pub status: CardStatus,
    pub flags: CardFlags,
    pub dept: String,
    /// `YYYY-MM-DD` on the wire
    pub expire_date: NaiveDate,
    /// phone on file, already masked by the card system (`138****1234`); absent if none
    pub phone_masked: Option<String>,
    pub card_no: String,
    pub card_no_display: String,
}

/// Several cards per person exist; the first is the primary one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    pub accounts: Vec<Account>,
}

/// `card/balance/get`, `card/info/get`, `card/found/get`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRef {
    pub account: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub account: String,
    /// spendable
    pub balance_fen: Fen,
    /// 过渡余额: loaded but not yet claimed at a POS or kiosk
    pub pending_fen: Fen,
    /// 补助 waiting to be claimed
    pub subsidy_pending_fen: Fen,
    pub day_spent_fen: Fen,
    pub single_limit_fen: Fen,
    pub day_limit_fen: Fen,
    /// 免密额度
    pub nopwd_limit_fen: Fen,
    /// balance + pending may not exceed this
    pub wallet_cap_fen: Fen,
    /// RFC 3339 on the wire; an answer with an unreadable time is not the protocol
    pub as_of: DateTime<FixedOffset>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// money into the spendable balance
    In,
    /// money out of it
    Out,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TxType {
    Consume,
    LoadBank,
    LoadCash,
    LoadOnline,
    Claim,
    Subsidy,
    Refund,
    BillPay,
    Fee,
    Reversal,
    Adjust,
    Transfer,
    /// a type this client does not know yet (servers may add types)
    #[serde(other)]
    Other,
}

/// `card/transactions/list`
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionsQuery {
    pub account: String,
    /// `YYYY-MM-DD` on the wire, inclusive, by trade date
    pub from: NaiveDate,
    /// `YYYY-MM-DD` on the wire, inclusive
    pub to: NaiveDate,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub tx_type: Option<TxType>,
}

/// Newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    pub trade_no: String,
    /// RFC 3339 on the wire
    pub occurred_at: DateTime<FixedOffset>,
    /// accounting date `YYYY-MM-DD` (may be the next day after the day cut)
    pub acc_date: NaiveDate,
    #[serde(rename = "type")]
    pub tx_type: TxType,
    /// vendor name, e.g. 持卡人消费
    pub type_name: String,
    pub direction: Direction,
    /// magnitude, always ≥ 0; the sign is `direction`
    pub amount_fen: Fen,
    pub balance_after_fen: Fen,
    pub merchant_id: String,
    pub merchant_name: String,
    pub terminal_id: String,
    pub location: String,
    #[serde(default)]
    pub remark: String,
}

/// `card/transactions/feed`: every transaction of every card after `cursor`, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionFeedQuery {
    /// The `seq` of the last item already seen; 0 = from the oldest kept.
    #[serde(default)]
    pub cursor: u64,
    /// At most this many items (servers clamp to 1..=500).
    #[serde(default = "default_feed_limit")]
    pub limit: u32,
}

fn default_feed_limit() -> u32 {
    100
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionFeed {
    /// Names the sequence: when it changes (the card system rebuilt its feed), cursors of the
    /// old one mean nothing and a consumer starts again from 0.
    pub feed_id: String,
    pub items: Vec<TransactionFeedItem>,
    /// The cursor for the next call (the last item's `seq`, or the request's cursor if none).
    pub next_cursor: u64,
    /// The oldest `seq` still kept: a cursor below `oldest_seq - 1` has missed items.
    pub oldest_seq: u64,
    /// More items are waiting after `next_cursor`.
    pub has_more: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransactionFeedItem {
    /// Increasing by 1 per transaction within one `feed_id`.
    pub seq: u64,
    /// The card holder's 学工号.
    pub sno: String,
    pub account: String,
    /// The card was reported lost when the transaction happened (an offline terminal that
    /// has not yet received the loss, or a card used after being reported).
    pub card_lost: bool,
    /// As in `transactions/list`; loads still waiting to be claimed have `remark` `pending`.
    pub transaction: Transaction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossChannel {
    Wechat,
    Phone,
    Web,
    Counter,
    Kiosk,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardInfo {
    pub account: String,
    pub card_no: String,
    pub card_no_display: String,
    pub card_type: String,
    pub card_type_name: String,
    pub status: CardStatus,
    pub flags: CardFlags,
    /// `YYYY-MM-DD` on the wire
    pub issue_date: NaiveDate,
    pub expire_date: NaiveDate,
    /// RFC 3339 on the wire, when the loss was reported / becomes effective on offline terminals
    pub lost_at: Option<DateTime<FixedOffset>>,
    pub loss_effective_at: Option<DateTime<FixedOffset>>,
    pub loss_channel: Option<LossChannel>,
}

/// `card/password/verify`. `password_digest` = hex(HMAC-SHA256(app_secret,
/// "PWD\n" + account + "\n" + password)) — see [`password_digest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordVerify {
    pub account: String,
    pub password_digest: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordVerifyResult {
    pub ok: bool,
    pub attempts_left: u32,
}

/// How a card password travels: never in clear, bound to the account and the app secret.
pub fn password_digest(creds: &Credentials, account: &str, password: &str) -> String {
    hmac_hex(&creds.app_secret, &format!("PWD\n{account}\n{password}"))
}

/// `card/report_loss` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLoss {
    pub account: String,
    pub out_trade_no: String,
    pub channel: LossChannel,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossResult {
    pub trade_no: String,
    pub status: CardStatus,
    /// RFC 3339 on the wire; offline terminals honour the loss from this moment
    pub effective_at: DateTime<FixedOffset>,
}

/// `card/cancel_loss` (write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CancelLoss {
    pub account: String,
    pub out_trade_no: String,
    pub password_digest: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FoundStatus {
    Waiting,
    Collected,
}

/// `card/found/get`: is my lost card at a service point?
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundCard {
    pub found: bool,
    pub place: Option<String>,
    /// RFC 3339 on the wire
    pub found_at: Option<DateTime<FixedOffset>>,
    pub pickup_hours: Option<String>,
    pub status: Option<FoundStatus>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoadSource {
    Bank,
    Online,
    Cash,
}

/// `card/load/create` (圈存入账, write): credits `pending_fen`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadCreate {
    pub account: String,
    pub amount_fen: Fen,
    pub out_trade_no: String,
    pub source: LoadSource,
    /// the counterparty's serial (e.g. the bank debit's `out_trade_no`)
    pub source_ref: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadResult {
    pub trade_no: String,
    /// `YYYY-MM-DD` on the wire
    pub acc_date: NaiveDate,
    pub state: TradeState,
    pub pending_fen_after: Fen,
}

/// `card/load/reverse` (冲正, write). Idempotent; reversing an unknown or failed load answers
/// `NOTHING_TO_REVERSE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reverse {
    pub orig_out_trade_no: String,
    pub out_trade_no: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReverseState {
    Reversed,
    NothingToReverse,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseResult {
    pub state: ReverseState,
    pub trade_no: Option<String>,
}

/// `card/load/claim` (领款, write): every pending load (过渡余额) of the account becomes spendable
/// at once, as a tap at a POS or a kiosk does; for card systems that keep the account online.
/// Zero net: the card statement shows one `CLAIM` (pending → chip).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimPending {
    pub account: String,
    pub out_trade_no: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimResult {
    /// what moved from 过渡余额 into the spendable balance
    pub claimed_fen: Fen,
    pub balance_fen_after: Fen,
    pub trade_no: String,
    /// `YYYY-MM-DD` on the wire
    pub acc_date: NaiveDate,
}

/// `card/pay/debit` (e-wallet payment to a biller, write)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Debit {
    pub account: String,
    pub amount_fen: Fen,
    pub out_trade_no: String,
    pub biller_id: String,
    pub target_id: String,
    #[serde(default)]
    pub remark: String,
    /// required above `nopwd_limit_fen` (else 2308)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_digest: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebitResult {
    pub trade_no: String,
    /// `YYYY-MM-DD` on the wire
    pub acc_date: NaiveDate,
    pub balance_after_fen: Fen,
}

/// `card/pay/refund` (write), partial refunds allowed up to the original amount in total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    pub orig_out_trade_no: String,
    pub out_trade_no: String,
    pub amount_fen: Fen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    ReportLoss,
    CancelLoss,
    Load,
    LoadReverse,
    Debit,
    Refund,
    /// `load/claim` (领款)
    Claim,
}

/// `card/trade/query` answer, for any card write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeStatus {
    pub out_trade_no: String,
    pub state: TradeState,
    pub kind: Option<TradeKind>,
    pub trade_no: Option<String>,
    /// `YYYY-MM-DD` on the wire
    pub acc_date: Option<NaiveDate>,
    pub amount_fen: Option<Fen>,
    /// for `FAILED`: the code and message the write answered with
    pub error_code: Option<u32>,
    pub error_message: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReconKind {
    Load,
    Debit,
    Refund,
    Reversal,
    /// 领款 (`load/claim`): zero net, pending → spendable within the card system.
    Claim,
    All,
}

/// `card/recon/daily`: every money record of one accounting day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecordsQuery {
    /// `YYYY-MM-DD` on the wire
    pub acc_date: NaiveDate,
    pub kind: ReconKind,
    #[serde(default = "default_page")]
    pub page: u32,
    #[serde(default = "default_page_size")]
    pub page_size: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecord {
    pub acc_date: NaiveDate,
    pub trade_no: String,
    pub out_trade_no: String,
    pub account: String,
    pub sno: String,
    #[serde(rename = "type")]
    pub tx_type: TxType,
    pub amount_fen: Fen,
    pub state: TradeState,
    /// RFC 3339 on the wire
    pub occurred_at: DateTime<FixedOffset>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecords {
    pub acc_date: NaiveDate,
    /// totals over the whole day (all pages) for the requested kind
    pub count: u64,
    pub sum_fen: Fen,
    /// hex SHA-256 of the whole day's rows ([`super::statement_sha256`]), when the upstream
    /// provides one: the receiver recomputes it over every page to know the file is whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_sha256: Option<String>,
    pub page: Page<DailyRecord>,
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use crate::domain::Fen;
    use crate::test_support::{one_row_statement, refused, round_trip};
    use crate::*;

    #[test]
    fn an_account_expires_on_a_date() {
        let json = r#"{"account":"42940","sno":"2025000001","name":"张三","cust_type":"40","cust_type_name":"本科","card_type":"1","card_type_name":"正式卡","status":"normal","flags":{"lost":false,"frozen":false,"expired":false,"dormant":false},"dept":"计算机科学与技术学院","expire_date":"2028-07-01","phone_masked":"138****0001","card_no":"100042940","card_no_display":"42940"}"#;
        let a: Account = round_trip(json);
        assert_eq!(a.expire_date, NaiveDate::from_ymd_opt(2028, 7, 1).unwrap());
        refused::<Account>(json, "2028-07-01", &["2028-02-30", "07/01/2028"]);
    }

    #[test]
    fn money_writes_and_their_answers_carry_fen_and_accounting_dates() {
        let load: LoadCreate = round_trip(
            r#"{"account":"42940","amount_fen":5000,"out_trade_no":"O20251125ABCDEFGHJKMNC","source":"bank","source_ref":"O20251125ABCDEFGHJKMND"}"#,
        );
        assert_eq!(load.amount_fen, Fen(5000));
        let loaded = r#"{"trade_no":"Q20251125000001","acc_date":"2025-11-25","state":"SUCCESS","pending_fen_after":15000}"#;
        let l: LoadResult = round_trip(loaded);
        assert_eq!(
            (l.acc_date, l.pending_fen_after),
            (NaiveDate::from_ymd_opt(2025, 11, 25).unwrap(), Fen(15000))
        );
        refused::<LoadResult>(loaded, "2025-11-25", &["2025-11-25T23:45:00+08:00", "今天"]);
        refused::<LoadResult>(loaded, "15000", &["150.00", "\"15000\""]);
        let claimed = r#"{"claimed_fen":15000,"balance_fen_after":20230,"trade_no":"K20251125000001","acc_date":"2025-11-25"}"#;
        let c: ClaimResult = round_trip(claimed);
        assert_eq!(
            (c.claimed_fen, c.balance_fen_after),
            (Fen(15000), Fen(20230))
        );
        refused::<ClaimResult>(claimed, "2025-11-25", &["20251125"]);
        round_trip::<Debit>(
            r#"{"account":"42940","amount_fen":2800,"out_trade_no":"O20251125ABCDEFGHJKMND","biller_id":"elec","target_id":"E-1-3-301","remark":""}"#,
        );
        let paid =
            r#"{"trade_no":"D20251125000001","acc_date":"2025-11-26","balance_after_fen":2230}"#;
        let d: DebitResult = round_trip(paid);
        assert_eq!(d.balance_after_fen, Fen(2230));
        refused::<DebitResult>(paid, "2025-11-26", &["26/11/2025"]);
        round_trip::<Refund>(
            r#"{"orig_out_trade_no":"O20251125ABCDEFGHJKMND","out_trade_no":"O20251125ABCDEFGHJKMNR","amount_fen":2800}"#,
        );
    }

    #[test]
    fn a_trade_query_answers_fen_and_a_date_or_nulls() {
        let done = r#"{"out_trade_no":"O20251125ABCDEFGHJKMNC","state":"SUCCESS","kind":"load","trade_no":"Q20251125000001","acc_date":"2025-11-25","amount_fen":5000,"error_code":null,"error_message":null}"#;
        let t: TradeStatus = round_trip(done);
        assert_eq!(
            (t.acc_date, t.amount_fen),
            (NaiveDate::from_ymd_opt(2025, 11, 25), Some(Fen(5000)))
        );
        round_trip::<TradeStatus>(
            r#"{"out_trade_no":"O20251125ABCDEFGHJKMNC","state":"NOT_FOUND","kind":null,"trade_no":null,"acc_date":null,"amount_fen":null,"error_code":null,"error_message":null}"#,
        );
        refused::<TradeStatus>(done, "2025-11-25", &["yesterday"]);
    }

    #[test]
    fn day_records_carry_fen_dates_and_times_and_hash_as_sent() {
        let row = r#"{"acc_date":"2025-11-25","trade_no":"Q20251125000001","out_trade_no":"O20251125ABCDEFGHJKMNC","account":"42940","sno":"2025000001","type":"LOAD_BANK","amount_fen":5000,"state":"SUCCESS","occurred_at":"2025-11-25T12:03:04+08:00"}"#;
        let json = one_row_statement(r#""acc_date":"2025-11-25","count":1,"sum_fen":5000"#, row);
        let day: DailyRecords = round_trip(&json);
        assert_eq!(
            (day.sum_fen, day.page.items[0].amount_fen),
            (Fen(5000), Fen(5000))
        );
        assert_eq!(day.page.items[0].occurred_at.timestamp(), 1_764_043_384);
        // The receiver re-hashes the typed rows: the same hash as over the rows as sent.
        assert_eq!(Some(statement_sha256(&day.page.items)), day.file_sha256);
        refused::<DailyRecord>(row, "2025-11-25T12:03:04+08:00", &["12:03", "2025-11-25"]);
        refused::<DailyRecord>(row, r#""acc_date":"2025-11-25""#, &[r#""acc_date":"昨天""#]);
    }

    #[test]
    fn a_loss_takes_effect_at_a_time() {
        let json = r#"{"trade_no":"L20251125000007","status":"lost","effective_at":"2025-11-25T12:15:00+08:00"}"#;
        let l: LossResult = round_trip(json);
        assert_eq!(l.effective_at.timestamp(), 1_764_044_100);
        refused::<LossResult>(
            json,
            "2025-11-25T12:15:00+08:00",
            &["2025-11-25 12:15", "", "12:15"],
        );
    }

    #[test]
    fn a_balance_carries_fen_and_goes_back_on_the_wire_unchanged() {
        let b: Balance = round_trip(
            r#"{"account":"42940","balance_fen":5230,"pending_fen":10000,"subsidy_pending_fen":0,"day_spent_fen":1500,"single_limit_fen":5000,"day_limit_fen":10000,"nopwd_limit_fen":2000,"wallet_cap_fen":100000,"as_of":"2025-11-25T12:03:04+08:00"}"#,
        );
        assert_eq!(
            (
                b.balance_fen,
                b.pending_fen,
                b.day_spent_fen,
                b.wallet_cap_fen
            ),
            (Fen(5230), Fen(10000), Fen(1500), Fen(100000))
        );
    }

    #[test]
    fn transaction_json_uses_type_and_fen_and_tolerates_new_types() {
        let json = r#"{"trade_no":"T1","occurred_at":"2025-11-25T12:03:04+08:00","acc_date":"2025-11-25",
            "type":"CONSUME","type_name":"持卡人消费","direction":"out","amount_fen":1250,
            "balance_after_fen":4830,"merchant_id":"M01","merchant_name":"第一食堂","terminal_id":"P0101",
            "location":"第一食堂二楼"}"#;
        let t: Transaction = serde_json::from_str(json).unwrap();
        assert_eq!(t.tx_type, TxType::Consume);
        assert_eq!(t.amount_fen, crate::domain::Fen(1250));
        // Times and amounts are typed, and go back on the wire exactly as they came.
        assert_eq!(
            serde_json::to_value(&t).unwrap()["occurred_at"],
            "2025-11-25T12:03:04+08:00"
        );
        assert_eq!(serde_json::to_value(&t).unwrap()["amount_fen"], 1250);
        let new_type = json.replace("CONSUME", "CROWDFUND");
        let t2: Transaction = serde_json::from_str(&new_type).unwrap();
        assert_eq!(t2.tx_type, TxType::Other);
        // floats are refused for money
        let float = json.replace("1250", "12.5");
        assert!(serde_json::from_str::<Transaction>(&float).is_err());
    }

    #[test]
    fn an_unreadable_time_or_date_is_not_the_protocol() {
        let json = r#"{"account":"42940","balance_fen":5230,"pending_fen":0,"subsidy_pending_fen":0,
            "day_spent_fen":0,"single_limit_fen":5000,"day_limit_fen":10000,"nopwd_limit_fen":2000,
            "wallet_cap_fen":100000,"as_of":"2025-11-25T12:03:04+08:00"}"#;
        let b: Balance = serde_json::from_str(json).unwrap();
        assert_eq!(b.as_of.timestamp(), 1_764_043_384);
        for bad in ["2025-11-25 下午", "", "2025-13-01T00:00:00+08:00"] {
            let broken = json.replace("2025-11-25T12:03:04+08:00", bad);
            assert!(serde_json::from_str::<Balance>(&broken).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_transactions_query_asks_for_a_range_of_dates() {
        let json = r#"{"account":"42940","from":"2025-11-01","to":"2025-11-25","page":2,"page_size":20,"direction":"out","type":"CONSUME"}"#;
        let q: TransactionsQuery = round_trip(json);
        assert_eq!(
            (q.from, q.to),
            (
                NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
                NaiveDate::from_ymd_opt(2025, 11, 25).unwrap()
            )
        );
        refused::<TransactionsQuery>(
            json,
            "2025-11-01",
            &[
                "2025-11-31",
                "2025/11/01",
                "20251101",
                "",
                "2025-11-01T00:00:00+08:00",
            ],
        );
        refused::<TransactionsQuery>(json, r#""2025-11-25""#, &["20251125", "null"]);
    }

    #[test]
    fn a_day_records_query_names_an_accounting_date() {
        let json = r#"{"acc_date":"2025-11-24","kind":"load","page":1,"page_size":50}"#;
        let q: DailyRecordsQuery = round_trip(json);
        assert_eq!(q.acc_date, NaiveDate::from_ymd_opt(2025, 11, 24).unwrap());
        refused::<DailyRecordsQuery>(json, "2025-11-24", &["昨天", "2025-02-29", "24/11/2025"]);
    }

    #[test]
    fn optional_request_fields_are_omitted_not_null() {
        let q = TransactionsQuery {
            account: "42940".into(),
            from: NaiveDate::from_ymd_opt(2025, 11, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2025, 11, 25).unwrap(),
            page: 1,
            page_size: 20,
            direction: None,
            tx_type: Some(TxType::Consume),
        };
        assert_eq!(
            serde_json::to_string(&q).unwrap(),
            r#"{"account":"42940","from":"2025-11-01","to":"2025-11-25","page":1,"page_size":20,"type":"CONSUME"}"#
        );
    }
}
