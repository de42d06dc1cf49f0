//! Actions only tests register, through the public action registry: a deliberately slow one,
//! an echo of the user's own text and one with a bug.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use onecard::actions::{ActionDef, ActionFuture, ActionInput, ActionOutput, ActionRegistry};

use super::{TestApp, TestOptions, spawn_app_with};

/// One step of a `slow_echo` run, with the milliseconds it was asked to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowStep {
    Started(u64),
    Finished(u64),
}

static SLOW_STEPS: Mutex<Option<HashMap<String, Vec<SlowStep>>>> = Mutex::new(None);

/// What the slow action did for this user, in the order it happened.
pub fn slow_steps(openid: &str) -> Vec<SlowStep> {
    SLOW_STEPS
        .lock()
        .unwrap()
        .as_ref()
        .and_then(|m| m.get(openid).cloned())
        .unwrap_or_default()
}

/// How many times the slow action ran for this user.
pub fn slow_calls(openid: &str) -> usize {
    slow_steps(openid)
        .iter()
        .filter(|step| matches!(step, SlowStep::Started(_)))
        .count()
}

fn record_slow_step(openid: &str, step: SlowStep) {
    SLOW_STEPS
        .lock()
        .unwrap()
        .get_or_insert_with(HashMap::new)
        .entry(openid.to_owned())
        .or_default()
        .push(step);
}

fn slow_echo(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let ms: u64 = input
            .captures
            .iter()
            .find_map(|c| c.parse().ok())
            .unwrap_or(1000);
        record_slow_step(input.openid.as_str(), SlowStep::Started(ms));
        tokio::time::sleep(Duration::from_millis(ms)).await;
        record_slow_step(input.openid.as_str(), SlowStep::Finished(ms));
        Ok(ActionOutput::fields(serde_json::json!({ "waited_ms": ms })))
    })
}

/// An action of the tests' own: the template `fields` it provides, no messages or words.
fn test_action(
    name: &'static str,
    fields: &'static [&'static str],
    run: for<'a> fn(ActionInput<'a>) -> ActionFuture<'a>,
) -> ActionDef {
    ActionDef {
        name,
        fields,
        messages: &[],
        words: &[],
        run,
    }
}

/// The built-in actions and `action`.
fn builtin_and(action: ActionDef) -> ActionRegistry {
    let mut r = ActionRegistry::builtin();
    r.register(action);
    r
}

/// The built-in actions plus `slow_echo` (sleeps for the number in "慢1500" ms).
pub fn actions_with_slow() -> ActionRegistry {
    builtin_and(test_action("slow_echo", &["waited_ms"], slow_echo))
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

/// [`slow_options`] with the default callback budget.
pub fn slow_action_options() -> TestOptions {
    slow_options(TestOptions::default().budget_ms)
}

pub fn slow_app(budget_ms: u64) -> TestApp {
    spawn_app_with(slow_options(budget_ms))
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
    builtin_and(test_action("echo_text", &["said"], echo_text))
}

// A rule file for the action above, shaped like SLOW_RULE: one rule per test action.
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
    r.register(test_action("crash", &[], panicking));
    r
}
