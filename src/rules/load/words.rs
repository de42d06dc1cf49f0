//! The `[words]` tables: the whole replies that mean something inside a dialog — cancel it,
//! confirm, finish, skip a step, ask for a new code, name a day or a month.
//!
//! Why it exists: these are the operator's words like every other text the account answers to,
//! so 「算了」 can become a cancel word without a release. The build declares which lists it
//! reads (each action through [`ActionCatalog::words`], the router and every action through
//! [`ActionCatalog::all_words`]); a list nobody reads is a misspelling, an empty list would
//! leave a dialog with no way out, and a list the build reads must exist.
//!
//! It never decides what a word does: it checks the lists and hands them to the table in
//! matching form ([`word_key`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::{Loc, Validator};
use crate::rules::model::RuleFile;
use crate::rules::{ActionCatalog, Diagnostic, ROUTER_READS, word_key};

/// Every list of the table: its name → its words in matching form.
pub(crate) type WordLists = HashMap<String, HashSet<String>>;

impl Validator {
    /// Check every `[words]` table against what the build reads, and every rule's action against
    /// the lists it needs; return the lists (complete only when no error was added).
    pub(super) fn words(
        &mut self,
        parsed: &[(usize, RuleFile)],
        catalog: &dyn ActionCatalog,
    ) -> WordLists {
        let readers = readers(catalog);
        let known: Vec<&'static str> = readers.keys().copied().collect();
        let mut lists = WordLists::new();
        let mut defined: HashMap<String, Loc> = HashMap::new();
        for (file, f) in parsed {
            for (name, words) in &f.words {
                let name_loc = Loc {
                    file: *file,
                    span: name.span(),
                };
                let list = name.get_ref().trim();
                if !readers.contains_key(list) {
                    let hint = super::hints::did_you_mean_suffix(list, &known);
                    self.error(
                        &name_loc,
                        format!(
                            "unknown word list `{list}`{hint} (lists: {})",
                            known.join(", ")
                        ),
                    );
                    continue;
                }
                if let Some(first) = defined.get(list) {
                    let first = self.short(first);
                    self.error(
                        &name_loc,
                        format!("duplicate word list `{list}`: already defined at {first}"),
                    );
                    continue;
                }
                defined.insert(list.to_owned(), name_loc);
                let mut keys = HashSet::new();
                for word in words.get_ref() {
                    let key = word_key(word.get_ref());
                    if key.is_empty() {
                        let loc = Loc {
                            file: *file,
                            span: word.span(),
                        };
                        self.error(&loc, format!("empty word in the word list `{list}`"));
                        continue;
                    }
                    keys.insert(key);
                }
                if words.get_ref().is_empty() {
                    let loc = Loc {
                        file: *file,
                        span: words.span(),
                    };
                    self.error(
                        &loc,
                        format!("empty word list `{list}`: it needs at least one word"),
                    );
                }
                lists.insert(list.to_owned(), keys);
            }
        }

        // A rule's action points at the spot to fix, like its messages.
        for (file, f) in parsed {
            for def in &f.rules {
                let Some(action) = &def.action else { continue };
                let name = action.get_ref().trim();
                for list in catalog.words(name) {
                    if !defined.contains_key(*list) {
                        let loc = Loc {
                            file: *file,
                            span: action.span(),
                        };
                        self.error(
                            &loc,
                            format!(
                                "action `{name}` needs the word list `{list}`, which no [words] table defines"
                            ),
                        );
                    }
                }
            }
        }

        self.warn_router_shadows(&readers, &lists, &defined);

        // Every list the build reads, even where no rule names the action.
        for (list, who) in &readers {
            if who.is_empty() || defined.contains_key(*list) {
                continue;
            }
            let who: Vec<String> = who.iter().map(|w| format!("`{w}`")).collect();
            self.diags.push(Diagnostic {
                file: self.dir.clone(),
                line: 1,
                col: 1,
                message: format!(
                    "word list `{list}` is used by {} but no [words] table defines it",
                    who.join(", ")
                ),
            });
        }
        lists
    }
}

impl Validator {
    /// The router compares a reply with its lists before a dialog sees it: a word of an
    /// action's list that is also the router's (「好」 added to `cancel`) never reaches the
    /// action. Legal, but rarely meant.
    fn warn_router_shadows(
        &mut self,
        readers: &BTreeMap<&'static str, BTreeSet<&'static str>>,
        lists: &WordLists,
        defined: &HashMap<String, Loc>,
    ) {
        let routers: Vec<&str> = readers
            .iter()
            .filter(|(_, who)| who.contains(ROUTER_READS))
            .map(|(list, _)| *list)
            .collect();
        for (list, who) in readers {
            if who.contains(ROUTER_READS) {
                continue;
            }
            let (Some(words), Some(loc)) = (lists.get(*list), defined.get(*list)) else {
                continue;
            };
            for router_list in &routers {
                let Some(first) = lists.get(*router_list) else {
                    continue;
                };
                let mut shared: Vec<&str> = words.intersection(first).map(String::as_str).collect();
                if shared.is_empty() {
                    continue;
                }
                shared.sort_unstable();
                let loc = loc.clone();
                self.warn(
                    &loc,
                    format!(
                        "word list `{list}` shares {} with `{router_list}`, which is checked first in any dialog: there they never reach `{list}`",
                        shared
                            .iter()
                            .map(|w| format!("`{w}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
}

/// Each list the build knows → who must have it (empty for a list only a test catalog's
/// actions declare, which is known but not required).
fn readers(catalog: &dyn ActionCatalog) -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let mut readers: BTreeMap<&'static str, BTreeSet<&'static str>> = BTreeMap::new();
    for name in catalog.names() {
        for list in catalog.words(name) {
            readers.entry(list).or_default();
        }
    }
    for (list, who) in catalog.all_words() {
        readers.entry(list).or_default().insert(who);
    }
    readers
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::rules::load::build;
    use crate::rules::{ActionCatalog, RuleTable};

    /// The router reads `cancel`; `bind_card` reads `resend`; `help` reads nothing.
    struct Readers;
    impl ActionCatalog for Readers {
        fn fields(&self, action: &str) -> Option<&'static [&'static str]> {
            matches!(action, "bind_card" | "help").then_some(&[])
        }
        fn messages(&self, _action: &str) -> &'static [&'static str] {
            &[]
        }
        fn all_messages(&self) -> Vec<&'static str> {
            Vec::new()
        }
        fn names(&self) -> Vec<&'static str> {
            vec!["bind_card", "help"]
        }
        fn words(&self, action: &str) -> &'static [&'static str] {
            match action {
                "bind_card" => &["resend"],
                _ => &[],
            }
        }
        fn all_words(&self) -> Vec<(&'static str, &'static str)> {
            vec![("cancel", "router"), ("resend", "bind_card")]
        }
    }

    const BIND: &str = "[[rule]]\nid = \"bind\"\nexact = [\"绑定\"]\naction = \"bind_card\"\n";

    fn load(files: &[(&str, &str)]) -> Result<RuleTable, Vec<String>> {
        let files = files
            .iter()
            .map(|(n, t)| (PathBuf::from(format!("rules/{n}")), (*t).to_owned()))
            .collect();
        build(Path::new("rules"), files, &Readers)
            .map_err(|d| d.iter().map(|d| d.to_string()).collect())
    }

    fn errs(files: &[(&str, &str)]) -> Vec<String> {
        match load(files) {
            Ok(_) => panic!("expected diagnostics"),
            Err(e) => e,
        }
    }

    #[test]
    fn every_list_read_is_there_and_matched_as_an_exact_keyword() {
        let t = load(&[(
            "w.toml",
            "[words]\ncancel = [\"取消\", \"Cancel\", \"算了\"]\nresend = [\"重发\"]\n",
        )])
        .unwrap();
        assert!(t.is_word("cancel", "算了"));
        assert!(t.is_word("cancel", " ＣＡＮＣＥＬ！"));
        assert!(t.is_word("cancel", "取 消。"));
        assert!(!t.is_word("cancel", "取消订单"));
        assert!(!t.is_word("cancel", "重发"));
        assert!(t.is_word("resend", "重发"));
        // A list no one declared matches nothing (and is logged).
        assert!(!t.is_word("confirm", "取消"));
    }

    #[test]
    fn a_word_the_router_takes_first_is_a_warning_at_the_shadowed_list() {
        let t = load(&[(
            "w.toml",
            "[words]\ncancel = [\"取消\", \"重发\", \"Q\"]\nresend = [\"q\", \"重发\", \"没收到\"]\n",
        )])
        .unwrap();
        let warnings: Vec<String> = t.warnings().iter().map(|d| d.to_string()).collect();
        assert_eq!(
            warnings,
            vec![
                "rules/w.toml:3:1: word list `resend` shares `q`, `重发` with `cancel`, which is checked first in any dialog: there they never reach `resend`"
            ]
        );
    }

    #[test]
    fn an_unknown_list_is_an_error_at_its_name() {
        let e = errs(&[(
            "w.toml",
            "[words]\ncancel = [\"取消\"]\nresend = [\"重发\"]\ncancle = [\"算了\"]\n",
        )]);
        assert_eq!(
            e,
            vec![
                "rules/w.toml:4:1: unknown word list `cancle`: did you mean `cancel`? (lists: cancel, resend)"
            ]
        );
    }

    #[test]
    fn an_empty_list_or_word_is_an_error_at_the_list() {
        let e = errs(&[(
            "w.toml",
            "[words]\ncancel = []\nresend = [\"重发\", \"  \"]\n",
        )]);
        assert_eq!(
            e,
            vec![
                "rules/w.toml:2:10: empty word list `cancel`: it needs at least one word",
                "rules/w.toml:3:17: empty word in the word list `resend`",
            ]
        );
    }

    #[test]
    fn a_list_defined_twice_points_at_the_first() {
        let e = errs(&[
            (
                "a.toml",
                "[words]\ncancel = [\"取消\"]\nresend = [\"重发\"]\n",
            ),
            ("b.toml", "[words]\ncancel = [\"算了\"]\n"),
        ]);
        assert_eq!(
            e,
            vec!["rules/b.toml:2:1: duplicate word list `cancel`: already defined at a.toml:2:1"]
        );
    }

    #[test]
    fn a_list_an_action_needs_is_missing_naming_both() {
        let e = errs(&[
            ("a.toml", BIND),
            ("w.toml", "[words]\ncancel = [\"取消\"]\n"),
        ]);
        assert_eq!(
            e,
            vec![
                "rules:1:1: word list `resend` is used by `bind_card` but no [words] table defines it",
                "rules/a.toml:4:10: action `bind_card` needs the word list `resend`, which no [words] table defines",
            ]
        );
        // The router's list, with no rule naming anything.
        let e = errs(&[("w.toml", "[words]\nresend = [\"重发\"]\n")]);
        assert_eq!(
            e,
            vec![
                "rules:1:1: word list `cancel` is used by `router` but no [words] table defines it"
            ]
        );
    }
}
