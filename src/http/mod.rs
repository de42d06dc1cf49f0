//! actix-web routes: the WeChat callback, health and the H5 article pages ([`h5`]) on the public
//! listener, metrics on the admin listener.
//!
//! This is the single place where errors become HTTP statuses. Bad requests get a 4xx with a
//! short reason, never a 5xx and never a panic: WeChat (or anyone) sending garbage must not be
//! able to make the platform look broken. `/wechat` is deliberately not rate-limited by IP:
//! every callback comes from Tencent's servers.

pub mod admin;
pub mod admin_money;
pub mod admin_tickets;
pub mod bills;
pub mod callback;
pub mod content_admin;
pub mod h5;
pub mod health;

use actix_web::{HttpResponse, ResponseError, web};

pub use callback::CallbackState;

/// A desk's answer on the admin listener: the value as JSON, or the error as its status and
/// one-line reason (each desk's error says which status it is).
fn desk_answer<T: serde::Serialize, E: ResponseError>(result: Result<T, E>) -> HttpResponse {
    match result {
        Ok(v) => HttpResponse::Ok().json(v),
        Err(e) => e.error_response(),
    }
}

/// The public listener: only what WeChat and users reach. Nothing for operators here.
pub fn public_routes(
    callback: web::Data<CallbackState>,
    health: web::Data<health::HealthState>,
    body_limit: usize,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(callback)
            .app_data(health)
            .service(
                web::resource("/wechat")
                    .app_data(web::PayloadConfig::new(body_limit))
                    .route(web::get().to(callback::verify))
                    .route(web::post().to(callback::receive)),
            )
            .route("/healthz", web::get().to(health::healthz));
    }
}

/// The admin listener (`server.admin_listen`): metrics and operator endpoints.
pub fn admin_routes(
    health: web::Data<health::HealthState>,
    tickets: web::Data<crate::actions::tickets_desk::TicketDesk>,
    content: web::Data<content_admin::ContentAdmin>,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(health)
            .app_data(tickets)
            .app_data(content)
            .configure(admin_tickets::routes)
            .route("/metrics", web::get().to(health::metrics))
            .route(
                "/binding/unlock/{student_id}",
                web::post().to(admin::unlock_binding),
            )
            .route("/content", web::post().to(content_admin::publish))
            .route("/content", web::get().to(content_admin::list))
            .route(
                "/content/{id}/withdraw",
                web::post().to(content_admin::withdraw),
            )
            .route("/content/{id}/push", web::post().to(content_admin::push))
            .route("/push/jobs", web::get().to(content_admin::jobs));
    }
}
