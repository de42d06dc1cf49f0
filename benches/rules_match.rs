//! Rule matching cost at 10 and 10,000 rules: it must not grow with the number of rules
//! (exact → HashMap, contains/prefix/suffix → one Aho-Corasick pass, regex → one RegexSet pass).
//!
//! Run: `cargo bench --bench rules_match`.

use std::hint::black_box;
use std::path::Path;

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use onecard::rules::{ActionCatalog, RuleTable, Trigger, load_dir};

struct NoActions;
impl ActionCatalog for NoActions {
    fn fields(&self, _action: &str) -> Option<&'static [&'static str]> {
        None
    }
    fn messages(&self, _action: &str) -> &'static [&'static str] {
        &[]
    }
    fn all_messages(&self) -> Vec<&'static str> {
        Vec::new()
    }
}

/// `n` rules: each with an exact and a contains keyword, every 10th with a prefix, every 100th
/// with a regex; plus a default rule.
fn table(dir: &Path, n: usize) -> RuleTable {
    let mut text = String::from("[[rule]]\nid = \"fallback\"\ndefault = true\nreply = \"默认\"\n");
    for i in 0..n {
        text.push_str(&format!(
            "\n[[rule]]\nid = \"r{i}\"\nexact = [\"关键词{i}\"]\ncontains = [\"包含{i}号\"]\n"
        ));
        if i % 10 == 0 {
            text.push_str(&format!("prefix = [\"前缀{i}号\"]\n"));
        }
        if i % 100 == 0 {
            text.push_str(&format!("regex = ['^编号{i}-(\\d+)$']\n"));
        }
        text.push_str(&format!("reply = \"回复{i}\"\n"));
    }
    std::fs::write(dir.join("bench.toml"), text).expect("write rules");
    load_dir(dir, &NoActions).expect("rules load")
}

fn bench(c: &mut Criterion) {
    let now = NaiveDate::from_ymd_opt(2026, 11, 25)
        .and_then(|d| d.and_hms_opt(10, 0, 0))
        .expect("date");
    let mut group = c.benchmark_group("rules_match");
    for n in [10usize, 10_000] {
        let dir = tempfile::tempdir().expect("tempdir");
        let t = table(dir.path(), n);
        let cases = [
            ("exact", "关键词7".to_owned()),
            ("contains", "请帮我查一下包含7号的情况".to_owned()),
            ("prefix", "前缀0号 后面的内容".to_owned()),
            ("regex", "编号0-12345".to_owned()),
            ("default", "这句话什么也匹配不上，只能走默认回复".to_owned()),
        ];
        for (name, input) in &cases {
            group.bench_with_input(BenchmarkId::new(*name, n), input, |b, input| {
                b.iter(|| t.route(black_box(&Trigger::Text(input)), now))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
