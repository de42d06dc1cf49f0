//! `card/transactions/feed`: every transaction recorded since the simulator started, in order,
//! with a cursor, so a consumer (alerts) sees each one once.

use serde_json::Value;

use super::state::{CardState, sim};
use super::statements::wire_tx;
use crate::campus::GenTx;
use crate::upstream::{Ctx, OpResult, parse, to_value};
use crate::{SimState, lock};
use onecard_wire::{Transaction, TransactionFeed, TransactionFeedItem, TransactionFeedQuery};

/// Feed entries kept; a consumer further behind than this sees `oldest_seq` pass its cursor.
pub(super) const FEED_KEEP: usize = 100_000;

/// One transaction in the feed.
#[derive(Clone, Debug)]
pub(super) struct FeedEntry {
    pub(super) seq: u64,
    pub(super) account: String,
    /// The card was reported lost when this happened.
    pub(super) card_lost: bool,
    pub(super) tx: GenTx,
    pub(super) remark: &'static str,
}

pub(super) fn feed_push(
    st: &mut CardState,
    account: &str,
    card_lost: bool,
    tx: GenTx,
    remark: &'static str,
) {
    st.feed_seq += 1;
    st.feed.push_back(FeedEntry {
        seq: st.feed_seq,
        account: account.to_owned(),
        card_lost,
        tx,
        remark,
    });
    if st.feed.len() > FEED_KEEP {
        st.feed.pop_front();
    }
}

/// Most items one feed call answers.
pub(super) const FEED_MAX_LIMIT: u32 = 500;

/// `card/transactions/feed`: every transaction after `cursor`, oldest first.
pub(super) fn transactions_feed(state: &SimState, _ctx: &Ctx, body: Value) -> OpResult {
    let q: TransactionFeedQuery = parse(body)?;
    let limit = q.limit.clamp(1, FEED_MAX_LIMIT) as usize;
    let (campus, card) = sim(state);
    let st = lock(&card.st);
    let start = st.feed.partition_point(|e| e.seq <= q.cursor);
    let items: Vec<TransactionFeedItem> = st
        .feed
        .iter()
        .skip(start)
        .take(limit)
        .map(|e| TransactionFeedItem {
            seq: e.seq,
            sno: campus
                .by_account(&e.account)
                .map(|(p, _)| p.sno.clone())
                .unwrap_or_default(),
            account: e.account.clone(),
            card_lost: e.card_lost,
            transaction: Transaction {
                remark: e.remark.to_owned(),
                ..wire_tx(&e.tx)
            },
        })
        .collect();
    let next_cursor = items.last().map_or(q.cursor, |i| i.seq);
    to_value(&TransactionFeed {
        feed_id: card.feed_id.clone(),
        oldest_seq: st.feed.front().map_or(st.feed_seq + 1, |e| e.seq),
        has_more: st.feed.back().is_some_and(|e| e.seq > next_cursor),
        next_cursor,
        items,
    })
}
