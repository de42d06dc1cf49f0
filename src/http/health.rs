//! `/healthz` (200 once the platform is ready; public, so it must stay O(1) and say nothing
//! about users) and `/metrics` (Prometheus text, admin listener only).

use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::rules::LiveRules;
use crate::store::Store;

pub struct HealthState {
    pub rules: LiveRules,
    pub store: Store,
    pub prometheus: PrometheusHandle,
}

pub async fn healthz(state: web::Data<HealthState>) -> HttpResponse {
    let rules = state.rules.current().rule_count();
    HttpResponse::Ok().json(serde_json::json!({
        "status": "ok",
        "rules": rules,
    }))
}

pub async fn metrics(state: web::Data<HealthState>) -> HttpResponse {
    metrics::gauge!("onecard_store_size_bytes").set(state.store.size_on_disk() as f64);
    metrics::gauge!("onecard_rules_loaded").set(state.rules.current().rule_count() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.prometheus.render())
}
