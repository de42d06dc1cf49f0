//! The generated history of a card: a year of days, each computed on demand from the seed
//! (meals by the daily rhythm, shops, showers, loads when the balance runs low, subsidies),
//! calibrated on docs/campus-domain.md §2.3 and §11.

use chrono::{Datelike, NaiveDate, Weekday};

use super::merchants::{
    BAKERY, CANTEENS, CARD_CENTER, CLINIC, HOT_WATER, KIOSK, LAUNDRY, Merchant, PRINTING, SHOWER,
    STAFF_CANTEEN, SUPERMARKET,
};
use super::{Campus, CardSeed, Person, Rng, local_date, local_ts};

/// A generated card transaction (the wire type is built from it in `crate::card`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenTx {
    pub trade_no: String,
    pub at: i64,
    /// Wire `type` (`CONSUME`, `LOAD_BANK`, …).
    pub tx_type: &'static str,
    pub type_name: &'static str,
    /// `true` = money into the balance.
    pub incoming: bool,
    pub amount_fen: i64,
    pub balance_after_fen: i64,
    pub merchant_id: &'static str,
    pub merchant_name: &'static str,
    pub terminal_id: String,
    pub location: String,
}

impl Campus {
    /// Generated transactions of one card with trade dates in `from..=to`, newest first. Only
    /// history before `t0` exists; what happened since is the live journal of `crate::card`.
    pub fn history(
        &self,
        person: &Person,
        card: usize,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Vec<GenTx> {
        let Some(c) = person.cards.get(card) else {
            return Vec::new();
        };
        let today = local_date(self.t0);
        let oldest = today - chrono::Days::new(365);
        let stop_at = c.inactive_since.unwrap_or(self.t0).min(self.t0);
        let from = from.max(oldest);
        let mut running = c.balance_fen;
        let mut out = Vec::new();
        let mut day = today;
        while day >= from {
            let events = self.day_events(person, card, day);
            let mut i = events.len();
            let mut day_out: Vec<GenTx> = Vec::new();
            // Nobody tops up twice a day: a high balance is worked off over several days.
            let mut loaded_today = false;
            while i > 0 {
                i -= 1;
                let ev = &events[i];
                if ev.at >= stop_at {
                    continue;
                }
                let after = running;
                let before = if ev.incoming {
                    after - ev.amount
                } else {
                    after + ev.amount
                };
                day_out.push(ev.to_tx(c, day, day_out.len(), after));
                running = before;
                if !ev.incoming && !loaded_today && running > person.habits.reload_above_fen {
                    loaded_today = true;
                    // Going back in time: the balance was low, so the person had loaded.
                    let amount = if running >= 20_500 {
                        20_000
                    } else if running >= 10_500 {
                        10_000
                    } else {
                        5_000
                    };
                    let earlier = if i > 0 {
                        events[i - 1].at
                    } else {
                        local_ts(day, 6 * 3600)
                    };
                    let at = if ev.at - earlier > 1200 {
                        ev.at - 600
                    } else {
                        (ev.at + earlier) / 2
                    };
                    let load = Event::load(self.seed, person, day, at, amount);
                    day_out.push(load.to_tx(c, day, day_out.len(), running));
                    running -= amount;
                }
            }
            if day <= to {
                out.extend(day_out);
            }
            match day.pred_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        out
    }

    /// One day of a person's activity (oldest first), independent of the balance.
    fn day_events(&self, person: &Person, card: usize, day: NaiveDate) -> Vec<Event> {
        let mut r = Rng::derive(
            self.seed,
            &[
                person.index as u64,
                card as u64,
                day.num_days_from_ce() as u64,
            ],
        );
        let mut ev = Vec::new();
        if card > 0 && !r.chance(0.1) {
            return ev; // secondary cards are rarely used
        }
        let vacation = is_vacation(day);
        if vacation && !r.chance(0.1) {
            return ev;
        }
        let weekend = matches!(day.weekday(), Weekday::Sat | Weekday::Sun);
        let h = person.habits;
        let canteen_factor = if weekend { 0.7 } else { 1.0 };
        let meal = |r: &mut Rng,
                    m: Merchant,
                    p: f64,
                    lo: i64,
                    hi: i64,
                    center: i64,
                    spread: f64,
                    ev: &mut Vec<Event>| {
            if r.chance(p * canteen_factor) {
                let t = (center as f64 + r.normal() * spread) as i64;
                let amt = canteen_price(
                    r,
                    (lo as f64 * h.appetite) as i64,
                    (hi as f64 * h.appetite) as i64,
                );
                ev.push(Event::consume(r, m, local_ts(day, t), amt));
            }
        };
        if person.kind.is_student() {
            let fav = CANTEENS[h.favourite_canteen % CANTEENS.len()];
            let other = *r.pick(CANTEENS);
            meal(
                &mut r,
                fav,
                h.breakfast_p,
                300,
                800,
                7 * 3600 + 50 * 60,
                900.0,
                &mut ev,
            );
            let lunch = if r.chance(0.6) { fav } else { other };
            meal(&mut r, lunch, 0.9, 800, 2000, 12 * 3600, 1500.0, &mut ev);
            let dinner = if r.chance(0.5) {
                fav
            } else {
                *r.pick(CANTEENS)
            };
            meal(&mut r, dinner, 0.8, 800, 2000, 18 * 3600, 1800.0, &mut ev);
            let extras = r.range(0, 2) + i64::from(weekend && r.chance(0.5));
            for _ in 0..extras {
                let roll = r.f64();
                // (merchant, time window in hours, amount range, amount step), docs/campus-domain.md §2.3
                let (m, h0, h1, a0, a1, step) = if roll < 0.30 {
                    (SUPERMARKET, 9, 22, 30, 400, 10)
                } else if roll < 0.45 {
                    (HOT_WATER, 7, 22, 2, 5, 10)
                } else if roll < 0.70 {
                    (SHOWER, 20, 23, 10, 40, 10)
                } else if roll < 0.80 {
                    (LAUNDRY, 10, 22, 3, 6, 100)
                } else if roll < 0.92 {
                    (PRINTING, 8, 21, 2, 50, 10)
                } else if roll < 0.97 {
                    (BAKERY, 8, 21, 5, 25, 100)
                } else {
                    (CLINIC, 8, 17, 5, 80, 100)
                };
                let at = local_ts(day, r.range(h0 * 3600, h1 * 3600));
                let amount = r.range(a0, a1) * step;
                let e = Event::consume(&mut r, m, at, amount);
                ev.push(e);
            }
        } else {
            if !weekend {
                meal(
                    &mut r,
                    STAFF_CANTEEN,
                    0.85,
                    1200,
                    2500,
                    12 * 3600,
                    1200.0,
                    &mut ev,
                );
            }
            if r.chance(0.15) {
                let at = local_ts(day, r.range(12 * 3600, 19 * 3600));
                let amount = r.range(5, 60) * 100;
                ev.push(Event::consume(&mut r, SUPERMARKET, at, amount));
            }
        }
        // Semester hot-water subsidy for students (docs/campus-domain.md §2.3: 15 元/semester).
        if person.kind.is_student()
            && ((day.month() == 9 && day.day() == 15) || (day.month() == 3 && day.day() == 10))
        {
            ev.push(Event {
                at: local_ts(day, 3 * 3600),
                merchant: CARD_CENTER,
                window: 1,
                amount: 1500,
                incoming: true,
                kind: TxKind::Subsidy,
            });
        }
        for e in &mut ev {
            e.at = e.at.clamp(local_ts(day, 5 * 3600), local_ts(day, 86_399));
        }
        ev.sort_by_key(|e| e.at);
        ev
    }
}

pub(super) fn is_vacation(day: NaiveDate) -> bool {
    let md = (day.month(), day.day());
    ((1, 20)..=(2, 25)).contains(&md) || ((7, 10)..=(8, 31)).contains(&md)
}

/// Canteen prices end in .0 or .5 more often than not.
pub(super) fn canteen_price(r: &mut Rng, lo: i64, hi: i64) -> i64 {
    let raw = r.range(lo.max(100), hi.max(lo.max(100)));
    if r.chance(0.75) {
        (raw / 50) * 50
    } else {
        (raw / 10) * 10
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TxKind {
    Consume,
    LoadBank,
    LoadOnline,
    Subsidy,
}

#[derive(Clone, Debug)]
pub(super) struct Event {
    pub(super) at: i64,
    pub(super) merchant: Merchant,
    pub(super) window: i64,
    pub(super) amount: i64,
    pub(super) incoming: bool,
    pub(super) kind: TxKind,
}

impl Event {
    fn consume(r: &mut Rng, merchant: Merchant, at: i64, amount: i64) -> Self {
        Event {
            at,
            merchant,
            window: r.range(1, merchant.windows),
            amount: amount.max(10),
            incoming: false,
            kind: TxKind::Consume,
        }
    }

    fn load(seed: u64, person: &Person, day: NaiveDate, at: i64, amount: i64) -> Self {
        let mut r = Rng::derive(
            seed,
            &[
                person.index as u64,
                day.num_days_from_ce() as u64,
                at as u64,
            ],
        );
        let online = r.chance(0.4);
        Event {
            at,
            merchant: if online { CARD_CENTER } else { KIOSK },
            window: r.range(1, KIOSK.windows),
            amount,
            incoming: true,
            kind: if online {
                TxKind::LoadOnline
            } else {
                TxKind::LoadBank
            },
        }
    }

    fn to_tx(&self, card: &CardSeed, day: NaiveDate, seq: usize, balance_after: i64) -> GenTx {
        let (tx_type, type_name) = match self.kind {
            TxKind::Consume => ("CONSUME", "持卡人消费"),
            TxKind::LoadBank => ("LOAD_BANK", "银行圈存"),
            TxKind::LoadOnline => ("LOAD_ONLINE", "在线充值"),
            TxKind::Subsidy => ("SUBSIDY", "补助领取"),
        };
        GenTx {
            trade_no: format!(
                "T{}{:0>6}{:02}",
                day.format("%Y%m%d"),
                card.account,
                seq % 100
            ),
            at: self.at,
            tx_type,
            type_name,
            incoming: self.incoming,
            amount_fen: self.amount,
            balance_after_fen: balance_after,
            merchant_id: self.merchant.id,
            merchant_name: self.merchant.name,
            terminal_id: format!("P{}{:02}", &self.merchant.id[1..], self.window),
            location: self
                .merchant
                .location
                .replace("{n}", &self.window.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::campus::local_secs;

    use super::*;
    use crate::campus::test_support::{T0, campus};

    #[test]
    fn same_seed_same_campus_and_history() {
        let a = campus();
        let b = campus();
        for i in [0, 1, 17, 2500, 4999] {
            let (pa, pb) = (&a.people()[i], &b.people()[i]);
            assert_eq!(
                (&pa.sno, &pa.name, &pa.phone),
                (&pb.sno, &pb.name, &pb.phone)
            );
            let from = local_date(T0) - chrono::Days::new(30);
            assert_eq!(
                a.history(pa, 0, from, local_date(T0)),
                b.history(pb, 0, from, local_date(T0))
            );
        }
        let c = Campus::generate(43, 5000, T0);
        assert_ne!(a.people()[100].name, c.people()[100].name);
    }

    #[test]
    fn history_is_consistent_and_realistic() {
        let c = campus();
        let today = local_date(T0);
        let year_ago = today - chrono::Days::new(365);
        let mut records = 0usize;
        let mut canteen = 0usize;
        let mut students = 0usize;
        let mut lunch_peak = 0usize;
        let mut meals = 0usize;
        let mut by_merchant: HashMap<&str, usize> = HashMap::new();
        let mut consumes = 0usize;
        for p in c
            .people()
            .iter()
            .filter(|p| p.kind.is_student() && !p.cards[0].closed)
            .take(60)
        {
            students += 1;
            let h = c.history(p, 0, year_ago, today);
            // Newest first, and each balance_after follows from the next older one.
            for w in h.windows(2) {
                assert!(w[0].at >= w[1].at, "order");
                let delta = if w[0].incoming {
                    w[0].amount_fen
                } else {
                    -w[0].amount_fen
                };
                assert_eq!(
                    w[1].balance_after_fen + delta,
                    w[0].balance_after_fen,
                    "{} {:?}",
                    p.sno,
                    w
                );
            }
            if let Some(first) = h.first() {
                assert_eq!(first.balance_after_fen, p.cards[0].balance_fen);
            }
            assert!(
                h.iter()
                    .all(|t| t.balance_after_fen >= 0 && t.amount_fen > 0)
            );
            // Only term-time November counts for the daily rate.
            let nov: Vec<_> = h
                .iter()
                .filter(|t| local_date(t.at) >= today - chrono::Days::new(14))
                .collect();
            records += nov.len();
            for t in &h {
                if t.tx_type == "CONSUME" {
                    consumes += 1;
                    *by_merchant.entry(t.merchant_name).or_default() += 1;
                }
                if t.merchant_id.starts_with("M01") {
                    canteen += 1;
                    let s = local_secs(t.at);
                    if (10 * 3600..15 * 3600).contains(&s) {
                        meals += 1;
                        if (11 * 3600 + 1800..12 * 3600 + 1800).contains(&s) {
                            lunch_peak += 1;
                        }
                    }
                }
            }
            // Range filtering.
            let week = c.history(p, 0, today - chrono::Days::new(6), today);
            assert!(
                week.iter()
                    .all(|t| local_date(t.at) >= today - chrono::Days::new(6))
            );
            assert_eq!(week.as_slice(), &h[..week.len()]);
        }
        // Merchant mix: canteens dominate, and every everyday merchant shows up.
        let canteen_share = canteen as f64 / consumes as f64;
        assert!(
            (0.55..0.9).contains(&canteen_share),
            "canteen share {canteen_share}"
        );
        for m in [
            "红太阳超市",
            "开水房",
            "西区浴室",
            "洗衣房",
            "文印中心",
            "第一食堂",
            "第二食堂",
        ] {
            let n = by_merchant.get(m).copied().unwrap_or(0);
            assert!(n * 200 > consumes, "{m}: {n} of {consumes}");
        }
        let loads = by_merchant.len();
        assert!(loads >= 10, "{by_merchant:?}");
        let per_day = records as f64 / students as f64 / 14.0;
        assert!(
            (2.5..6.0).contains(&per_day),
            "records/student/day {per_day}"
        );
        assert!(canteen > 0);
        assert!(lunch_peak * 2 > meals, "lunch peak {lunch_peak} of {meals}");
    }
}
