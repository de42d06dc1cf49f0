//! The settings a test starts from: config/demo.toml, loaded as `serve` loads it, with the
//! few overrides a test needs (its own ports, data, rules, pace), never a re-typed copy.

use std::path::Path;

use onecard::settings::Settings;

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
