//! Reading configuration text: UTF-8 checked with the place of a bad byte, and TOML
//! errors worded with their position and a "did you mean". Rule files and
//! `driftwatch.toml` are read the same way.

use std::path::Path;

use crate::types::{ConfigError, ConfigErrors};

/// The file's text, or one located error: unreadable, or not UTF-8 (with the place of
/// the first bad byte).
pub fn read(path: &Path) -> Result<String, ConfigErrors> {
    let error = |line, column, message| {
        ConfigErrors(vec![ConfigError {
            file: path.display().to_string(),
            line,
            column,
            rule: None,
            message,
        }])
    };
    let bytes = std::fs::read(path).map_err(|e| error(0, 0, format!("cannot read: {e}")))?;
    String::from_utf8(bytes).map_err(|e| {
        let bad = e.utf8_error().valid_up_to();
        let (line, column) = text_position(e.as_bytes(), bad);
        let byte = e.as_bytes().get(bad).copied().unwrap_or_default();
        error(
            line,
            column,
            format!("byte 0x{byte:02x} is not UTF-8; rule and config files must be UTF-8 text"),
        )
    })
}

/// 1-based (line, column in characters) of byte `offset`, where everything before it is
/// valid UTF-8.
pub fn text_position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = std::str::from_utf8(bytes.get(..offset).unwrap_or_default()).unwrap_or_default();
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
    (line, column)
}

/// A TOML error's message. toml gives some syntax errors (a control character in a
/// comment, say) no message at all: those name the character found instead of printing
/// an empty error.
pub fn toml_message(e: &toml::de::Error, text: &str) -> String {
    if !e.message().trim().is_empty() {
        return e.message().to_owned();
    }
    let found = e
        .span()
        .and_then(|s| text.get(s.start..))
        .and_then(|rest| rest.chars().next());
    match found {
        Some(c) => format!("invalid TOML: unexpected {c:?}"),
        None => "invalid TOML".to_owned(),
    }
}

/// Adds "did you mean `x`?" to serde's unknown field/variant messages.
pub fn with_suggestion(message: &str) -> String {
    let Some(rest) = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))
    else {
        return message.to_owned();
    };
    let Some((found, expected)) = rest.split_once('`') else {
        return message.to_owned();
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::damerau_levenshtein(found, candidate), candidate))
        .min();
    match best {
        Some((distance, candidate)) if distance <= 2 => {
            format!("{message}; did you mean `{candidate}`?")
        }
        _ => message.to_owned(),
    }
}
