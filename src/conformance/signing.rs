//! Signing, refusals and replays (docs/upstream-api.md §2.1–§2.3): a correctly signed request
//! is accepted, and every way of getting it wrong is refused with the documented code and
//! HTTP status, in the documented order.

use serde_json::{Value, json};

use super::client::{Gateway, Reply, fresh_nonce, now};
use super::{Fixtures, Report, Upstream, Verdict};
use crate::wire::{self, headers, paths};

/// A read that is safe to repeat on this upstream, and a body of the wrong field type for it.
pub(super) fn probe(gw: &Gateway, f: &Fixtures) -> (&'static str, Value, Option<Value>) {
    match gw.upstream {
        Upstream::Card => (
            paths::CARD_BALANCE_GET,
            json!({"account": f.account}),
            Some(json!({"account": 20001})),
        ),
        Upstream::Sms => (
            paths::SMS_STATUS,
            json!({"out_id": "CKPROBE0"}),
            Some(json!({"out_id": 1})),
        ),
        Upstream::PublicData => (
            paths::DATA_LOCKER_GET,
            json!({"sno": f.sno}),
            Some(json!({"sno": 2024000001})),
        ),
        Upstream::Bank => (
            paths::BANK_BINDING_GET,
            json!({"sno": f.sno}),
            Some(json!({"sno": 2024000001})),
        ),
        Upstream::Billers => (paths::BILLERS_CATALOG, json!({}), None),
    }
}

/// A write that does nothing even if a lax gateway runs it: reversing a key never used.
fn harmless_write(gw: &Gateway) -> Option<&'static str> {
    match gw.upstream {
        Upstream::Card => Some(paths::CARD_LOAD_REVERSE),
        Upstream::Bank => Some(paths::BANK_REVERSE),
        _ => None,
    }
}

/// PASS when the reply has exactly this HTTP status and code.
pub(super) fn expect_code(reply: Result<Reply, String>, status: u16, code: u64) -> Verdict {
    match reply {
        Ok(r) if r.status == status && r.code() == Some(code) => Verdict::Pass,
        Ok(r) => Verdict::Fail(format!(
            "got {}, expected HTTP {status} code {code}",
            r.describe()
        )),
        Err(e) => Verdict::Fail(e),
    }
}

/// PASS when the request got past verification (HTTP 200, no 1001–1009).
fn expect_accepted(reply: Result<Reply, String>) -> Verdict {
    match reply {
        Ok(r) if r.verified() => Verdict::Pass,
        Ok(r) => Verdict::Fail(format!("got {}, expected it accepted", r.describe())),
        Err(e) => Verdict::Fail(e),
    }
}

fn set(headers: &mut [(&'static str, String)], name: &str, value: String) {
    if let Some(h) = headers
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
    {
        h.1 = value;
    }
}

pub async fn check(gw: &Gateway, f: &Fixtures, report: &mut Report) {
    let area = gw.area("signing");
    let (path, body, wrong_type) = probe(gw, f);
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let signed = || gw.sign(path, &bytes, None);

    let verdict = match gw.health().await {
        Ok((200, b)) if b["code"] == 0 => Verdict::Pass,
        Ok((status, b)) => Verdict::Fail(format!("got HTTP {status} {b}")),
        Err(e) => Verdict::Fail(e),
    };
    report.push(
        area.clone(),
        "GET /api/v1/health → code 0 (HTTP 200), unsigned",
        verdict,
    );

    let ok = gw.send(path, &signed(), bytes.clone(), true).await;
    report.push(
        area.clone(),
        format!("{path} signed over the request-line path is accepted (§2.2)"),
        expect_accepted(ok),
    );

    // §2.3 step 1: each signing header missing.
    for name in [
        headers::APP_KEY,
        headers::TIMESTAMP,
        headers::NONCE,
        headers::SIGNATURE,
    ] {
        let h: Vec<_> = signed().into_iter().filter(|(k, _)| *k != name).collect();
        // Without an app key the server cannot sign its answer (§2.4).
        let reply = gw
            .send(path, &h, bytes.clone(), name != headers::APP_KEY)
            .await;
        report.push(
            area.clone(),
            format!("missing {name} → 1001 (HTTP 401)"),
            expect_code(reply, 401, 1001),
        );
    }
    let ts = now();
    for raw in [
        format!("+{ts}"),
        format!("0{ts}"),
        format!("{ts}.0"),
        i64::MIN.to_string(),
        "99999999999999999999".to_owned(),
    ] {
        let mut h = signed();
        set(&mut h, headers::TIMESTAMP, raw.clone());
        let reply = gw.send(path, &h, bytes.clone(), true).await;
        report.push(
            area.clone(),
            format!("X-Timestamp {raw:?} → 1001 (HTTP 401)"),
            expect_code(reply, 401, 1001),
        );
    }
    for (what, nonce) in [
        ("15 chars", "abcdefghijklmno".to_owned()),
        ("with '!'", "abcdefghijklmnop!".to_owned()),
    ] {
        let full = format!("{}{path}", gw.prefix());
        let h = gw.sign_as(gw.creds(), &full, &bytes, now(), &nonce);
        let reply = gw.send(path, &h, bytes.clone(), true).await;
        report.push(
            area.clone(),
            format!("X-Nonce {what} → 1001 (HTTP 401)"),
            expect_code(reply, 401, 1001),
        );
    }
    for (what, id) in [
        ("65 chars", "r".repeat(65)),
        ("with a space", "req 1".to_owned()),
    ] {
        let mut h = signed();
        set(&mut h, headers::REQUEST_ID, id);
        let reply = gw.send(path, &h, bytes.clone(), true).await;
        report.push(
            area.clone(),
            format!("X-Request-Id {what} → 1001 (HTTP 401), echoed as \"\""),
            expect_code(reply, 401, 1001),
        );
    }
    let without_id: Vec<_> = signed()
        .into_iter()
        .filter(|(k, _)| *k != headers::REQUEST_ID)
        .collect();
    let nonce = without_id
        .iter()
        .find(|(k, _)| *k == headers::NONCE)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let verdict = match gw.send(path, &without_id, bytes.clone(), true).await {
        Ok(r) if r.body["request_id"] == nonce.as_str() => Verdict::Pass,
        Ok(r) => Verdict::Fail(format!("request_id {}", r.body["request_id"])),
        Err(e) => Verdict::Fail(e),
    };
    report.push(
        area.clone(),
        "without X-Request-Id the envelope echoes X-Nonce (§2.1)",
        verdict,
    );

    // Step 2: unknown app key (the answer cannot be signed).
    let stranger = wire::Credentials::new("conformance-unknown-key", "not-a-secret");
    let full = format!("{}{path}", gw.prefix());
    let h = gw.sign_as(&stranger, &full, &bytes, now(), &fresh_nonce());
    report.push(
        area.clone(),
        "unknown X-App-Key → 1005 (HTTP 403)",
        expect_code(gw.send(path, &h, bytes.clone(), false).await, 403, 1005),
    );

    // Step 3: the window, both sides. Ahead goes well past the edge: the second may turn
    // between signing here and checking there, and 301 s would then arrive as 300 s.
    for (what, offset) in [("301 s old", -301), ("330 s ahead", 330)] {
        let h = gw.sign_as(gw.creds(), &full, &bytes, now() + offset, &fresh_nonce());
        report.push(
            area.clone(),
            format!("X-Timestamp {what} → 1003 (HTTP 401)"),
            expect_code(gw.send(path, &h, bytes.clone(), true).await, 401, 1003),
        );
    }

    // Step 4: the signature.
    let mut h = signed();
    set(&mut h, headers::SIGNATURE, "0".repeat(64));
    report.push(
        area.clone(),
        "wrong X-Signature → 1002 (HTTP 401)",
        expect_code(gw.send(path, &h, bytes.clone(), true).await, 401, 1002),
    );
    let mut tampered = bytes.clone();
    tampered.extend_from_slice(b" ");
    report.push(
        area.clone(),
        "body changed after signing → 1002 (HTTP 401)",
        expect_code(gw.send(path, &signed(), tampered, true).await, 401, 1002),
    );
    let verdict = if gw.prefix().is_empty() {
        Verdict::Skip("the base URL has no path prefix".to_owned())
    } else {
        let h = gw.sign_as(gw.creds(), path, &bytes, now(), &fresh_nonce());
        expect_code(gw.send(path, &h, bytes.clone(), true).await, 401, 1002)
    };
    report.push(
        area.clone(),
        "signed without the base URL's path prefix → 1002 (HTTP 401)",
        verdict,
    );
    let mut h = signed();
    let upper = h
        .iter()
        .find(|(k, _)| *k == headers::SIGNATURE)
        .map(|(_, v)| v.to_ascii_uppercase())
        .unwrap_or_default();
    set(&mut h, headers::SIGNATURE, upper);
    report.push(
        area.clone(),
        "uppercase hex X-Signature is accepted",
        expect_accepted(gw.send(path, &h, bytes.clone(), true).await),
    );

    // Step 5: replays.
    let h = signed();
    let first = gw.send(path, &h, bytes.clone(), true).await;
    let verdict = match first {
        Ok(r) if r.verified() => {
            expect_code(gw.send(path, &h, bytes.clone(), true).await, 401, 1004)
        }
        Ok(r) => Verdict::Fail(format!("the first request was refused: {}", r.describe())),
        Err(e) => Verdict::Fail(e),
    };
    report.push(
        area.clone(),
        "the same request again → 1004 (HTTP 401)",
        verdict,
    );
    let nonce = fresh_nonce();
    let first = gw
        .send(
            path,
            &gw.sign_as(gw.creds(), &full, &bytes, now(), &nonce),
            bytes.clone(),
            true,
        )
        .await;
    let other_body = {
        let mut b = body.clone();
        b["conformance"] = json!("replay");
        serde_json::to_vec(&b).unwrap_or_default()
    };
    let verdict = match first {
        Ok(r) if r.verified() => {
            let h = gw.sign_as(gw.creds(), &full, &other_body, now(), &nonce);
            expect_code(gw.send(path, &h, other_body, true).await, 401, 1004)
        }
        Ok(r) => Verdict::Fail(format!("the first request was refused: {}", r.describe())),
        Err(e) => Verdict::Fail(e),
    };
    report.push(
        area.clone(),
        "a used nonce with a new body and signature → 1004 (HTTP 401)",
        verdict,
    );

    // Step 6: the idempotency key's form.
    let h = gw.sign(path, &bytes, Some("bad key!"));
    report.push(
        area.clone(),
        "malformed Idempotency-Key → 1001 (HTTP 401)",
        expect_code(gw.send(path, &h, bytes.clone(), true).await, 401, 1001),
    );

    // Step 7: unknown operations, only after the signature.
    let unknown = "/api/v1/conformance/no_such_operation";
    let h = gw.sign(unknown, b"{}", None);
    report.push(
        area.clone(),
        "signed POST to an unknown /api/v1/ path → 1009 (HTTP 404)",
        expect_code(gw.send(unknown, &h, b"{}".to_vec(), true).await, 404, 1009),
    );
    report.push(
        area.clone(),
        "unsigned POST to an unknown /api/v1/ path → 1001 (HTTP 401), not 1009",
        expect_code(
            gw.send(unknown, &[], b"{}".to_vec(), false).await,
            401,
            1001,
        ),
    );

    // Steps 0, 8 and 10: bodies.
    for (what, body) in [
        ("a JSON array", b"[]".to_vec()),
        ("not JSON", b"{\"account\":".to_vec()),
        ("over 64 KiB", {
            let mut b = b"{\"pad\":\"".to_vec();
            b.resize(wire::MAX_BODY_BYTES + 16, b'x');
            b.extend_from_slice(b"\"}");
            b
        }),
    ] {
        let h = gw.sign(path, &body, None);
        report.push(
            area.clone(),
            format!("body {what} → 1007 (HTTP 400)"),
            expect_code(gw.send(path, &h, body, true).await, 400, 1007),
        );
    }
    if let Some(wrong) = wrong_type {
        let body = serde_json::to_vec(&wrong).unwrap_or_default();
        let h = gw.sign(path, &body, None);
        report.push(
            area.clone(),
            "a field of the wrong JSON type → 1007 (HTTP 400)",
            expect_code(gw.send(path, &h, body, true).await, 400, 1007),
        );
    }

    // Step 9: writes carry the key in the header too.
    let Some(write) = harmless_write(gw) else {
        return;
    };
    let key = format!("CKK{:x}", now());
    let body = json!({"orig_out_trade_no": format!("CKNONE{:x}", now()), "out_trade_no": key});
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let h = gw.sign(write, &bytes, Some("CKOTHERKEY"));
    report.push(
        area.clone(),
        format!("{write}: Idempotency-Key ≠ out_trade_no → 1008 (HTTP 400)"),
        expect_code(gw.send(write, &h, bytes.clone(), true).await, 400, 1008),
    );
    let h = gw.sign(write, &bytes, None);
    report.push(
        area,
        format!("{write}: no Idempotency-Key → 1008 (HTTP 400)"),
        expect_code(gw.send(write, &h, bytes, true).await, 400, 1008),
    );
}
