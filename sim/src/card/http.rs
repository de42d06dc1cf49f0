//! The card simulator's unsigned inspection and knobs under `/sim/card/accounts` (for demos and
//! tests): list and show accounts, their transactions, 领款, a POS purchase, a found card, a
//! password-lock reset.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use crate::SimState;

/// Mount the inspection routes (inside the `/sim` scope).
pub(crate) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/card/accounts", web::get().to(list_accounts))
        .route("/card/accounts/{id}", web::get().to(get_account))
        .route("/card/accounts/{id}/claim", web::post().to(claim))
        .route(
            "/card/accounts/{id}/transactions",
            web::get().to(account_transactions),
        )
        .route("/card/accounts/{id}/pos", web::post().to(pos))
        .route("/card/accounts/{id}/found", web::post().to(found))
        .route(
            "/card/accounts/{id}/reset_password_lock",
            web::post().to(reset_password_lock),
        );
}

/// `GET /sim/card/accounts?limit=N` (default 20): accounts in id order, demo users first.
async fn list_accounts(
    state: web::Data<SimState>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20);
    HttpResponse::Ok().json(super::list_accounts(&state, limit))
}

/// `GET /sim/card/accounts/{id}` (学工号): one account with `pending_fen`.
async fn get_account(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    match state.card().view(state.campus(), &id) {
        Some(v) => HttpResponse::Ok().json(v),
        None => HttpResponse::NotFound().json(json!({"error": "no such account"})),
    }
}

/// `GET /sim/card/accounts/{id}/transactions?from=YYYY-MM-DD&to=YYYY-MM-DD` (学工号): every
/// transaction of the person's primary card in the span, newest first, as the card API lists
/// them — what a test derives bills from.
async fn account_transactions(
    state: web::Data<SimState>,
    id: web::Path<String>,
    q: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let day = |k: &str| {
        q.get(k)
            .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
    };
    let (Some(from), Some(to)) = (day("from"), day("to")) else {
        return HttpResponse::BadRequest().json(json!({"error": "from and to: YYYY-MM-DD"}));
    };
    let Some(view) = state.card().view(state.campus(), &id) else {
        return HttpResponse::NotFound().json(json!({"error": "no such account"}));
    };
    match super::transactions_between(&state, &view.account, from, to) {
        Some(txs) => HttpResponse::Ok().json(txs),
        None => HttpResponse::NotFound().json(json!({"error": "no such account"})),
    }
}

/// `POST /sim/card/accounts/{id}/claim`: 领款 — move pending loads into the balance, as a POS
/// tap would.
async fn claim(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    let now = state.clock().now();
    match state.card().claim(state.campus(), &id, now) {
        Some(claimed) => HttpResponse::Ok().json(json!({"claimed_fen": claimed})),
        None => HttpResponse::NotFound().json(json!({"error": "no such account"})),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PosBody {
    amount_fen: i64,
    /// An offline terminal: accepts a lost card until the loss reaches it.
    #[serde(default)]
    offline: bool,
}

/// `POST /sim/card/accounts/{id}/pos {"amount_fen":1250}`: the holder pays at a canteen POS;
/// answers the recorded transaction (it is in `transactions/list` and the feed), or 409.
async fn pos(
    state: web::Data<SimState>,
    id: web::Path<String>,
    body: web::Json<PosBody>,
) -> HttpResponse {
    let now = state.clock().now();
    match state
        .card()
        .pos(state.campus(), &id, body.amount_fen, body.offline, now)
    {
        Ok(tx) => HttpResponse::Ok().json(tx),
        Err(why) => HttpResponse::Conflict().json(json!({ "error": why })),
    }
}

/// `POST /sim/card/accounts/{id}/reset_password_lock`: the card office clears a password lock
/// (the only way a lock clears, docs/upstream-api.md §5.5).
async fn reset_password_lock(state: web::Data<SimState>, id: web::Path<String>) -> HttpResponse {
    if state.card().reset_password_lock(state.campus(), &id) {
        HttpResponse::Ok().json(json!({"ok": true}))
    } else {
        HttpResponse::NotFound().json(json!({"error": "no such account"}))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FoundBody {
    place: String,
}

/// `POST /sim/card/accounts/{id}/found {"place":"第一食堂服务台"}`: someone handed the card in.
async fn found(
    state: web::Data<SimState>,
    id: web::Path<String>,
    body: web::Json<FoundBody>,
) -> HttpResponse {
    let now = state.clock().now();
    if state
        .card()
        .register_found(state.campus(), &id, &body.place, now)
    {
        HttpResponse::Ok().json(json!({"ok": true}))
    } else {
        HttpResponse::NotFound().json(json!({"error": "no such account"}))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::sim;

    #[actix_web::test]
    async fn inspection_lists_accounts_with_phones() {
        let s = sim().await;
        let (status, list) = s.get("/sim/card/accounts?limit=12").await;
        assert_eq!(status, 200);
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 12);
        assert_eq!(list[0]["id"], "2024000001");
        assert_eq!(list[0]["phone"], "13800000001");
        assert_eq!(list[0]["balance_fen"], 5230);
        assert_eq!(list[3]["status"], "frozen");
        assert_eq!(list[8]["status"], "closed");
        assert!(
            list.iter()
                .all(|a| a["name"].is_string() && a["status"].is_string())
        );
        assert_eq!(s.get("/sim/card/accounts/0000000000").await.0, 404);
    }
}
