//! `spawn_app()`: the whole platform on 127.0.0.1:0 with a temporary store, a private copy of
//! the rule files and the simulators, each app in its own thread and actix System — like a
//! separate server process, so a test can stop one and start another on the same data.
//!
//! Beside it: [`messages`] (what a user is shown, from the rule files), [`demo_config`] (the
//! settings every test starts from), [`campus`] (the simulators as a test reads them, and the
//! binding dialog), [`test_actions`] (actions only tests register) and [`processes`] (real
//! `onecard serve` / `onecard sim` processes).

#![allow(dead_code)]

mod admin;
mod campus;
mod demo_config;
mod messages;
mod processes;
mod test_actions;

pub use campus::can_bind;
pub use demo_config::*;
pub use messages::*;
pub use processes::*;
pub use test_actions::*;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use onecard::actions::ActionRegistry;
use onecard::chat::{Exchange, WeChatClient};
use onecard::settings::Settings;
use onecard::startup::{Application, Profile};
use onecard::store::orders::OrderClock;
use onecard::wechat::Reply;

pub const TOKEN: &str = "onecarddemo";
pub const APP_ID: &str = "wx5f3a9c1e7b2d4a60";
pub const APP_SECRET: &str = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
pub const AES_KEY: &str = "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dKLzdocJ";
/// The account's original id, as the chat client addresses it.
pub const ORIGINAL_ID: &str = "gh_onecard0demo";
/// The default reply (config/rules/chat.toml) to a message no rule understands.
pub const DEFAULT_REPLY: &str =
    "抱歉，暂时没有理解您的意思。回复「帮助」查看可用功能，或回复「人工客服」联系工作人员。";

pub struct TestOptions {
    pub budget_ms: u64,
    pub rules_dir: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub extra_rules: Vec<(&'static str, String)>,
    pub actions: fn() -> ActionRegistry,
    pub settings: fn(&mut Settings),
    /// `Demo` mounts the simulators the base settings point at; `Production` is `serve`.
    pub profile: Profile,
    /// The clock every upstream's breaker cooldown is measured on; `None` = the wall clock.
    pub breaker_clock: Option<std::sync::Arc<dyn OrderClock>>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self {
            budget_ms: 4000,
            rules_dir: None,
            data_dir: None,
            extra_rules: Vec::new(),
            actions: ActionRegistry::builtin,
            settings: |_| {},
            profile: Profile::Demo,
            breaker_clock: None,
        }
    }
}

pub struct TestApp {
    pub base: String,
    /// The admin listener (`/metrics`).
    pub admin_base: String,
    pub rules_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Safe-mode client (the default for WeChat accounts handling personal data).
    pub wx: WeChatClient,
    /// Plaintext-mode client: answered only by an app configured without an EncodingAESKey.
    pub wx_plain: WeChatClient,
    pub http: reqwest::Client,
    server: Option<actix_web::dev::ServerHandle>,
    system: actix_rt::System,
    thread: Option<std::thread::JoinHandle<()>>,
    _tmp: Option<tempfile::TempDir>,
}

/// An app's store and a private copy of the rule files, kept on disk across its restarts: a
/// test stops its app and starts another on them.
pub struct OnDisk {
    pub data: PathBuf,
    pub rules: PathBuf,
    _dir: tempfile::TempDir,
}

impl OnDisk {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (data, rules) = (dir.path().join("data"), dir.path().join("rules"));
        copy_dir(Path::new("config/rules"), &rules);
        Self {
            data,
            rules,
            _dir: dir,
        }
    }

    /// An app on this store and these rules.
    pub fn options(&self) -> TestOptions {
        TestOptions {
            data_dir: Some(self.data.clone()),
            rules_dir: Some(self.rules.clone()),
            ..TestOptions::default()
        }
    }
}

/// Copy the rule files (not sub-directories) of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default())
}

pub fn spawn_app_with(opts: TestOptions) -> TestApp {
    start_app(opts)
}

/// The shipped rules with the default rule's id changed to `id`: the app's hit counter for it
/// has a label no other test's app uses (the metrics recorder is one per process).
pub fn default_rule_renamed(id: &str) -> TestOptions {
    let chat = std::fs::read_to_string("config/rules/chat.toml").unwrap();
    let renamed = chat.replace("id = \"fallback\"", &format!("id = \"{id}\""));
    assert_ne!(
        renamed, chat,
        "config/rules/chat.toml has the rule `fallback`"
    );
    TestOptions {
        extra_rules: vec![("chat.toml", renamed)],
        ..TestOptions::default()
    }
}

/// The demo app with `settings` changed, everything else as [`TestOptions::default`].
pub fn spawn_app_with_settings(settings: fn(&mut Settings)) -> TestApp {
    spawn_app_with(TestOptions {
        settings,
        ..TestOptions::default()
    })
}

/// The app of a test that reads a metric, in a process of its own: the recorder behind
/// `/metrics` is one per process, so only there is a change in a series this test's own doing,
/// while the other tests' apps run side by side in the test binary's process. There it runs
/// the calling test again, alone, in a child process of the binary and returns `None` once
/// that passed (the test's work is done); in the child it returns the app. A test starts with
/// `let Some(app) = spawn_app_alone(opts) else { return };` and has no other app.
///
/// Limits: it must be called on the test's own thread, directly in its body (the child is
/// found by that thread's name, so not from a spawned task or thread); code before it runs in
/// both processes; the child runs with `--test-threads=1` and is killed, failing the test,
/// after five minutes (`processes::run_in_own_process`).
pub fn spawn_app_alone(opts: TestOptions) -> Option<TestApp> {
    if in_own_process() {
        Some(start_app(opts))
    } else {
        run_in_own_process();
        None
    }
}

fn start_app(opts: TestOptions) -> TestApp {
    onecard::telemetry::init_logging(true);
    let tmp = tempfile::tempdir().unwrap();
    let rules_dir = match &opts.rules_dir {
        Some(d) => d.clone(),
        None => {
            let d = tmp.path().join("rules");
            copy_dir(Path::new("config/rules"), &d);
            d
        }
    };
    for (name, text) in &opts.extra_rules {
        std::fs::write(rules_dir.join(name), text).unwrap();
    }
    let data_dir = opts
        .data_dir
        .clone()
        .unwrap_or_else(|| tmp.path().join("data"));
    let mut settings = app_settings(opts.budget_ms, &rules_dir, &data_dir);
    (opts.settings)(&mut settings);
    if let (Some(clock), Some(upstreams)) = (&opts.breaker_clock, &mut settings.upstreams) {
        for (_, section) in upstreams.sections_mut() {
            section.clock = clock.clone();
        }
    }

    let (tx, rx) = mpsc::channel();
    let actions = opts.actions;
    let profile = opts.profile;
    let thread = std::thread::spawn(move || {
        let system = actix_rt::System::new();
        system.block_on(async move {
            // The previous app on this data dir may still be releasing the store's lock.
            let mut tries = 0;
            let app = loop {
                match Application::build_with_actions(settings.clone(), actions(), profile).await {
                    Ok(app) => break app,
                    Err(e) if tries < 50 && e.to_string().contains("store") => {
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("app failed to start: {e}"),
                }
            };
            let base = app.handles().base_url.clone();
            let admin_base = app.handles().admin_url.clone();
            let admin = app.admin_server();
            let (server, handles, watcher, arbiters) = app.into_parts();
            tx.send((
                base,
                admin_base,
                server.handle(),
                actix_rt::System::current(),
            ))
            .unwrap();
            let _ = server.await;
            admin.stop(true).await;
            // Shut down like a process exit: flush, stop the actors, release the store.
            let _ = handles.store.flush().await;
            drop((handles, watcher));
            for a in arbiters {
                a.stop();
                let _ = a.join();
            }
            actix_rt::System::current().stop();
        });
        let _ = system.run();
    });
    let (base, admin_base, server, system) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("app started");
    let wx = WeChatClient::new(&base, TOKEN, Some(AES_KEY), APP_ID, true).unwrap();
    let wx_plain = WeChatClient::new(&base, TOKEN, Some(AES_KEY), APP_ID, false).unwrap();
    TestApp {
        base,
        admin_base,
        rules_dir,
        data_dir,
        wx,
        wx_plain,
        http: loopback_http().build().unwrap(),
        server: Some(server),
        system,
        thread: Some(thread),
        _tmp: if opts.rules_dir.is_none() || opts.data_dir.is_none() {
            Some(tmp)
        } else {
            None
        },
    }
}

impl TestApp {
    /// Stop the app like a process exit (graceful) and wait until its threads are gone.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server.stop(true).await;
        }
        if let Some(t) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || t.join()).await;
        }
        // The app's other threads drop their store handles a moment after its own thread ends;
        // a stopped app is one whose store another process can open.
        drop(open_when_released(&self.data_dir).await);
        // Keep the temp dir alive for a restart if the caller owns the paths.
        std::mem::forget(self._tmp.take());
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{}", self.base, path))
            .send()
            .await
            .unwrap()
    }

    /// The JSON a `GET` on the public listener answers (the simulators' inspection endpoints,
    /// the H5 pages' API); panics unless the status is a success.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        get_json_from(&self.http, &format!("{}{path}", self.base)).await
    }

    pub async fn post_raw(&self, query: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/wechat?{}", self.base, query))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    }

    /// Texts pushed to a user through the customer-service / template APIs, oldest first.
    pub async fn pushed(&self, openid: &str) -> Vec<String> {
        self.wx
            .outbox(openid)
            .await
            .unwrap()
            .iter()
            .map(onecard::chat::pushed_text)
            .collect()
    }

    /// The kinds (`custom`, `template`, `mass`) of what was pushed to `user`, oldest first.
    pub async fn pushed_kinds(&self, user: &str) -> Vec<String> {
        let outbox = self.wx.outbox(user).await.unwrap();
        outbox
            .iter()
            .map(|m| m["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Wait up to `timeout` for at least `n` pushed messages.
    pub async fn wait_pushed(&self, openid: &str, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let got = self.pushed(openid).await;
            if got.len() >= n || std::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The value of one series on `/metrics` (`name` or `name{label="…",…}` exactly as
    /// rendered); 0 when it has not been recorded yet.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '));
        line.map_or(0.0, |v| v.parse().expect("a number after the series"))
    }

    /// Prometheus text from the admin listener.
    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.admin_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            // Not awaited: the test is over; the process exits anyway.
            drop(server.stop(false));
        }
        self.system.stop();
    }
}

pub fn text_of(ex: &Exchange) -> String {
    match &ex.reply {
        Some(Reply::Text(t)) => t.clone(),
        Some(Reply::News(a)) => format!("[news] {}", a.title),
        None => format!("<none: {}>", ex.body),
    }
}

/// The JSON `url` answers a `GET` with; panics unless the status is a success. For a server
/// or simulators in another process; [`TestApp::get_json`] for the test's own app.
pub async fn get_json_from(http: &reqwest::Client, url: &str) -> serde_json::Value {
    let r = http.get(url).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "GET {url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {url}: {e}: {text}"))
}

/// `POST` `body` to `url`, which must answer with a success (a simulator's test endpoint: a
/// fault, the clock).
pub async fn post_ok(http: &reqwest::Client, url: &str, body: serde_json::Value) {
    let r = http.post(url).json(&body).send().await.unwrap();
    let status = r.status();
    assert!(
        status.is_success(),
        "POST {url}: {status} {}",
        r.text().await.unwrap()
    );
}

/// A client for the test's own listeners and processes (plain HTTP on loopback), without the
/// system's root certificates: no test request uses TLS, and loading them costs some 10 ms of
/// CPU for every client built. It reuses a connection only while the server surely keeps it.
pub fn loopback_http() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .tls_certs_only(std::iter::empty())
        .pool_idle_timeout(onecard::chat::REUSE_IDLE_CONNECTIONS_FOR)
}

/// A fresh OpenID per test so tests never share a session.
pub fn openid(tag: &str) -> String {
    let n: u64 = rand::random();
    format!("oTest{tag}{n:016x}").chars().take(28).collect()
}

/// A binding as the SMS dialog would leave it, for tests that seed a store directly.
pub fn test_binding(sno: &str) -> onecard::store::Binding {
    onecard::store::Binding {
        student_id: onecard::domain::StudentId::parse(sno).unwrap(),
        name: "测试用户".into(),
        bound_at: 0,
        phone_masked: "138****0000".into(),
        account: String::new(),
        card_no: String::new(),
        phone: None,
    }
}

/// Bindings written into a store directory before a server opens it (binding each through the
/// SMS dialog is the binding tests' business, and slow), flushed.
pub async fn write_bindings(
    data_dir: &Path,
    bindings: impl IntoIterator<Item = (String, onecard::store::Binding)>,
) {
    let store = onecard::store::Store::open(data_dir, 16).unwrap();
    for (openid, binding) in bindings {
        let openid = onecard::domain::OpenId::parse(&openid).unwrap();
        store.bindings().bind(&openid, &binding).unwrap();
    }
    store.flush().await.unwrap();
}

/// The store of a stopped app, once its process-wide lock is released.
pub async fn open_when_released(data: &Path) -> onecard::store::Store {
    let data = data.to_owned();
    let within = Duration::from_secs(30);
    tokio::task::spawn_blocking(move || onecard::store::Store::open_when_released(&data, 8, within))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e}"))
}
