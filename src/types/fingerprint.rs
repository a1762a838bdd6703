//! Alert fingerprints: the stable identity of one (rule, label set), 16 lowercase hex
//! digits, the same on every machine and after every restart.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Digits in a fingerprint (the first 8 bytes of a SHA-256, in hex).
const DIGITS: usize = 16;

/// An alert's fingerprint; only ever 16 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint(String);

impl Fingerprint {
    /// The fingerprint of a digest's first 8 bytes.
    pub fn from_digest(bytes: &[u8; 8]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// Reads a fingerprint (from a URL, a command line, a stored row).
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text.len() == DIGITS
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(text.to_owned()))
        } else {
            Err(format!(
                "fingerprint {text:?}: expected {DIGITS} lowercase hex digits"
            ))
        }
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Fingerprint {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Fingerprint> for String {
    fn from(f: Fingerprint) -> String {
        f.0
    }
}

impl Deref for Fingerprint {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Fingerprint {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Fingerprint {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Fingerprint {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Fingerprint {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Fingerprint {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sixteen_lowercase_hex_digits_are_a_fingerprint() {
        let f = Fingerprint::from_digest(&[0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 0xff]);
        assert_eq!(f.as_str(), "deadbeef000102ff");
        assert_eq!(Fingerprint::parse("deadbeef000102ff"), Ok(f.clone()));
        for bad in [
            "",
            "deadbeef",
            "DEADBEEF000102FF",
            "deadbeef000102fg",
            "deadbeef000102ff0",
        ] {
            assert!(Fingerprint::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&f).unwrap();
        assert_eq!(json, "\"deadbeef000102ff\"");
        assert!(serde_json::from_str::<Fingerprint>("\"nope\"").is_err());
    }
}
