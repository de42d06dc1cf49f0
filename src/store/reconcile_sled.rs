//! [`ReconStore`] on sled: a run is saved in one transaction over five trees, then flushed.
//!
//! - `recon_days`: `YYYY-MM-DD` → the day's result (JSON).
//! - `recon_rows`: `{out_trade_no}\0{row kind}` → an upstream row; prefix scans by order id.
//! - `recon_held`: order id → its holding-pool entry.
//! - `recon_manual`: `{date}/{key}` → a manual item.
//! - `audit`: the store's audit trail (shared with the rest of the platform).
//!
//! Audit ids and the time are taken before the transaction (its closure may run twice).

use chrono::NaiveDate;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::reconcile::TheirRow;
use super::reconcile::{DayResult, DaySave, Held, ManualItem, ReconStore, Resolution, Resolved};
use super::{StoreError, from_json, to_json};

/// The sled-backed reconciliation repository. Cheap to clone.
#[derive(Clone)]
pub struct SledRecon {
    db: sled::Db,
    days: sled::Tree,
    rows: sled::Tree,
    held: sled::Tree,
    manual: sled::Tree,
    audit: sled::Tree,
}

impl std::fmt::Debug for SledRecon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledRecon")
            .field("days", &self.days.len())
            .field("held", &self.held.len())
            .field("manual", &self.manual.len())
            .finish()
    }
}

fn row_key(row: &TheirRow) -> Vec<u8> {
    let mut key = row.out_trade_no.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(row.kind.as_str().as_bytes());
    key
}

fn committed<T>(result: Result<T, TransactionError<StoreError>>) -> Result<T, StoreError> {
    result.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SledRecon {
    pub(super) fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            db: db.clone(),
            days: db.open_tree("recon_days")?,
            rows: db.open_tree("recon_rows")?,
            held: db.open_tree("recon_held")?,
            manual: db.open_tree("recon_manual")?,
            audit: db.open_tree("audit")?,
        })
    }

    async fn durable(&self) -> Result<(), StoreError> {
        super::flush_durably(&self.db).await
    }

    fn stamped(&self, event: &serde_json::Value) -> Result<(u64, Vec<u8>), StoreError> {
        let id = self.db.generate_id()?;
        let mut record = event.clone();
        if let Some(obj) = record.as_object_mut() {
            obj.insert("at".into(), chrono::Utc::now().timestamp().into());
        }
        Ok((id, to_json(&record)))
    }
}

impl ReconStore for SledRecon {
    async fn save_day(&self, save: DaySave) -> Result<(), StoreError> {
        let audit = save
            .audit
            .iter()
            .map(|e| self.stamped(e))
            .collect::<Result<Vec<_>, _>>()?;
        let day_key = save.result.date.to_string();
        let day = to_json(&save.result);
        committed(
            (
                &self.days,
                &self.rows,
                &self.held,
                &self.manual,
                &self.audit,
            )
                .transaction(|(days, rows, held, manual, audit_tree)| {
                    days.insert(day_key.as_bytes(), day.as_slice())?;
                    for row in &save.rows {
                        rows.insert(row_key(row), to_json(row))?;
                    }
                    for id in &save.release {
                        held.remove(id.as_bytes())?;
                    }
                    for entry in &save.hold {
                        // the pool's clock starts at the first hold, not at each re-hold
                        let since = match held.get(entry.order_id.as_bytes())? {
                            Some(bytes) => match from_json::<Held>("recon_held", &bytes) {
                                Ok(old) => old.since.min(entry.since),
                                Err(e) => return Err(ConflictableTransactionError::Abort(e)),
                            },
                            None => entry.since,
                        };
                        let entry = Held {
                            since,
                            ..entry.clone()
                        };
                        held.insert(entry.order_id.as_bytes(), to_json(&entry))?;
                    }
                    for item in &save.manual {
                        let keep = match manual.get(item.id.as_bytes())? {
                            Some(bytes) => match from_json::<ManualItem>("recon_manual", &bytes) {
                                Ok(old) => ManualItem {
                                    opened_at_ms: old.opened_at_ms,
                                    resolution: old.resolution,
                                    ..item.clone()
                                },
                                Err(e) => return Err(ConflictableTransactionError::Abort(e)),
                            },
                            None => item.clone(),
                        };
                        manual.insert(keep.id.as_bytes(), to_json(&keep))?;
                    }
                    for (id, event) in &audit {
                        audit_tree.insert(&id.to_be_bytes(), event.as_slice())?;
                    }
                    Ok(())
                }),
        )?;
        self.durable().await
    }

    async fn day(&self, date: NaiveDate) -> Result<Option<DayResult>, StoreError> {
        self.days
            .get(date.to_string().as_bytes())?
            .map(|bytes| from_json("recon_days", &bytes))
            .transpose()
    }

    async fn rows_with_prefix(&self, prefix: &str) -> Result<Vec<TheirRow>, StoreError> {
        self.rows
            .scan_prefix(prefix.as_bytes())
            .map(|item| {
                let (_, bytes) = item?;
                from_json("recon_rows", &bytes)
            })
            .collect()
    }

    async fn held(&self) -> Result<Vec<Held>, StoreError> {
        let mut out = self
            .held
            .iter()
            .map(|item| {
                let (_, bytes) = item?;
                from_json::<Held>("recon_held", &bytes)
            })
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.since, &a.order_id).cmp(&(b.since, &b.order_id)));
        Ok(out)
    }

    async fn manual_items(&self, open_only: bool) -> Result<Vec<ManualItem>, StoreError> {
        let mut out = Vec::new();
        for item in self.manual.iter() {
            let (_, bytes) = item?;
            let item: ManualItem = from_json("recon_manual", &bytes)?;
            if !open_only || item.resolution.is_none() {
                out.push(item);
            }
        }
        out.sort_by(|a, b| (a.date, &a.id).cmp(&(b.date, &b.id)));
        Ok(out)
    }

    async fn resolve(&self, id: &str, resolution: Resolution) -> Result<Resolved, StoreError> {
        let (audit_id, event) = self.stamped(&serde_json::json!({
            "event": "reconcile_manual_resolved",
            "item": id,
            "by": resolution.by,
            "note": resolution.note,
        }))?;
        let outcome = committed((&self.manual, &self.audit).transaction(|(manual, audit)| {
            let Some(bytes) = manual.get(id.as_bytes())? else {
                return Ok(Resolved::NotFound);
            };
            let mut item: ManualItem = match from_json("recon_manual", &bytes) {
                Ok(item) => item,
                Err(e) => return Err(ConflictableTransactionError::Abort(e)),
            };
            if item.resolution.is_some() {
                return Ok(Resolved::AlreadyResolved(item));
            }
            item.resolution = Some(Resolution {
                at_ms: if resolution.at_ms == 0 {
                    now_ms()
                } else {
                    resolution.at_ms
                },
                ..resolution.clone()
            });
            manual.insert(id.as_bytes(), to_json(&item))?;
            audit.insert(&audit_id.to_be_bytes(), event.as_slice())?;
            Ok(Resolved::Resolved(item))
        }))?;
        self.durable().await?;
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::reconcile::{Action, Class, Line, RowKind, Upstream};

    fn line(key: &str) -> Line {
        Line {
            class: Class::StateMismatch,
            order_id: None,
            key: key.into(),
            order_kind: String::new(),
            upstream: Upstream::Bank,
            serials: "BK1".into(),
            sno_masked: "2024****01".into(),
            ours_fen: Some(0),
            theirs_fen: Some(5_000),
            state_ours: None,
            state_theirs: "bank_debit SUCCESS".into(),
            action: Action::Manual,
            detail: String::new(),
        }
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn save(day: &str, manual: Vec<ManualItem>, hold: Vec<Held>) -> DaySave {
        DaySave {
            result: DayResult {
                date: date(day),
                run_at_ms: 1,
                sources: vec![],
                lines: vec![],
            },
            rows: vec![TheirRow {
                kind: RowKind::BankDebit,
                out_trade_no: "O20261130AAAAAAAAAAAAD".into(),
                serial: "BK1".into(),
                date: date(day),
                amount_fen: 5_000,
                state: "SUCCESS".into(),
                moved: true,
                biller_id: None,
                sno: None,
            }],
            hold,
            release: vec![],
            manual,
            audit: vec![serde_json::json!({"event": "test"})],
        }
    }

    #[tokio::test]
    async fn a_rerun_keeps_an_operators_resolution_and_the_pool_keeps_its_first_day() {
        let store = Store::temporary().unwrap();
        let recon = store.reconcile().unwrap();
        let item = ManualItem {
            id: "2026-11-30/K1".into(),
            date: date("2026-11-30"),
            line: line("K1"),
            opened_at_ms: 10,
            resolution: None,
        };
        let held = |since: &str| Held {
            order_id: "O20261130AAAAAAAAAAAA".into(),
            since: date(since),
            reason: "waiting".into(),
        };
        recon
            .save_day(save(
                "2026-11-30",
                vec![item.clone()],
                vec![held("2026-11-30")],
            ))
            .await
            .unwrap();
        let by = Resolution {
            by: "cli".into(),
            note: "银行已退款".into(),
            at_ms: 20,
        };
        let Resolved::Resolved(done) = recon.resolve("2026-11-30/K1", by.clone()).await.unwrap()
        else {
            panic!("not resolved")
        };
        assert_eq!(done.resolution, Some(by.clone()));
        assert!(matches!(
            recon.resolve("2026-11-30/K1", by.clone()).await.unwrap(),
            Resolved::AlreadyResolved(_)
        ));
        assert_eq!(
            recon.resolve("2026-11-30/K2", by.clone()).await.unwrap(),
            Resolved::NotFound
        );
        // the same day again: the item keeps its resolution, the pool its first day
        recon
            .save_day(save("2026-11-30", vec![item], vec![held("2026-12-01")]))
            .await
            .unwrap();
        assert_eq!(recon.manual_items(true).await.unwrap(), vec![]);
        assert_eq!(
            recon.manual_items(false).await.unwrap()[0].resolution,
            Some(by)
        );
        assert_eq!(recon.held().await.unwrap(), vec![held("2026-11-30")]);
        let rows = recon
            .rows_with_prefix("O20261130AAAAAAAAAAAA")
            .await
            .unwrap();
        assert_eq!(rows.len(), 1);
        assert!(recon.day(date("2026-11-30")).await.unwrap().is_some());
        assert!(recon.day(date("2026-12-01")).await.unwrap().is_none());
    }
}
