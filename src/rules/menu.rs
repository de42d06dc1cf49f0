//! The WeChat custom menu, edited by operators in `config/menu.toml`.
//!
//! Why it exists: once our server takes over the account, the menu can no longer be edited in
//! the MP admin UI; it must come from the `menu/create` API. The file mirrors WeChat's JSON
//! (`[[button]]`, `[[button.sub_button]]`, `type`, `name`, `key`, `url`, …) so an operator can
//! follow Tencent's documentation, and it is validated against WeChat's limits (docs/wechat-protocol.md §8.6)
//! *before* the push, with `file:line:col` diagnostics, so a rejected menu (40016, 40018, …) is
//! caught at `rules check` time.
//!
//! It owns the model, the validation and the JSON body. It never calls the API (the WeChat client in
//! `wechat::api` pushes [`Menu::to_wechat_json`]).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use toml::Spanned;

use super::Diagnostic;

/// Top-level buttons: 1–3.
const MAX_BUTTONS: usize = 3;
/// Sub-buttons under one top-level button: 1–5.
const MAX_SUB_BUTTONS: usize = 5;
/// Name limits in UTF-8 bytes (a Chinese character is 3 bytes).
const MAX_TOP_NAME: usize = 16;
const MAX_SUB_NAME: usize = 60;
const MAX_KEY: usize = 128;
const MAX_URL: usize = 1024;

/// Every button type WeChat accepts, in its documentation's order, with the fields each needs
/// (the `key` ones send their key to our server).
const TYPES: &[(&str, &[&str])] = &[
    ("click", &["key"]),
    ("view", &["url"]),
    ("scancode_push", &["key"]),
    ("scancode_waitmsg", &["key"]),
    ("pic_sysphoto", &["key"]),
    ("pic_photo_or_album", &["key"]),
    ("pic_weixin", &["key"]),
    ("location_select", &["key"]),
    ("media_id", &["media_id"]),
    ("view_limited", &["media_id"]),
    ("miniprogram", &["url", "appid", "pagepath"]),
    ("article_id", &["article_id"]),
    ("article_view_limited", &["article_id"]),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MenuFile {
    #[serde(default)]
    button: Vec<Spanned<ButtonDef>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ButtonDef {
    name: Spanned<String>,
    #[serde(default, rename = "type")]
    kind: Option<Spanned<String>>,
    #[serde(default)]
    key: Option<Spanned<String>>,
    #[serde(default)]
    url: Option<Spanned<String>>,
    #[serde(default)]
    media_id: Option<Spanned<String>>,
    #[serde(default)]
    article_id: Option<Spanned<String>>,
    #[serde(default)]
    appid: Option<Spanned<String>>,
    #[serde(default)]
    pagepath: Option<Spanned<String>>,
    #[serde(default)]
    sub_button: Vec<Spanned<ButtonDef>>,
}

/// A validated menu.
#[derive(Debug, Clone, PartialEq)]
pub struct Menu {
    buttons: Vec<Button>,
}

#[derive(Debug, Clone, PartialEq)]
struct Button {
    name: String,
    kind: Option<String>,
    /// `key`, `url`, `media_id`, … in WeChat's field names, only those the type uses.
    fields: Vec<(&'static str, String)>,
    sub: Vec<Button>,
}

impl Menu {
    /// Read and validate a menu file.
    pub fn load(path: &Path) -> Result<Menu, Vec<Diagnostic>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Diagnostic {
                file: path.to_path_buf(),
                line: 1,
                col: 1,
                message: format!("cannot read the menu file: {e}"),
            }]
        })?;
        Self::parse(path, &text)
    }

    /// Validate menu TOML `text`; `path` is only used in diagnostics.
    pub fn parse(path: &Path, text: &str) -> Result<Menu, Vec<Diagnostic>> {
        let mut v = MenuValidator {
            path,
            text,
            diags: Vec::new(),
            keys: HashMap::new(),
        };
        let file: MenuFile = toml::from_str(text).map_err(|e| {
            let (line, col) = line_col(text, e.span().map(|s| s.start).unwrap_or(0));
            vec![Diagnostic {
                file: path.to_path_buf(),
                line,
                col,
                message: e.message().trim().to_owned(),
            }]
        })?;
        if file.button.is_empty() {
            v.error(
                0,
                "the menu needs 1 to 3 top-level [[button]] entries".into(),
            );
        }
        if let Some(extra) = file.button.get(MAX_BUTTONS) {
            v.error(
                extra.span().start,
                format!(
                    "too many top-level buttons: {} (WeChat allows at most {MAX_BUTTONS}; error 40016)",
                    file.button.len()
                ),
            );
        }
        let buttons = file
            .button
            .iter()
            .filter_map(|b| v.button(b, true))
            .collect();
        if v.diags.is_empty() {
            Ok(Menu { buttons })
        } else {
            Err(v.diags)
        }
    }

    /// The body of `POST cgi-bin/menu/create`.
    pub fn to_wechat_json(&self) -> Value {
        json!({ "button": self.buttons.iter().map(button_json).collect::<Vec<_>>() })
    }

    /// Every `key` a menu button sends (CLICK and the other keyed types), in menu order.
    pub fn click_keys(&self) -> Vec<String> {
        let mut keys = Vec::new();
        for b in &self.buttons {
            for b in std::iter::once(b).chain(b.sub.iter()) {
                if let Some((_, k)) = b.fields.iter().find(|(f, _)| *f == "key") {
                    keys.push(k.clone());
                }
            }
        }
        keys
    }
}

fn button_json(b: &Button) -> Value {
    let mut obj = Map::new();
    if let Some(kind) = &b.kind {
        obj.insert("type".into(), Value::String(kind.clone()));
    }
    obj.insert("name".into(), Value::String(b.name.clone()));
    for (field, value) in &b.fields {
        obj.insert((*field).into(), Value::String(value.clone()));
    }
    if !b.sub.is_empty() {
        obj.insert(
            "sub_button".into(),
            Value::Array(b.sub.iter().map(button_json).collect()),
        );
    }
    Value::Object(obj)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

struct MenuValidator<'a> {
    path: &'a Path,
    text: &'a str,
    diags: Vec<Diagnostic>,
    /// key → where first used, to refuse duplicates.
    keys: HashMap<String, usize>,
}

impl MenuValidator<'_> {
    fn error(&mut self, offset: usize, message: String) {
        let (line, col) = line_col(self.text, offset);
        self.diags.push(Diagnostic {
            file: self.path.to_path_buf(),
            line,
            col,
            message,
        });
    }

    fn button(&mut self, b: &Spanned<ButtonDef>, top: bool) -> Option<Button> {
        let before = self.diags.len();
        let def = b.get_ref();
        let name = def.name.get_ref().trim().to_owned();
        let (limit, code) = if top {
            (MAX_TOP_NAME, 40018)
        } else {
            (MAX_SUB_NAME, 40025)
        };
        if name.is_empty() {
            self.error(def.name.span().start, "empty button name".into());
        } else if name.len() > limit {
            self.error(
                def.name.span().start,
                format!(
                    "button name `{name}` is {} bytes; WeChat allows at most {limit} bytes here (a Chinese character is 3 bytes; error {code})",
                    name.len()
                ),
            );
        }
        let mut sub = Vec::new();
        if !def.sub_button.is_empty() {
            if !top {
                self.error(
                    def.sub_button[0].span().start,
                    "a sub-button cannot have sub_button entries".into(),
                );
            }
            if let Some(kind) = &def.kind {
                self.error(
                    kind.span().start,
                    "a button with sub_button entries has no `type` (it only opens the sub-menu)"
                        .into(),
                );
            }
            for (field, v) in self.present_fields(def) {
                self.error(
                    v.span().start,
                    format!("a button with sub_button entries has no `{field}`"),
                );
            }
            if let Some(extra) = def.sub_button.get(MAX_SUB_BUTTONS) {
                self.error(
                    extra.span().start,
                    format!(
                        "too many sub-buttons under `{name}`: {} (WeChat allows at most {MAX_SUB_BUTTONS}; error 40023)",
                        def.sub_button.len()
                    ),
                );
            }
            sub = def
                .sub_button
                .iter()
                .filter_map(|s| self.button(s, false))
                .collect();
            return (self.diags.len() == before).then_some(Button {
                name,
                kind: None,
                fields: Vec::new(),
                sub,
            });
        }
        let Some(kind) = &def.kind else {
            self.error(
                b.span().start,
                format!("button `{name}` needs a `type` (or sub_button entries)"),
            );
            return None;
        };
        let kind_name = kind.get_ref().trim();
        let Some(&(_, required)) = TYPES.iter().find(|(name, _)| *name == kind_name) else {
            let names: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
            self.error(
                kind.span().start,
                format!(
                    "unknown button type `{kind_name}` (error 40017); use one of: {}",
                    names.join(", ")
                ),
            );
            return None;
        };
        let mut fields = Vec::new();
        for (field, v) in self.present_fields(def) {
            if !required.contains(&field) {
                self.error(
                    v.span().start,
                    format!("a `{kind_name}` button does not use `{field}`"),
                );
            }
        }
        for &field in required {
            let value = match field {
                "key" => &def.key,
                "url" => &def.url,
                "media_id" => &def.media_id,
                "article_id" => &def.article_id,
                "appid" => &def.appid,
                _ => &def.pagepath,
            };
            let Some(value) = value else {
                self.error(
                    b.span().start,
                    format!("a `{kind_name}` button needs `{field}`"),
                );
                continue;
            };
            let text = value.get_ref().trim().to_owned();
            let at = value.span().start;
            if text.is_empty() {
                self.error(at, format!("empty `{field}`"));
                continue;
            }
            match field {
                "key" if text.len() > MAX_KEY => self.error(
                    at,
                    format!(
                        "key is {} bytes; WeChat allows at most {MAX_KEY} (error 40019)",
                        text.len()
                    ),
                ),
                "key" => {
                    if let Some(&first) = self.keys.get(&text) {
                        let (l, c) = line_col(self.text, first);
                        self.error(
                            at,
                            format!("duplicate key `{text}`: already used at {l}:{c}"),
                        );
                    } else {
                        self.keys.insert(text.clone(), at);
                    }
                }
                "url" if text.len() > MAX_URL => self.error(
                    at,
                    format!(
                        "url is {} bytes; WeChat allows at most {MAX_URL} (error 40020)",
                        text.len()
                    ),
                ),
                "url" if !(text.starts_with("http://") || text.starts_with("https://")) => self
                    .error(
                        at,
                        format!("url `{text}` must start with http:// or https://"),
                    ),
                _ => {}
            }
            fields.push((field, text));
        }
        (self.diags.len() == before).then_some(Button {
            name,
            kind: Some(kind_name.to_owned()),
            fields,
            sub,
        })
    }

    fn present_fields<'d>(&self, def: &'d ButtonDef) -> Vec<(&'static str, &'d Spanned<String>)> {
        [
            ("key", &def.key),
            ("url", &def.url),
            ("media_id", &def.media_id),
            ("article_id", &def.article_id),
            ("appid", &def.appid),
            ("pagepath", &def.pagepath),
        ]
        .into_iter()
        .filter_map(|(f, v)| v.as_ref().map(|v| (f, v)))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errs(text: &str) -> Vec<String> {
        Menu::parse(Path::new("menu.toml"), text)
            .unwrap_err()
            .iter()
            .map(|d| d.to_string())
            .collect()
    }

    const GOOD: &str = r#"
[[button]]
name = "校园卡"
[[button.sub_button]]
type = "click"
name = "余额查询"
key = "CARD_BALANCE"
[[button.sub_button]]
type = "view"
name = "校园官网"
url = "https://www.example.edu.cn/"

[[button]]
type = "click"
name = "帮助"
key = "HELP"
"#;

    #[test]
    fn a_valid_menu_becomes_wechat_json() {
        let menu = Menu::parse(Path::new("menu.toml"), GOOD).unwrap();
        assert_eq!(
            menu.to_wechat_json(),
            json!({"button": [
                {"name": "校园卡", "sub_button": [
                    {"type": "click", "name": "余额查询", "key": "CARD_BALANCE"},
                    {"type": "view", "name": "校园官网", "url": "https://www.example.edu.cn/"}
                ]},
                {"type": "click", "name": "帮助", "key": "HELP"}
            ]})
        );
        assert_eq!(menu.click_keys(), vec!["CARD_BALANCE", "HELP"]);
    }

    #[test]
    fn four_top_level_buttons_are_refused() {
        let mut text = String::new();
        for i in 0..4 {
            text.push_str(&format!(
                "[[button]]\ntype = \"click\"\nname = \"按钮{i}\"\nkey = \"K{i}\"\n"
            ));
        }
        assert_eq!(
            errs(&text),
            vec![
                "menu.toml:13:1: too many top-level buttons: 4 (WeChat allows at most 3; error 40016)"
            ]
        );
        assert_eq!(
            errs(""),
            vec!["menu.toml:1:1: the menu needs 1 to 3 top-level [[button]] entries"]
        );
    }

    #[test]
    fn six_sub_buttons_are_refused() {
        let mut text = String::from("[[button]]\nname = \"服务\"\n");
        for i in 0..6 {
            text.push_str(&format!(
                "[[button.sub_button]]\ntype = \"click\"\nname = \"项{i}\"\nkey = \"S{i}\"\n"
            ));
        }
        assert_eq!(
            errs(&text),
            vec![
                "menu.toml:23:1: too many sub-buttons under `服务`: 6 (WeChat allows at most 5; error 40023)"
            ]
        );
    }

    #[test]
    fn name_limits_are_in_bytes() {
        // 6 Chinese characters = 18 bytes > 16 at the top level.
        let e = errs("[[button]]\ntype = \"click\"\nname = \"校园一卡通服\"\nkey = \"K\"\n");
        assert_eq!(
            e,
            vec![
                "menu.toml:3:8: button name `校园一卡通服` is 18 bytes; WeChat allows at most 16 bytes here (a Chinese character is 3 bytes; error 40018)"
            ]
        );
        // 5 Chinese characters = 15 bytes: fine.
        Menu::parse(
            Path::new("m"),
            "[[button]]\ntype = \"click\"\nname = \"校园一卡通\"\nkey = \"K\"\n",
        )
        .unwrap();
        // 21 Chinese characters = 63 bytes > 60 in a sub-button.
        let long = "字".repeat(21);
        let e = errs(&format!(
            "[[button]]\nname = \"服务\"\n[[button.sub_button]]\ntype = \"click\"\nname = \"{long}\"\nkey = \"K\"\n"
        ));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("menu.toml:5:8: button name"), "{}", e[0]);
        assert!(e[0].contains("error 40025"));
    }

    #[test]
    fn key_and_url_limits_and_required_fields() {
        let key = "K".repeat(129);
        assert_eq!(
            errs(&format!(
                "[[button]]\ntype = \"click\"\nname = \"a\"\nkey = \"{key}\"\n"
            )),
            vec!["menu.toml:4:7: key is 129 bytes; WeChat allows at most 128 (error 40019)"]
        );
        let url = format!("https://e.cn/{}", "a".repeat(1020));
        assert_eq!(
            errs(&format!(
                "[[button]]\ntype = \"view\"\nname = \"a\"\nurl = \"{url}\"\n"
            )),
            vec!["menu.toml:4:7: url is 1033 bytes; WeChat allows at most 1024 (error 40020)"]
        );
        assert_eq!(
            errs("[[button]]\ntype = \"click\"\nname = \"a\"\n"),
            vec!["menu.toml:1:1: a `click` button needs `key`"]
        );
        assert_eq!(
            errs(
                "[[button]]\ntype = \"view\"\nname = \"a\"\nkey = \"K\"\nurl = \"https://e.cn\"\n"
            ),
            vec!["menu.toml:4:7: a `view` button does not use `key`"]
        );
        assert_eq!(
            errs(
                "[[button]]\ntype = \"miniprogram\"\nname = \"a\"\nurl = \"https://e.cn\"\nappid = \"wx1\"\n"
            ),
            vec!["menu.toml:1:1: a `miniprogram` button needs `pagepath`"]
        );
        assert_eq!(
            errs("[[button]]\ntype = \"clik\"\nname = \"a\"\nkey = \"K\"\n")[0]
                .split(" (")
                .next()
                .unwrap(),
            "menu.toml:2:8: unknown button type `clik`"
        );
        assert_eq!(
            errs(
                "[[button]]\nname = \"a\"\ntype = \"click\"\nkey = \"K\"\n[[button.sub_button]]\ntype = \"click\"\nname = \"b\"\nkey = \"L\"\n"
            ),
            vec![
                "menu.toml:3:8: a button with sub_button entries has no `type` (it only opens the sub-menu)",
                "menu.toml:4:7: a button with sub_button entries has no `key`"
            ]
        );
    }

    #[test]
    fn duplicate_keys_and_unknown_fields_are_refused() {
        assert_eq!(
            errs(
                "[[button]]\ntype = \"click\"\nname = \"a\"\nkey = \"K\"\n[[button]]\ntype = \"click\"\nname = \"b\"\nkey = \"K\"\n"
            ),
            vec!["menu.toml:8:7: duplicate key `K`: already used at 4:7"]
        );
        let e = errs("[[button]]\ntype = \"click\"\nname = \"a\"\nkee = \"K\"\n");
        assert!(
            e[0].starts_with("menu.toml:4:1: unknown field `kee`"),
            "{}",
            e[0]
        );
    }
}
