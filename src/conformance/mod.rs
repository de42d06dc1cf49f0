//! The conformance kit: runs the checks of docs/upstream-api.md against any gateway — a
//! school's own before go-live, or our simulators in CI — and reports one line per check.
//!
//! Why it exists: a school builds its gateway from the document alone; this is how it proves
//! the gateway answers exactly what onecard's adapters expect (signing, every refusal code of
//! §2.3 with its HTTP status, nonce replay, idempotent writes, signed responses, the field
//! types of every read) without reading our code. It owns the checks and their report; the
//! wire format itself stays in `crate::wire`, so the kit and the adapters cannot disagree.
//!
//! It must never hide a difference (a check that cannot run is reported as skipped, with the
//! reason), never write unless asked to (writes move money on a real card system: they run only
//! with [`Fixtures::writes`] against a test account), and never print secrets, signatures or
//! bodies beyond the field that differed.

mod client;
mod faults;
mod reads;
mod signing;
#[cfg(test)]
mod tests;
mod writes;

use std::fmt;

pub use client::Gateway;

use crate::adapters::AdaptersConfig;

/// One upstream of docs/upstream-api.md: its name as in `[upstreams.NAME]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Upstream {
    Card,
    Sms,
    PublicData,
    Bank,
    Billers,
}

impl Upstream {
    pub const ALL: [Upstream; 5] = [
        Upstream::Card,
        Upstream::Sms,
        Upstream::PublicData,
        Upstream::Bank,
        Upstream::Billers,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Upstream::Card => "card",
            Upstream::Sms => "sms",
            Upstream::PublicData => "public_data",
            Upstream::Bank => "bank",
            Upstream::Billers => "billers",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|u| u.name() == name)
    }
}

/// The people, cards and permissions the checks may use. The defaults are the simulator's
/// 张三 (docs/upstream-api.md §12); a school passes a test account of its own.
#[derive(Clone, Debug)]
pub struct Fixtures {
    /// 学工号 of a person with a normal card, grades, a timetable.
    pub sno: String,
    /// That person's primary card account.
    pub account: String,
    /// That card's password (only its digest is sent).
    pub password: String,
    /// Run the write checks (loads, debits, loss reports, one SMS to the person's phone, one
    /// biller payment).
    pub writes: bool,
    /// A biller and target the write checks may pay 1 元 to (`billers/pay` cannot be undone:
    /// use a test target). Default: the simulator's library fund donation.
    pub biller_id: String,
    pub biller_target: String,
    /// The simulator's fault switch (`http://HOST:PORT/sim/faults`): with it the kit provokes
    /// the codes no legitimate request can (1006, 9000, 9001). `None` against a school's
    /// gateway: those codes are reported as not provoked.
    pub sim_faults: Option<String>,
}

impl Default for Fixtures {
    fn default() -> Self {
        Self {
            sno: "2024000001".to_owned(),
            account: "20001".to_owned(),
            password: "123456".to_owned(),
            writes: false,
            biller_id: "donation".to_owned(),
            biller_target: "FUND-LIB".to_owned(),
            sim_faults: None,
        }
    }
}

/// What one check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// What differed from the document.
    Fail(String),
    /// Why the check could not run (not counted as a difference). A code the kit had no way
    /// to provoke is a skip whose reason starts with "not provoked".
    Skip(String),
}

/// One line of the report.
#[derive(Clone, Debug)]
pub struct Check {
    /// The upstream and area, e.g. `card/signing`.
    pub area: String,
    /// What the document requires, e.g. `unknown X-App-Key → 1005 (HTTP 403)`.
    pub name: String,
    pub verdict: Verdict,
}

/// Every check of a run, in order.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    fn push(&mut self, area: String, name: impl Into<String>, verdict: Verdict) {
        self.checks.push(Check {
            area,
            name: name.into(),
            verdict,
        });
    }

    /// `true` when no check failed.
    pub fn passed(&self) -> bool {
        !self
            .checks
            .iter()
            .any(|c| matches!(c.verdict, Verdict::Fail(_)))
    }

    /// The checks that failed.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail(_)))
    }

    /// The check named `name` in `area`, if it ran.
    pub fn find(&self, area: &str, name: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.area == area && c.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut pass, mut fail, mut skip) = (0, 0, 0);
        for c in &self.checks {
            match &c.verdict {
                Verdict::Pass => {
                    pass += 1;
                    writeln!(f, "PASS  {:<20} {}", c.area, c.name)?;
                }
                Verdict::Fail(why) => {
                    fail += 1;
                    writeln!(f, "FAIL  {:<20} {} — {why}", c.area, c.name)?;
                }
                Verdict::Skip(why) => {
                    skip += 1;
                    writeln!(f, "SKIP  {:<20} {} — {why}", c.area, c.name)?;
                }
            }
        }
        write!(f, "{pass} passed, {fail} failed, {skip} skipped")
    }
}

/// The gateways to check: every configured upstream of an `[upstreams]` section.
pub fn gateways(config: &AdaptersConfig) -> Vec<Gateway> {
    config
        .sections()
        .filter_map(|(name, section)| {
            Upstream::parse(name).map(|u| {
                Gateway::new(
                    u,
                    &section.base_url,
                    crate::wire::Credentials::new(&section.app_key, &section.app_secret),
                )
            })
        })
        .collect()
}

/// Run every check against every gateway, in a fixed order: signing and refusals, the codes
/// only a fault causes, reads, then (with [`Fixtures::writes`]) writes; response signatures
/// are checked on every reply.
pub async fn run(gateways: &[Gateway], fixtures: &Fixtures) -> Report {
    let mut report = Report::default();
    for gw in gateways {
        signing::check(gw, fixtures, &mut report).await;
        faults::check(gw, fixtures, &mut report).await;
        reads::check(gw, fixtures, &mut report).await;
        writes::check(gw, fixtures, &mut report).await;
        gw.report_response_signatures(&mut report);
    }
    report
}
