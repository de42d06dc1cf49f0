//! Errors in an operator's words: the TOML parser's message, when it describes a mistake people
//! make often, is replaced by what to do about it, pointing at the character to change.
//!
//! The mistakes: full-width punctuation typed on a Chinese keyboard (“ ” ， ： in TOML syntax),
//! `[rule]` for `[[rule]]`, a single string where a list is expected (`exact = "x"`), a regular
//! expression in double quotes (where `\d` is an invalid escape), and misspelt keys.

use std::ops::Range;

/// A better message for a TOML error, and the byte offset it points at.
pub(super) fn toml_hint(
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> Option<(usize, String)> {
    let at = span.as_ref().map(|s| s.start).unwrap_or(0).min(text.len());
    if let Some(hint) = single_bracket_rule(text) {
        return Some(hint);
    }
    let (line_start, line) = line_at(text, at);
    if let Some((i, c)) = full_width_outside_strings(line) {
        let wanted = match c {
            '“' | '”' => "\"",
            '‘' | '’' => "'",
            '，' | '、' => ",",
            '［' | '【' => "[",
            '］' | '】' => "]",
            '｛' => "{",
            '｝' => "}",
            _ => "=",
        };
        return Some((
            line_start + i,
            format!(
                "full-width `{c}` where TOML needs `{wanted}`: switch the keyboard to English (half-width) punctuation outside the quotes"
            ),
        ));
    }
    let key = line
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"'))
        .unwrap_or("");
    if message.starts_with("invalid type: string") && message.contains("expected a sequence") {
        let value = span
            .as_ref()
            .and_then(|s| text.get(s.clone()))
            .unwrap_or("\"…\"")
            .trim();
        return Some((at, format!("use a list: {key} = [{value}]")));
    }
    if message.contains("escape") && (key == "regex" || line.trim_start().starts_with('"')) {
        let (open, quoted) = double_quoted_around(line, at - line_start).unwrap_or((0, "…"));
        if key == "regex" || looks_like_regex(quoted) {
            return Some((
                line_start + open,
                format!(
                    "write regular expressions in single quotes: '{quoted}' (in double quotes a backslash starts an escape)"
                ),
            ));
        }
    }
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (word, rest) = rest.split_once('`')?;
        let valid: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
        let message = match did_you_mean(word, &valid) {
            Some(close) => format!("unknown key `{word}`: did you mean `{close}`?"),
            None => format!(
                "unknown key `{word}` (valid keys here: {})",
                valid.join(", ")
            ),
        };
        return Some((at, message));
    }
    None
}

/// The candidate closest to `word`, if it is close enough to be a typo of it.
pub(crate) fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase();
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&word, c), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `: did you mean `close`?` to append to an error about `word`, or nothing when no candidate
/// is close.
pub(crate) fn did_you_mean_suffix(word: &str, candidates: &[&str]) -> String {
    did_you_mean(word, candidates)
        .map(|close| format!(": did you mean `{close}`?"))
        .unwrap_or_default()
}

/// `[rule]`, `[rule.when]` or `[rule.replies]` written with one pair of brackets: the root cause
/// of whatever error the parser reports ("duplicate key", "invalid type: map").
fn single_bracket_rule(text: &str) -> Option<(usize, String)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("").trim();
        if let Some(name) = code.strip_prefix('[').and_then(|c| c.strip_suffix(']'))
            && !name.starts_with('[')
            && matches!(name.trim(), "rule" | "rule.when" | "rule.replies")
        {
            let col = line.len() - line.trim_start().len();
            return Some((
                offset + col,
                format!(
                    "write [[{}]] with two brackets: each one starts a new entry of a list",
                    name.trim()
                ),
            ));
        }
        offset += line.len();
    }
    None
}

/// The line containing byte `at`, and its start offset.
fn line_at(text: &str, at: usize) -> (usize, &str) {
    let start = text
        .get(..at)
        .and_then(|t| t.rfind('\n'))
        .map_or(0, |i| i + 1);
    let end = text
        .get(at..)
        .and_then(|t| t.find('\n'))
        .map_or(text.len(), |i| at + i);
    (start, text.get(start..end).unwrap_or(""))
}

/// The first full-width punctuation mark in `line` outside a quoted string and before a comment,
/// with its byte index.
fn full_width_outside_strings(line: &str) -> Option<(usize, char)> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '#' => return None,
                '“' | '”' | '‘' | '’' | '，' | '、' | '：' | '＝' | '［' | '］' | '【' | '】'
                | '｛' | '｝' => return Some((i, c)),
                _ => {}
            },
        }
    }
    None
}

/// The double-quoted string around byte `at` of `line`: its opening quote's index and its text.
fn double_quoted_around(line: &str, at: usize) -> Option<(usize, &str)> {
    let open = line.get(..at.min(line.len()))?.rfind('"')?;
    let rest = line.get(open + 1..)?;
    // The closing quote: the next `"` not preceded by a backslash.
    let mut prev = ' ';
    for (i, c) in rest.char_indices() {
        if c == '"' && prev != '\\' {
            return Some((open, rest.get(..i)?));
        }
        prev = c;
    }
    Some((open, rest))
}

fn looks_like_regex(s: &str) -> bool {
    s.starts_with('^') || s.ends_with('$') || s.contains("\\d") || s.contains("\\s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_you_mean_finds_typos_only() {
        let keys = ["action", "exact", "reply", "replies"];
        assert_eq!(did_you_mean("acton", &keys), Some("action"));
        assert_eq!(did_you_mean("Reply", &keys), Some("reply"));
        assert_eq!(did_you_mean("weather", &keys), None);
    }
}
