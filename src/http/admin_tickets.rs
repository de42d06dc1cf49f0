//! `onecard tickets` on the admin listener: the service desk lists, reads, answers and moves
//! repair tickets while the server runs (the server holds the store, so the CLI cannot open
//! it). Like every admin endpoint, reachable only on `server.admin_listen`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /tickets[?state=S]` | the tickets, oldest first |
//! | `GET /tickets/{no}` | one ticket with its history |
//! | `GET /tickets/{no}/photo` | the photo, as WeChat gave it |
//! | `POST /tickets/{no}/reply` `{"operator","text"}` | the ticket after the reply |
//! | `POST /tickets/{no}/move` `{"operator","to","note"}` | the ticket after the move |
//!
//! Unknown tickets are 404, a move the ticket's states do not allow is 409, bad input 400;
//! the body says why in one line.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError, web};
use serde::Deserialize;

use super::desk_answer as answer;
use crate::actions::tickets_desk::{DeskError, TicketDesk};
use crate::store::TicketState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/tickets", web::get().to(list))
        .route("/tickets/{no}", web::get().to(show))
        .route("/tickets/{no}/photo", web::get().to(photo))
        .route("/tickets/{no}/reply", web::post().to(reply))
        .route("/tickets/{no}/move", web::post().to(move_ticket));
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

#[derive(Deserialize)]
struct ReplyBody {
    operator: String,
    text: String,
}

#[derive(Deserialize)]
struct MoveBody {
    operator: String,
    to: String,
    #[serde(default)]
    note: String,
}

async fn list(desk: web::Data<TicketDesk>, q: web::Query<ListQuery>) -> HttpResponse {
    let state = match q.state.as_deref().map(|s| (s, TicketState::parse(s))) {
        None => None,
        Some((_, Some(s))) => Some(s),
        Some((s, None)) => return HttpResponse::BadRequest().body(format!("unknown state {s:?}")),
    };
    answer(desk.list(state))
}

async fn show(desk: web::Data<TicketDesk>, no: web::Path<String>) -> HttpResponse {
    answer(desk.show(&no))
}

async fn photo(desk: web::Data<TicketDesk>, no: web::Path<String>) -> HttpResponse {
    match desk.photo(&no) {
        Ok(p) => HttpResponse::Ok()
            .content_type(p.content_type)
            .body(p.bytes),
        Err(e) => e.error_response(),
    }
}

async fn reply(
    desk: web::Data<TicketDesk>,
    no: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> HttpResponse {
    answer(desk.reply(&no, &body.operator, &body.text).await)
}

async fn move_ticket(
    desk: web::Data<TicketDesk>,
    no: web::Path<String>,
    body: web::Json<MoveBody>,
) -> HttpResponse {
    answer(
        desk.move_to(&no, &body.to, &body.operator, &body.note)
            .await,
    )
}

impl ResponseError for DeskError {
    fn status_code(&self) -> StatusCode {
        match self {
            DeskError::NotFound(_) => StatusCode::NOT_FOUND,
            DeskError::BadInput(_) => StatusCode::BAD_REQUEST,
            DeskError::Refused(_) => StatusCode::CONFLICT,
            DeskError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let DeskError::Store(s) = self {
            tracing::error!(error = %s, "ticket desk store error");
            return HttpResponse::InternalServerError().body("store error");
        }
        HttpResponse::build(self.status_code()).body(self.to_string())
    }
}
