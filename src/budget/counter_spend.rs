//! A budget's spend from a Prometheus-format source (a Prometheus server, `kind =
//! "prometheus"`, or a scraped endpoint, `kind = "scrape"`): `metric` names a counter of
//! spend such as `llm_cost_usd_total`, whose increase over time is the spend, and the
//! counter's series labels are the labels `filter` and `group_by` speak of.

use std::ops::Range;
use std::str::FromStr;

use toml::Spanned;

use crate::budget::settings::BudgetConfig;
use crate::model::Labels;
use crate::sources::query::check_metric_name;
use crate::sources::{RuleQuery, SourceKind};
use crate::types::LabelName;

/// The counter a budget over the `kind` source `source` reads, every problem reported.
pub fn counter_spend(
    cfg: &BudgetConfig,
    source: &str,
    kind: SourceKind,
    err: &mut impl FnMut(Range<usize>, String),
) -> Option<RuleQuery> {
    let kind_name = match kind {
        SourceKind::Scrape => "scrape",
        _ => "prometheus",
    };
    if let Some(q) = &cfg.query {
        err(
            q.span(),
            format!("source {source:?} is a {kind_name} source: name a counter of spend with `metric` (e.g. \"llm_cost_usd_total\"); `query` needs a sql source"),
        );
        return None;
    }
    let Some(m) = &cfg.metric else {
        err(
            cfg.name.span(),
            format!("budget needs `metric`: the counter of spend on {kind_name} source {source:?}, e.g. \"llm_cost_usd_total\""),
        );
        return None;
    };
    if let Err(e) = check_metric_name(m.get_ref()) {
        err(
            m.span(),
            format!("{e} (source {source:?} is a {kind_name} source: `metric` names a counter of spend)"),
        );
    }
    let filter = counter_filter(cfg, m, kind, err);
    Some(RuleQuery::Increase {
        metric: m.get_ref().clone(),
        filter,
    })
}

/// `filter` as label matchers on the counter's series: label names checked, and `!x`
/// (any value but x) only where PromQL can say it.
fn counter_filter(
    cfg: &BudgetConfig,
    m: &Spanned<String>,
    kind: SourceKind,
    err: &mut impl FnMut(Range<usize>, String),
) -> Labels {
    for (k, v) in &cfg.filter {
        if let Err(e) = LabelName::from_str(k) {
            err(m.span(), format!("in `filter`: {e}"));
        }
        if kind == SourceKind::Scrape && v.starts_with('!') {
            err(
                m.span(),
                format!("in `filter`: {k} = {v:?}: a scrape source matches equal values only; `!` needs a prometheus source"),
            );
        }
    }
    Labels(cfg.filter.clone().into_iter().collect())
}

#[cfg(test)]
mod tests {
    use crate::budget::parse_budgets;
    use crate::model::Labels;
    use crate::rule::RuleContext;
    use crate::sources::{RuleQuery, SourceKind};
    use crate::types::SourceFile;

    fn ctx() -> RuleContext {
        RuleContext {
            sources: vec!["prom".to_owned(), "scraped".to_owned()],
            source_kinds: [
                ("prom".to_owned(), SourceKind::Prometheus),
                ("scraped".to_owned(), SourceKind::Scrape),
            ]
            .into(),
            receivers: vec!["hook".to_owned()],
            default_receivers: vec!["hook".to_owned()],
        }
    }

    #[test]
    fn a_counter_of_spend_is_read_per_series_labels() {
        let text = r#"[[budget]]
name = "m"
source = "prom"
metric = "llm_cost_usd_total"
filter = { model = "!o1" }
group_by = ["model"]
amount = 100
period = "month"
"#;
        let b = parse_budgets(&[SourceFile::new("p.toml", text)], &ctx()).unwrap();
        let want = RuleQuery::Increase {
            metric: "llm_cost_usd_total".to_owned(),
            filter: Labels::from([("model", "!o1")]),
        };
        assert_eq!(b[0].query, want);
        assert_eq!(b[0].unit, crate::budget::Unit::Usd);
        assert_eq!(b[0].group_names(), ["model"]);
    }

    #[test]
    fn mistakes_are_placed_and_explained() {
        let bad = r#"[[budget]]
name = "a"
source = "prom"
metric = "llm.cost"
amount = 1
period = "day"

[[budget]]
name = "b"
source = "prom"
query = "SELECT 1"
amount = 1
period = "day"

[[budget]]
name = "c"
source = "scraped"
metric = "llm_cost_usd_total"
filter = { model = "!o1" }
amount = 1
period = "day"

[[budget]]
name = "d"
source = "scraped"
amount = 1
period = "day"
"#;
        let e = parse_budgets(&[SourceFile::new("b.toml", bad)], &ctx()).unwrap_err();
        let all: Vec<String> =
            e.0.iter()
                .map(|e| format!("{}:{}:{} {}", e.file, e.line, e.column, e.message))
                .collect();
        let all = all.join("\n");
        for want in [
            "b.toml:4:10 budget \"a\": invalid metric name \"llm.cost\"",
            "b.toml:11:9 budget \"b\": source \"prom\" is a prometheus source: name a counter of spend with `metric`",
            "b.toml:18:10 budget \"c\": in `filter`: model = \"!o1\": a scrape source matches equal values only",
            "b.toml:24:8 budget \"d\": budget needs `metric`: the counter of spend on scrape source \"scraped\"",
        ] {
            assert!(all.contains(want), "{want:?} in\n{all}");
        }
        assert_eq!(e.0.len(), 4, "{all}");
    }
}
