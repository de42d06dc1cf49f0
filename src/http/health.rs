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
    if !state.rules.is_degraded() {
        return HttpResponse::Ok().json(serde_json::json!({ "status": "ok", "rules": rules }));
    }
    // Degraded: the rule files on disk are invalid and older rules keep answering; still 200,
    // because the account answers, but the operator sees which file:line:col to fix.
    let rule_errors: Vec<String> = state
        .rules
        .last_errors()
        .iter()
        .map(|d| d.to_string())
        .collect();
    HttpResponse::Ok().json(serde_json::json!({
        "status": "degraded",
        "rules": rules,
        "rule_errors": rule_errors,
    }))
}

pub async fn metrics(state: web::Data<HealthState>) -> HttpResponse {
    metrics::gauge!("onecard_store_size_bytes").set(state.store.size_on_disk() as f64);
    metrics::gauge!("onecard_rules_loaded").set(state.rules.current().rule_count() as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.prometheus.render())
}
