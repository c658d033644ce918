//! Durations as users write them: `"90s"`, `"10m"`, `"1h30m"`, `"2d"`.

use std::time::Duration;

/// Parses `"10m"`, `"45s"`, `"1h30m"`, `"2d"`. A bare number is refused: a unit must be named.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration; write for example \"10m\" or \"90s\"".into());
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
            continue;
        }
        if ch.is_whitespace() {
            continue;
        }
        let unit_secs = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            other => {
                return Err(format!(
                    "unknown unit '{other}' in \"{text}\"; use s, m, h or d"
                ));
            }
        };
        if digits.is_empty() {
            return Err(format!("unit '{ch}' without a number in \"{text}\""));
        }
        let value: u64 = digits
            .parse()
            .map_err(|_| format!("number too large in \"{text}\""))?;
        total = value
            .checked_mul(unit_secs)
            .and_then(|secs| total.checked_add(secs))
            .ok_or_else(|| format!("duration too large: \"{text}\""))?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(format!(
            "\"{text}\" has no unit; write for example \"{digits}s\" or \"{digits}m\""
        ));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way [`parse_duration`] reads it, largest units first.
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("45s"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration(" 1h 5s "), Ok(Duration::from_secs(3605)));
    }

    #[test]
    fn refuses_missing_or_unknown_units() {
        assert!(parse_duration("10").unwrap_err().contains("no unit"));
        assert!(
            parse_duration("10x")
                .unwrap_err()
                .contains("unknown unit 'x'")
        );
        assert!(
            parse_duration("m")
                .unwrap_err()
                .contains("without a number")
        );
        assert!(parse_duration("").is_err());
        assert!(parse_duration("99999999999999999999s").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for text in ["10m", "45s", "1h30m", "2d", "1d1h1m1s"] {
            let parsed = parse_duration(text).expect("valid");
            assert_eq!(format_duration(parsed), text);
        }
    }
}
