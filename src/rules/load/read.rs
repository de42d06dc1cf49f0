//! Reading a rules directory: which entries are rule files, and their text in name order.

use std::path::{Path, PathBuf};

use crate::rules::Diagnostic;

/// The `*.toml` files of `dir` with their text, in name order.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<(PathBuf, String)>, Vec<Diagnostic>> {
    let at_dir = |message: String| {
        vec![Diagnostic {
            file: dir.to_path_buf(),
            line: 1,
            col: 1,
            message,
        }]
    };
    let entries = std::fs::read_dir(dir)
        .map_err(|e| at_dir(format!("cannot read the rules directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| is_rule_file(p))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(at_dir("no *.toml rule files in this directory".into()));
    }
    let mut files = Vec::with_capacity(paths.len());
    let mut diags = Vec::new();
    for path in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((path, text)),
            Err(e) => diags.push(Diagnostic {
                file: path,
                line: 1,
                col: 1,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(diags)
    }
}

/// Whether a directory entry is a rule file (also used by the watcher to filter events).
pub(crate) fn is_rule_file(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    !name.starts_with('.') && name.ends_with(".toml") && !path.is_dir()
}
