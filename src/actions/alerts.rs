//! 「提醒设置」: each user switches their alerts (low balance with their own threshold, payments
//! above an amount, a lost card being used, top-ups, payments, library books due, repair
//! ticket updates). A short dialog: the settings are shown numbered; a number switches one, a
//! number and an amount (「1 20」) sets a threshold; 「完成」 ends it.
//!
//! It only stores the switches (`store::alerts`); the alerts consumer reads them.

use serde_json::{Value, json};

use super::{ActionDef, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::domain::Fen;
use crate::rules::normalize;
use crate::store::{AlertKind, AlertPrefs};

/// A threshold switched on without an amount.
const DEFAULT_LOW_BALANCE_FEN: i64 = 2_000;
const DEFAULT_LARGE_TRANSACTION_FEN: i64 = 10_000;
/// Highest threshold accepted (1,000 元: the wallet holds at most that).
const MAX_THRESHOLD_FEN: i64 = 100_000;

pub(super) fn all() -> Vec<ActionDef> {
    vec![ActionDef {
        name: "alert_settings",
        fields: &[],
        messages: &[
            "alert.settings",
            "alert.settings_bad",
            "alert.settings_done",
            // Sent by the alerts consumer.
            "alert.low_balance",
            "alert.large_transaction",
            "alert.lost_card_use",
            "alert.top_up",
            "alert.payment",
            "alert.library_due",
        ],
        words: &["done"],
        run: alert_settings,
    }]
}

fn alert_settings(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let repo = input.services.store.alerts();
        let mut prefs = repo.prefs(input.openid)?;
        if input.dialog.is_none() {
            return Ok(show(&prefs, None));
        }
        let text = normalize(input.raw_text);
        if input.messages.is_word("done", &text) {
            return Ok(ActionOutput::message("alert.settings_done", json!({}))
                .with_dialog(DialogChange::End));
        }
        let Some(changed) = change(&mut prefs, &text) else {
            return Ok(ActionOutput::message("alert.settings_bad", json!({})));
        };
        repo.set_prefs(input.openid, &prefs)?;
        input.services.store.flush().await?;
        tracing::info!(
            kind = changed.as_str(),
            on = prefs.is_on(changed),
            "alert switched"
        );
        Ok(show(&prefs, Some(changed)))
    })
}

/// Apply 「N」 or 「N 金额」 to `prefs`; None if the text is neither.
fn change(prefs: &mut AlertPrefs, text: &str) -> Option<AlertKind> {
    let mut words = text.split_whitespace();
    let n: usize = words.next()?.parse().ok()?;
    let kind = *AlertKind::ALL.get(n.checked_sub(1)?)?;
    let amount = match words.next() {
        None => None,
        Some(w) => {
            let fen = Fen::parse_yuan(w).ok()?.fen();
            if !(1..=MAX_THRESHOLD_FEN).contains(&fen) || words.next().is_some() {
                return None;
            }
            Some(fen)
        }
    };
    let threshold = |current: Option<i64>, default: i64| match amount {
        Some(fen) => Some(fen),
        None if current.is_some() => None,
        None => Some(default),
    };
    match kind {
        AlertKind::LowBalance => {
            prefs.low_balance_fen = threshold(prefs.low_balance_fen, DEFAULT_LOW_BALANCE_FEN)
        }
        AlertKind::LargeTransaction => {
            prefs.large_transaction_fen =
                threshold(prefs.large_transaction_fen, DEFAULT_LARGE_TRANSACTION_FEN)
        }
        _ if amount.is_some() => return None,
        AlertKind::LostCardUse => prefs.lost_card_use = !prefs.lost_card_use,
        AlertKind::TopUp => prefs.top_up = !prefs.top_up,
        AlertKind::Payment => prefs.payment = !prefs.payment,
        AlertKind::LibraryDue => prefs.library_due = !prefs.library_due,
        AlertKind::TicketUpdates => prefs.ticket_updates = !prefs.ticket_updates,
    }
    Some(kind)
}

fn show(prefs: &AlertPrefs, changed: Option<AlertKind>) -> ActionOutput {
    let items: Vec<Value> = AlertKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let threshold = match kind {
                AlertKind::LowBalance => prefs.low_balance_fen,
                AlertKind::LargeTransaction => prefs.large_transaction_fen,
                _ => None,
            };
            json!({
                "n": i + 1,
                "kind": kind.as_str(),
                "on": prefs.is_on(kind),
                "threshold": threshold.map(|f| Fen(f).yuan()).unwrap_or_default(),
            })
        })
        .collect();
    ActionOutput::message(
        "alert.settings",
        json!({ "items": items, "changed": changed.map(AlertKind::as_str).unwrap_or_default() }),
    )
    .with_dialog(DialogChange::Step {
        step: "menu".into(),
        data: json!({}),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_switches_and_a_number_with_an_amount_sets_a_threshold() {
        let mut p = AlertPrefs::default();
        assert_eq!(change(&mut p, "1 20.5"), Some(AlertKind::LowBalance));
        assert_eq!(p.low_balance_fen, Some(2_050));
        assert_eq!(change(&mut p, "1"), Some(AlertKind::LowBalance));
        assert_eq!(p.low_balance_fen, None);
        assert_eq!(change(&mut p, "2"), Some(AlertKind::LargeTransaction));
        assert_eq!(p.large_transaction_fen, Some(DEFAULT_LARGE_TRANSACTION_FEN));
        assert_eq!(change(&mut p, "3"), Some(AlertKind::LostCardUse));
        assert!(!p.lost_card_use);
        for bad in ["0", "8", "3 20", "1 0", "1 abc", "1 20 30", "开"] {
            assert_eq!(change(&mut p, bad), None, "{bad}");
        }
    }
}
