//! The books of a money run: per person, whether the upstreams' money agrees with itself and
//! with our orders, and the summary a run prints.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::{Money, Scenario, Tally, User};
use crate::money_helpers::yuan;

/// What the orders say moved for each person: (top-ups succeeded, payments succeeded).
fn moved_by_orders(orders: &[Value]) -> HashMap<String, (i64, i64)> {
    let mut moved: HashMap<String, (i64, i64)> = HashMap::new();
    for o in orders {
        if o["state"] != "succeeded" {
            continue;
        }
        let entry = moved
            .entry(o["sno"].as_str().unwrap().to_owned())
            .or_default();
        let amount = o["amount_fen"].as_i64().unwrap();
        match o["kind"].as_str().unwrap() {
            "top_up" => entry.0 += amount,
            _ => entry.1 += amount,
        }
    }
    moved
}

/// Per person, whether the upstreams' money agrees with itself (nothing created or lost) and
/// with the orders. Returns the people for whom it does not, with the figures.
pub(super) fn imbalances(
    users: &[User],
    before: &HashMap<String, Money>,
    after: &HashMap<String, Money>,
    orders: &[Value],
) -> Vec<String> {
    let moved = moved_by_orders(orders);
    let mut wrong = Vec::new();
    for u in users {
        let (b, a) = (before[&u.sno], after[&u.sno]);
        let (bank, card, billers) = (a.bank - b.bank, a.card - b.card, a.billers - b.billers);
        let (topped_up, paid) = moved.get(&u.sno).copied().unwrap_or_default();
        let expected = (-topped_up, topped_up - paid, paid);
        if (bank, card, billers) != expected {
            wrong.push(format!(
                "{}: bank {} card {} billers {} (sum {}), orders say bank {} card {} billers {}",
                u.sno,
                yuan(bank),
                yuan(card),
                yuan(billers),
                yuan(bank + card + billers),
                yuan(expected.0),
                yuan(expected.1),
                yuan(expected.2)
            ));
        }
    }
    wrong
}

/// `class → count` from the summary `onecard reconcile` prints.
pub(super) fn classes(summary: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for line in summary.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() >= 3
            && words[2] == "diff"
            && let Ok(n) = words[1].parse()
        {
            out.insert(words[0].to_owned(), n);
        }
    }
    out
}

pub(super) fn count_by<'a>(
    orders: &'a [Value],
    key: impl Fn(&'a Value) -> String,
) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for o in orders {
        *out.entry(key(o)).or_default() += 1;
    }
    out
}

/// The end of a run in a few lines an operator can paste: what ran, how the orders ended,
/// the money per party and what reconciliation found.
pub(super) struct Summary<'a> {
    pub(super) scenario: &'a Scenario,
    pub(super) kills: usize,
    pub(super) orders: &'a [Value],
    pub(super) tally: &'a Tally,
    pub(super) before: &'a HashMap<String, Money>,
    pub(super) after: &'a HashMap<String, Money>,
    pub(super) out_of_balance: usize,
    /// Classes of the last reconciliation run.
    pub(super) reconciled: &'a BTreeMap<String, u64>,
    /// Load, drain, whole run.
    pub(super) secs: [f64; 3],
}

impl std::fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.scenario;
        writeln!(f, "== money run summary ==")?;
        writeln!(
            f,
            "run        {} users × {} errands, {} SIGKILLs of the server, {:.0}% of upstream money calls failing",
            s.users,
            s.orders_per_user,
            self.kills,
            s.fault_rate * 100.0
        )?;
        writeln!(
            f,
            "orders     {} from {} confirmations ({} dialogs cut by a crash, {} confirmations delivered again)",
            self.orders.len(),
            self.tally.confirmations,
            self.tally.interrupted,
            self.tally.redelivered
        )?;
        for kind in ["top_up", "payment"] {
            let ended = count_by(
                &self
                    .orders
                    .iter()
                    .filter(|o| o["kind"] == kind)
                    .cloned()
                    .collect::<Vec<_>>(),
                |o| o["state"].as_str().unwrap_or("?").to_owned(),
            );
            let ended: Vec<String> = ended.iter().map(|(k, n)| format!("{k} {n}")).collect();
            writeln!(f, "  {kind:<8} {}", ended.join(", "))?;
        }
        let sum =
            |m: &HashMap<String, Money>, part: fn(&Money) -> i64| m.values().map(part).sum::<i64>();
        let moved = |part: fn(&Money) -> i64| sum(self.after, part) - sum(self.before, part);
        writeln!(
            f,
            "money      bank {} 元, card {} 元, billers {} 元, sum {} 元; people out of balance with the orders: {}",
            yuan(moved(|m| m.bank)),
            yuan(moved(|m| m.card)),
            yuan(moved(|m| m.billers)),
            yuan(moved(|m| m.bank + m.card + m.billers)),
            self.out_of_balance
        )?;
        let classes: Vec<String> = self
            .reconciled
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "reconcile  {} (second run)", classes.join(", "))?;
        let [load, drain, whole] = self.secs;
        write!(
            f,
            "time       load {load:.0} s, drain {drain:.0} s, whole run {whole:.0} s"
        )
    }
}
