//! The JSON envelope every response carries, the numeric result codes (with their HTTP status
//! and vendor-style default message), and the small shapes every upstream shares: the state of
//! a write queried by its key, and a page of items.

use serde::{Deserialize, Serialize};

/// Every response body: `{"code":0,"message":"ok","request_id":"…","data":{…}}`.
/// `data` is present (non-null) exactly when `code == 0`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub code: u32,
    pub message: String,
    pub request_id: String,
    #[serde(default = "none")]
    pub data: Option<T>,
}

fn none<T>() -> Option<T> {
    None
}

impl<T> Envelope<T> {
    pub fn ok(request_id: impl Into<String>, data: T) -> Self {
        Self {
            code: 0,
            message: "ok".to_owned(),
            request_id: request_id.into(),
            data: Some(data),
        }
    }

    pub fn error(
        request_id: impl Into<String>,
        code: ErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            code: code.as_u32(),
            message: message.into(),
            request_id: request_id.into(),
            data: None,
        }
    }

    /// The known code, if this client knows it (servers may add codes).
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_u32(self.code)
    }
}

macro_rules! error_codes {
    ($( $(#[$m:meta])* $name:ident = $num:literal, $http:literal, $text:literal; )*) => {
        /// Numeric result codes. `0` is success; ranges: 1xxx protocol, 2xxx card, 3xxx SMS,
        /// 4xxx public data, 5xxx bank, 6xxx billers, 9xxx transient.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $( $(#[$m])* $name, )*
        }

        impl ErrorCode {
            pub const ALL: &'static [ErrorCode] = &[ $( ErrorCode::$name, )* ];

            pub fn as_u32(self) -> u32 {
                match self { $( ErrorCode::$name => $num, )* }
            }

            pub fn from_u32(code: u32) -> Option<Self> {
                match code { $( $num => Some(ErrorCode::$name), )* _ => None }
            }

            /// The HTTP status a server answers with for this code.
            pub fn http_status(self) -> u16 {
                match self { $( ErrorCode::$name => $http, )* }
            }

            /// The documented default `message` (Chinese, as a vendor would send it).
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$name => $text, )* }
            }
        }
    };
}

error_codes! {
    Ok = 0, 200, "ok";
    // 1xxx protocol
    MissingSignature = 1001, 401, "缺少签名或签名头格式错误";
    BadSignature = 1002, 401, "签名检验失败";
    TimestampOutOfWindow = 1003, 401, "时间戳无效";
    NonceReplayed = 1004, 401, "请求重放";
    AppNotAuthorised = 1005, 403, "应用未授权";
    RateLimited = 1006, 429, "调用次数超限";
    BadRequest = 1007, 400, "请求格式错误";
    IdempotencyKeyMismatch = 1008, 400, "Idempotency-Key 与请求体不一致";
    UnknownOperation = 1009, 404, "接口不存在";
    // 20xx card: lookup and general
    AccountNotFound = 2001, 200, "账户信息不存在";
    CardDuplicateKeyMismatch = 2009, 200, "发端流水号重复且请求内容不一致";
    RangeTooLong = 2010, 200, "查询时间范围过长";
    // 21xx card status and security
    AlreadyLost = 2103, 200, "账户已挂失";
    NotLost = 2104, 200, "账户未挂失";
    CardClosed = 2105, 200, "持卡人已销户";
    PasswordWrong = 2106, 200, "账户密码错误";
    PasswordLocked = 2107, 200, "密码错误次数过多，已锁定";
    CardFrozen = 2108, 200, "账户已冻结";
    NotAllowedOnline = 2110, 200, "该业务不支持线上办理";
    // 22xx loads (圈存) and their reversal
    OverWalletCap = 2201, 200, "持卡人钱包余额超过限制";
    StatusNotNormal = 2202, 200, "一卡通状态不正常";
    DayClosed = 2203, 200, "一卡通后台已日结";
    OutOfServiceHours = 2204, 200, "不在服务时间内";
    AmountInvalid = 2205, 200, "金额不合法";
    CannotReverse = 2211, 200, "该交易不允许冲正";
    ReverseWindowClosed = 2212, 200, "已日结，不能冲正";
    LoadAlreadyReversed = 2213, 200, "原交易已冲正，不再受理";
    NothingToClaim = 2214, 200, "没有待领取的过渡余额";
    // 23xx e-wallet debits and refunds
    InsufficientFunds = 2301, 200, "账户余额不足";
    OverSingleLimit = 2304, 200, "超过单笔消费限额";
    OverDayLimit = 2305, 200, "超过日消费限额";
    RefundExceedsOriginal = 2306, 200, "退款金额超过原交易";
    OriginalNotFound = 2307, 200, "原交易不存在";
    PasswordRequired = 2308, 200, "需要验证密码";
    // 24xx reconciliation
    RecordsNotReady = 2403, 200, "对账数据未生成";
    // 3xxx SMS
    SmsRateLimitMinute = 3001, 200, "触发分钟级流控";
    SmsRateLimitHour = 3002, 200, "触发小时级流控";
    SmsRateLimitDay = 3003, 200, "触发天级流控";
    InvalidPhone = 3004, 200, "手机号码格式错误";
    TemplateNotFound = 3005, 200, "短信模板不存在";
    PhoneBlacklisted = 3006, 200, "号码在黑名单中";
    NoPhoneOnFile = 3007, 200, "未登记手机号";
    SmsDuplicateKeyMismatch = 3009, 200, "out_id 重复且请求内容不一致";
    SmsNotFound = 3010, 200, "短信记录不存在";
    // 4xxx public data
    PersonNotFound = 4001, 200, "查无此人";
    GradesNotPublished = 4002, 200, "成绩尚未发布";
    TermNotFound = 4003, 200, "学期不存在";
    ReaderNotFound = 4004, 200, "读者不存在";
    // 5xxx bank
    BankNotBound = 5001, 200, "账户未绑定银行卡";
    BankDuplicateKeyMismatch = 5009, 200, "发端流水号重复且请求内容不一致";
    BankInsufficientFunds = 5101, 200, "银行卡余额不足";
    BankCardLost = 5102, 200, "银行卡已挂失";
    BankAccountAbnormal = 5103, 200, "银行账户状态异常";
    BankOverLimit = 5104, 200, "超过银行限额";
    BankOutOfServiceHours = 5105, 200, "不在银行服务时间内";
    BankNetwork = 5106, 200, "银行网络故障或未签到";
    BankReverseWindowClosed = 5201, 200, "已日切，不能冲正";
    BankOriginalReversed = 5202, 200, "原交易已冲正，不再受理";
    BankStatementNotReady = 5301, 200, "对账文件未生成";
    // 6xxx billers
    BillerTargetNotFound = 6001, 200, "缴费对象不存在";
    MeterOffline = 6002, 200, "暂时无法获得电表电量及状态信息，请稍后再试";
    AmountOutOfRange = 6003, 200, "金额超出范围";
    BillerDayLimit = 6004, 200, "超过当日缴费限额";
    AlreadyPaid = 6005, 200, "已缴费";
    BillerBusy = 6006, 200, "缴费系统繁忙";
    WindowClosed = 6007, 200, "不在缴费时间内";
    QuotaFull = 6008, 200, "名额已满";
    BillerDuplicateKeyMismatch = 6009, 200, "发端流水号重复且请求内容不一致";
    BillerStatementNotReady = 6301, 200, "对账文件未生成";
    // 9xxx transient
    SystemBusy = 9000, 503, "系统繁忙";
    UpstreamUnavailable = 9001, 503, "上游系统不可用";
}

impl ErrorCode {
    /// Transient: a read may be retried with a new nonce. Writes are never blindly retried;
    /// they are re-sent with the same `out_trade_no` or queried by it.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::SystemBusy
                | ErrorCode::UpstreamUnavailable
                | ErrorCode::RateLimited
                | ErrorCode::BillerBusy
        )
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.as_u32())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u32::deserialize(d)?;
        ErrorCode::from_u32(n).ok_or_else(|| serde::de::Error::custom(format!("unknown code {n}")))
    }
}

/// State of a write looked up by its idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradeState {
    /// 未决: ask again later with the same key; never re-send with a new key.
    Processing,
    Success,
    Failed,
    Reversed,
    NotFound,
}

/// Query any write by the key it was sent with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeQuery {
    pub out_trade_no: String,
}

/// A page of items. `page` is 1-based.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
    pub items: Vec<T>,
}

/// The file hash of a statement: hex SHA-256 over every row of the day, each serialised as
/// compact JSON (fields in declaration order) and followed by `\n`, in statement order. The
/// server computes it before paging; the client recomputes it over the pages it collected.
pub fn statement_sha256<T: Serialize>(rows: &[T]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for row in rows {
        // our own plain structs always serialise
        hasher.update(serde_json::to_vec(row).unwrap_or_default());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

pub(super) fn default_page() -> u32 {
    1
}
pub(super) fn default_page_size() -> u32 {
    20
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn envelope_has_the_documented_shape() {
        let ok = Envelope::ok(
            "req-1",
            AccountRef {
                account: "42940".into(),
            },
        );
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"code":0,"message":"ok","request_id":"req-1","data":{"account":"42940"}}"#
        );
        let err: Envelope<Balance> =
            Envelope::error("req-2", ErrorCode::AccountNotFound, "账户信息不存在");
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"code":2001,"message":"账户信息不存在","request_id":"req-2","data":null}"#
        );
        let parsed: Envelope<Balance> =
            serde_json::from_str(r#"{"code":9000,"message":"系统繁忙","request_id":"r"}"#).unwrap();
        assert_eq!(parsed.error_code(), Some(ErrorCode::SystemBusy));
        assert!(parsed.data.is_none());
    }

    #[test]
    fn error_codes_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_u32()), "duplicate {}", c.as_u32());
            assert_eq!(ErrorCode::from_u32(c.as_u32()), Some(*c));
        }
        assert_eq!(ErrorCode::from_u32(1234), None);
        assert_eq!(ErrorCode::RateLimited.http_status(), 429);
        assert!(ErrorCode::SystemBusy.is_retryable());
        assert!(!ErrorCode::InsufficientFunds.is_retryable());
    }
}
