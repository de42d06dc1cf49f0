//! The daily job: every day at `reconcile.run_at` (campus time), reconcile yesterday and write
//! its CSV. A run that fails (the store) is logged and tried again the next day; a day whose
//! statements were missing is complete once someone runs `onecard reconcile --date D` again.

use std::path::PathBuf;
use std::time::Duration;

use super::{ReconStore, Reconciler};
use crate::store::orders::OrderStore;

/// How long from `now_ms` until the next `run_at_secs` after campus midnight.
pub fn next_run_in(now_ms: i64, utc_offset_hours: i32, run_at_secs: u32) -> Duration {
    let day_ms: i64 = 86_400_000;
    let local = now_ms + i64::from(utc_offset_hours) * 3_600_000;
    let since_midnight = local.rem_euclid(day_ms);
    let target = i64::from(run_at_secs) * 1000;
    let wait = (target - since_midnight).rem_euclid(day_ms);
    // exactly at the time: the next day's run, not a second one now
    let wait = if wait == 0 { day_ms } else { wait };
    Duration::from_millis(wait.unsigned_abs())
}

/// Spawn the daily job on the current runtime (inside the actix System of `serve` / `demo`).
pub fn spawn_daily<O: OrderStore, R: ReconStore>(
    reconciler: Reconciler<O, R>,
    report_dir: PathBuf,
) {
    let Some(run_at) = reconciler.settings.run_at_secs() else {
        tracing::error!(run_at = %reconciler.settings.run_at, "reconcile.run_at is not HH:MM: the daily reconciliation is off");
        return;
    };
    actix_web::rt::spawn(async move {
        loop {
            let now = chrono::Utc::now().timestamp_millis();
            tokio::time::sleep(next_run_in(now, reconciler.utc_offset_hours, run_at)).await;
            let date = reconciler.yesterday();
            match super::run_and_report(&reconciler, date, &report_dir).await {
                Ok((_, path)) => {
                    tracing::info!(%date, report = %path.display(), "reconcile: daily run done")
                }
                Err(e) => tracing::error!(%date, error = %e, "reconcile: daily run failed"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_run_is_at_the_campus_time_today_or_tomorrow() {
        // 2026-11-30T22:00:00Z = 06:00 on 2026-12-01 at +08:00
        let six_am = 1_796_162_400_000;
        let seven = 7 * 3600;
        assert_eq!(next_run_in(six_am, 8, seven), Duration::from_secs(3600));
        assert_eq!(
            next_run_in(six_am + 3_600_000, 8, seven),
            Duration::from_secs(86_400)
        );
        assert_eq!(
            next_run_in(six_am + 2 * 3_600_000, 8, seven),
            Duration::from_secs(23 * 3600)
        );
    }
}
