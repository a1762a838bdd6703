//! The early check of a rule's own SQL: one statement, a query, nothing that writes.
//!
//! This is the clear error `check` gives; it is not the protection. Every source query
//! also runs in a read-only transaction on a connection that refuses writes (see
//! `sql.rs`), so a form this lexical check cannot see (a function with side effects, a
//! dialect's oddity) still cannot change the source database.

/// Words that only a statement which writes, or changes the session, would contain
/// outside strings and quoted names. `INTO` is here because `SELECT … INTO t` creates a
/// table in PostgreSQL.
const WRITING_WORDS: &[&str] = &[
    "insert", "update", "delete", "merge", "upsert", "replace", "drop", "alter", "create",
    "truncate", "grant", "revoke", "attach", "detach", "pragma", "vacuum", "reindex", "copy",
    "call", "into", "lock",
];

/// Refuses a rule query that is not exactly one `SELECT` or `WITH … SELECT` statement.
/// The message says what was found and what is expected.
pub fn check_read_only_query(sql: &str) -> Result<(), String> {
    let code = code_outside_literals(sql)?;
    let statements: Vec<&str> = code
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let statement = match statements.as_slice() {
        [] => return Err("`query` is empty; expected one SELECT statement".to_owned()),
        [one] => *one,
        more => {
            return Err(format!(
                "`query` holds {} statements; expected exactly one SELECT (a rule only reads)",
                more.len()
            ))
        }
    };
    let words = words_of(statement);
    let first = words.first().map(String::as_str).unwrap_or("");
    if first != "select" && first != "with" {
        return Err(format!(
            "`query` starts with {:?}; expected SELECT or WITH (a rule only reads)",
            first.to_ascii_uppercase()
        ));
    }
    if let Some(word) = words.iter().find(|w| WRITING_WORDS.contains(&w.as_str())) {
        return Err(format!(
            "`query` contains {:?}, which writes or changes the database; a rule only reads",
            word.to_ascii_uppercase()
        ));
    }
    Ok(())
}

/// The lower-cased words (identifier-like runs) of code, in order.
fn words_of(code: &str) -> Vec<String> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The text with every string literal, quoted name and comment replaced by a space, so
/// that semicolons and keywords inside them do not count.
fn code_outside_literals(sql: &str) -> Result<String, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        let skipped_to = match (c, next) {
            ('-', Some('-')) => Some(skip_line_comment(&chars, i)),
            ('/', Some('*')) => Some(skip_block_comment(&chars, i)?),
            ('\'', _) => Some(skip_quoted(&chars, i, c, is_escape_string(&chars, i))?),
            ('"', _) | ('`', _) => Some(skip_quoted(&chars, i, c, false)?),
            ('[', _) => Some(skip_quoted(&chars, i, ']', false)?),
            ('$', _) => match dollar_tag(&chars, i) {
                Some(tag) => Some(skip_dollar_quoted(&chars, i, &tag)?),
                None => None,
            },
            _ => None,
        };
        match skipped_to {
            // A literal or comment separates words like a space does.
            Some(end) => {
                out.push(' ');
                i = end;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn skip_line_comment(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while chars.get(i).is_some_and(|&c| c != '\n') {
        i += 1;
    }
    i
}

/// Skips `/* … */`, nested as PostgreSQL nests them.
fn skip_block_comment(chars: &[char], start: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut i = start;
    loop {
        match (chars.get(i), chars.get(i + 1)) {
            (Some('/'), Some('*')) => {
                depth += 1;
                i += 2;
            }
            (Some('*'), Some('/')) => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            }
            (Some(_), _) => i += 1,
            (None, _) => return Err("`query` has a /* comment that never ends".to_owned()),
        }
    }
}

/// True when the quote at `quote` opens a PostgreSQL `E'…'` string, the only kind in
/// which a backslash escapes (elsewhere, in both dialects, it is an ordinary character).
fn is_escape_string(chars: &[char], quote: usize) -> bool {
    let before = |n: usize| quote.checked_sub(n).and_then(|i| chars.get(i)).copied();
    matches!(before(1), Some('e' | 'E'))
        && !before(2).is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// Skips a literal opened at `start` and closed by `close`; a doubled closer is an
/// escaped one (`'it''s'`), and in an `E'…'` string so is a backslashed one.
fn skip_quoted(
    chars: &[char],
    start: usize,
    close: char,
    backslash_escapes: bool,
) -> Result<usize, String> {
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            Some('\\') if backslash_escapes => i += 2,
            Some(&c) if c == close => {
                if chars.get(i + 1) == Some(&close) && close != ']' {
                    i += 2;
                } else {
                    return Ok(i + 1);
                }
            }
            Some(_) => i += 1,
            None => {
                return Err(format!(
                    "`query` has a literal opened with {:?} that never closes",
                    chars.get(start).copied().unwrap_or(close)
                ))
            }
        }
    }
}

/// The tag of a PostgreSQL dollar quote starting at `start` (`$$` or `$name$`); `$1`
/// (a parameter) is not one.
fn dollar_tag(chars: &[char], start: usize) -> Option<String> {
    let mut i = start + 1;
    let mut tag = String::from("$");
    while let Some(&c) = chars.get(i) {
        if c == '$' {
            tag.push('$');
            return Some(tag);
        }
        let starts_ok = i > start + 1 || !c.is_ascii_digit();
        if !(c.is_alphanumeric() || c == '_') || !starts_ok {
            return None;
        }
        tag.push(c);
        i += 1;
    }
    None
}

fn skip_dollar_quoted(chars: &[char], start: usize, tag: &str) -> Result<usize, String> {
    let tag: Vec<char> = tag.chars().collect();
    let mut i = start + tag.len();
    while i + tag.len() <= chars.len() {
        if chars.get(i..i + tag.len()) == Some(tag.as_slice()) {
            return Ok(i + tag.len());
        }
        i += 1;
    }
    Err("`query` has a $-quoted string that never closes".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_select_or_with_passes() {
        for ok in [
            "SELECT ts, value FROM m WHERE ts > $1 AND ts <= $2",
            "select ts, value from m;",
            "  WITH x AS (SELECT 1 AS value) SELECT 0 AS ts, value FROM x",
            "SELECT ts, value FROM m WHERE note = 'a; DROP TABLE m' -- ; delete\n",
            "SELECT ts, value /* ; update */ FROM m WHERE \"update\" = 1",
            "SELECT ts, $tag$; DELETE$tag$ AS label, value FROM m",
            "SELECT ts, value FROM m WHERE s = 'it''s; insert'",
            "SELECT updated_at AS ts, deleted_count AS value FROM m",
            "SELECT ts, E'\\'; drop' AS label, value FROM m",
        ] {
            assert_eq!(check_read_only_query(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn writes_and_second_statements_are_refused() {
        for (bad, says) in [
            (
                "DELETE FROM m RETURNING ts, value",
                "starts with \"DELETE\"",
            ),
            ("SELECT ts, value FROM m; DROP TABLE m", "2 statements"),
            (
                "WITH d AS (DELETE FROM m RETURNING *) SELECT ts, value FROM d",
                "contains \"DELETE\"",
            ),
            ("SELECT ts, value INTO copy FROM m", "contains \"INTO\""),
            ("PRAGMA query_only = OFF", "starts with \"PRAGMA\""),
            ("", "empty"),
            ("-- only a comment", "empty"),
            ("SELECT 'never closed", "never closes"),
            ("SELECT 1 /* open", "never ends"),
            ("SELECT 'a\\'; DROP TABLE m; --'", "2 statements"),
        ] {
            let err = check_read_only_query(bad).expect_err(bad);
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
