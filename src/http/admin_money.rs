//! `onecard orders` and `onecard reconcile` on the admin listener: the back office reads orders
//! and works through the manual queues while the server runs (the server holds the store, so
//! the CLI cannot open it). Like every admin endpoint, reachable only on `server.admin_listen`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /orders[?state=S][&sno=学工号][&day=YYYY-MM-DD]` | orders, oldest first (no filter: the unfinished ones); `state=needs_manual` is the orders' manual queue |
//! | `GET /orders/{id}` | one order with its keys and history |
//! | `GET /reconcile/queue[?all=true]` | the reconciliation's manual items, oldest first |
//! | `POST /reconcile/queue/resolve` `{"id","by","note"}` | the item, closed (audited) |
//! | `POST /reconcile/run` `{"date"?}` | `{"result","csv_path"}` of the day (default yesterday) |
//! | `GET /reconcile/days/{date}` | the day's stored result |
//! | `GET /reconcile/days/{date}/csv` | the day's CSV (UTF-8 with BOM) |
//!
//! Unknown orders, items and days are 404, closing a closed item is 409, a run without
//! upstreams 503, bad input 400; the body says why in one line.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::desk_answer as answer;
use crate::actions::money_desk::{DeskError, MoneyDesk, OrderFilter, parse_date};

pub fn routes(desk: web::Data<MoneyDesk>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(desk)
            .route("/orders", web::get().to(list))
            .route("/orders/{id}", web::get().to(show))
            .route("/reconcile/queue", web::get().to(queue))
            .route("/reconcile/queue/resolve", web::post().to(resolve))
            .route("/reconcile/run", web::post().to(run))
            .route("/reconcile/days/{date}", web::get().to(day))
            .route("/reconcile/days/{date}/csv", web::get().to(day_csv));
    }
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    sno: Option<String>,
    day: Option<String>,
}

#[derive(Deserialize)]
struct QueueQuery {
    #[serde(default)]
    all: bool,
}

#[derive(Deserialize)]
struct ResolveBody {
    id: String,
    by: String,
    note: String,
}

#[derive(Deserialize, Default)]
struct RunBody {
    date: Option<String>,
}

async fn list(desk: web::Data<MoneyDesk>, q: web::Query<ListQuery>) -> HttpResponse {
    let filter = match OrderFilter::parse(q.state.as_deref(), q.sno.as_deref(), q.day.as_deref()) {
        Ok(f) => f,
        Err(e) => return e.error_response(),
    };
    answer(desk.orders(&filter).await)
}

async fn show(desk: web::Data<MoneyDesk>, id: web::Path<String>) -> HttpResponse {
    answer(desk.order(&id).await)
}

async fn queue(desk: web::Data<MoneyDesk>, q: web::Query<QueueQuery>) -> HttpResponse {
    answer(desk.queue(q.all).await)
}

async fn resolve(desk: web::Data<MoneyDesk>, body: web::Json<ResolveBody>) -> HttpResponse {
    answer(desk.resolve(&body.id, &body.by, &body.note).await)
}

async fn run(desk: web::Data<MoneyDesk>, body: Option<web::Json<RunBody>>) -> HttpResponse {
    let date = match body.and_then(|b| b.into_inner().date) {
        None => None,
        Some(text) => match parse_date(&text) {
            Ok(d) => Some(d),
            Err(e) => return e.error_response(),
        },
    };
    answer(desk.run(date).await)
}

async fn day(desk: web::Data<MoneyDesk>, date: web::Path<String>) -> HttpResponse {
    match parse_date(&date) {
        Ok(date) => answer(desk.day(date).await),
        Err(e) => e.error_response(),
    }
}

async fn day_csv(desk: web::Data<MoneyDesk>, date: web::Path<String>) -> HttpResponse {
    let date = match parse_date(&date) {
        Ok(d) => d,
        Err(e) => return e.error_response(),
    };
    match desk.day_csv(date).await {
        Ok(bytes) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                "Content-Disposition",
                format!("attachment; filename=\"reconcile-{date}.csv\""),
            ))
            .body(bytes),
        Err(e) => e.error_response(),
    }
}

impl ResponseError for DeskError {
    fn status_code(&self) -> StatusCode {
        match self {
            DeskError::Store(_) | DeskError::Reconcile(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DeskError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            DeskError::NotFound(_) => StatusCode::NOT_FOUND,
            DeskError::BadInput(_) => StatusCode::BAD_REQUEST,
            DeskError::Refused(_) => StatusCode::CONFLICT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let DeskError::Store(_) | DeskError::Reconcile(_) = self {
            tracing::error!(error = %self, "money desk failed");
            return HttpResponse::InternalServerError().body("store error");
        }
        HttpResponse::build(self.status_code()).body(self.to_string())
    }
}
