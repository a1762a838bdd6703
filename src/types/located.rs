//! Config error reporting: every problem with its file:line:col, collected, never first-only.

use std::fmt;
use std::ops::Range;

/// One problem found in a configuration or rule file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in.
    pub file: String,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column (in characters), 0 when unknown.
    pub column: usize,
    /// The rule the problem belongs to, when it is inside one.
    pub rule: Option<String>,
    /// What was expected and what was found.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(rule) = &self.rule {
            write!(f, "rule {rule:?}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem found in one load, in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl ConfigErrors {
    /// True when nothing was wrong.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Ok(value) when no errors were collected, else the errors.
    pub fn into_result<T>(self, value: T) -> Result<T, ConfigErrors> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

/// A problem a component's validator found in the values it was given, before the
/// configuration loader places it in its file: a plain message and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where the problem is.
    pub place: Place,
    /// What was expected and what was found.
    pub message: String,
}

/// Where a [`Problem`] is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The bytes of the file being validated it concerns (`None`: no one place).
    Span(Option<Range<usize>>),
    /// A line and column (1-based, 0 when unknown) of another file the configuration
    /// names, such as a template.
    File {
        /// That file's path as shown in errors.
        path: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// 1-based column, 0 when unknown.
        column: usize,
    },
}

impl Problem {
    /// A problem about the bytes `span` of the file being validated.
    pub fn at(span: Option<Range<usize>>, message: impl Into<String>) -> Self {
        Self {
            place: Place::Span(span),
            message: message.into(),
        }
    }
}

/// The text of one file, able to turn byte offsets into line:col positions.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path shown in errors.
    pub path: String,
    /// The whole text.
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// Indexes `text` for position look-ups.
    pub fn new(path: impl Into<String>, text: impl Into<String>) -> Self {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            path: path.into(),
            text,
            line_starts,
        }
    }

    /// 1-based (line, column) of a byte offset; the column counts characters.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        // `line_starts` begins with 0, so `Err(0)` cannot happen.
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        // Characters begin at every byte that is not a UTF-8 continuation byte; counting
        // those also copes with an offset inside a character.
        let column = self
            .text
            .as_bytes()
            .get(start..offset)
            .map_or(0, |b| b.iter().filter(|&&c| (c & 0xC0) != 0x80).count())
            + 1;
        (line + 1, column)
    }

    /// An error at the start of `span` (or at 0:0 when the span is unknown).
    pub fn error(
        &self,
        span: Option<Range<usize>>,
        rule: Option<&str>,
        message: impl Into<String>,
    ) -> ConfigError {
        let (line, column) = span.map(|s| self.position(s.start)).unwrap_or((0, 0));
        ConfigError {
            file: self.path.clone(),
            line,
            column,
            rule: rule.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A component's problem placed: at its span of this file, or where it says in
    /// another file; `prefix` goes before its message (e.g. `receiver "hook": `).
    pub fn place(&self, problem: Problem, prefix: &str) -> ConfigError {
        let message = format!("{prefix}{}", problem.message);
        match problem.place {
            Place::Span(span) => self.error(span, None, message),
            Place::File { path, line, column } => ConfigError {
                file: path,
                line,
                column,
                rule: None,
                message,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_count_characters() {
        let f = SourceFile::new("r.toml", "a = 1\nσσ = 2\n");
        assert_eq!(f.position(0), (1, 1));
        assert_eq!(f.position(4), (1, 5));
        assert_eq!(f.position(6), (2, 1));
        // 'σ' is two bytes: the '=' after "σσ " is the 4th character.
        assert_eq!(f.position(6 + 5), (2, 4));
    }
}
