//! Cohort spending distributions for the fun bill: per period (a term or a year) and cohort (a
//! college, a grade), every bound person's total spending, sorted. Only totals are kept — no
//! names, no accounts — so a distribution says nothing about any one person.

use serde::{Deserialize, Serialize};

use super::{StoreError, from_json, to_json};

const TREE: &str = "bill_cohorts";

/// One cohort's spending totals for one period, ascending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortTotals {
    pub totals_fen: Vec<i64>,
    /// Unix seconds when it was computed.
    pub computed_at: i64,
}

#[derive(Clone)]
pub struct BillsRepo {
    cohorts: sled::Tree,
}

fn key(period: &str, cohort: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(period.len() + cohort.len() + 1);
    k.extend_from_slice(period.as_bytes());
    k.push(0);
    k.extend_from_slice(cohort.as_bytes());
    k
}

impl BillsRepo {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            cohorts: db.open_tree(TREE)?,
        })
    }

    /// Replace a period's distributions with a fresh computation, in one batch, so a reader
    /// sees either the old set or the new one.
    pub fn replace_period(
        &self,
        period: &str,
        cohorts: &[(String, CohortTotals)],
    ) -> Result<(), StoreError> {
        let mut prefix = period.as_bytes().to_vec();
        prefix.push(0);
        let mut batch = sled::Batch::default();
        for old in self.cohorts.scan_prefix(&prefix).keys() {
            batch.remove(old?);
        }
        for (cohort, totals) in cohorts {
            batch.insert(key(period, cohort), to_json(totals));
        }
        self.cohorts.apply_batch(batch)?;
        Ok(())
    }

    pub fn cohort(&self, period: &str, cohort: &str) -> Result<Option<CohortTotals>, StoreError> {
        match self.cohorts.get(key(period, cohort))? {
            Some(v) => Ok(Some(from_json(TREE, &v)?)),
            None => Ok(None),
        }
    }

    /// Whether anything was computed for `period` yet.
    pub fn has_period(&self, period: &str) -> Result<bool, StoreError> {
        let mut prefix = period.as_bytes().to_vec();
        prefix.push(0);
        Ok(self
            .cohorts
            .scan_prefix(&prefix)
            .next()
            .transpose()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[test]
    fn a_refresh_replaces_the_whole_period_and_leaves_others() {
        let store = Store::temporary().unwrap();
        let repo = store.bills().unwrap();
        let t = |v: Vec<i64>| CohortTotals {
            totals_fen: v,
            computed_at: 1,
        };
        repo.replace_period(
            "2026",
            &[
                ("college:A".into(), t(vec![1, 2])),
                ("college:B".into(), t(vec![3])),
            ],
        )
        .unwrap();
        repo.replace_period("2025", &[("college:A".into(), t(vec![9]))])
            .unwrap();
        repo.replace_period("2026", &[("college:A".into(), t(vec![5, 6, 7]))])
            .unwrap();
        assert_eq!(
            repo.cohort("2026", "college:A")
                .unwrap()
                .unwrap()
                .totals_fen,
            vec![5, 6, 7]
        );
        assert_eq!(repo.cohort("2026", "college:B").unwrap(), None);
        assert_eq!(
            repo.cohort("2025", "college:A")
                .unwrap()
                .unwrap()
                .totals_fen,
            vec![9]
        );
        assert!(repo.has_period("2025").unwrap());
        assert!(!repo.has_period("2024").unwrap());
    }
}
