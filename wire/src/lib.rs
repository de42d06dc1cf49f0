//! The upstream wire protocol, shared by the adapters (clients) and the simulators (servers).
//!
//! Why it exists: docs/upstream-api.md is the contract a school's gateway implements; this
//! module is that document in types, so a client and a server built from it cannot disagree on
//! a header name, a canonical string or a field spelling. It owns request signing
//! ([`signing`]) and verification ([`verification`]: timestamp window, nonce cache, response
//! signatures), the JSON envelope and the numeric error codes ([`envelope`]) and the
//! request/response body of every operation, one module per upstream ([`card`], [`sms`],
//! [`public_data`], [`bank`], [`billers`]). Money is always integer fen in `*_fen` fields, never
//! floats.
//!
//! What it must never do: perform I/O, read a clock, generate randomness or log. Callers pass
//! `now`, the nonce and the request id in, so every function here is deterministic and testable
//! with fixed vectors (the vector in the doc is asserted in [`signing`]'s tests). It is its own
//! crate and depends on nothing of the platform, so the adapters and the simulators (the `sim/`
//! crate) both build on it without depending on each other.
//!
//! Every public item is re-exported here: callers write `wire::Balance`, `wire::sign_request`.
//!
//! [`domain`] holds the domain newtypes (`Fen`, `OpenId`, `Phone`, …) beside the protocol, so
//! the platform and the simulators parse money and OpenIDs the same way (`OrderId::generate` is the
//! one thing here that draws randomness). The platform re-exports both as `onecard::wire` and
//! `onecard::domain`.

pub mod bank;
pub mod billers;
pub mod card;
pub mod domain;
pub mod envelope;
pub mod public_data;
pub mod signing;
pub mod sms;
pub mod verification;

pub use bank::*;
pub use billers::*;
pub use card::*;
pub use envelope::*;
pub use public_data::*;
pub use signing::*;
pub use sms::*;
pub use verification::*;

/// Header names (HTTP headers are case-insensitive; these are the canonical spellings).
pub mod headers {
    pub const APP_KEY: &str = "X-App-Key";
    pub const TIMESTAMP: &str = "X-Timestamp";
    pub const NONCE: &str = "X-Nonce";
    pub const SIGNATURE: &str = "X-Signature";
    pub const REQUEST_ID: &str = "X-Request-Id";
    pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
}

/// Accepted clock skew between the signer and the verifier, in seconds (either direction).
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;
/// How long a nonce is remembered: long enough that a request accepted at the edge of the
/// window cannot be replayed on the other edge (2 × window).
pub const NONCE_TTL_SECS: i64 = 2 * TIMESTAMP_WINDOW_SECS;
/// Nonce length bounds (ASCII letters, digits, `-`, `_`).
pub const NONCE_MIN_LEN: usize = 16;
pub const NONCE_MAX_LEN: usize = 64;
/// `X-Request-Id`: 1 to this many chars of `[A-Za-z0-9_-]` (docs/upstream-api.md §2.1).
pub const REQUEST_ID_MAX_LEN: usize = 64;
/// `out_trade_no` / `out_id` / `Idempotency-Key`: 1..=32 of `[A-Za-z0-9_-]`.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 32;
/// Largest `page_size` a server must honour; bigger values are clamped, not rejected.
pub const MAX_PAGE_SIZE: u32 = 50;
/// Request bodies larger than this are rejected with [`ErrorCode::BadRequest`].
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Every operation's path. All operations are `POST` with a JSON body; the signature also
/// covers a query string if one is present.
pub mod paths {
    // card system (一卡通)
    pub const CARD_ACCOUNT_GET: &str = "/api/v1/card/account/get";
    pub const CARD_BALANCE_GET: &str = "/api/v1/card/balance/get";
    pub const CARD_TRANSACTIONS_LIST: &str = "/api/v1/card/transactions/list";
    pub const CARD_TRANSACTIONS_FEED: &str = "/api/v1/card/transactions/feed";
    pub const CARD_INFO_GET: &str = "/api/v1/card/info/get";
    pub const CARD_PASSWORD_VERIFY: &str = "/api/v1/card/password/verify";
    pub const CARD_REPORT_LOSS: &str = "/api/v1/card/report_loss";
    pub const CARD_CANCEL_LOSS: &str = "/api/v1/card/cancel_loss";
    pub const CARD_FOUND_GET: &str = "/api/v1/card/found/get";
    pub const CARD_LOAD_CREATE: &str = "/api/v1/card/load/create";
    pub const CARD_LOAD_REVERSE: &str = "/api/v1/card/load/reverse";
    pub const CARD_LOAD_CLAIM: &str = "/api/v1/card/load/claim";
    pub const CARD_PAY_DEBIT: &str = "/api/v1/card/pay/debit";
    pub const CARD_PAY_REFUND: &str = "/api/v1/card/pay/refund";
    pub const CARD_TRADE_QUERY: &str = "/api/v1/card/trade/query";
    pub const CARD_RECON_DAILY: &str = "/api/v1/card/recon/daily";
    // SMS platform
    pub const SMS_SEND: &str = "/api/v1/sms/send";
    pub const SMS_STATUS: &str = "/api/v1/sms/status";
    // public data store (read-only)
    pub const DATA_MEETINGS_LIST: &str = "/api/v1/data/meetings/list";
    pub const DATA_GRADES_LIST: &str = "/api/v1/data/grades/list";
    pub const DATA_TIMETABLE_GET: &str = "/api/v1/data/timetable/get";
    pub const DATA_LIBRARY_LOANS: &str = "/api/v1/data/library/loans";
    pub const DATA_LOCKER_GET: &str = "/api/v1/data/locker/get";
    // bank (银校转账)
    pub const BANK_BINDING_GET: &str = "/api/v1/bank/binding/get";
    pub const BANK_DEBIT: &str = "/api/v1/bank/debit";
    pub const BANK_QUERY: &str = "/api/v1/bank/query";
    pub const BANK_REVERSE: &str = "/api/v1/bank/reverse";
    pub const BANK_STATEMENT: &str = "/api/v1/bank/statement";
    // billers
    pub const BILLERS_CATALOG: &str = "/api/v1/billers/catalog";
    pub const BILLERS_LOCATIONS: &str = "/api/v1/billers/locations";
    pub const BILLERS_LOOKUP: &str = "/api/v1/billers/lookup";
    pub const BILLERS_PAY: &str = "/api/v1/billers/pay";
    pub const BILLERS_QUERY: &str = "/api/v1/billers/query";
    pub const BILLERS_STATEMENT: &str = "/api/v1/billers/statement";
    // health (unsigned, no envelope requirement beyond code 0)
    pub const HEALTH: &str = "/api/v1/health";
}

/// What the wire types' tests share.
#[cfg(test)]
pub(crate) mod test_support {
    /// Parses `json` (compact, fields in the order the simulator writes them) and asserts it
    /// goes back on the wire byte for byte.
    pub fn round_trip<T>(json: &str) -> T
    where
        T: serde::de::DeserializeOwned + serde::Serialize,
    {
        let parsed: T = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&parsed).unwrap(), json);
        parsed
    }

    /// A statement answer of one row as a gateway sends it: `totals` (the date, count and sum
    /// fields), the file hash computed over the row's text as sent (docs/upstream-api.md
    /// §5.14: the row and `\n`), not over a parsed row, and one page holding the row.
    pub fn one_row_statement(totals: &str, row: &str) -> String {
        use sha2::{Digest, Sha256};
        let hash = hex::encode(Sha256::digest(format!("{row}\n")));
        format!(
            r#"{{{totals},"file_sha256":"{hash}","page":{{"total":1,"page":1,"page_size":50,"items":[{row}]}}}}"#
        )
    }

    /// `json` with `good` replaced by each of `bad` is not the protocol: reading it fails.
    pub fn refused<T: serde::de::DeserializeOwned>(json: &str, good: &str, bad: &[&str]) {
        assert!(json.contains(good), "{good} is not in {json}");
        for bad in bad {
            let broken = json.replace(good, bad);
            assert!(
                serde_json::from_str::<T>(&broken).is_err(),
                "{bad} was read"
            );
        }
    }
}
