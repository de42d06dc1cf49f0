//! The public data store over HTTP (see [`PublicData`]); every call is a retried read.

use chrono::NaiveDate;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{Grades, Loans, Locker, Meeting, PublicData, Timetable, UPSTREAM};
use crate::adapters::AdapterError;
use crate::adapters::transport::{AdapterClient, UpstreamName};
use crate::wire::{self, paths};

/// Marks an [`AdapterClient`] as the public data store's.
#[derive(Debug)]
pub enum PublicDataApi {}

impl UpstreamName for PublicDataApi {
    const UPSTREAM: &'static str = UPSTREAM;
}

pub type PublicDataClient = AdapterClient<PublicDataApi>;

// Alike the other adapters' clients by design: see `src/adapters/mod.rs`.
impl PublicData for PublicDataClient {
    fn meetings<'a>(
        &'a self,
        sno: &'a str,
        from: NaiveDate,
        to: NaiveDate,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, AdapterError>> {
        async move {
            let req = wire::MeetingsQuery {
                sno: sno.to_owned(),
                from,
                to,
            };
            let list: wire::Meetings = self
                .http
                .read("meetings_list", paths::DATA_MEETINGS_LIST, &req)
                .await?;
            Ok(list.items)
        }
        .boxed()
    }

    fn grades<'a>(
        &'a self,
        sno: &'a str,
        term: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Grades, AdapterError>> {
        async move {
            let req = wire::GradesQuery {
                sno: sno.to_owned(),
                term: term.map(str::to_owned),
            };
            self.http
                .read("grades_list", paths::DATA_GRADES_LIST, &req)
                .await
        }
        .boxed()
    }

    fn timetable<'a>(
        &'a self,
        sno: &'a str,
        term: Option<&'a str>,
        week: Option<u32>,
    ) -> BoxFuture<'a, Result<Timetable, AdapterError>> {
        async move {
            let req = wire::TimetableQuery {
                sno: sno.to_owned(),
                term: term.map(str::to_owned),
                week,
            };
            self.http
                .read("timetable_get", paths::DATA_TIMETABLE_GET, &req)
                .await
        }
        .boxed()
    }

    fn library_loans<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<Loans, AdapterError>> {
        self.http
            .read_for_person("library_loans", paths::DATA_LIBRARY_LOANS, sno)
            .boxed()
    }

    fn locker<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<Locker, AdapterError>> {
        self.http
            .read_for_person("locker_get", paths::DATA_LOCKER_GET, sno)
            .boxed()
    }
}
