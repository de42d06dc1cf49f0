//! Feedback (「反馈」) is bounded per user: a length per entry and a count per campus day; and
//! an unsubscribe removes the user's entries through the index by openid.

use std::path::Path;

use crate::helpers::*;

/// A `[messages]` entry of config/rules/_messages.toml with its one `{{ field }}` filled in.
fn message(key: &str, field: Option<(&str, usize)>) -> String {
    let text = std::fs::read_to_string("config/rules/_messages.toml").unwrap();
    let table: toml::Table = text.parse().unwrap();
    let mut text = table["messages"][key].as_str().expect(key).to_owned();
    if let Some((name, value)) = field {
        text = text.replace(&format!("{{{{ {name} }}}}"), &value.to_string());
    }
    text
}

#[tokio::test]
async fn feedback_is_capped_per_user_and_day_and_unsubscribe_removes_it() {
    let disk = OnDisk::new();
    let app = spawn_app_with(disk.options());
    let (writer, other) = (openid("fbwriter"), openid("fbother"));
    let max_chars = onecard::store::FEEDBACK_MAX_CHARS;
    let per_day = onecard::store::FEEDBACK_PER_USER_PER_DAY;

    assert_eq!(
        app.say(&writer, "反馈").await,
        message("feedback.ask", None)
    );
    assert_eq!(
        app.say(&writer, &"长".repeat(max_chars + 1)).await,
        message("feedback.too_long", Some(("max_chars", max_chars)))
    );
    assert_eq!(
        app.say(&writer, &"好".repeat(max_chars)).await,
        message("feedback.thanks", None)
    );
    for i in 1..per_day {
        app.say(&writer, "反馈").await;
        assert_eq!(
            app.say(&writer, &format!("第 {i} 条建议")).await,
            message("feedback.thanks", None)
        );
    }
    app.say(&writer, "反馈").await;
    assert_eq!(
        app.say(&writer, "还有一条").await,
        message("feedback.daily_limit", Some(("per_day", per_day)))
    );
    app.say(&other, "反馈").await;
    assert_eq!(
        app.say(&other, "食堂很好").await,
        message("feedback.thanks", None)
    );

    app.unsubscribe(&writer).await;
    app.stop().await;

    let lines = feedback_lines(&disk.data).await;
    assert_eq!(
        lines.len(),
        2,
        "the other user's entry and its index line: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .all(|l| !l.contains(&hex_of(&writer)) && !l.contains(&writer))
    );
}

/// The `feedback` and `feedback_by_user` lines of a `store export` of a stopped app.
async fn feedback_lines(data: &Path) -> Vec<String> {
    let store = open_when_released(data).await;
    let mut out = Vec::new();
    store.export(&mut out).unwrap();
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""tree":"feedback"#))
        .map(str::to_owned)
        .collect()
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
