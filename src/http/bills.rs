//! The fun bill outside the chat: the page a 「趣味账单」 reply links to
//! (`/h5/bills/fun?t=…`), the JSON the richer H5 page will use (`/h5/api/bills/fun?t=…`), and
//! the operators' `POST /bills/cohorts/refresh` on the admin listener.
//!
//! The link's signed token is the only credential (see `bills::link`): it names one person
//! and expires. An expired or altered link answers 403 and says nothing about whose it was.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;

use super::h5::{H5State, NOT_FOUND, page};
use crate::adapters::CardHandle;
use crate::bills::cohorts::{CohortJob, Period};
use crate::bills::personal::{self, FunBillReport};
use crate::bills::{BillsSettings, link};
use crate::domain::OpenId;

pub(super) const FUN_BILL: &str = "fun_bill.html";

/// What the bill pages need besides the page templates.
pub struct BillPages {
    pub card: CardHandle,
    pub settings: BillsSettings,
    pub utc_offset_hours: i32,
}

/// Mount the public bill routes; without a card system they are not mounted at all.
pub fn routes(
    h5: web::Data<H5State>,
    bills: Option<web::Data<BillPages>>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if let Some(bills) = bills {
            cfg.app_data(h5)
                .app_data(bills)
                .route("/h5/bills/fun", web::get().to(fun_page))
                .route("/h5/api/bills/fun", web::get().to(fun_json));
        }
    }
}

/// Mount `POST /bills/cohorts/refresh` on the admin listener.
pub fn admin_routes(job: Option<web::Data<CohortJob>>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        if let Some(job) = job {
            cfg.app_data(job)
                .route("/bills/cohorts/refresh", web::post().to(refresh_cohorts));
        }
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    #[serde(default)]
    t: String,
}

enum Outcome {
    Report(Box<FunBillReport>),
    /// Bad, altered or expired link; or its person unbound since.
    Refused,
    /// The period has not started, or nothing was spent.
    Nothing,
    Unavailable,
}

async fn report(h5: &H5State, bills: &BillPages, token: &str) -> Outcome {
    let store = h5.store();
    let now = Utc::now().timestamp();
    let Some(claims) = link::verify(&store.link_key(), token, now) else {
        return Outcome::Refused;
    };
    let Ok(openid) = OpenId::parse(&claims.openid) else {
        return Outcome::Refused;
    };
    let binding = match store.bindings().get(&openid) {
        Ok(Some(b)) => b,
        Ok(None) => return Outcome::Refused,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the binding for a bill page");
            return Outcome::Unavailable;
        }
    };
    let offset = crate::settings::campus_offset(bills.utc_offset_hours);
    let today = Utc::now().with_timezone(&offset).date_naive();
    let period = match claims.year {
        0 => Period::current(&bills.settings, today),
        y => Period::year(y),
    };
    match personal::fun(
        &store,
        &bills.card,
        &bills.settings,
        bills.utc_offset_hours,
        &binding,
        period,
        today,
    )
    .await
    {
        Ok(Some(r)) if r.bill.summary.spent_count > 0 => Outcome::Report(Box::new(r)),
        Ok(_) => Outcome::Nothing,
        Err(e) => {
            tracing::warn!(error = %e, "fun bill page unavailable");
            Outcome::Unavailable
        }
    }
}

async fn fun_page(
    h5: web::Data<H5State>,
    bills: web::Data<BillPages>,
    q: web::Query<LinkQuery>,
) -> HttpResponse {
    match report(&h5, &bills, &q.t).await {
        Outcome::Report(r) => page(&h5, StatusCode::OK, FUN_BILL, r.fields()),
        Outcome::Nothing => page(
            &h5,
            StatusCode::OK,
            FUN_BILL,
            serde_json::json!({ "empty": true }),
        ),
        Outcome::Refused => page(&h5, StatusCode::FORBIDDEN, NOT_FOUND, serde_json::json!({})),
        Outcome::Unavailable => HttpResponse::ServiceUnavailable().finish(),
    }
}

async fn fun_json(
    h5: web::Data<H5State>,
    bills: web::Data<BillPages>,
    q: web::Query<LinkQuery>,
) -> HttpResponse {
    match report(&h5, &bills, &q.t).await {
        Outcome::Report(r) => HttpResponse::Ok().json(r.fields()),
        Outcome::Nothing => HttpResponse::Ok().json(serde_json::json!({ "empty": true })),
        Outcome::Refused => HttpResponse::Forbidden()
            .json(serde_json::json!({ "error": "link_invalid_or_expired" })),
        Outcome::Unavailable => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({ "error": "card_system_unavailable" })),
    }
}

async fn refresh_cohorts(job: web::Data<CohortJob>) -> HttpResponse {
    match job.run_now().await {
        Ok(report) => HttpResponse::Ok().json(report),
        Err(e) => {
            tracing::warn!(error = %e, "cohort refresh requested by an operator failed");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({ "error": e.to_string() }))
        }
    }
}
