//! Where things are: byte spans of the parsed files turned into `file:line:col` for
//! diagnostics, including lines inside multi-line templates.

use std::ops::Range;
use std::path::PathBuf;

use super::Validator;
use crate::rules::Diagnostic;
use crate::rules::table::short_origin;

pub(super) struct Source {
    pub(super) path: PathBuf,
    pub(super) text: String,
    pub(super) lines: LineIndex,
}

/// Byte offsets of line starts, for span → line:col.
pub(super) struct LineIndex {
    pub(super) starts: Vec<usize>,
}

impl LineIndex {
    pub(super) fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self { starts }
    }

    /// 1-based line and character column of byte `offset`.
    pub(super) fn line_col(&self, text: &str, offset: usize) -> (usize, usize) {
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0);
        let col = text
            .get(start..offset.min(text.len()))
            .map(|s| s.chars().count())
            .unwrap_or(0);
        (line + 1, col + 1)
    }
}

/// Where something was defined: file index + byte span.
#[derive(Clone)]
pub(super) struct Loc {
    pub(super) file: usize,
    pub(super) span: Range<usize>,
}

impl Validator {
    pub(super) fn loc_of(&self, loc: &Loc) -> (PathBuf, usize, usize) {
        match self.sources.get(loc.file) {
            Some(src) => {
                let (l, c) = src.lines.line_col(&src.text, loc.span.start);
                (src.path.clone(), l, c)
            }
            None => (self.dir.clone(), 1, 1),
        }
    }

    pub(super) fn error(&mut self, loc: &Loc, message: String) {
        let (file, line, col) = self.loc_of(loc);
        self.diags.push(Diagnostic {
            file,
            line,
            col,
            message,
        });
    }

    pub(super) fn warn(&mut self, loc: &Loc, message: String) {
        let (file, line, col) = self.loc_of(loc);
        self.warnings.push(Diagnostic {
            file,
            line,
            col,
            message,
        });
    }

    pub(super) fn error_at(&mut self, file: usize, line: usize, col: usize, message: String) {
        let path = self
            .sources
            .get(file)
            .map(|s| s.path.clone())
            .unwrap_or_else(|| self.dir.clone());
        self.diags.push(Diagnostic {
            file: path,
            line,
            col,
            message,
        });
    }

    /// When the file was last written, if it is a real file.
    pub(super) fn modified(&self, file: usize) -> Option<std::time::SystemTime> {
        let src = self.sources.get(file)?;
        std::fs::metadata(&src.path).and_then(|m| m.modified()).ok()
    }

    pub(super) fn short(&self, loc: &Loc) -> String {
        let (file, line, col) = self.loc_of(loc);
        short_origin(&file, line, col)
    }

    /// File line:col for line `tmpl_line` of the template whose string value starts at `loc`.
    pub(super) fn template_pos(&self, loc: &Loc, tmpl_line: usize) -> (usize, usize) {
        let Some(src) = self.sources.get(loc.file) else {
            return (1, 1);
        };
        let raw = src.text.get(loc.span.clone()).unwrap_or("");
        let multiline = raw.starts_with("\"\"\"") || raw.starts_with("'''");
        if !multiline || tmpl_line <= 1 {
            return src.lines.line_col(&src.text, loc.span.start);
        }
        let mut off = loc.span.start + 3;
        let rest = src.text.get(off..).unwrap_or("");
        if rest.starts_with("\r\n") {
            off += 2;
        } else if rest.starts_with('\n') {
            off += 1;
        }
        let (l, c) = src.lines.line_col(&src.text, off);
        if tmpl_line <= 1 {
            (l, c)
        } else {
            (l + tmpl_line - 1, 1)
        }
    }
}
