//! The public data adapter's typed handle: `adapters.public_data.grades(&sno, None).await?`.
//! Every call is an idempotent read.

use std::sync::Arc;

use chrono::NaiveDate;

use super::client::PublicDataApi;
use super::{Grades, Loans, Locker, Meeting, PublicData, Timetable};
use crate::adapters::handle::AdapterHandle;
use crate::adapters::supervise::boxed;
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// The typed handle to the public data store. Cheap to clone.
pub type PublicDataHandle = AdapterHandle<dyn PublicData>;

/// Start the public data adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<PublicDataHandle, AdapterError> {
    PublicDataHandle::start_client::<PublicDataApi>(cfg, |client| client)
}

type Data = Arc<Box<dyn PublicData>>;

// Alike the other adapters' handles by design: see `src/adapters/mod.rs`.
impl AdapterHandle<dyn PublicData> {
    pub async fn meetings(
        &self,
        sno: &StudentId,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<Meeting>, AdapterError> {
        let args = (sno.as_str().to_owned(), from, to);
        self.read(args, |c: Data, (sno, from, to)| {
            boxed(async move { c.meetings(&sno, from, to).await })
        })
        .await
    }

    pub async fn grades(
        &self,
        sno: &StudentId,
        term: Option<&str>,
    ) -> Result<Grades, AdapterError> {
        let args = (sno.as_str().to_owned(), term.map(str::to_owned));
        self.read(args, |c: Data, (sno, term)| {
            boxed(async move { c.grades(&sno, term.as_deref()).await })
        })
        .await
    }

    pub async fn timetable(
        &self,
        sno: &StudentId,
        term: Option<&str>,
        week: Option<u32>,
    ) -> Result<Timetable, AdapterError> {
        let args = (sno.as_str().to_owned(), term.map(str::to_owned));
        self.read(args, move |c: Data, (sno, term)| {
            boxed(async move { c.timetable(&sno, term.as_deref(), week).await })
        })
        .await
    }

    pub async fn library_loans(&self, sno: &StudentId) -> Result<Loans, AdapterError> {
        self.read_with(sno.as_str().to_owned(), PublicData::library_loans)
            .await
    }

    pub async fn locker(&self, sno: &StudentId) -> Result<Locker, AdapterError> {
        self.read_with(sno.as_str().to_owned(), PublicData::locker)
            .await
    }
}
