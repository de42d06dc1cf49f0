//! Operator endpoints on the admin listener (`server.admin_listen`, loopback or a private
//! network only): what the service desk does for a person standing in front of it.
//!
//! Nothing here is reachable from the public listener, and nothing here checks who is asking:
//! the listener's address is the access control. It must never be mounted on the public
//! listener.

use actix_web::{HttpResponse, web};

use super::health::HealthState;
use crate::domain::StudentId;

/// `POST /binding/unlock/{student_id}`: clear the card's binding counters for today, after the
/// desk checked the owner's ID (docs/SECURITY.md, "Binding by SMS"). Answers
/// `{"student_id":…,"cleared":bool}` once the change is on disk.
pub async fn unlock_binding(
    state: web::Data<HealthState>,
    student_id: web::Path<String>,
) -> HttpResponse {
    let Ok(sno) = StudentId::parse(&student_id) else {
        return HttpResponse::BadRequest().body("not a 学工号");
    };
    let now = chrono::Utc::now().timestamp();
    let cleared = match state.store.unlock_card_binding(&sno, now) {
        Ok(cleared) => cleared,
        Err(e) => {
            tracing::error!(error = %e, "binding unlock failed");
            return HttpResponse::InternalServerError().body("store error");
        }
    };
    if let Err(e) = state.store.flush().await {
        tracing::error!(error = %e, "binding unlock not flushed");
        return HttpResponse::InternalServerError().body("store error");
    }
    tracing::info!(cleared, "binding unlocked by an operator");
    HttpResponse::Ok().json(serde_json::json!({ "student_id": sno.as_str(), "cleared": cleared }))
}
