//! What a user is shown, as the shipped rule files (config/rules) say it: whole replies and
//! messages with their fields filled in, matched against a reply as a whole.

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
    render(&configured_reply(id), &fields)
}

/// The message `key` (config/rules) rendered with `fields` as the rule engine renders it: for
/// a message with conditions and loops, which [`message`] does not fill.
pub fn message_rendered(key: &str, fields: serde_json::Value) -> String {
    render(&configured_message(key), &fields)
}

/// `template` rendered as the rule engine renders replies (plain text, trailing whitespace
/// dropped).
fn render(template: &str, fields: &serde_json::Value) -> String {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    let text = env
        .render_str(template, jinja_value(fields))
        .expect("the template renders");
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

/// The `N` capture groups of `pattern` matched against the whole of `text`: for a reply whose
/// numbers vary by person, every other character is still checked. Panics showing the text.
pub fn whole_match<const N: usize>(pattern: &str, text: &str) -> [String; N] {
    let re = regex::Regex::new(&format!("^(?:{pattern})$")).expect("a valid pattern");
    let caps = re
        .captures(text)
        .unwrap_or_else(|| panic!("{text:?}\ndoes not match\n{pattern}"));
    std::array::from_fn(|i| caps[i + 1].to_owned())
}

/// Check that `xml` is the whole plaintext passive reply of `text` to `user` from our account
/// (WeChat's layout, docs/wechat-protocol.md); only its CreateTime is left open.
pub fn assert_passive_text(xml: &str, user: &str, text: &str) {
    let head = format!(
        "<xml>\n<ToUserName><![CDATA[{user}]]></ToUserName>\n<FromUserName><![CDATA[{}]]></FromUserName>\n<CreateTime>",
        super::ORIGINAL_ID
    );
    let tail = format!(
        "</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[{text}]]></Content>\n</xml>"
    );
    let [_create_time] = whole_match(
        &format!(r"{}(\d+){}", regex::escape(&head), regex::escape(&tail)),
        xml,
    );
}

/// What a person reads on an HTML page: the `<title>` and the body's text, one line per block
/// (a heading, a paragraph, a table cell), inline markup (`<b>`, `<a>`, …) joined into its
/// line, entities decoded, the page's style sheet and scripts left out. A test compares it
/// whole with the text it expects, line by line.
pub fn page_text(html: &str) -> String {
    let unseen = regex::Regex::new(r"(?s)<(style|script)\b[^>]*>.*?</(style|script)>").unwrap();
    let tag = regex::Regex::new(r"<(/?)([!A-Za-z0-9-]+)[^>]*>").unwrap();
    let inline = ["a", "b", "i", "em", "strong", "span", "code"];
    let text = unseen.replace_all(html, "");
    let text = tag.replace_all(&text, |c: &regex::Captures| {
        if inline.contains(&c[2].to_ascii_lowercase().as_str()) {
            ""
        } else {
            "\n"
        }
    });
    let numeric = regex::Regex::new(r"&#(x?)([0-9A-Fa-f]+);").unwrap();
    let text = numeric.replace_all(&text, |c: &regex::Captures| {
        let radix = if c[1].is_empty() { 10 } else { 16 };
        let code = u32::from_str_radix(&c[2], radix).expect("a character number");
        char::from_u32(code).expect("a character").to_string()
    });
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}
