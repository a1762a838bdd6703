//! Compact numbers for persisted detector state: an f32 written to JSON as its shortest
//! decimal ("10.019804"), not as the f64 it widens to ("10.019804000854492").

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An f32 that persists as its shortest decimal and restores exactly.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd)]
pub struct ShortF32(pub f32);

impl ShortF32 {
    /// The value, widened.
    pub fn get(self) -> f64 {
        f64::from(self.0)
    }
}

impl Serialize for ShortF32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The f64 nearest to the f32's shortest decimal prints as that decimal and
        // narrows back to the same f32.
        let short: f64 = self.0.to_string().parse().unwrap_or(f64::from(self.0));
        s.serialize_f64(short)
    }
}

impl<'de> Deserialize<'de> for ShortF32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(|v| ShortF32(v as f32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_short_and_restores_exactly() {
        for v in [10.019804f32, -3.3e-7, 1.0e10, 0.0, f32::MAX] {
            let json = serde_json::to_value(ShortF32(v)).unwrap();
            assert!(json.to_string().len() <= 14, "{json}");
            let back: ShortF32 = serde_json::from_value(json).unwrap();
            assert_eq!(back.0.to_bits(), v.to_bits());
        }
        assert_eq!(
            serde_json::to_value(ShortF32(10.019804))
                .unwrap()
                .to_string(),
            "10.019804"
        );
    }
}
