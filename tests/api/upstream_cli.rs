//! `onecard upstream check` as a school runs it: the real binary against a running gateway —
//! here the simulators of a running app — with its exit status and report lines.

use crate::helpers::{onecard, spawn_app, stderr, stdout};

/// `upstream check --config config/demo.toml` pointed at `app`'s simulators.
fn check_against(base: &str, extra_args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut args = vec!["upstream", "check", "--config", "config/demo.toml"];
    args.extend_from_slice(extra_args);
    let mut env = env.to_vec();
    // The demo config's upstreams are relative to the server's own listener.
    env.push((
        "ONECARD__SERVER__LISTEN",
        base.trim_start_matches("http://"),
    ));
    onecard(&args, &env)
}

#[tokio::test]
async fn upstream_check_passes_against_the_running_simulators_and_exits_0() {
    let app = spawn_app();
    let faults = format!("{}/sim/faults", app.base);
    let out = check_against(&app.base, &["--writes", "--sim-faults", &faults], &[]);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}\n{}", stderr(&out));
    // The summary counts exactly the report's PASS and SKIP lines, and nothing failed.
    let verdicts = |verdict: &str| {
        report
            .lines()
            .filter(|l| l.split_once("  ").map(|(v, _)| v) == Some(verdict))
            .count()
    };
    assert_eq!(verdicts("FAIL"), 0, "{report}");
    assert_eq!(
        report.lines().last().unwrap_or_default(),
        format!(
            "{} passed, 0 failed, {} skipped",
            verdicts("PASS"),
            verdicts("SKIP")
        ),
        "{report}"
    );
    for line in [
        "PASS  card/faults          when its rate limit is exceeded → 1006 (HTTP 429), signed",
        "PASS  bank/faults          when it is overloaded or its nonce cache is full → 9000 (HTTP 503), signed",
        "PASS  sms/faults           when the vendor system behind it is down → 9001 (HTTP 503), signed",
        "PASS  billers/writes       /api/v1/billers/pay: same key + same body replays the first answer",
        "PASS  bank/writes          /api/v1/bank/debit: same key + another body → 5009 (HTTP 200)",
        "PASS  public_data/reads    /api/v1/data/grades/list → code 0 with the documented field types",
    ] {
        assert!(
            report.lines().any(|l| l == line),
            "missing {line:?}:\n{report}"
        );
    }
    // The kit put the fault switch back: the app's own calls still work.
    let faults: serde_json::Value = app.get("/sim/faults").await.json().await.unwrap();
    for upstream in ["card", "sms", "public_data", "bank", "billers"] {
        assert_eq!(faults[upstream]["down"], false, "{upstream}");
        assert_eq!(faults[upstream]["error_rate"], 0.0, "{upstream}");
        assert_eq!(faults[upstream]["rate_limited_rate"], 0.0, "{upstream}");
    }
    app.stop().await;
}

/// The checks `onecard upstream check` fails with a wrong card secret, as it prints them.
const WRONG_CARD_SECRET_FAILS: &str = "\
FAIL  card/signing         /api/v1/card/balance/get signed over the request-line path is accepted (§2.2) — got HTTP 401 code 1002 (签名检验失败), expected it accepted\n\
FAIL  card/signing         uppercase hex X-Signature is accepted — got HTTP 401 code 1002 (签名检验失败), expected it accepted\n\
FAIL  card/signing         the same request again → 1004 (HTTP 401) — the first request was refused: HTTP 401 code 1002 (签名检验失败)\n\
FAIL  card/signing         a used nonce with a new body and signature → 1004 (HTTP 401) — the first request was refused: HTTP 401 code 1002 (签名检验失败)\n\
FAIL  card/signing         malformed Idempotency-Key → 1001 (HTTP 401) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 401 code 1001\n\
FAIL  card/signing         signed POST to an unknown /api/v1/ path → 1009 (HTTP 404) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 404 code 1009\n\
FAIL  card/signing         body a JSON array → 1007 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1007\n\
FAIL  card/signing         body not JSON → 1007 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1007\n\
FAIL  card/signing         a field of the wrong JSON type → 1007 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1007\n\
FAIL  card/signing         /api/v1/card/load/reverse: Idempotency-Key ≠ out_trade_no → 1008 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1008\n\
FAIL  card/signing         /api/v1/card/load/reverse: no Idempotency-Key → 1008 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1008\n\
FAIL  card/reads           /api/v1/card/account/get → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/balance/get → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/transactions/list → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/info/get → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/found/get → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/password/verify → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/trade/query → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/recon/daily → code 0 with the documented field types — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 0\n\
FAIL  card/reads           /api/v1/card/transactions/list: page 0 → 1007 (HTTP 400) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 400 code 1007\n\
FAIL  card/reads           /api/v1/card/transactions/list: 367 days, both ends counted → 2010 (HTTP 200) — got HTTP 401 code 1002 (签名检验失败), expected HTTP 200 code 2010\n\
FAIL  card/responses       every envelope to a known app key is signed and echoes X-Request-Id (§2.4) — 40 of 40 replies: /api/v1/card/balance/get (HTTP 401 code 1002 (签名检验失败)): response signature: signature does not match; /api/v1/card/balance/get (HTTP 401 code 1001 (缺少签名或签名头格式错误)): response signature: signature does not match; /api/v1/card/balance/get (HTTP 401 code 1001 (缺少签名或签名头格式错误)): response signature: signature does not match";

#[tokio::test]
async fn upstream_check_with_a_wrong_secret_exits_1_and_names_the_failed_checks() {
    let app = spawn_app();
    let out = check_against(
        &app.base,
        &[],
        &[("ONECARD__UPSTREAMS__CARD__APP_SECRET", "not-the-secret")],
    );
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{report}\n{}", stderr(&out));
    // Every failure is the card gateway's, each check it refused once; the other gateways,
    // with the right secret, pass.
    let failed: Vec<&str> = report.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(
        failed,
        WRONG_CARD_SECRET_FAILS.lines().collect::<Vec<_>>(),
        "{report}"
    );
    let line = |verdict: &str, area: &str, text: &str| format!("{verdict}  {area:<20} {text}");
    for expected in [
        line(
            "PASS",
            "sms/signing",
            "/api/v1/sms/status signed over the request-line path is accepted (§2.2)",
        ),
        // Without the simulator's switch the fault codes are reported as not provoked.
        line(
            "SKIP",
            "card/faults",
            "when its rate limit is exceeded → 1006 (HTTP 429), signed — not provoked: a gateway answers 1006 only when its rate limit is exceeded, which the kit cannot cause from outside (against the simulator, --sim-faults does)",
        ),
    ] {
        assert!(
            report.lines().any(|l| l == expected),
            "missing {expected:?}:\n{report}"
        );
    }
    let last = report.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!(
            "{} passed, {} failed, {} skipped",
            report.lines().filter(|l| l.starts_with("PASS")).count(),
            failed.len(),
            report.lines().filter(|l| l.starts_with("SKIP")).count()
        )
    );
    app.stop().await;
}
