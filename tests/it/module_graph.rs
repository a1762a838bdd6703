//! The import graph between the top-level modules of `src/` stays one-way: any cycle
//! fails this test.
//!
//! An edge A -> B is what the shared `module_graph.py` counts (this test must not depend on
//! that tool, so it repeats its reading): any `crate::B…` path, or a name `B` in a
//! `use crate::{…}` group, in a file under `src/A/` (or `src/A.rs`), comments and test
//! modules included, so it errs on the side of seeing an edge. Only names of top-level
//! modules of `src/` count.
//!
//! Issue 16 broke up the one cycle that bound nine modules together, a step at a time with
//! a shrinking list of its members here; now there is none, and none may appear. When a
//! new edge closes a cycle, the fix is to move the shared value down (into `types/` or
//! `model`), or to hand the lower module what it needs as a value or a trait object,
//! not to add an exception here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file or directory directly under `src/` stands for.
fn module_name(first_component: &str) -> String {
    first_component
        .strip_suffix(".rs")
        .unwrap_or(first_component)
        .to_owned()
}

/// The names a `use crate::{…}` group's text mentions at its top level of paths: a
/// lowercase name after the start, a comma, a brace or a space, followed by `::`, a comma, a
/// brace or the end (the reference tool's reading).
fn group_names(group: &str) -> Vec<String> {
    let bytes = group.as_bytes();
    let is_start = |b: u8| b.is_ascii_lowercase() || b == b'_';
    let is_ident = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let after_delimiter =
            i == 0 || matches!(bytes[i - 1], b',' | b'{') || bytes[i - 1].is_ascii_whitespace();
        if !(after_delimiter && is_start(bytes[i])) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < bytes.len() && is_ident(bytes[end]) {
            end += 1;
        }
        let rest = &group[end..];
        let trimmed = rest.trim_start();
        if rest.starts_with("::")
            || trimmed.is_empty()
            || trimmed.starts_with(',')
            || trimmed.starts_with('}')
        {
            names.push(group[i..end].to_owned());
        }
        i = end;
    }
    names
}

/// The edges between top-level modules of `src`: A -> the set of B.
fn module_edges(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| module_name(&e.unwrap().file_name().to_string_lossy()))
        .collect();
    let path_re = Regex::new(r"\bcrate::([a-z_][a-z0-9_]*)").unwrap();
    let group_re = Regex::new(r"(?s)use\s+crate::\{([^;]*)\}").unwrap();
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(src).unwrap();
        let first = rel.components().next().unwrap().as_os_str();
        let me = module_name(&first.to_string_lossy());
        let text = std::fs::read_to_string(&file).unwrap();
        let mut targets: Vec<String> = path_re
            .captures_iter(&text)
            .map(|c| c[1].to_owned())
            .collect();
        for group in group_re.captures_iter(&text) {
            targets.extend(group_names(&group[1]));
        }
        for t in targets {
            if t != me && known.contains(&t) {
                edges.entry(me.clone()).or_default().insert(t);
            }
        }
    }
    edges
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<BTreeSet<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<BTreeSet<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let low = self.low[v].min(self.low[w]);
                    self.low.insert(v, low);
                } else if self.on_stack.contains(w) {
                    let low = self.low[v].min(self.index[w]);
                    self.low.insert(v, low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = BTreeSet::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(w);
                    component.insert(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    let nodes: BTreeSet<&str> = edges
        .iter()
        .flat_map(|(a, bs)| std::iter::once(a.as_str()).chain(bs.iter().map(String::as_str)))
        .collect();
    for v in nodes {
        if !walk.index.contains_key(v) {
            walk.visit(v);
        }
    }
    walk.found
}

#[test]
fn no_import_cycle_between_top_level_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let edges = module_edges(&src);
    let found = cycles(&edges);
    assert!(
        found.is_empty(),
        "import cycles between top-level modules of src/: {found:?}; edges: {edges:?}"
    );
}

#[test]
fn the_graph_reading_sees_paths_and_use_groups() {
    assert_eq!(
        group_names("config::{Rule, RuleSet}, engine::Alert, model, store::{self}"),
        ["config", "engine", "model", "store", "self"]
    );
    let mut edges = BTreeMap::new();
    for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d"), ("d", "e")] {
        edges
            .entry(a.to_owned())
            .or_insert_with(BTreeSet::new)
            .insert(b.to_owned());
    }
    let found = cycles(&edges);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0], ["a", "b", "c"].map(String::from).into());
}
