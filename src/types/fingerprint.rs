//! Alert fingerprints: the stable identity of one (rule, label set), 16 lowercase hex
//! digits, the same on every machine and after every restart.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};

/// Digits in a fingerprint (the first 8 bytes of a SHA-256, in hex).
const DIGITS: usize = 16;

/// An alert's fingerprint; only ever 16 lowercase hex digits, held inline (no heap):
/// the evaluation looks one up per series per tick, and a pointer to chase would be a
/// cache miss each time.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Fingerprint([u8; DIGITS]);

impl Fingerprint {
    /// The fingerprint of a digest's first 8 bytes.
    pub fn from_digest(bytes: &[u8; 8]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut digits = [0u8; DIGITS];
        for (i, b) in bytes.iter().enumerate() {
            digits[2 * i] = HEX[(b >> 4) as usize];
            digits[2 * i + 1] = HEX[(b & 0xf) as usize];
        }
        Self(digits)
    }

    /// Reads a fingerprint (from a URL, a command line, a stored row).
    pub fn parse(text: &str) -> Result<Self, String> {
        let valid = text.len() == DIGITS
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match <[u8; DIGITS]>::try_from(text.as_bytes()) {
            Ok(digits) if valid => Ok(Self(digits)),
            _ => Err(format!(
                "fingerprint {text:?}: expected {DIGITS} lowercase hex digits"
            )),
        }
    }

    /// Its text.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored (from_digest, parse).
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Hashed as its text, as `Borrow<str>` requires (maps keyed by fingerprints are looked
/// up by `&str`).
impl std::hash::Hash for Fingerprint {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Fingerprint").field(&self.as_str()).finish()
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
        f.as_str().to_owned()
    }
}

impl Deref for Fingerprint {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Fingerprint {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Fingerprint {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for Fingerprint {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Fingerprint {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Fingerprint {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
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
