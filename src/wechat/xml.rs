//! The small XML toolkit shared by [`super::inbound`], [`super::reply`], [`super::codec`] and
//! [`super::platform`].
//!
//! Why it exists: WeChat XML is flat (plus a few shallow containers), mixes CDATA and escaped
//! text, carries user text with XML-illegal control characters, and must never be allowed to
//! declare a DTD. One streaming reader that turns a document into `path → text` and one
//! CDATA writer keep those rules in a single place.
//!
//! It must never resolve anything but the five predefined entities and character references,
//! never accept `<!DOCTYPE` / `<!ENTITY`, and never build XML by formatting raw input without
//! [`cdata`].

use std::collections::HashMap;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::error::WeChatError;

/// Maximum element nesting we accept (WeChat uses at most 4: xml/PicList/item/PicMd5Sum).
const MAX_DEPTH: usize = 16;

/// Whether `c` is a control character XML 1.0 forbids (`[\x00-\x08\x0B\x0C\x0E-\x1F]`).
fn is_illegal_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}')
}

/// Remove XML-illegal control bytes. They are ASCII, so removing them from UTF-8 bytes can
/// never split a multi-byte sequence.
pub(crate) fn strip_illegal_control_bytes(input: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let illegal = |b: &u8| is_illegal_control(char::from(*b));
    if !input.iter().any(illegal) {
        // The common case: nothing to strip, nothing to copy.
        return std::borrow::Cow::Borrowed(input);
    }
    std::borrow::Cow::Owned(input.iter().copied().filter(|b| !illegal(b)).collect())
}

/// Remove XML-illegal control characters from text we are about to write.
pub(crate) fn strip_illegal_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_illegal_control) {
        std::borrow::Cow::Owned(s.chars().filter(|&c| !is_illegal_control(c)).collect())
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Refuse any DTD or entity declaration, whatever its case, before a parser sees it. CDATA
/// sections are skipped: a user who types `<!DOCTYPE html>` sends text, not a DTD, and must get
/// an answer rather than a refused callback.
pub(crate) fn reject_dtd(input: &[u8]) -> Result<(), WeChatError> {
    const CDATA_OPEN: &[u8] = b"<![CDATA[";
    const CDATA_CLOSE: &[u8] = b"]]>";
    const NEEDLES: [&[u8]; 2] = [b"<!DOCTYPE", b"<!ENTITY"];
    let mut i = 0;
    while let Some(offset) = memchr::memchr(b'<', &input[i..]) {
        let at = i + offset;
        let rest = &input[at..];
        if rest.starts_with(CDATA_OPEN) {
            let body = at + CDATA_OPEN.len();
            match memchr::memmem::find(&input[body..], CDATA_CLOSE) {
                Some(end) => {
                    i = body + end + CDATA_CLOSE.len();
                    continue;
                }
                // Unterminated CDATA: nothing after it is markup; the parser refuses it.
                None => return Ok(()),
            }
        }
        if NEEDLES
            .iter()
            .any(|n| rest.len() >= n.len() && rest[..n.len()].eq_ignore_ascii_case(n))
        {
            return Err(WeChatError::Doctype);
        }
        i = at + 1;
    }
    Ok(())
}

/// Append `value` to `out` as one or more CDATA sections: illegal controls are dropped and
/// every `]]>` is split as `]]]]><![CDATA[>`, so any string round-trips.
pub(crate) fn push_cdata(out: &mut String, value: &str) {
    let clean = strip_illegal_controls(value);
    out.push_str("<![CDATA[");
    if clean.contains("]]>") {
        out.push_str(&clean.replace("]]>", "]]]]><![CDATA[>"));
    } else {
        out.push_str(&clean);
    }
    out.push_str("]]>");
}

/// `<name><![CDATA[value]]></name>`.
pub(crate) fn push_cdata_element(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, value);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// `<name>value</name>` for numbers and other values that never need escaping.
pub(crate) fn push_plain_element(out: &mut String, name: &str, value: &dyn std::fmt::Display) {
    use std::fmt::Write;
    // Writing to a String cannot fail.
    let _ = write!(out, "<{name}>{value}</{name}>");
}

/// A parsed WeChat document: the text of every leaf element, keyed by its path below the root
/// (`Content`, `ScanCodeInfo/ScanType`, `Articles/item/Title`). The first occurrence of a
/// repeated path wins.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    map: HashMap<String, String>,
}

impl Fields {
    pub(crate) fn get(&self, path: &str) -> Option<&str> {
        self.map.get(path).map(String::as_str)
    }

    /// A required leaf, possibly empty.
    pub(crate) fn req(&self, path: &'static str) -> Result<&str, WeChatError> {
        self.get(path).ok_or(WeChatError::MissingField(path))
    }

    /// An optional leaf, `None` when absent or empty after trimming.
    pub(crate) fn opt_nonempty(&self, path: &str) -> Option<String> {
        self.get(path)
            .filter(|v| !v.trim().is_empty())
            .map(str::to_owned)
    }

    /// A leaf or the empty string.
    pub(crate) fn text(&self, path: &str) -> String {
        self.get(path).unwrap_or_default().to_owned()
    }

    /// A required number (surrounding whitespace allowed).
    pub(crate) fn num<T: std::str::FromStr>(&self, path: &'static str) -> Result<T, WeChatError> {
        self.req(path)?
            .trim()
            .parse()
            .map_err(|_| WeChatError::MissingField(path))
    }

    /// An optional number: absent or empty is `None`, present but unparsable is an error.
    pub(crate) fn opt_num<T: std::str::FromStr>(
        &self,
        path: &'static str,
    ) -> Result<Option<T>, WeChatError> {
        match self.get(path).map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| WeChatError::MissingField(path)),
        }
    }
}

/// Parse a WeChat document rooted at `<xml>`. Refuses DTDs, custom entities, unbalanced tags
/// and trailing content. Does not strip control characters: callers decide (inbound strips).
pub(crate) fn parse(input: &str) -> Result<Fields, WeChatError> {
    reject_dtd(input.as_bytes())?;
    let input = input.strip_prefix('\u{feff}').unwrap_or(input);
    let malformed = |e: &dyn std::fmt::Display| WeChatError::MalformedXml(e.to_string());
    let mut reader = Reader::from_str(input);
    // One frame per open element: name, collected text, whether it has child elements.
    let mut stack: Vec<(String, String, bool)> = Vec::new();
    let mut fields = Fields::default();
    let mut seen_root = false;
    loop {
        let event = reader.read_event().map_err(|e| malformed(&e))?;
        match event {
            Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                if stack.is_empty() {
                    if seen_root {
                        return Err(WeChatError::MalformedXml("content after the root".into()));
                    }
                    if name != "xml" {
                        return Err(WeChatError::MalformedXml(
                            "root element is not <xml>".into(),
                        ));
                    }
                    seen_root = true;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.2 = true;
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(WeChatError::MalformedXml("nesting too deep".into()));
                }
                stack.push((name, String::new(), false));
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.2 = true,
                    None => {
                        return Err(WeChatError::MalformedXml("empty root element".into()));
                    }
                }
                let path = path_of(&stack, &name);
                fields.map.entry(path).or_default();
            }
            Event::End(_) => {
                let Some((name, text, has_children)) = stack.pop() else {
                    return Err(WeChatError::MalformedXml("unbalanced end tag".into()));
                };
                if !stack.is_empty() && !has_children {
                    let path = path_of(&stack, &name);
                    fields.map.entry(path).or_insert(text);
                }
            }
            Event::Text(text) => match stack.last_mut() {
                Some(frame) => frame.1.push_str(&text.xml10_content()),
                None if text.trim().is_empty() => {}
                None => return Err(WeChatError::MalformedXml("text outside the root".into())),
            },
            Event::CData(cdata) => match stack.last_mut() {
                Some(frame) => frame.1.push_str(&cdata.xml10_content()),
                None => return Err(WeChatError::MalformedXml("CDATA outside the root".into())),
            },
            Event::GeneralRef(reference) => {
                let resolved: String = match reference.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => quick_xml::escape::resolve_predefined_entity(&reference)
                        .ok_or_else(|| WeChatError::MalformedXml("unknown entity".into()))?
                        .to_owned(),
                    Err(e) => return Err(malformed(&e)),
                };
                match stack.last_mut() {
                    Some(frame) => frame.1.push_str(&resolved),
                    None => {
                        return Err(WeChatError::MalformedXml("entity outside the root".into()));
                    }
                }
            }
            Event::DocType(_) => return Err(WeChatError::Doctype),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() || !seen_root {
        return Err(WeChatError::MalformedXml(
            "unexpected end of document".into(),
        ));
    }
    Ok(fields)
}

fn path_of(stack: &[(String, String, bool)], leaf: &str) -> String {
    let mut path = String::new();
    // Skip the root frame.
    for (name, _, _) in stack.iter().skip(1) {
        path.push_str(name);
        path.push('/');
    }
    path.push_str(leaf);
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdata_splits_the_terminator() {
        let mut out = String::new();
        push_cdata_element(&mut out, "Content", "a]]>b");
        assert_eq!(out, "<Content><![CDATA[a]]]]><![CDATA[>b]]></Content>");
        let parsed = parse(&format!("<xml>{out}</xml>")).unwrap();
        assert_eq!(parsed.get("Content"), Some("a]]>b"));
    }

    #[test]
    fn mixed_cdata_entities_and_char_refs_are_joined() {
        let f = parse("<xml><A><![CDATA[x]]><![CDATA[y]]>&amp;&#x4e2d;&#25991;</A></xml>").unwrap();
        assert_eq!(f.get("A"), Some("xy&中文"));
    }

    #[test]
    fn nested_paths_and_first_occurrence_wins() {
        let f = parse("<xml><P><item><M>1</M></item><item><M>2</M></item></P><E/></xml>").unwrap();
        assert_eq!(f.get("P/item/M"), Some("1"));
        assert_eq!(f.get("E"), Some(""));
        assert_eq!(f.get("P"), None);
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            "<xml>",
            "<xml><A>1</B></xml>",
            "<root><A>1</A></root>",
            "<xml></xml><xml></xml>",
            "<xml><A>&custom;</A></xml>",
            "</xml>",
            "text",
        ] {
            assert!(parse(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn dtd_in_any_case_is_refused() {
        assert!(matches!(
            parse("<!doctype xml><xml/>"),
            Err(WeChatError::Doctype)
        ));
        assert!(matches!(
            reject_dtd(b"<xml><!ENTITY a 'b'></xml>"),
            Err(WeChatError::Doctype)
        ));
    }

    #[test]
    fn doctype_typed_by_a_user_inside_cdata_is_just_text() {
        let f =
            parse("<xml><Content><![CDATA[<!DOCTYPE html><!ENTITY x]]></Content></xml>").unwrap();
        assert_eq!(f.get("Content"), Some("<!DOCTYPE html><!ENTITY x"));
        assert!(matches!(
            parse("<xml><A><![CDATA[ok]]></A></xml><!DOCTYPE x>"),
            Err(WeChatError::Doctype)
        ));
        assert!(matches!(
            reject_dtd(b"<![CDATA[a]]><!entity y>"),
            Err(WeChatError::Doctype)
        ));
    }

    #[test]
    fn a_leading_byte_order_mark_is_tolerated() {
        assert_eq!(
            parse("\u{feff}<xml><A>1</A></xml>").unwrap().get("A"),
            Some("1")
        );
    }

    #[test]
    fn control_bytes_are_stripped_but_tab_lf_cr_kept() {
        assert_eq!(
            strip_illegal_control_bytes(b"a\x1db\x00c\td\ne\rf").as_ref(),
            b"abc\td\ne\rf"
        );
        assert_eq!(strip_illegal_controls("x\u{1d}y\u{b}"), "xy");
    }
}
