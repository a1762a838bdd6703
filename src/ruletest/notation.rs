//! The compact series notation of rule tests, as promtool writes it:
//! `1 2 3`, `5x3` (5 four times), `1+2x3` (1 3 5 7), `10-1x2` (10 9 8), `_` (no sample).

/// Expands a series; `None` marks a step with no sample.
pub fn expand(text: &str) -> Result<Vec<Option<f64>>, String> {
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        let (head, times) = match token.split_once('x') {
            Some((h, n)) => {
                let n: usize = n
                    .parse()
                    .map_err(|_| format!("{token:?}: expected a count after 'x'"))?;
                (h, n + 1)
            }
            None => (token, 1),
        };
        if head == "_" {
            out.extend(std::iter::repeat_n(None, times));
            continue;
        }
        // `a+b` / `a-b`: find the sign that is not the number's own leading sign or exponent.
        let split = head.char_indices().skip(1).find(|(i, c)| {
            (*c == '+' || *c == '-') && !matches!(head.as_bytes()[i - 1], b'e' | b'E')
        });
        let (start, step) = match split {
            Some((i, _)) => {
                let step: f64 = head[i..]
                    .parse()
                    .map_err(|_| format!("{token:?}: expected a step after the sign"))?;
                (&head[..i], step)
            }
            None => (head, 0.0),
        };
        let start: f64 = start
            .parse()
            .map_err(|_| format!("{token:?}: expected a number"))?;
        out.extend((0..times).map(|k| Some(start + step * k as f64)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtool_notation() {
        assert_eq!(expand("1 2").unwrap(), vec![Some(1.0), Some(2.0)]);
        assert_eq!(expand("5x2").unwrap(), vec![Some(5.0); 3]);
        assert_eq!(
            expand("1+2x3").unwrap(),
            vec![Some(1.0), Some(3.0), Some(5.0), Some(7.0)]
        );
        assert_eq!(
            expand("10-1x2").unwrap(),
            vec![Some(10.0), Some(9.0), Some(8.0)]
        );
        assert_eq!(
            expand("-1 _x1 1e3").unwrap(),
            vec![Some(-1.0), None, None, Some(1000.0)]
        );
        assert!(expand("1xz").is_err());
        assert!(expand("abc").is_err());
    }
}
