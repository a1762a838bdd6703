//! Refuses `nan` and `inf` anywhere in a TOML file, with the value's line:col.
//!
//! TOML allows them as floats, but no driftwatch setting means anything by one: a NaN
//! limit never breaches, and a rule holding one compares unequal to itself, so every
//! reload would see it changed. One walk over the whole document covers every number
//! field, present and future, instead of a check beside each.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use crate::types::{ConfigError, SourceFile};

/// One value of the document, with where it is.
struct Node(Spanned<Value>);

/// What matters of a value here: floats, and the containers that may hold them.
enum Value {
    Float(f64),
    Table(BTreeMap<String, Node>),
    Array(Vec<Node>),
    Other,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Spanned::<Value>::deserialize(d).map(Node)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Value, E> {
        Ok(Value::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Value, E> {
        Ok(Value::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Value, E> {
        Ok(Value::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Value, E> {
        Ok(Value::Other)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut table = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            // A datetime arrives as a one-entry map with a private key; it holds no float.
            if key.starts_with("$__") {
                map.next_value::<IgnoredAny>()?;
                return Ok(Value::Other);
            }
            table.insert(key, map.next_value::<Node>()?);
        }
        Ok(Value::Table(table))
    }
}

/// Every `nan`/`inf` in `file`, each an error at its position naming its key. A syntax
/// error is left to the parser that reports it properly.
pub fn non_finite_numbers(file: &SourceFile) -> Vec<ConfigError> {
    let Ok(root) = toml::from_str::<BTreeMap<String, Node>>(&file.text) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for (key, node) in &root {
        collect(key, node, &mut found);
    }
    found
        .into_iter()
        .map(|(key, value, span)| {
            file.error(
                Some(span),
                None,
                format!("`{key}` is {value}; expected a finite number"),
            )
        })
        .collect()
}

fn collect(key: &str, node: &Node, found: &mut Vec<(String, f64, Range<usize>)>) {
    match node.0.get_ref() {
        Value::Float(v) if !v.is_finite() => found.push((key.to_owned(), *v, node.0.span())),
        Value::Table(table) => {
            for (k, child) in table {
                collect(k, child, found);
            }
        }
        Value::Array(items) => {
            for child in items {
                collect(key, child, found);
            }
        }
        Value::Float(_) | Value::Other => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_inf_are_found_where_they_are() {
        let text = "a = 1.5\n[[rule]]\nname = \"r\"\nwhen = 2026-01-01T00:00:00Z\n\
                    detector = { kind = \"threshold\", above = nan, recover_below = -inf }\n\
                    list = [1.0, +inf]\n";
        let file = SourceFile::new("r.toml", text);
        let errors = non_finite_numbers(&file);
        let got: Vec<(usize, usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.column, e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (5, 42, "`above` is NaN; expected a finite number"),
                (5, 63, "`recover_below` is -inf; expected a finite number"),
                (6, 14, "`list` is inf; expected a finite number"),
            ]
        );
    }

    #[test]
    fn finite_documents_and_broken_ones_give_nothing_here() {
        assert!(non_finite_numbers(&SourceFile::new("a", "x = 1e300\ny = -0.0\n")).is_empty());
        assert!(non_finite_numbers(&SourceFile::new("a", "x = = 1\n")).is_empty());
    }
}
