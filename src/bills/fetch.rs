//! Reading a span of a person's transactions from the card system, page by page.

use chrono::NaiveDate;

use crate::adapters::{AdapterError, CardHandle};
use crate::wire::{Transaction, TransactionsQuery};

/// The card system's largest page (docs/upstream-api.md §4.1).
const PAGE_SIZE: u32 = 50;
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
        let result = card.transactions(&query).await?;
        let fetched = result.items.len();
        out.extend(result.items);
        if fetched == 0 || out.len() as u64 >= result.total {
            break;
        }
    }
    Ok(out)
}
