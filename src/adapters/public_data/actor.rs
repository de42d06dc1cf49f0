//! The public data adapter's actor and typed handle:
//! `adapters.public_data.grades(&sno, None).await?`.

use std::sync::Arc;
use std::time::Duration;

use super::{Grades, Loans, Locker, Meeting, PublicData, PublicDataClient, Timetable, UPSTREAM};
use crate::adapters::events::Health;
use crate::adapters::policy::Policy;
use crate::adapters::supervise::{Builder, Kept, boxed, start_on_own_arbiter};
use crate::adapters::{AdapterError, UpstreamConfig};
use crate::domain::StudentId;

/// Run `$body` (a future using `$c`) inside the actor; listed arguments are copied in.
macro_rules! call {
    ($self:ident, |$c:ident| $body:expr, [$($arg:ident),*]) => {{
        $( let $arg = $arg.to_owned(); )*
        $self
            .kept
            .invoke(true, move |$c: Arc<Box<dyn PublicData>>| {
                $( let $arg = $arg.clone(); )*
                boxed(async move { $body.await })
            })
            .await
    }};
}

/// The typed handle to the public data store. Cheap to clone.
#[derive(Clone)]
pub struct PublicDataHandle {
    kept: Kept<Box<dyn PublicData>>,
}

impl std::fmt::Debug for PublicDataHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicDataHandle")
            .field("restarts", &self.kept.restarts())
            .finish()
    }
}

/// Start the public data adapter from its config section (inside the actix System).
pub fn start(cfg: &UpstreamConfig) -> Result<PublicDataHandle, AdapterError> {
    let policy = Arc::new(Policy::new(UPSTREAM, cfg));
    PublicDataClient::new(cfg, Arc::clone(&policy))?;
    let deadline = policy.worst_case() + Duration::from_millis(500);
    let cfg = cfg.clone();
    let builder: Builder<Box<dyn PublicData>> = Arc::new(move || {
        PublicDataClient::new(&cfg, Arc::clone(&policy)).map(|c| Box::new(c) as Box<dyn PublicData>)
    });
    PublicDataHandle::start_with(builder, deadline)
}

impl PublicDataHandle {
    /// Run any [`PublicData`] (a fake in tests) behind the actor, keeper and deadline.
    pub fn start_with(
        builder: Builder<Box<dyn PublicData>>,
        deadline: Duration,
    ) -> Result<Self, AdapterError> {
        Ok(Self {
            kept: start_on_own_arbiter(UPSTREAM, builder, deadline)?,
        })
    }

    pub async fn meetings(
        &self,
        sno: &StudentId,
        from: &str,
        to: &str,
    ) -> Result<Vec<Meeting>, AdapterError> {
        let sno = sno.as_str();
        call!(self, |c| c.meetings(&sno, &from, &to), [sno, from, to])
    }

    pub async fn grades(
        &self,
        sno: &StudentId,
        term: Option<&str>,
    ) -> Result<Grades, AdapterError> {
        let sno = sno.as_str();
        let term = term.map(str::to_owned);
        call!(self, |c| c.grades(&sno, term.as_deref()), [sno, term])
    }

    pub async fn timetable(
        &self,
        sno: &StudentId,
        term: Option<&str>,
        week: Option<u32>,
    ) -> Result<Timetable, AdapterError> {
        let sno = sno.as_str();
        let term = term.map(str::to_owned);
        call!(
            self,
            |c| c.timetable(&sno, term.as_deref(), week),
            [sno, term]
        )
    }

    pub async fn library_loans(&self, sno: &StudentId) -> Result<Loans, AdapterError> {
        let sno = sno.as_str();
        call!(self, |c| c.library_loans(&sno), [sno])
    }

    pub async fn locker(&self, sno: &StudentId) -> Result<Locker, AdapterError> {
        let sno = sno.as_str();
        call!(self, |c| c.locker(&sno), [sno])
    }

    pub async fn health(&self) -> Health {
        let r = self
            .kept
            .invoke(true, |c: Arc<Box<dyn PublicData>>| {
                boxed(async move { Ok(c.health().await) })
            })
            .await;
        r.unwrap_or_else(|e| Health {
            upstream: UPSTREAM,
            ok: false,
            breaker: "unknown",
            detail: e.outcome().to_owned(),
            latency_ms: 0,
        })
    }

    pub fn restarts(&self) -> u64 {
        self.kept.restarts()
    }

    pub fn stop(&self) {
        self.kept.stop();
    }
}
