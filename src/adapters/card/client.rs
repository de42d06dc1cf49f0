//! The card system over HTTP: each [`CardSystem`] method is one signed call through
//! [`UpstreamClient`], reads retried under the policy, writes sent once with their key.
//!
//! It owns the mapping from method to path and request body; it must never look inside
//! answers beyond decoding them (business rules are the caller's) and never send a card
//! password except as [`wire::password_digest`].

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{
    Account, Balance, CardInfo, CardSystem, ClaimPending, ClaimResult, DailyRecords,
    DailyRecordsQuery, Debit, DebitResult, FoundCard, IdType, LoadCreate, LoadResult, LossResult,
    Page, PasswordVerifyResult, Refund, Reverse, ReverseResult, TradeStatus, Transaction,
    TransactionFeed, TransactionFeedQuery, TransactionsQuery, UPSTREAM,
};
use crate::adapters::AdapterError;
use crate::adapters::transport::{AdapterClient, UpstreamName};
use crate::wire::{self, paths};

/// Marks an [`AdapterClient`] as the card system's.
#[derive(Debug)]
pub enum CardApi {}

impl UpstreamName for CardApi {
    const UPSTREAM: &'static str = UPSTREAM;
}

pub type CardClient = AdapterClient<CardApi>;

impl CardClient {
    fn digest(&self, account: &str, password: &str) -> String {
        wire::password_digest(self.http.credentials(), account, password)
    }
}

// Alike the other adapters' clients by design: see `src/adapters/mod.rs`.
impl CardSystem for CardClient {
    fn find_accounts<'a>(
        &'a self,
        id_type: IdType,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Account>, AdapterError>> {
        async move {
            let req = wire::AccountQuery {
                id_type,
                id: id.to_owned(),
            };
            let list: wire::AccountList = self
                .http
                .read("account_get", paths::CARD_ACCOUNT_GET, &req)
                .await?;
            Ok(list.accounts)
        }
        .boxed()
    }

    fn balance<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<Balance, AdapterError>> {
        async move {
            let req = wire::AccountRef {
                account: account.to_owned(),
            };
            self.http
                .read("balance_get", paths::CARD_BALANCE_GET, &req)
                .await
        }
        .boxed()
    }

    fn transactions<'a>(
        &'a self,
        query: &'a TransactionsQuery,
    ) -> BoxFuture<'a, Result<Page<Transaction>, AdapterError>> {
        self.http
            .read("transactions_list", paths::CARD_TRANSACTIONS_LIST, query)
            .boxed()
    }

    fn transactions_feed<'a>(
        &'a self,
        query: &'a TransactionFeedQuery,
    ) -> BoxFuture<'a, Result<TransactionFeed, AdapterError>> {
        self.http
            .read("transactions_feed", paths::CARD_TRANSACTIONS_FEED, query)
            .boxed()
    }

    fn card_info<'a>(&'a self, account: &'a str) -> BoxFuture<'a, Result<CardInfo, AdapterError>> {
        async move {
            let req = wire::AccountRef {
                account: account.to_owned(),
            };
            self.http.read("info_get", paths::CARD_INFO_GET, &req).await
        }
        .boxed()
    }

    fn verify_password<'a>(
        &'a self,
        account: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<PasswordVerifyResult, AdapterError>> {
        async move {
            let req = wire::PasswordVerify {
                account: account.to_owned(),
                password_digest: self.digest(account, password),
            };
            // not retried: every attempt may count against the card's password attempts
            self.http
                .write_unkeyed("password_verify", paths::CARD_PASSWORD_VERIFY, &req)
                .await
        }
        .boxed()
    }

    fn report_loss<'a>(
        &'a self,
        account: &'a str,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<LossResult, AdapterError>> {
        async move {
            let req = wire::ReportLoss {
                account: account.to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                channel: wire::LossChannel::Wechat,
            };
            self.http
                .write("report_loss", paths::CARD_REPORT_LOSS, &req, out_trade_no)
                .await
        }
        .boxed()
    }

    fn cancel_loss<'a>(
        &'a self,
        account: &'a str,
        out_trade_no: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<LossResult, AdapterError>> {
        async move {
            let req = wire::CancelLoss {
                account: account.to_owned(),
                out_trade_no: out_trade_no.to_owned(),
                password_digest: self.digest(account, password),
            };
            self.http
                .write("cancel_loss", paths::CARD_CANCEL_LOSS, &req, out_trade_no)
                .await
        }
        .boxed()
    }

    fn found_card<'a>(
        &'a self,
        account: &'a str,
    ) -> BoxFuture<'a, Result<FoundCard, AdapterError>> {
        async move {
            let req = wire::AccountRef {
                account: account.to_owned(),
            };
            self.http
                .read("found_get", paths::CARD_FOUND_GET, &req)
                .await
        }
        .boxed()
    }

    fn load<'a>(&'a self, req: &'a LoadCreate) -> BoxFuture<'a, Result<LoadResult, AdapterError>> {
        self.http
            .write(
                "load_create",
                paths::CARD_LOAD_CREATE,
                req,
                &req.out_trade_no,
            )
            .boxed()
    }

    fn reverse_load<'a>(
        &'a self,
        req: &'a Reverse,
    ) -> BoxFuture<'a, Result<ReverseResult, AdapterError>> {
        self.http
            .write(
                "load_reverse",
                paths::CARD_LOAD_REVERSE,
                req,
                &req.out_trade_no,
            )
            .boxed()
    }

    fn claim_pending<'a>(
        &'a self,
        req: &'a ClaimPending,
    ) -> BoxFuture<'a, Result<ClaimResult, AdapterError>> {
        self.http
            .write("load_claim", paths::CARD_LOAD_CLAIM, req, &req.out_trade_no)
            .boxed()
    }

    fn debit<'a>(
        &'a self,
        req: &'a Debit,
        password: Option<&'a str>,
    ) -> BoxFuture<'a, Result<DebitResult, AdapterError>> {
        async move {
            let mut req = req.clone();
            req.password_digest = password.map(|p| self.digest(&req.account, p));
            self.http
                .write("pay_debit", paths::CARD_PAY_DEBIT, &req, &req.out_trade_no)
                .await
        }
        .boxed()
    }

    fn refund<'a>(&'a self, req: &'a Refund) -> BoxFuture<'a, Result<DebitResult, AdapterError>> {
        self.http
            .write("pay_refund", paths::CARD_PAY_REFUND, req, &req.out_trade_no)
            .boxed()
    }

    fn trade_status<'a>(
        &'a self,
        out_trade_no: &'a str,
    ) -> BoxFuture<'a, Result<TradeStatus, AdapterError>> {
        self.http
            .query_by_key("trade_query", paths::CARD_TRADE_QUERY, out_trade_no)
            .boxed()
    }

    fn daily_records<'a>(
        &'a self,
        query: &'a DailyRecordsQuery,
    ) -> BoxFuture<'a, Result<DailyRecords, AdapterError>> {
        self.http
            .read("recon_daily", paths::CARD_RECON_DAILY, query)
            .boxed()
    }
}
