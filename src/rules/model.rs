//! The rule file as written by operators: serde types only, every field the validator may
//! complain about wrapped in [`Spanned`] so a diagnostic can point at it, and
//! `deny_unknown_fields` everywhere so a typo (`acton = …`) is an error, not a silently ignored
//! line. Nothing here interprets values; that is [`super::load`]'s job.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

/// One `config/rules/*.toml` file. Every section is optional, so a file may hold only rules,
/// only `[messages]`, only `[words]`, or only `[settings]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleFile {
    /// Table-wide settings; at most one file may define each setting.
    #[serde(default)]
    pub settings: Option<SettingsDef>,
    /// `[[rule]]` entries, in file order (the order breaks ties).
    #[serde(default, rename = "rule")]
    pub rules: Vec<RuleDef>,
    /// Named messages rendered by actions in multi-step dialogs; keys are unique across files.
    #[serde(default)]
    pub messages: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Word lists actions compare a whole reply against inside a dialog (`cancel`, `confirm`,
    /// …); list names are unique across files.
    #[serde(default)]
    pub words: BTreeMap<Spanned<String>, Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsDef {
    /// How long the default reply stays quiet for one user after it was sent (WeChat: 60 min).
    pub default_cooldown_minutes: Option<Spanned<u64>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyMode {
    /// Send every reply (the first passively, the rest through the customer-service API).
    #[default]
    SendAll,
    /// Send one reply chosen at random.
    RandomOne,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RuleDef {
    /// Operator-chosen identifier: `[A-Za-z0-9_.-]{1,64}`, unique across files; also the
    /// `rule` label of the hit counter metric.
    pub id: Spanned<String>,
    /// Free text for people (the WeChat rule name on import).
    #[serde(default)]
    pub name: Option<String>,
    /// `false` keeps the rule validated but out of the table.
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub exact: Vec<Spanned<String>>,
    #[serde(default)]
    pub contains: Vec<Spanned<String>>,
    #[serde(default)]
    pub prefix: Vec<Spanned<String>>,
    #[serde(default)]
    pub suffix: Vec<Spanned<String>>,
    #[serde(default)]
    pub regex: Vec<Spanned<String>>,
    /// Menu CLICK event keys.
    #[serde(default)]
    pub click: Vec<Spanned<String>>,
    /// QR scene keys (SCAN events, and subscribe events with `qrscene_…`).
    #[serde(default)]
    pub scan: Vec<Spanned<String>>,
    /// This rule answers a (plain) subscribe event.
    #[serde(default)]
    pub subscribe: Option<Spanned<bool>>,
    /// This rule answers text that no other rule matched.
    #[serde(default)]
    pub default: Option<Spanned<bool>>,
    /// Higher wins before anything else; 0 if absent.
    #[serde(default)]
    pub priority: i32,
    /// The caller must check that the user has bound a card before running the rule.
    #[serde(default)]
    pub requires_binding: bool,
    /// A built-in action whose result fields the reply templates may use.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
    #[serde(default)]
    pub mode: ReplyMode,
    /// Shorthand for one text reply.
    #[serde(default)]
    pub reply: Option<Spanned<String>>,
    #[serde(default)]
    pub replies: Vec<Spanned<ReplyDef>>,
    /// Time windows (campus local time); the rule is live when any window contains "now".
    #[serde(default)]
    pub when: Vec<Spanned<WindowDef>>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReplyDef {
    #[serde(default)]
    pub text: Option<Spanned<String>>,
    /// One news (图文) message with one article.
    #[serde(default)]
    pub news: Option<NewsDef>,
    /// One news message with several articles (WeChat's 多图文, up to 8): still one reply, so a
    /// `random_one` rule picks it as one.
    #[serde(default)]
    pub articles: Option<Spanned<Vec<NewsDef>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewsDef {
    pub title: Spanned<String>,
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    #[serde(default)]
    pub pic_url: Option<Spanned<String>>,
    #[serde(default)]
    pub url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowDef {
    /// `mon-fri`, `sat,sun`, `mon,wed-fri`; all days if absent.
    #[serde(default)]
    pub days: Option<Spanned<String>>,
    /// `HH:MM`, inclusive; 00:00 if absent.
    #[serde(default)]
    pub from: Option<Spanned<String>>,
    /// `HH:MM`, exclusive, `24:00` allowed; 24:00 if absent. `to` < `from` wraps past midnight.
    #[serde(default)]
    pub to: Option<Spanned<String>>,
}
