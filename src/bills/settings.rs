//! `[bills]`: how spending is grouped, which terms the fun bill knows, and how cohorts are
//! compared. Category and term names are the school's words, so they live in the config file.

use chrono::NaiveDate;
use serde::Deserialize;

use crate::wire::{Transaction, TxType};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BillsSettings {
    /// Spending categories, first match wins; spending no category claims is "other".
    /// Empty: the monthly bill shows totals only.
    #[serde(rename = "category")]
    pub categories: Vec<CategoryRule>,
    /// Academic terms for 「趣味账单」; without one covering today it covers this calendar year.
    #[serde(rename = "term")]
    pub terms: Vec<Term>,
    /// A cohort (a college, a grade) smaller than this is not ranked: a percentile among a
    /// handful of people says little and tells them about each other.
    pub cohort_min: usize,
    /// Campus time of day (`HH:MM`) the cohort distributions are recomputed, daily.
    pub cohort_refresh_at: String,
    /// How many people's transactions the cohort job fetches at once.
    pub cohort_concurrency: usize,
    /// How long a link to the fun bill page stays valid.
    pub link_ttl_hours: u32,
}

impl Default for BillsSettings {
    fn default() -> Self {
        Self {
            categories: Vec::new(),
            terms: Vec::new(),
            cohort_min: 20,
            cohort_refresh_at: "04:30".into(),
            cohort_concurrency: 4,
            link_ttl_hours: 72,
        }
    }
}

/// One spending category: which merchants (by merchant-number prefix) or transaction types
/// belong to it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CategoryRule {
    pub name: String,
    #[serde(default)]
    pub merchant_prefixes: Vec<String>,
    #[serde(default)]
    pub types: Vec<TxType>,
    /// Spending here is a meal (favourite canteen, earliest breakfast, biggest meal).
    #[serde(default)]
    pub meals: bool,
}

impl CategoryRule {
    pub fn matches(&self, t: &Transaction) -> bool {
        self.types.contains(&t.tx_type)
            || self
                .merchant_prefixes
                .iter()
                .any(|p| t.merchant_id.starts_with(p.as_str()))
    }
}

/// An academic term, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub name: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl BillsSettings {
    /// The term covering `day`, if one is configured.
    pub fn term_of(&self, day: NaiveDate) -> Option<&Term> {
        self.terms.iter().find(|t| t.from <= day && day <= t.to)
    }
}
