//! The simulated campus: a deterministic, seeded generator of people, cards and a year of card
//! transactions, calibrated on docs/campus-domain.md (§1 account model, §2.3 daily
//! rhythm, §11 calibration).
//!
//! Why it exists: the card, SMS and public-data simulators need a realistic world that is the
//! same on every run (same seed → same campus) so demos and tests can name people. It owns the
//! population (eagerly generated: a few hundred bytes per person) and the *generated* history,
//! which is computed lazily and deterministically per account and per day on each query, so
//! nothing holds millions of rows. It must never hold mutable state: balances that change
//! through the API live in `crate::card`; this module only describes the world as it was when the
//! simulator started (`t0`).
//!
//! Where things are: [`people`] (person and card types, demo users, the population generator),
//! [`history`] (the generated transactions), [`merchants`], [`time`] (campus-time helpers) and
//! [`rng`] (the seeded generator); this file holds [`Campus`] and its lookups.

mod history;
mod merchants;
mod people;
mod rng;
mod time;

use std::collections::HashMap;

pub use history::GenTx;
pub use merchants::*;
pub use people::{CardSeed, DEMO_PASSWORD, Habits, Person, PersonKind, mask_phone};
pub use rng::Rng;
pub use time::{campus_time, cst, local_date, local_secs, local_ts, rfc3339};

use people::{DEMO_USERS, demo_person, random_person};

/// The generated campus as of `t0`.
pub struct Campus {
    seed: u64,
    /// Simulator start: generated history ends here.
    t0: i64,
    people: Vec<Person>,
    by_sno: HashMap<String, usize>,
    /// account / card_no / card_no_display → (person, card)
    by_account: HashMap<String, (usize, usize)>,
    by_card_no: HashMap<String, (usize, usize)>,
}

impl Campus {
    /// Generate `count` people (at least the demo users) from `seed`, as of `t0`.
    pub fn generate(seed: u64, count: usize, t0: i64) -> Self {
        let count = count.max(DEMO_USERS.len());
        let today = local_date(t0);
        let mut people = Vec::with_capacity(count);
        let mut student_seq: HashMap<i32, u32> = HashMap::new();
        let mut staff_seq = 1u32;
        for (i, demo) in DEMO_USERS.iter().enumerate() {
            people.push(demo_person(seed, i, demo, today, t0));
        }
        for i in DEMO_USERS.len()..count {
            people.push(random_person(
                seed,
                i,
                today,
                t0,
                &mut student_seq,
                &mut staff_seq,
            ));
        }
        let mut by_sno = HashMap::with_capacity(count);
        let mut by_account = HashMap::with_capacity(count);
        let mut by_card_no = HashMap::with_capacity(count * 2);
        for (pi, p) in people.iter().enumerate() {
            by_sno.insert(p.sno.clone(), pi);
            for (ci, c) in p.cards.iter().enumerate() {
                by_account.insert(c.account.clone(), (pi, ci));
                by_card_no.insert(c.card_no.clone(), (pi, ci));
                by_card_no.insert(c.card_no_display.clone(), (pi, ci));
            }
        }
        Self {
            seed,
            t0,
            people,
            by_sno,
            by_account,
            by_card_no,
        }
    }

    pub fn t0(&self) -> i64 {
        self.t0
    }

    pub fn people(&self) -> &[Person] {
        &self.people
    }

    pub fn person_by_sno(&self, sno: &str) -> Option<&Person> {
        self.by_sno.get(sno).map(|&i| &self.people[i])
    }

    /// `(person, card index)` of a ledger account.
    pub fn by_account(&self, account: &str) -> Option<(&Person, usize)> {
        self.by_account
            .get(account)
            .map(|&(p, c)| (&self.people[p], c))
    }

    /// `(person, card index)` of a transaction or printed card number.
    pub fn by_card_no(&self, card_no: &str) -> Option<(&Person, usize)> {
        self.by_card_no
            .get(card_no)
            .map(|&(p, c)| (&self.people[p], c))
    }

    /// The lost-and-found registry: is this (initially lost) card at a service point?
    /// `(place, found_at, collected)`.
    pub fn found_entry(&self, person: &Person, card: usize) -> Option<(&'static str, i64, bool)> {
        let c = person.cards.get(card)?;
        if !c.lost {
            return None;
        }
        let lost_at = c.inactive_since?;
        let mut r = Rng::derive(self.seed, &[person.index as u64, card as u64, 0xF0F0]);
        // Demo user 王五's card is always waiting at a service desk.
        if person.index != 2 && !r.chance(0.5) {
            return None;
        }
        const PLACES: &[&str] = &[
            "第一食堂服务台",
            "第二食堂服务台",
            "图书馆总服务台",
            "保卫处值班室",
            "行政楼一楼卡务中心",
        ];
        let place = *r.pick(PLACES);
        let found_at = (lost_at + r.range(1800, 2 * 86_400)).min(self.t0 - 600);
        let collected = person.index != 2 && r.chance(0.2);
        Some((place, found_at, collected))
    }
}

#[cfg(test)]
mod test_support {
    use super::Campus;

    pub(super) const T0: i64 = 1_764_062_400; // 2025-11-25T17:20:00+08:00

    pub(super) fn campus() -> Campus {
        Campus::generate(42, 5000, T0)
    }
}
