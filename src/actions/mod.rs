//! Built-in actions: the named things a rule can do besides replying with fixed text.
//!
//! An action is one async function registered here by name, with the template fields it
//! provides and the named messages it may answer with. The rule loader checks rule files
//! against these declarations, so a rule that uses `{{ balanse }}` or names an action that does
//! not exist is refused at load time, not discovered by a user.
//!
//! Actions never build Chinese sentences in Rust: they return fields, and either the rule's
//! reply template or a named message from the rule files (`[messages]`) renders them. Nor do
//! they hold the words a user answers with (确认, 跳过, 昨天 …): those are the rule files'
//! `[words]` lists, declared in `words` and asked through `input.messages.is_word`.
//! Multi-step conversations (binding, feedback) return a [`DialogChange`]; the session actor
//! stores it, so a dialog survives a restart.

mod alerts;
mod bills;
mod bind;
mod builtin;
mod card;
pub mod money;
pub mod money_desk;
mod notices;
pub mod payments;
mod public;
mod subscriptions;
mod support;
mod tickets;
pub mod tickets_desk;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

pub(crate) use notices::reader_of;

use crate::domain::OpenId;
use crate::rules::ActionCatalog;
use crate::store::{Binding, Dialog, MoreCursor, Store, StoreError};

pub use tickets::WeChatMedia;

/// What actions may use: the store and the upstream adapters.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    /// The upstream systems; None where a deployment has none configured (then campus
    /// actions answer that the service is not available).
    pub adapters: Option<crate::adapters::Adapters>,
    pub settings: crate::settings::ServicesSettings,
    /// What the payment dialogs offer (network packages, donation message length).
    pub payments: payments::PaymentSettings,
    /// Limits on verification codes (binding, 绑定手机).
    pub binding: crate::settings::BindingSettings,
    /// Campus local time offset from UTC (hours).
    pub utc_offset_hours: i32,
    /// WeChat's media API, for photos users send (repair tickets); None without WeChat API
    /// settings.
    pub media: Option<WeChatMedia>,
    /// Bill categories, terms and cohort rules.
    pub bills: crate::bills::BillsSettings,
    /// Orders (top-up); `None` where the orders store could not be opened.
    pub money: Option<money::Money>,
}

/// Everything an action sees about the message it answers.
pub struct ActionInput<'a> {
    pub openid: &'a OpenId,
    /// The user's text after normalisation (empty for events).
    pub text: &'a str,
    /// The text as typed (trimmed), for things like feedback that keep the user's words.
    pub raw_text: &'a str,
    /// Regex captures of the matching rule (`{1}`, `{2}` …).
    pub captures: &'a [String],
    /// The media id of an image the user sent (the text is empty then).
    pub media_id: Option<&'a str>,
    /// Set when this call continues a dialog the same action started.
    pub dialog: Option<&'a Dialog>,
    /// Where the user's last paged list stopped (from their session record), for 「更多」.
    pub more: Option<&'a MoreCursor>,
    pub binding: Option<&'a Binding>,
    pub now: i64,
    pub services: &'a Services,
    /// The live message tables, for the names and labels an action puts in its fields
    /// (card states, weekdays, periods): [`support::label`]. Keys it uses are declared in its
    /// `messages`, so a missing one is a load error.
    pub messages: &'a crate::rules::RuleTable,
}

/// What an action returns.
#[derive(Debug, Default)]
pub struct ActionOutput {
    /// Fields for the reply template (a JSON object).
    pub fields: Value,
    /// Answer with this named message instead of the rule's own reply.
    pub message: Option<&'static str>,
    pub dialog: DialogChange,
    /// What becomes of the user's paging cursor.
    pub more: MoreChange,
}

impl ActionOutput {
    pub fn fields(fields: Value) -> Self {
        Self {
            fields,
            ..Self::default()
        }
    }
    pub fn message(key: &'static str, fields: Value) -> Self {
        Self {
            fields,
            message: Some(key),
            ..Self::default()
        }
    }
    pub fn with_dialog(mut self, change: DialogChange) -> Self {
        self.dialog = change;
        self
    }
    pub fn with_more(mut self, change: MoreChange) -> Self {
        self.more = change;
        self
    }
}

/// A paged list's effect on the session record's cursor; the router applies it, so the cursor
/// is written with the record, like a dialog step.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum MoreChange {
    /// Leave the cursor as it is.
    #[default]
    Keep,
    /// There is a next page: 「更多」 shows it. (Boxed: it is rare, and every action's output
    /// would otherwise carry its size.)
    Next(Box<MoreCursor>),
    /// The list is exhausted: 「更多」 has nothing to continue.
    Done,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub enum DialogChange {
    /// Leave the dialog state as it is.
    #[default]
    Keep,
    /// Start or move to a step of this action's dialog.
    Step { step: String, data: Value },
    /// The dialog is over.
    End,
}

/// Why an action could not answer. The router turns each into a named message in one place.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("upstream {upstream} unavailable: {detail}")]
    Upstream {
        upstream: &'static str,
        detail: String,
    },
    #[error("upstream {upstream} timed out")]
    Timeout { upstream: &'static str },
    #[error("action needs {0}, which this deployment does not have")]
    NotConfigured(&'static str),
    #[error("the user has not bound a card")]
    NotBound,
    /// A name or label from the message tables failed to render.
    #[error("message table: {0}")]
    Label(#[from] crate::rules::RuleError),
}

pub type ActionFuture<'a> = Pin<Box<dyn Future<Output = Result<ActionOutput, ActionError>> + 'a>>;

/// One registered action.
pub struct ActionDef {
    pub name: &'static str,
    pub fields: &'static [&'static str],
    pub messages: &'static [&'static str],
    /// The `[words]` lists it compares the user's reply with (`confirm`, `skip` …), through
    /// [`crate::rules::RuleTable::is_word`].
    pub words: &'static [&'static str],
    pub run: for<'a> fn(ActionInput<'a>) -> ActionFuture<'a>,
}

/// The registry: name → action. Implements [`ActionCatalog`] for the rule validator.
pub struct ActionRegistry {
    actions: HashMap<&'static str, ActionDef>,
}

/// Messages the router and the pusher may send (not tied to one action).
pub const ROUTER_MESSAGES: &[&str] = &[
    "binding.required",
    "dialog.cancelled",
    "default.hint",
    "error.busy",
    "error.timeout",
    "error.unavailable",
    "rate.limited",
    "reply.expired",
    // The news push worker's mass-send (群发) text and the tags it sends to.
    "push.mass_text",
    "push.tag.students",
    "push.tag.staff",
];

/// Word lists the router reads itself: `cancel` ends any dialog in progress.
pub const ROUTER_WORDS: &[&str] = &["cancel"];

impl ActionRegistry {
    /// Every built-in action of this build.
    pub fn builtin() -> Self {
        let mut reg = Self {
            actions: HashMap::new(),
        };
        for def in builtin::all()
            .into_iter()
            .chain(bind::all())
            .chain(card::all())
            .chain(money::all())
            .chain(public::all())
            .chain(notices::all())
            .chain(tickets::all())
            .chain(bills::all())
            .chain(alerts::all())
            .chain(subscriptions::all())
            .chain(payments::all())
        {
            reg.register(def);
        }
        reg
    }

    pub fn register(&mut self, def: ActionDef) {
        self.actions.insert(def.name, def);
    }

    pub fn get(&self, name: &str) -> Option<&ActionDef> {
        self.actions.get(name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.actions.keys().copied().collect();
        v.sort_unstable();
        v
    }
}

impl ActionCatalog for ActionRegistry {
    fn fields(&self, action: &str) -> Option<&'static [&'static str]> {
        self.actions.get(action).map(|d| d.fields)
    }
    fn messages(&self, action: &str) -> &'static [&'static str] {
        self.actions.get(action).map(|d| d.messages).unwrap_or(&[])
    }
    fn names(&self) -> Vec<&'static str> {
        ActionRegistry::names(self)
    }
    fn words(&self, action: &str) -> &'static [&'static str] {
        self.actions.get(action).map(|d| d.words).unwrap_or(&[])
    }
    fn all_words(&self) -> Vec<(&'static str, &'static str)> {
        let mut all: Vec<(&'static str, &'static str)> = ROUTER_WORDS
            .iter()
            .map(|list| (*list, crate::rules::ROUTER_READS))
            .collect();
        for d in self.actions.values() {
            all.extend(d.words.iter().map(|list| (*list, d.name)));
        }
        all.sort_unstable();
        all.dedup();
        all
    }
    fn all_messages(&self) -> Vec<&'static str> {
        let mut all: Vec<&'static str> = ROUTER_MESSAGES.to_vec();
        all.extend_from_slice(money::NOTICE_MESSAGES);
        all.extend_from_slice(payments::NOTICE_MESSAGES);
        for d in self.actions.values() {
            all.extend_from_slice(d.messages);
        }
        all.sort_unstable();
        all.dedup();
        all
    }
}
