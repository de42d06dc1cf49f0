//! Reading a span of a person's transactions from the card system, page by page.

use std::num::NonZeroU32;

use chrono::NaiveDate;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::adapters::{AdapterError, CardHandle};
use crate::wire::{Transaction, TransactionsQuery};

/// The card system's largest page (docs/upstream-api.md §4.1).
const PAGE_SIZE: u32 = 50;
/// How often one page is asked for again when our own rate limit or concurrency limit for the
/// card system says "not now" (a batch job waits its turn rather than failing).
const THROTTLED_TRIES: u32 = 40;

/// A year of a heavy user is ~3,000 transactions; stop well past that rather than loop on an
/// upstream that keeps reporting more.
const MAX_PAGES: u32 = 200;

/// A batch job's pace of card calls: half of our rate for the card system
/// (`upstreams.card.rate_per_sec`), one call at a time. The rate limiter in front of the card
/// system is shared by everything; a job that takes all of it leaves chat and the alerts
/// consumer's feed poll refused by our own limiter while it runs (each refused poll is an
/// alert one poll interval later).
pub struct BatchPace(DefaultDirectRateLimiter);

impl BatchPace {
    pub fn half_of(card_rate_per_sec: u32) -> Self {
        let rate = NonZeroU32::new(card_rate_per_sec / 2).unwrap_or(NonZeroU32::MIN);
        Self(RateLimiter::direct(
            Quota::per_second(rate).allow_burst(NonZeroU32::MIN),
        ))
    }

    /// Wait for this job's next turn at the card system.
    pub async fn turn(&self) {
        self.0.until_ready().await;
    }
}

/// Every transaction of `account` with a trade date in `from..=to` (newest first, as the card
/// system lists them). The span must be at most 366 days (the card system's limit). A batch
/// job passes its `pace`; a person waiting for their own bill does not.
pub async fn transactions(
    card: &CardHandle,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
    pace: Option<&BatchPace>,
) -> Result<Vec<Transaction>, AdapterError> {
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let query = TransactionsQuery {
            account: account.to_owned(),
            from,
            to,
            page,
            page_size: PAGE_SIZE,
            direction: None,
            tx_type: None,
        };
        let query = &query;
        let result = throttled(move || async move {
            if let Some(pace) = pace {
                pace.turn().await;
            }
            card.transactions(query).await
        })
        .await?;
        let fetched = result.items.len();
        out.extend(result.items);
        if fetched == 0 || out.len() as u64 >= result.total {
            break;
        }
    }
    Ok(out)
}

/// Call `f` again while the card system's limits say "not now", waiting a little longer each
/// time (capped at 1 s); any other answer is returned as it is.
async fn throttled<T, F, Fut>(mut f: F) -> Result<T, AdapterError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AdapterError>>,
{
    let mut wait = std::time::Duration::from_millis(50);
    for _ in 1..THROTTLED_TRIES {
        match f().await {
            Err(AdapterError::RateLimited(_) | AdapterError::Saturated) => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
    f().await
}
