//! `spawn_app()`: the whole platform on 127.0.0.1:0 with a temporary store, a private copy of
//! the rule files and the simulators, each app in its own thread and actix System — like a
//! separate server process, so a test can stop one and start another on the same data.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use onecard::actions::ActionRegistry;
use onecard::chat::{Exchange, WeChatClient};
use onecard::settings::Settings;
use onecard::startup::{Application, Profile};
use onecard::store::orders::OrderClock;
use onecard::wechat::Reply;
use serde_json::json;

pub const TOKEN: &str = "onecarddemo";
pub const APP_ID: &str = "wx5f3a9c1e7b2d4a60";
pub const APP_SECRET: &str = "0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f";
pub const AES_KEY: &str = "u8jzPde0IgxLd6GncfBAepfJBd0Kh8oOOL8dKLzdocJ";
/// The account's original id, as the chat client addresses it.
pub const ORIGINAL_ID: &str = "gh_onecard0demo";
/// The default reply (config/rules/chat.toml) to a message no rule understands.
pub const DEFAULT_REPLY: &str =
    "抱歉，暂时没有理解您的意思。回复「帮助」查看可用功能，或回复「人工客服」联系工作人员。";

/// The fixed `reply` of rule `id` in the shipped rule files (config/rules): for replies that
/// are pure text (帮助, the welcome), so a test compares the whole reply with what the rule
/// file says without copying the wording.
pub fn configured_reply(id: &str) -> String {
    for entry in std::fs::read_dir("config/rules").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let file: toml::Value = toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let rules = file.get("rule").and_then(toml::Value::as_array);
        for rule in rules.into_iter().flatten() {
            if rule.get("id").and_then(toml::Value::as_str) == Some(id) {
                let reply = rule.get("reply").and_then(toml::Value::as_str);
                return reply.expect("a rule with a fixed reply").to_owned();
            }
        }
    }
    panic!("no rule {id} in config/rules");
}

/// The `[messages]` entry `key` of the shipped rule files (config/rules/*.toml), as written.
pub fn configured_message(key: &str) -> String {
    for entry in std::fs::read_dir("config/rules").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let file: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let text = file.get("messages").and_then(|m| m.get(key));
        if let Some(text) = text.and_then(toml::Value::as_str) {
            return text.to_owned();
        }
    }
    panic!("no message {key} in config/rules");
}

/// `{{ name }}` placeholders of `template` filled from `fields` (strings as they are, numbers
/// as JSON writes them). Only plain placeholders: a message with conditions is compared another
/// way.
fn fill(template: &str, fields: &serde_json::Value) -> String {
    let mut text = template.to_owned();
    for (name, value) in fields.as_object().expect("fields are an object") {
        let value = match value {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        text = text.replace(&format!("{{{{ {name} }}}}"), &value);
    }
    text
}

/// The message `key` (config/rules) with `fields` filled in, as a user sees it. Panics if a
/// placeholder is left.
pub fn message(key: &str, fields: serde_json::Value) -> String {
    let text = fill(&configured_message(key), &fields);
    assert!(!text.contains("{{"), "a field of {key} is missing: {text}");
    text
}

/// Check that `reply` is the whole message `key` with `fields` filled in; the placeholders
/// left open (a wait that depends on the clock) are returned, in order.
pub fn message_match<const N: usize>(
    key: &str,
    fields: serde_json::Value,
    reply: &str,
) -> [String; N] {
    template_match(&configured_message(key), fields, reply)
}

/// [`message_match`] for any template with plain placeholders (a rule's `reply`).
pub fn template_match<const N: usize>(
    template: &str,
    fields: serde_json::Value,
    reply: &str,
) -> [String; N] {
    let text = fill(template, &fields);
    let placeholder = regex::Regex::new(r"\\\{\\\{ \w+ \\\}\\\}").unwrap();
    let escaped = regex::escape(&text);
    let pattern = placeholder.replace_all(&escaped, "(.+?)");
    whole_match(&pattern, reply)
}

/// A name as replies show it: the first character, then a star for each other (张三 → 张*).
pub fn masked_name(name: &str) -> String {
    let mut chars = name.chars();
    let first = chars.next().expect("a name");
    format!("{first}{}", "*".repeat(chars.count().max(1)))
}

/// A phone number as replies show it: 138****0001.
pub fn masked_phone(phone: &str) -> String {
    format!("{}****{}", &phone[..3], &phone[phone.len() - 4..])
}

/// The `reply` template of rule `id` (config/rules) rendered with `fields` as the rule engine
/// renders replies (plain text, trailing whitespace dropped): for a reply built from data the
/// test reads from the simulators itself.
pub fn configured_reply_with(id: &str, fields: serde_json::Value) -> String {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let template = configured_reply(id);
    let context = jinja_value(&fields);
    let text = env
        .render_str(&template, context)
        .expect("the rule's template renders");
    text.trim_end().to_owned()
}

/// JSON as the template engine takes it (the crate is built without its serde feature).
fn jinja_value(v: &serde_json::Value) -> minijinja::Value {
    use minijinja::Value;
    use serde_json::Value as Json;
    match v {
        Json::Null => Value::from(()),
        Json::Bool(b) => Value::from(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::from(i),
            None => Value::from(n.as_f64().expect("a number")),
        },
        Json::String(s) => Value::from(s.as_str()),
        Json::Array(items) => Value::from(items.iter().map(jinja_value).collect::<Vec<_>>()),
        Json::Object(fields) => Value::from(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), jinja_value(v)))
                .collect::<std::collections::BTreeMap<_, _>>(),
        ),
    }
}

/// What 「帮助」 answers.
pub fn help_text() -> String {
    configured_reply("help")
}

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
    /// Released when the app goes: other apps, or one that runs alone, may start then.
    _slot: AppSlot,
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

/// The settings every test starts from: the demo's own, as `onecard demo` runs them.
pub const DEMO_CONFIG: &str = "config/demo.toml";

/// What a test changes in config/demo.toml (its own ports, data, rules, pace), as the
/// `ONECARD__SECTION__KEY` variables the settings loader layers over the file: an app built in
/// this process and a child `onecard serve` read the same file with the same overrides.
#[derive(Clone, Debug, Default)]
pub struct Overrides(Vec<(String, String)>);

impl Overrides {
    /// `key` as the file spells it, dotted (`server.listen`, `upstreams.card.timeout_ms`); the
    /// loader converts `value` to the field's type and refuses an unknown key.
    pub fn set(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        let var = format!("ONECARD__{}", key.replace('.', "__").to_uppercase());
        self.0.push((var, value.to_string()));
        self
    }

    /// `other` over these.
    pub fn and(mut self, other: Overrides) -> Self {
        self.0.extend(other.0);
        self
    }

    /// The overrides as environment variables, for a child process.
    pub fn vars(&self) -> &[(String, String)] {
        &self.0
    }

    /// The WeChat API and every upstream of the demo (relative `/sim/…` URLs) pointed at the
    /// simulators served at `sim_base` by another process.
    pub fn pointed_at(mut self, sim_base: &str) -> Self {
        let mut demo = demo_settings(&Overrides::default());
        self = self.set(
            "wechat.api_base",
            format!("{sim_base}{}", demo.wechat.api_base),
        );
        let upstreams = demo.upstreams.as_mut().expect("the demo has upstreams");
        for (name, section) in upstreams.sections_mut() {
            let url = format!("{sim_base}{}", section.base_url);
            self = self.set(&format!("upstreams.{name}.base_url"), url);
        }
        self
    }
}

/// config/demo.toml with `overrides`, loaded as `serve` loads a file.
pub fn demo_settings(overrides: &Overrides) -> Settings {
    Settings::load_with(Path::new(DEMO_CONFIG), overrides.0.clone())
        .expect("config/demo.toml with the test's overrides")
}

/// config/demo.toml without its `[sim]` section, written to `path`: the file a production
/// `onecard serve` beside a separate `onecard sim` reads (`serve` refuses `[sim]`), everything
/// else as the demo has it.
pub fn write_demo_without_sim(path: &Path) {
    let mut demo: toml::Table = std::fs::read_to_string(DEMO_CONFIG)
        .unwrap()
        .parse()
        .unwrap();
    demo.remove("sim").expect("the demo has a [sim] section");
    std::fs::write(path, toml::to_string(&demo).unwrap()).unwrap();
}

/// The settings of an app a test starts in this process: config/demo.toml with
/// [`app_overrides`], and a simulated WeChat account that takes any template id (tests name
/// templates of their own; the demo's account has added only the demo's two).
pub fn app_settings(budget_ms: u64, rules_dir: &Path, data_dir: &Path) -> Settings {
    let mut settings = demo_settings(&app_overrides(budget_ms, rules_dir, data_dir));
    if let Some(sim) = &mut settings.sim {
        sim.wechat.templates.clear();
    }
    settings
}

/// An account in plaintext mode (明文模式): no EncodingAESKey, so no encryption mode either.
pub fn plaintext_mode(settings: &mut Settings) {
    settings.wechat.encoding_aes_key.clear();
    settings.wechat.mode = None;
}

/// The in-process app's overrides of the demo: its own listeners, store and rule files, the
/// callback budget under test, two threads each (the machine is shared), a small store cache;
/// fewer simulated accounts (quicker start); one user driven hard without the per-user limit
/// (it has its own test); breakers that close again within a test's patience.
pub fn app_overrides(budget_ms: u64, rules_dir: &Path, data_dir: &Path) -> Overrides {
    Overrides::default()
        .set("server.listen", "127.0.0.1:0")
        .set("server.admin_listen", "127.0.0.1:0")
        .set("server.data_dir", data_dir.display())
        .set("server.callback_budget_ms", budget_ms)
        .set("server.workers", 2)
        .set("server.session_arbiters", 2)
        .set("server.store_cache_mb", 16)
        .set("rules.dir", rules_dir.display())
        .set("sessions.user_burst", 100)
        .set("upstreams.card.breaker_cooldown_ms", 500)
        .set("upstreams.bank.breaker_cooldown_ms", 500)
        .set("sim.accounts", 300)
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(TestOptions::default())
}

pub fn spawn_app_with(opts: TestOptions) -> TestApp {
    start_app(opts, AppSlot::beside_others())
}

/// An app that runs while no other test's app does, for a test that reads a metric: the
/// recorder behind `/metrics` is one per process, so only then is a change in a series this
/// test's own doing. It must be the test's only app.
pub fn spawn_app_alone(opts: TestOptions) -> TestApp {
    start_app(opts, AppSlot::alone())
}

fn start_app(opts: TestOptions, slot: AppSlot) -> TestApp {
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
        http: reqwest::Client::new(),
        _slot: slot,
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

/// The apps of this process running now, and whether one of them runs alone.
struct AppsRunning {
    beside_others: usize,
    alone: bool,
}

static APPS_RUNNING: Mutex<AppsRunning> = Mutex::new(AppsRunning {
    beside_others: 0,
    alone: false,
});
static APPS_CHANGED: Condvar = Condvar::new();

/// A test app's place in the process, held for its life. Apps run side by side, except one
/// started by [`spawn_app_alone`]: it waits until the others are gone and they wait for it. A
/// test's second app is never held up by its first (apps side by side wait only for one alone).
struct AppSlot {
    alone: bool,
}

impl AppSlot {
    fn lock() -> std::sync::MutexGuard<'static, AppsRunning> {
        APPS_RUNNING.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn beside_others() -> Self {
        let mut apps = Self::lock();
        while apps.alone {
            apps = APPS_CHANGED.wait(apps).unwrap_or_else(|e| e.into_inner());
        }
        apps.beside_others += 1;
        Self { alone: false }
    }

    fn alone() -> Self {
        let mut apps = Self::lock();
        while apps.alone || apps.beside_others > 0 {
            apps = APPS_CHANGED.wait(apps).unwrap_or_else(|e| e.into_inner());
        }
        apps.alone = true;
        Self { alone: true }
    }
}

impl Drop for AppSlot {
    fn drop(&mut self) {
        let mut apps = Self::lock();
        if self.alone {
            apps.alone = false;
        } else {
            apps.beside_others -= 1;
        }
        APPS_CHANGED.notify_all();
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

/// The `N` capture groups of `pattern` matched against the whole of `text`: for a reply whose
/// numbers vary by person, every other character is still checked. Panics showing the text.
pub fn whole_match<const N: usize>(pattern: &str, text: &str) -> [String; N] {
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
    let caps = re
        .captures(text)
        .unwrap_or_else(|| panic!("{text:?}\ndoes not match\n{pattern}"));
    std::array::from_fn(|i| caps[i + 1].to_owned())
}

/// A fresh OpenID per test so tests never share a session.
pub fn openid(tag: &str) -> String {
    let n: u64 = rand::random();
    format!("oTest{tag}{n:016x}").chars().take(28).collect()
}

// ---- a deliberately slow action, registered through the public action registry -------------

use std::collections::HashMap;
use std::sync::{Condvar, Mutex};

use onecard::actions::{ActionDef, ActionFuture, ActionInput, ActionOutput};

static SLOW_CALLS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// How many times the slow action ran for this user.
pub fn slow_calls(openid: &str) -> usize {
    SLOW_CALLS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(openid).copied())
        .unwrap_or(0)
}

fn slow_echo(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        {
            let mut guard = SLOW_CALLS.lock().unwrap();
            *guard
                .get_or_insert_with(HashMap::new)
                .entry(input.openid.as_str().to_owned())
                .or_default() += 1;
        }
        let ms: u64 = input
            .captures
            .iter()
            .find_map(|c| c.parse().ok())
            .unwrap_or(1000);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(ActionOutput::fields(serde_json::json!({ "waited_ms": ms })))
    })
}

/// The built-in actions plus `slow_echo` (sleeps for the number in "慢1500" ms).
pub fn actions_with_slow() -> ActionRegistry {
    let mut r = ActionRegistry::builtin();
    r.register(ActionDef {
        name: "slow_echo",
        fields: &["waited_ms"],
        messages: &[],
        run: slow_echo,
    });
    r
}

pub const SLOW_RULE: &str = r#"
[[rule]]
id = "test.slow"
regex = ['^慢(\d+)$']
action = "slow_echo"
replies = [{ text = "慢慢来：{{ waited_ms }} 毫秒" }, { text = "第二条回复" }]
"#;

/// An app with 「慢…」 (`slow_echo`) and this callback budget.
pub fn slow_options(budget_ms: u64) -> TestOptions {
    TestOptions {
        budget_ms,
        extra_rules: vec![("test_slow.toml", SLOW_RULE.to_owned())],
        actions: actions_with_slow,
        ..TestOptions::default()
    }
}

pub fn slow_app(budget_ms: u64) -> TestApp {
    spawn_app_with(slow_options(budget_ms))
}

// ---- the campus simulators, as a test reads them -------------------------------------------

impl TestApp {
    /// An account as the card simulator holds it (`id`, `name`, `status`, `phone`, `balance_fen`, `pending_fen`).
    pub async fn sim_account(&self, sno: &str) -> serde_json::Value {
        self.get(&format!("/sim/card/accounts/{sno}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// The card number as replies show it: `****` and the last four digits.
    pub async fn masked_card(&self, sno: &str) -> String {
        let account = self.sim_account(sno).await;
        let no = account["card_no_display"].as_str().unwrap();
        format!("****{}", &no[no.len() - 4..])
    }

    /// What an upstream simulator answers a signed request (`"/sim/data"`,
    /// `onecard::wire::paths::DATA_MEETINGS_LIST`, the body), signed with the demo
    /// credentials as our adapters sign it: the data a reply is built from. Panics unless the
    /// answer is code 0.
    pub async fn upstream_read<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: serde_json::Value,
    ) -> T {
        use onecard::wire::{Credentials, Envelope, sign_request};
        let bytes = serde_json::to_vec(&body).unwrap();
        let path = format!("{base}{path}");
        let nonce = format!(
            "test{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let creds = Credentials::new("onecard-demo", "demo-secret-change-me");
        let now = chrono::Utc::now().timestamp();
        let signed = sign_request(&creds, "POST", &path, &bytes, now, &nonce);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let text = request.send().await.unwrap().text().await.unwrap();
        let envelope: Envelope<T> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        envelope.data.unwrap_or_else(|| panic!("{path}: {text}"))
    }

    /// Check that `reply` is 「余额」's whole answer for `sno`, with the balance and 过渡余额 the
    /// card simulator holds now (only the time of the data is left open).
    pub async fn assert_balance_reply(&self, sno: &str, reply: &str) {
        let account = self.sim_account(sno).await;
        let fen = |field: &str| onecard::domain::Fen(account[field].as_i64().unwrap());
        let pending = match fen("pending_fen") {
            p if p.fen() > 0 => format!(
                "\n另有过渡余额 {} 元待领取：请在食堂任意 POS 机或自助圈存机刷卡领款。",
                p.yuan()
            ),
            _ => String::new(),
        };
        let expected = format!(
            "您的校园卡（{}）当前余额为 {} 元。{pending}\n数据更新于 ",
            self.masked_card(sno).await,
            fen("balance_fen").yuan()
        );
        let [_as_of] = whole_match(&format!("{}(.+)。", regex::escape(&expected)), reply);
    }

    /// Texts the SMS simulator delivered to `phone`, oldest first.
    pub async fn sms_texts(&self, phone: &str) -> Vec<String> {
        let list: Vec<serde_json::Value> = self
            .get(&format!("/sim/sms/outbox?phone={phone}"))
            .await
            .json()
            .await
            .unwrap();
        list.iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The six-digit code in the newest SMS to `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        let texts = self.sms_texts(phone).await;
        let last = texts.last().expect("an SMS was sent");
        last.chars()
            .collect::<Vec<_>>()
            .windows(6)
            .map(|w| w.iter().collect::<String>())
            .find(|w| w.chars().all(|c| c.is_ascii_digit()))
            .expect("a six-digit code in the SMS")
    }

    /// Set fault knobs of one simulated upstream (`card`, `sms`, `public_data`, `bank`, `billers`).
    pub async fn set_faults(&self, upstream: &str, faults: serde_json::Value) {
        self.sim_act(&format!("/sim/faults/{upstream}"), faults)
            .await;
    }

    /// Move the simulators' clock forward (timed upstream behaviour: code expiry, meters).
    pub async fn advance_sim_clock(&self, secs: u64) {
        self.sim_act("/sim/clock/advance", serde_json::json!({ "secs": secs }))
            .await;
    }

    /// `POST` to a simulator's test endpoint that must succeed (faults, the clock, a meter
    /// going offline, a claim at a POS).
    pub async fn sim_act(&self, path: &str, body: serde_json::Value) {
        let r = self
            .http
            .post(format!("{}{}", self.base, path))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            r.status().is_success(),
            "{path}: {}",
            r.text().await.unwrap()
        );
    }

    /// `POST` JSON to the public listener (the simulators' inspection and test endpoints).
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.http
            .post(format!("{}{}", self.base, path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default()
    }

    /// The user follows the account (again).
    pub async fn subscribe(&self, user: &str) -> Exchange {
        let follow = onecard::wechat::Event::Subscribe {
            scene: None,
            ticket: None,
        };
        self.wx.event(user, follow).await.unwrap()
    }

    /// Send text and return the reply text.
    pub async fn say(&self, user: &str, text: &str) -> String {
        text_of(&self.wx.text(user, text).await.unwrap())
    }

    /// What a successful binding of `sno` answers, with the name the card system holds.
    pub async fn bind_done(&self, sno: &str) -> String {
        let name = self.sim_account(sno).await["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let name_masked = masked_name(&name);
        message(
            "bind.done",
            json!({ "name_masked": name_masked, "student_id": sno }),
        )
    }

    /// Bind `sno` to `user` through the real dialog (happy path).
    pub async fn bind(&self, user: &str, sno: &str) {
        let phone = self.sim_account(sno).await["phone"]
            .as_str()
            .unwrap()
            .to_owned();
        let asked = self.say(user, "绑定").await;
        assert_eq!(asked, message("bind.ask_student_id", json!({})));
        let sent = self.say(user, sno).await;
        let phone_masked = masked_phone(&phone);
        assert_eq!(
            sent,
            message("bind.ask_code", json!({ "phone_masked": phone_masked }))
        );
        let code = self.latest_code(&phone).await;
        let done = self.say(user, &code).await;
        assert_eq!(done, self.bind_done(sno).await);
    }
}

fn echo_text(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        // The raw text, not the capture: matching reads a case-folded copy.
        let said = input.raw_text.trim().trim_start_matches("回声").to_owned();
        Ok(ActionOutput::fields(serde_json::json!({ "said": said })))
    })
}

/// The built-ins plus `echo_text`: 「回声 …」 is answered 「你说：…」, the user's own text in the
/// reply (for what the XML encoder must carry intact).
pub fn actions_with_echo() -> ActionRegistry {
    let mut r = ActionRegistry::builtin();
    r.register(ActionDef {
        name: "echo_text",
        fields: &["said"],
        messages: &[],
        run: echo_text,
    });
    r
}

pub const ECHO_RULE: &str = r#"
[[rule]]
id = "test.echo"
regex = ['^回声(.+)$']
action = "echo_text"
reply = "你说：{{ said }}"
"#;

fn panicking(_input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move { panic!("a bug in an action") })
}

/// The built-ins plus `crash`, an action with a bug (it panics).
pub fn actions_with_crash() -> ActionRegistry {
    let mut r = actions_with_slow();
    r.register(ActionDef {
        name: "crash",
        fields: &[],
        messages: &[],
        run: panicking,
    });
    r
}

// ---- real processes: `onecard serve` / `onecard sim` started, signalled and killed ---------

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Instant;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_onecard");

/// A child process that is killed if the test ends early.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[&str], log: PathBuf) -> Self {
        Self::spawn_with(args, &Overrides::default(), log)
    }

    /// With `overrides` of its settings in its environment.
    pub fn spawn_with(args: &[&str], overrides: &Overrides, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(args)
            .envs(overrides.vars().iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start onecard");
        Self { child, log }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Wait for the process to end by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {timeout:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `url` answers (any HTTP status) within `timeout`. A fresh client each try: a
/// kept-alive connection that a killed or restarting server is closing would fail the check.
pub async fn answers_within(url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    while http.get(url).send().await.is_err() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The simulators in their own `onecard sim` process, and `onecard serve` started (and
/// restarted) beside them on one data directory, so the upstreams' state outlives the
/// platform's crashes as it would in real life.
pub struct SimAndServe {
    pub dir: tempfile::TempDir,
    pub sim: Proc,
    pub sim_base: String,
    pub serve_port: u16,
    /// `ONECARD__…` overrides each `onecard serve` starts with.
    serve_env: Overrides,
    starts: usize,
}

impl SimAndServe {
    /// `onecard sim` on config/demo.toml with `sim` overrides, and `onecard serve` (at each
    /// [`SimAndServe::serve`]) on the demo without `[sim]`, pointed at those simulators, on
    /// its own port and data directory, with `serve` overrides. Returns once the simulators
    /// answer.
    pub async fn start_demo(sim: Overrides, serve: Overrides) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let serve_config = dir.path().join("serve.toml");
        write_demo_without_sim(&serve_config);
        let (sim_port, serve_port) = (free_port(), free_port());
        let sim_base = format!("http://127.0.0.1:{sim_port}");
        let serve = Overrides::default()
            .pointed_at(&sim_base)
            .set("server.listen", format!("127.0.0.1:{serve_port}"))
            .set("server.admin_listen", "127.0.0.1:0")
            .set("server.workers", 2)
            .set("server.store_cache_mb", 16)
            .and(serve);
        Self::launch(
            dir,
            Path::new(DEMO_CONFIG),
            sim,
            serve,
            (sim_port, serve_port),
        )
        .await
    }

    /// `config(serve_port, sim_base, data_dir, with_sim)` writes both processes' settings:
    /// `sim.toml` (with `[sim]`) and `serve.toml` (without). Returns once the simulators answer.
    pub async fn start(config: impl Fn(u16, &str, &Path, bool) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (sim_port, serve_port) = (free_port(), free_port());
        let sim_base = format!("http://127.0.0.1:{sim_port}");
        let data = dir.path().join("data");
        let sim_cfg = dir.path().join("sim.toml");
        std::fs::write(&sim_cfg, config(serve_port, &sim_base, &data, true)).unwrap();
        std::fs::write(
            dir.path().join("serve.toml"),
            config(serve_port, &sim_base, &data, false),
        )
        .unwrap();
        let none = Overrides::default();
        Self::launch(dir, &sim_cfg, none.clone(), none, (sim_port, serve_port)).await
    }

    async fn launch(
        dir: tempfile::TempDir,
        sim_config: &Path,
        sim_env: Overrides,
        serve_env: Overrides,
        (sim_port, serve_port): (u16, u16),
    ) -> Self {
        onecard::telemetry::init_logging(true);
        let sim_base = format!("http://127.0.0.1:{sim_port}");
        let sim = Proc::spawn_with(
            &[
                "sim",
                "--config",
                sim_config.to_str().unwrap(),
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
            ],
            &sim_env,
            dir.path().join("sim.log"),
        );
        assert!(
            answers_within(&format!("{sim_base}/sim/clock"), Duration::from_secs(60)).await,
            "the simulators never answered:\n{}",
            sim.logs()
        );
        Self {
            dir,
            sim,
            sim_base,
            serve_port,
            serve_env,
            starts: 0,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn serve_config(&self) -> PathBuf {
        self.dir.path().join("serve.toml")
    }

    pub fn serve_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.serve_port)
    }

    /// WeChat as the simulators play it, calling the server's callback.
    pub fn wechat(&self) -> WeChatClient {
        WeChatClient::new(&self.sim_base, TOKEN, Some(AES_KEY), APP_ID, true)
            .unwrap()
            .with_callback_url(&format!("{}/wechat", self.serve_url()))
    }

    /// `onecard serve` on the data directory and port, once it answers.
    pub async fn serve(&mut self) -> Proc {
        self.starts += 1;
        let (cfg, data) = (self.serve_config(), self.data());
        let p = Proc::spawn_with(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
            &self.serve_env,
            self.dir.path().join(format!("serve-{}.log", self.starts)),
        );
        assert!(
            answers_within(
                &format!("{}/healthz", self.serve_url()),
                Duration::from_secs(60)
            )
            .await,
            "serve never answered:\n{}",
            p.logs()
        );
        p
    }
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
