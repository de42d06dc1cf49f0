//! The public data store over HTTP (see [`PublicData`]); every call is a retried read.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{Grades, Loans, Locker, Meeting, PublicData, Timetable, UPSTREAM};
use crate::adapters::events::Health;
use crate::adapters::handle::Upstream;
use crate::adapters::policy::Policy;
use crate::adapters::transport::UpstreamClient;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::wire::{self, paths};

#[derive(Debug)]
pub struct PublicDataClient {
    http: UpstreamClient,
}

impl PublicDataClient {
    pub fn new(cfg: &UpstreamConfig, policy: Arc<Policy>) -> Result<Self, AdapterError> {
        Ok(Self {
            http: UpstreamClient::new(UPSTREAM, cfg, policy)?,
        })
    }
}

impl PublicData for PublicDataClient {
    fn meetings<'a>(
        &'a self,
        sno: &'a str,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Meeting>, AdapterError>> {
        async move {
            let req = wire::MeetingsQuery {
                sno: sno.to_owned(),
                from: from.to_owned(),
                to: to.to_owned(),
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
        async move {
            let req = wire::PersonRef {
                sno: sno.to_owned(),
            };
            self.http
                .read("library_loans", paths::DATA_LIBRARY_LOANS, &req)
                .await
        }
        .boxed()
    }

    fn locker<'a>(&'a self, sno: &'a str) -> BoxFuture<'a, Result<Locker, AdapterError>> {
        async move {
            let req = wire::PersonRef {
                sno: sno.to_owned(),
            };
            self.http
                .read("locker_get", paths::DATA_LOCKER_GET, &req)
                .await
        }
        .boxed()
    }
}

impl Upstream for PublicDataClient {
    fn health(&self) -> BoxFuture<'_, Health> {
        self.http.health().boxed()
    }
}
