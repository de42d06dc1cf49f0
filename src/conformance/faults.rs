//! The codes a gateway answers only when something is wrong on its own side — `1006` (its rate
//! limit), `9000` (busy) and `9001` (the vendor system behind it is down), docs/upstream-api.md
//! §2.3 and §3. No legitimate request provokes them, so against a school's gateway they are
//! reported as "not provoked", never as passed. Against the simulator the kit flips its fault
//! switch (`POST /sim/faults/{upstream}`, src/sim/README.md) for one request each and puts the
//! previous setting back.

use serde_json::{Value, json};

use super::client::Gateway;
use super::signing::{expect_code, probe};
use super::{Fixtures, Report, Verdict};

/// One code: what it means, its HTTP status, and the simulator switch that causes it.
struct FaultCode {
    code: u64,
    status: u16,
    cause: &'static str,
    switch: fn() -> Value,
}

const CODES: [FaultCode; 3] = [
    FaultCode {
        code: 1006,
        status: 429,
        cause: "its rate limit is exceeded",
        switch: || json!({"rate_limited_rate": 1.0}),
    },
    FaultCode {
        code: 9000,
        status: 503,
        cause: "it is overloaded or its nonce cache is full",
        switch: || json!({"error_rate": 1.0}),
    },
    FaultCode {
        code: 9001,
        status: 503,
        cause: "the vendor system behind it is down",
        switch: || json!({"down": true}),
    },
];

pub async fn check(gw: &Gateway, f: &Fixtures, report: &mut Report) {
    let area = gw.area("faults");
    let name = |c: &FaultCode| format!("when {} → {} (HTTP {}), signed", c.cause, c.code, c.status);
    let health_name = "GET /api/v1/health while the back end is down → 9001 (HTTP 503)";
    let Some(switch) = &f.sim_faults else {
        for c in &CODES {
            report.push(
                area.clone(),
                name(c),
                Verdict::Skip(format!(
                    "not provoked: a gateway answers {} only when {}, which the kit cannot cause from outside (against the simulator, --sim-faults does)",
                    c.code, c.cause
                )),
            );
        }
        report.push(
            area,
            health_name,
            Verdict::Skip("not provoked: needs the back end down (--sim-faults)".to_owned()),
        );
        return;
    };
    let switch = Switch::new(switch, gw.upstream.name());
    let (path, body, _) = probe(gw, f);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    for c in &CODES {
        let previous = match switch.flip((c.switch)()).await {
            Ok(previous) => previous,
            Err(e) => {
                report.push(area.clone(), name(c), Verdict::Fail(e));
                continue;
            }
        };
        let signed = gw.sign(path, &bytes, None);
        let verdict = expect_code(
            gw.send(path, &signed, bytes.clone(), true).await,
            c.status,
            c.code,
        );
        let health = if c.code == 9001 {
            Some(match gw.health().await {
                Ok((503, b)) if b["code"] == 9001 => Verdict::Pass,
                Ok((status, b)) => Verdict::Fail(format!("got HTTP {status} {b}")),
                Err(e) => Verdict::Fail(e),
            })
        } else {
            None
        };
        let verdict = match switch.restore(previous).await {
            Ok(()) => verdict,
            Err(e) => Verdict::Fail(format!("the fault switch was not reset: {e}")),
        };
        report.push(area.clone(), name(c), verdict);
        if let Some(health) = health {
            report.push(area.clone(), health_name, health);
        }
    }
}

/// The simulator's fault switch for one upstream.
struct Switch {
    http: reqwest::Client,
    /// `…/sim/faults`
    base: String,
    upstream: &'static str,
}

impl Switch {
    fn new(base: &str, upstream: &'static str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_owned(),
            upstream,
        }
    }

    /// Set `faults` and return the setting it replaced.
    async fn flip(&self, faults: Value) -> Result<Value, String> {
        let all: Value = self
            .http
            .get(&self.base)
            .send()
            .await
            .map_err(|e| format!("fault switch {}: {e}", self.base))?
            .json()
            .await
            .map_err(|e| format!("fault switch {}: {e}", self.base))?;
        let previous = all
            .get(self.upstream)
            .cloned()
            .ok_or_else(|| format!("fault switch {} has no {:?}", self.base, self.upstream))?;
        self.restore(faults).await?;
        Ok(previous)
    }

    async fn restore(&self, faults: Value) -> Result<(), String> {
        let url = format!("{}/{}", self.base, self.upstream);
        let response = self
            .http
            .post(&url)
            .json(&faults)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("{url} answered HTTP {}", response.status()))
        }
    }
}
