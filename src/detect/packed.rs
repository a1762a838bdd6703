//! Compact persisted forms of the detectors' bucket arrays: little-endian bytes in one
//! base64 string instead of JSON arrays of decimals, so a series' stored state stays under
//! 1 KiB. Values round-trip exactly; snapshots written before (plain JSON arrays) still
//! restore.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

use crate::detect::moments::Moments;

pub(crate) fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn get_uvarint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some(v);
        }
    }
    None
}

fn put_ivarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn get_ivarint(bytes: &[u8], pos: &mut usize) -> Option<i64> {
    let u = get_uvarint(bytes, pos)?;
    Some(((u >> 1) as i64) ^ -((u & 1) as i64))
}

fn take<const N: usize>(bytes: &[u8], pos: &mut usize) -> Option<[u8; N]> {
    let chunk = bytes.get(*pos..*pos + N)?;
    *pos += N;
    chunk.try_into().ok()
}

/// Either form a stored array may have.
#[derive(Deserialize)]
#[serde(untagged)]
enum Stored<T> {
    Packed(String),
    Plain(T),
}

fn decode<'de, D: Deserializer<'de>>(text: &str) -> Result<Vec<u8>, D::Error> {
    STANDARD
        .decode(text)
        .map_err(|e| D::Error::custom(format!("packed buckets: {e}")))
}

/// `#[serde(with = …)]` for a sketch's `(key, weight)` buckets: key deltas as zigzag
/// varints, weights as f32 bytes (about 5 bytes a bucket instead of 18 characters).
pub mod sketch_buckets {
    use super::*;

    /// Writes the buckets packed.
    pub fn serialize<S: Serializer>(buckets: &[(i32, f32)], s: S) -> Result<S::Ok, S::Error> {
        let mut out = Vec::with_capacity(buckets.len() * 6);
        let mut last = 0i64;
        for &(key, weight) in buckets {
            put_ivarint(&mut out, i64::from(key) - last);
            last = i64::from(key);
            out.extend_from_slice(&weight.to_le_bytes());
        }
        s.serialize_str(&STANDARD.encode(out))
    }

    /// Reads packed or plain buckets into any collection of them.
    pub fn deserialize<'de, D: Deserializer<'de>, C: FromIterator<(i32, f32)>>(
        d: D,
    ) -> Result<C, D::Error> {
        let text = match Stored::<Vec<(i32, f32)>>::deserialize(d)? {
            Stored::Plain(v) => return Ok(v.into_iter().collect()),
            Stored::Packed(text) => text,
        };
        let bytes = decode::<D>(&text)?;
        let (mut pos, mut last, mut out) = (0usize, 0i64, Vec::new());
        while pos < bytes.len() {
            let bucket = get_ivarint(&bytes, &mut pos).and_then(|delta| {
                let weight = f32::from_le_bytes(take::<4>(&bytes, &mut pos)?);
                last += delta;
                Some((i32::try_from(last).ok()?, weight))
            });
            out.push(
                bucket.ok_or_else(|| D::Error::custom("packed sketch buckets are cut short"))?,
            );
        }
        Ok(out.into_iter().collect())
    }
}

/// `#[serde(with = …)]` for a sliding window's `(bucket id, moments)`: id deltas and
/// counts as varints, mean and M2 as f64 bytes (exact).
pub mod window_buckets {
    use super::*;
    use std::collections::VecDeque;

    /// Writes the buckets packed.
    pub fn serialize<S: Serializer>(
        buckets: &VecDeque<(i64, Moments)>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_str(&packed(buckets.iter()))
    }

    /// The packed text of buckets given in order (a window's live buckets, which it
    /// keeps in two places, serialised without first copying them into one).
    pub fn packed<'a>(buckets: impl Iterator<Item = &'a (i64, Moments)>) -> String {
        let mut out = Vec::with_capacity(16 * 20);
        put(&mut out, buckets);
        STANDARD.encode(out)
    }

    /// Appends the buckets' bytes (the packed form before base64) to `out`.
    pub fn put<'a>(out: &mut Vec<u8>, buckets: impl Iterator<Item = &'a (i64, Moments)>) {
        let mut last = 0i64;
        for (id, m) in buckets {
            put_ivarint(out, id.wrapping_sub(last));
            last = *id;
            // Counts only ever grow by whole samples or by merging counts.
            put_uvarint(out, m.n.max(0.0).round() as u64);
            out.extend_from_slice(&m.mean.to_le_bytes());
            out.extend_from_slice(&m.m2.to_le_bytes());
        }
    }

    /// Reads buckets written by [`put`] from all of `bytes`; None when cut short.
    pub fn get(bytes: &[u8]) -> Option<VecDeque<(i64, Moments)>> {
        let (mut pos, mut last, mut out) = (0usize, 0i64, VecDeque::new());
        while pos < bytes.len() {
            let id = last.wrapping_add(get_ivarint(bytes, &mut pos)?);
            let n = get_uvarint(bytes, &mut pos)? as f64;
            let mean = f64::from_le_bytes(take::<8>(bytes, &mut pos)?);
            let m2 = f64::from_le_bytes(take::<8>(bytes, &mut pos)?);
            last = id;
            out.push_back((id, Moments { n, mean, m2 }));
        }
        Some(out)
    }

    /// Reads packed or plain buckets.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<VecDeque<(i64, Moments)>, D::Error> {
        let text = match Stored::<VecDeque<(i64, Moments)>>::deserialize(d)? {
            Stored::Plain(v) => return Ok(v),
            Stored::Packed(text) => text,
        };
        let bytes = decode::<D>(&text)?;
        get(&bytes).ok_or_else(|| D::Error::custom("packed window buckets are cut short"))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};
    use std::collections::VecDeque;

    use crate::detect::moments::Moments;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sketch {
        #[serde(with = "super::sketch_buckets")]
        b: Vec<(i32, f32)>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Window {
        #[serde(with = "super::window_buckets")]
        w: VecDeque<(i64, Moments)>,
    }

    #[test]
    fn sketch_buckets_round_trip_exactly_and_old_arrays_still_read() {
        let s = Sketch {
            b: vec![
                (-10_150, 0.5),
                (0, 1e-30),
                (10_003, 3.25),
                (10_004, f32::MAX),
            ],
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"b\":\""), "{json}");
        assert_eq!(serde_json::from_str::<Sketch>(&json).unwrap(), s);
        let old: Sketch = serde_json::from_str(r#"{"b":[[10003,3.25]]}"#).unwrap();
        assert_eq!(old.b, vec![(10_003, 3.25)]);
        assert!(serde_json::from_str::<Sketch>(r#"{"b":"AAEC"}"#).is_err());
    }

    #[test]
    fn window_buckets_round_trip_exactly_and_are_small() {
        let w = Window {
            w: (0..28)
                .map(|i| {
                    (
                        9_000_000 + i,
                        Moments {
                            n: 360.0,
                            mean: 2.0 + i as f64 / 7.0,
                            m2: 123.456_789_012_345 * i as f64,
                        },
                    )
                })
                .collect(),
        };
        let json = serde_json::to_string(&w).unwrap();
        assert!(json.len() < 760, "{} bytes", json.len());
        assert_eq!(serde_json::from_str::<Window>(&json).unwrap(), w);
        let old: Window =
            serde_json::from_str(r#"{"w":[[5,{"n":2.0,"mean":1.5,"m2":0.5}]]}"#).unwrap();
        assert_eq!(old.w[0].1.mean, 1.5);
    }

    #[test]
    fn every_non_seasonal_kind_persists_under_1_kib_and_restores_the_same() {
        use crate::detect::config::BaselineConfig;
        use crate::detect::DetectorConfig;
        use rand::{Rng, SeedableRng};
        let c = BaselineConfig::default;
        let kinds = [
            ("zscore", DetectorConfig::Zscore(c())),
            ("ewma", DetectorConfig::Ewma(c())),
            ("mad", DetectorConfig::Mad(c())),
            ("quantile", DetectorConfig::Quantile(c())),
            ("changepoint", DetectorConfig::Changepoint(c())),
            ("likelihood", DetectorConfig::default_baseline()),
        ];
        for (name, config) in kinds {
            // As the baselines bench measures it: 10,000 samples a minute apart.
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let mut d = config.validate().unwrap().build();
            for i in 0..10_000i64 {
                d.observe(i * 60_000, 10.0 + rng.gen_range(-1.0..1.0));
            }
            let snapshot = d.snapshot();
            let bytes = serde_json::to_vec(&snapshot).unwrap().len();
            eprintln!("{name}: {bytes} bytes");
            assert!(bytes < 1024, "{name}: {bytes} bytes: {snapshot}");
            let mut back = config.validate().unwrap().build();
            back.restore(&snapshot).unwrap();
            assert_eq!(back.snapshot(), snapshot, "{name}");
        }
    }
}
