//! The public data store adapter (数据中心): meeting sign-ins, grades, timetable, library
//! loans, lockers — all read-only.
//!
//! Why it exists: these queries are a large share of chat traffic and the data store is a
//! separate, often slower system; isolating it keeps a slow grades query from delaying
//! balance replies. It owns the [`PublicData`] trait, its client and actor. Every call is an
//! idempotent read (retried under the policy). It must never log a student number or any
//! returned record (grades are personal information).

pub mod actor;
pub mod client;

use chrono::NaiveDate;
use futures_util::future::BoxFuture;

pub use crate::wire::{
    Grade, Grades, Lesson, Loan, Loans, Locker, Meeting, SignInStatus, Timetable,
};
pub use actor::PublicDataHandle;
pub use client::PublicDataClient;

use super::AdapterError;
use super::handle::Upstream;

pub const UPSTREAM: &str = "public_data";

/// What onecard asks of the public data store.
///
/// Alike the other adapters' traits by design: see `src/adapters/mod.rs`.
pub trait PublicData: Upstream {
    /// `data/meetings/list`, dates inclusive.
    fn meetings<'a>(
        &'a self,
        sno: &'a str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, AdapterError>>;

    /// `data/grades/list`; `term` `None` = every published term.
    fn grades<'a>(
        &'a self,
        sno: &'a str,
        term: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Grades, AdapterError>>;

    /// `data/timetable/get`; `None` = current term / current week.
    fn timetable<'a>(
        &'a self,
        sno: &'a str,
        term: Option<&'a str>,
        week: Option<u32>,
    ) -> BoxFuture<'a, Result<Timetable, AdapterError>>;

    /// `data/library/loans`
    fn library_loans<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<Loans, AdapterError>>;

    /// `data/locker/get`
    fn locker<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<Locker, AdapterError>>;
}
