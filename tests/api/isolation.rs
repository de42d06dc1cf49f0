//! Production never serves the simulators or the internals: `serve` refuses `[sim]`, the public
//! listener answers only `/wechat` and `/healthz` (plus `/sim` under `demo`), and `/metrics`
//! lives on the admin listener. Some tests run the real binary, as an operator would.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use onecard::actions::ActionRegistry;
use onecard::startup::{Profile, StartupError};
use reqwest::Method;

use crate::helpers::{
    Overrides, TestApp, TestOptions, loopback_http, spawn_app, spawn_app_alone,
    write_demo_without_sim,
};

const BINARY: &str = env!("CARGO_BIN_EXE_onecard");

/// `onecard …` with a clean `ONECARD__*` environment plus `env`.
fn onecard(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BINARY);
    cmd.args(args)
        .env("RUST_LOG", "info")
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (k, _) in std::env::vars() {
        if k.starts_with("ONECARD__") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run to its exit (a refusal must be immediate); kill it and fail if it keeps running.
fn exit_of(cmd: Command) -> (Option<i32>, String) {
    let mut running = Running::start(cmd);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = running.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "onecard kept running instead of refusing to start"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut running.child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.code(), stderr)
}

/// A running `onecard` whose stdout lines arrive on a channel; killed when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("onecard starts");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Every stdout line up to and including the first that contains `marker`.
    fn wait_for(&mut self, marker: &str) -> &[String] {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let done = line.contains(marker);
                    self.seen.push(line);
                    if done {
                        return &self.seen;
                    }
                }
                Err(_) => panic!("no line with {marker:?}; output so far:\n{:#?}", self.seen),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A production-like deployment: config/demo.toml without `[sim]`, written into `dir`, its
/// WeChat API and upstreams at addresses nothing answers (the card system over plain http and
/// unsigned, the SMS and public data over https), on ports of its own. Returns the config file
/// and the overrides, as `ONECARD__…` variables, that `onecard serve` starts with.
fn production_config(dir: &Path) -> (String, Vec<(String, String)>) {
    let path = dir.join("onecard.toml");
    write_demo_without_sim(&path);
    let overrides = Overrides::default()
        .set("server.listen", "127.0.0.1:0")
        .set("server.admin_listen", "127.0.0.1:0")
        .set("server.data_dir", dir.join("data").display())
        .set("wechat.api_base", "http://127.0.0.1:9/wechat")
        .set("rules.hot_reload", false)
        .set("upstreams.card.base_url", "http://127.0.0.1:9/card")
        .set("upstreams.card.require_signed_responses", false)
        .set("upstreams.sms.base_url", "https://127.0.0.1:9/sms")
        .set("upstreams.public_data.base_url", "https://127.0.0.1:9/data")
        .set("upstreams.bank.base_url", "https://127.0.0.1:9/bank")
        .set("upstreams.billers.base_url", "https://127.0.0.1:9/billers");
    (path.display().to_string(), overrides.vars().to_vec())
}

/// `pairs` as `onecard` takes its environment.
fn env_of(pairs: &[(String, String)]) -> Vec<(&str, &str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn serve_refuses_the_demo_config_because_it_has_a_sim_section() {
    // `serve --config config/demo.toml` used to mount /sim and hand out binding codes.
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let (code, stderr) = exit_of(onecard(
        &["serve", "--config", "config/demo.toml", "--data", &data_dir],
        &[("ONECARD__SERVER__ADMIN_LISTEN", "127.0.0.1:0")],
    ));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.trim(),
        format!("Error: {}", StartupError::SimulatorsInProduction)
    );
}

#[test]
fn serve_refuses_a_sim_section_that_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let (config, mut env) = production_config(dir.path());
    env.push(("ONECARD__SIM__ACCOUNTS".into(), "10".into()));
    let (code, stderr) = exit_of(onecard(&["serve", "--config", &config], &env_of(&env)));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr.trim(),
        format!("Error: {}", StartupError::SimulatorsInProduction)
    );
}

#[test]
fn serve_warns_about_unsigned_and_plain_http_upstreams() {
    let dir = tempfile::tempdir().unwrap();
    let (config, env) = production_config(dir.path());
    let mut running = Running::start(onecard(&["serve", "--config", &config], &env_of(&env)));
    let lines = running.wait_for("onecard serving");
    let with = |upstream: &str, text: &str| {
        lines
            .iter()
            .filter(|l| l.contains(&format!("upstream=\"{upstream}\"")) && l.contains(text))
            .count()
    };
    assert_eq!(with("card", "require_signed_responses = false"), 1);
    assert_eq!(
        with(
            "card",
            "INSECURE: this upstream is reached over plain http://"
        ),
        1
    );
    // https:// and signed: nothing to say.
    assert_eq!(with("sms", "require_signed_responses"), 0);
    assert_eq!(with("sms", "INSECURE"), 0);
    assert_eq!(with("public_data", "INSECURE"), 0);
}

#[actix_rt::test]
async fn demo_prints_both_listeners_and_serves_metrics_only_on_the_admin_one() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let mut running = Running::start(onecard(
        &["demo", "--listen", "127.0.0.1:0", "--data", &data_dir],
        &[
            ("ONECARD__SERVER__ADMIN_LISTEN", "127.0.0.1:0"),
            ("ONECARD__RULES__HOT_RELOAD", "false"),
            ("ONECARD__SIM__ACCOUNTS", "50"),
        ],
    ));
    let lines = running.wait_for("chat with it").to_vec();
    let url_after = |label: &str| -> String {
        let line = lines
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in {lines:#?}"));
        line.split_whitespace().nth(1).unwrap().to_owned()
    };
    let callback = url_after("callback");
    let metrics = url_after("metrics");
    let public = callback.trim_end_matches("/wechat");
    assert_ne!(metrics, format!("{public}/metrics"));
    // The demo's upstreams are its own loopback simulators: no insecure-transport alarm.
    assert!(!lines.iter().any(|l| l.contains("INSECURE")), "{lines:#?}");

    let http = loopback_http().build().unwrap();
    let status = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(metrics.clone()).await, 200);
    assert_eq!(status(format!("{public}/metrics")).await, 404);
    assert_eq!(status(format!("{public}/sim/clock")).await, 200);
}

#[actix_rt::test]
async fn production_public_listener_answers_404_for_sim_and_metrics() {
    let Some(app) = spawn_app_alone(TestOptions {
        profile: Profile::Production,
        settings: |s| s.sim = None,
        ..TestOptions::default()
    }) else {
        return;
    };
    assert_eq!(
        app.get("/sim/sms/outbox?phone=13800000000").await.status(),
        404
    );
    assert_eq!(app.get("/sim/wechat/outbox?openid=o1").await.status(), 404);
    assert_eq!(app.get("/sim/card/accounts").await.status(), 404);
    assert_eq!(app.get("/metrics").await.status(), 404);
    assert_eq!(app.get_json("/healthz").await, healthy(&app));

    let admin = app.admin_send(Method::GET, "/metrics", None).await;
    assert_eq!(admin.status(), 200);
    assert_eq!(
        admin.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4"
    );
    // The rules this app serves (the gauge is set as /metrics is read; no other app runs).
    let rules = onecard::rules::load_dir(&app.rules_dir, &ActionRegistry::builtin())
        .unwrap()
        .rule_count();
    let text = admin.text().await.unwrap();
    assert!(
        text.lines()
            .any(|l| l == format!("onecard_rules_loaded {rules}")),
        "{text}"
    );
    // The admin listener is not a second way in to the callback.
    let wechat = app.admin_send(Method::GET, "/wechat", None).await;
    assert_eq!(wechat.status(), 404);
}

/// What `/healthz` answers while `app` serves the rules in its directory: the status and the
/// rule count, nothing else.
pub(crate) fn healthy(app: &TestApp) -> serde_json::Value {
    let rules = onecard::rules::load_dir(&app.rules_dir, &ActionRegistry::builtin())
        .unwrap()
        .rule_count();
    serde_json::json!({"status": "ok", "rules": rules})
}

#[actix_rt::test]
async fn healthz_reports_status_and_rule_count_only() {
    // It used to count every binding on each probe: O(n) in users, on a public URL.
    let app = spawn_app();
    assert_eq!(app.get_json("/healthz").await, healthy(&app));
}
