//! The card adapter's actor and the typed handle callers use:
//! `adapters.card.balance("42940").await?` — never `addr.send(..)`.
//!
//! The handle owns the deadline of every call and maps mailbox failures to [`AdapterError`];
//! the keeper behind it ([`Kept`]) restarts the actor if it dies. Reads may be re-sent to a
//! restarted actor; writes never are.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Account, Balance, CardClient, CardInfo, CardSystem, DailyRecords, DailyRecordsQuery, Debit,
    DebitResult, FoundCard, IdType, LoadCreate, LoadResult, LossResult, Page, PasswordVerifyResult,
    Refund, Reverse, ReverseResult, TradeStatus, Transaction, TransactionsQuery, UPSTREAM,
};
use crate::adapters::events::Health;
use crate::adapters::policy::Policy;
use crate::adapters::supervise::{Builder, Kept, boxed, start_on_own_arbiter};
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;
use crate::wire::ErrorCode;

/// Run `$body` (a future using `$c: Arc<Box<dyn CardSystem>>`) inside the actor; the listed
/// borrowed arguments are copied into the message (and re-copied for a re-send).
macro_rules! call {
    ($self:ident, $idempotent:expr, |$c:ident| $body:expr, [$($arg:ident),*]) => {{
        $( let $arg = $arg.to_owned(); )*
        $self
            .kept
            .invoke($idempotent, move |$c: Arc<Box<dyn CardSystem>>| {
                $( let $arg = $arg.clone(); )*
                boxed(async move { $body.await })
            })
            .await
    }};
}

/// The typed handle to the card system. Cheap to clone.
#[derive(Clone)]
pub struct CardHandle {
    kept: Kept<Box<dyn CardSystem>>,
}

impl std::fmt::Debug for CardHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardHandle")
            .field("restarts", &self.kept.restarts())
            .finish()
    }
}

/// Start the card adapter from its config section: validates the config, then builds the
/// HTTP client inside the adapter's own arbiter. Call inside the actix System.
pub fn start(cfg: &UpstreamConfig) -> Result<CardHandle, AdapterError> {
    let policy = Arc::new(Policy::new(UPSTREAM, cfg));
    // surface configuration errors now rather than from inside the actor
    CardClient::new(cfg, Arc::clone(&policy))?;
    let deadline = policy.worst_case() + Duration::from_millis(500);
    let cfg = cfg.clone();
    let builder: Builder<Box<dyn CardSystem>> = Arc::new(move || {
        CardClient::new(&cfg, Arc::clone(&policy)).map(|c| Box::new(c) as Box<dyn CardSystem>)
    });
    CardHandle::start_with(builder, deadline)
}

impl CardHandle {
    /// Run any [`CardSystem`] (a fake in tests) behind the actor, keeper and deadline.
    pub fn start_with(
        builder: Builder<Box<dyn CardSystem>>,
        deadline: Duration,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            kept: start_on_own_arbiter(UPSTREAM, builder, deadline)?,
        })
    }

    pub async fn find_accounts(
        &self,
        id_type: IdType,
        id: &str,
    ) -> Result<Vec<Account>, AdapterError> {
        call!(self, true, |c| c.find_accounts(id_type, &id), [id])
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
        call!(self, true, |c| c.balance(&account), [account])
    }

    pub async fn transactions(
        &self,
        query: &TransactionsQuery,
    ) -> Result<Page<Transaction>, AdapterError> {
        call!(self, true, |c| c.transactions(&query), [query])
    }

    pub async fn card_info(&self, account: &str) -> Result<CardInfo, AdapterError> {
        call!(self, true, |c| c.card_info(&account), [account])
    }

    pub async fn verify_password(
        &self,
        account: &str,
        password: &str,
    ) -> Result<PasswordVerifyResult, AdapterError> {
        call!(
            self,
            false,
            |c| c.verify_password(&account, &password),
            [account, password]
        )
    }

    pub async fn report_loss(
        &self,
        account: &str,
        out_trade_no: &str,
    ) -> Result<LossResult, AdapterError> {
        call!(
            self,
            false,
            |c| c.report_loss(&account, &out_trade_no),
            [account, out_trade_no]
        )
    }

    pub async fn cancel_loss(
        &self,
        account: &str,
        out_trade_no: &str,
        password: &str,
    ) -> Result<LossResult, AdapterError> {
        call!(
            self,
            false,
            |c| c.cancel_loss(&account, &out_trade_no, &password),
            [account, out_trade_no, password]
        )
    }

    pub async fn found_card(&self, account: &str) -> Result<FoundCard, AdapterError> {
        call!(self, true, |c| c.found_card(&account), [account])
    }

    pub async fn load(&self, req: &LoadCreate) -> Result<LoadResult, AdapterError> {
        call!(self, false, |c| c.load(&req), [req])
    }

    pub async fn reverse_load(&self, req: &Reverse) -> Result<ReverseResult, AdapterError> {
        call!(self, false, |c| c.reverse_load(&req), [req])
    }

    pub async fn debit(
        &self,
        req: &Debit,
        password: Option<&str>,
    ) -> Result<DebitResult, AdapterError> {
        let password = password.map(str::to_owned);
        call!(
            self,
            false,
            |c| c.debit(&req, password.as_deref()),
            [req, password]
        )
    }

    pub async fn refund(&self, req: &Refund) -> Result<DebitResult, AdapterError> {
        call!(self, false, |c| c.refund(&req), [req])
    }

    pub async fn trade_status(&self, out_trade_no: &str) -> Result<TradeStatus, AdapterError> {
        call!(
            self,
            true,
            |c| c.trade_status(&out_trade_no),
            [out_trade_no]
        )
    }

    pub async fn daily_records(
        &self,
        query: &DailyRecordsQuery,
    ) -> Result<DailyRecords, AdapterError> {
        call!(self, true, |c| c.daily_records(&query), [query])
    }

    /// Health through the actor (so a dead actor shows as unhealthy).
    pub async fn health(&self) -> Health {
        let r = self
            .kept
            .invoke(true, |c: Arc<Box<dyn CardSystem>>| {
                boxed(async move { Ok(c.health().await) })
            })
            .await;
        r.unwrap_or_else(|e| Health {
            upstream: UPSTREAM,
            ok: false,
            breaker: "unknown",
            detail: e.outcome().to_owned(),
            latency_ms: 0,
        })
    }

    /// Restarts performed by the keeper since start.
    pub fn restarts(&self) -> u64 {
        self.kept.restarts()
    }

    /// Stop the adapter's arbiter (orderly shutdown, tests).
    pub fn stop(&self) {
        self.kept.stop();
    }
}
