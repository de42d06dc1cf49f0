//! Reading a span of a person's transactions from the card system, page by page.

use chrono::NaiveDate;

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

/// Every transaction of `account` with a trade date in `from..=to` (newest first, as the card
/// system lists them). The span must be at most 366 days (the card system's limit).
pub async fn transactions(
    card: &CardHandle,
    account: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<Transaction>, AdapterError> {
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let query = TransactionsQuery {
            account: account.to_owned(),
            from: from.format("%Y-%m-%d").to_string(),
            to: to.format("%Y-%m-%d").to_string(),
            page,
            page_size: PAGE_SIZE,
            direction: None,
            tx_type: None,
        };
        let result = throttled(|| card.transactions(&query)).await?;
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
