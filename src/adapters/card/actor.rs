//! The card adapter's typed handle: `adapters.card.balance("42940").await?` — never
//! `addr.send(..)`. Each method is one read or write over the generic [`AdapterHandle`];
//! reads may be re-sent to a restarted actor, writes never are.

use std::sync::Arc;

use super::client::CardApi;
use super::{
    Account, Balance, CardInfo, CardSystem, ClaimPending, ClaimResult, DailyRecords,
    DailyRecordsQuery, Debit, DebitResult, FoundCard, IdType, LoadCreate, LoadResult, LossResult,
    Page, PasswordVerifyResult, Refund, Reverse, ReverseResult, TradeStatus, Transaction,
    TransactionFeed, TransactionFeedQuery, TransactionsQuery,
};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::supervise::boxed;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;
use crate::wire::ErrorCode;

/// The typed handle to the card system. Cheap to clone.
pub type CardHandle = AdapterHandle<dyn CardSystem>;

/// Start the card adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<CardHandle, AdapterError> {
    CardHandle::start_client::<CardApi>(cfg, |client| client)
}

type Card = Arc<Box<dyn CardSystem>>;

// Alike the other adapters' handles by design: see `src/adapters/mod.rs`.
impl AdapterHandle<dyn CardSystem> {
    pub async fn find_accounts(
        &self,
        id_type: IdType,
        id: &str,
    ) -> Result<Vec<Account>, AdapterError> {
        self.read(id.to_owned(), move |c: Card, id| {
            boxed(async move { c.find_accounts(id_type, &id).await })
        })
        .await
    }

    /// The accounts of a 学工号, primary card first.
    pub async fn find_by_sno(&self, sno: &StudentId) -> Result<Vec<Account>, AdapterError> {
        self.find_accounts(IdType::Sno, sno.as_str()).await
    }

    /// The primary (first) account of a 学工号; `Rejected { code: 2001 }` when there is none.
    pub async fn primary_account(&self, sno: &StudentId) -> Result<Account, AdapterError> {
        self.find_by_sno(sno)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| AdapterError::Rejected {
                code: ErrorCode::AccountNotFound.as_u32(),
                message: ErrorCode::AccountNotFound.default_message().to_owned(),
            })
    }

    /// Balance of a person's primary card (two calls: account lookup, then balance). Prefer
    /// [`Self::balance`] with the account kept in the binding.
    pub async fn balance_of(&self, sno: &StudentId) -> Result<Balance, AdapterError> {
        let account = self.primary_account(sno).await?;
        self.balance(&account.account).await
    }

    pub async fn balance(&self, account: &str) -> Result<Balance, AdapterError> {
        self.read_with(account.to_owned(), CardSystem::balance)
            .await
    }

    pub async fn transactions(
        &self,
        query: &TransactionsQuery,
    ) -> Result<Page<Transaction>, AdapterError> {
        self.read_with(query.clone(), CardSystem::transactions)
            .await
    }

    /// The transaction feed after `cursor` (the alerts consumer's poll).
    pub async fn transactions_feed(
        &self,
        query: &TransactionFeedQuery,
    ) -> Result<TransactionFeed, AdapterError> {
        self.read_with(query.clone(), CardSystem::transactions_feed)
            .await
    }

    pub async fn card_info(&self, account: &str) -> Result<CardInfo, AdapterError> {
        self.read_with(account.to_owned(), CardSystem::card_info)
            .await
    }

    /// Not re-sent: every attempt may count against the card's password attempts.
    pub async fn verify_password(
        &self,
        account: &str,
        password: &str,
    ) -> Result<PasswordVerifyResult, AdapterError> {
        let args = (account.to_owned(), password.to_owned());
        self.write(args, |c: Card, (account, password)| {
            boxed(async move { c.verify_password(&account, &password).await })
        })
        .await
    }

    pub async fn report_loss(
        &self,
        account: &str,
        out_trade_no: &str,
    ) -> Result<LossResult, AdapterError> {
        let args = (account.to_owned(), out_trade_no.to_owned());
        self.write(args, |c: Card, (account, key)| {
            boxed(async move { c.report_loss(&account, &key).await })
        })
        .await
    }

    pub async fn cancel_loss(
        &self,
        account: &str,
        out_trade_no: &str,
        password: &str,
    ) -> Result<LossResult, AdapterError> {
        let args = (
            account.to_owned(),
            out_trade_no.to_owned(),
            password.to_owned(),
        );
        self.write(args, |c: Card, (account, key, password)| {
            boxed(async move { c.cancel_loss(&account, &key, &password).await })
        })
        .await
    }

    pub async fn found_card(&self, account: &str) -> Result<FoundCard, AdapterError> {
        self.read_with(account.to_owned(), CardSystem::found_card)
            .await
    }

    pub async fn load(&self, req: &LoadCreate) -> Result<LoadResult, AdapterError> {
        self.write_with(req.clone(), CardSystem::load).await
    }

    pub async fn reverse_load(&self, req: &Reverse) -> Result<ReverseResult, AdapterError> {
        self.write_with(req.clone(), CardSystem::reverse_load).await
    }

    /// 领款 online; written once under its key (a caller that saw a timeout sends the same key
    /// again: the card system replays its first answer).
    pub async fn claim_pending(&self, req: &ClaimPending) -> Result<ClaimResult, AdapterError> {
        self.write_with(req.clone(), CardSystem::claim_pending)
            .await
    }

    pub async fn debit(
        &self,
        req: &Debit,
        password: Option<&str>,
    ) -> Result<DebitResult, AdapterError> {
        let args = (req.clone(), password.map(str::to_owned));
        self.write(args, |c: Card, (req, password)| {
            boxed(async move { c.debit(&req, password.as_deref()).await })
        })
        .await
    }

    pub async fn refund(&self, req: &Refund) -> Result<DebitResult, AdapterError> {
        self.write_with(req.clone(), CardSystem::refund).await
    }

    pub async fn trade_status(&self, out_trade_no: &str) -> Result<TradeStatus, AdapterError> {
        self.read_with(out_trade_no.to_owned(), CardSystem::trade_status)
            .await
    }

    pub async fn daily_records(
        &self,
        query: &DailyRecordsQuery,
    ) -> Result<DailyRecords, AdapterError> {
        self.read_with(query.clone(), CardSystem::daily_records)
            .await
    }
}
