//! One line of the worker's log as tracing formats it, taken apart:
//! `2026-01-02T03:04:05.678901Z  INFO poll{profile=isp}: delivered uid=7 size=4094`
//! is the time, the level, the spans with their fields, the message and its fields. A line
//! of another shape is kept as it is (no time, no level).

/// The parts of a tracing line; every `&str` points into the line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts<'a> {
    /// RFC 3339, UTC, as written.
    pub time: Option<&'a str>,
    pub level: Option<&'a str>,
    /// The fields of the spans (`poll{profile=isp}`), outermost first.
    pub span_fields: Vec<(&'a str, &'a str)>,
    pub message: &'a str,
    /// The event's own fields, in order.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl<'a> Parts<'a> {
    /// The value of `key` among the event's fields, then the spans' (innermost first).
    pub fn field(&self, key: &str) -> Option<&'a str> {
        self.fields
            .iter()
            .chain(self.span_fields.iter().rev())
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }
}

const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];

/// Takes a line apart; a line that does not start with a time and a level is all message.
pub fn parse(text: &str) -> Parts<'_> {
    let whole = Parts {
        message: text,
        ..Parts::default()
    };
    let trimmed = text.trim_start();
    let Some((time, rest)) = trimmed.split_once(char::is_whitespace) else {
        return whole;
    };
    if !looks_like_time(time) {
        return whole;
    }
    let rest = rest.trim_start();
    let (level, rest) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    if !LEVELS.contains(&level) {
        return whole;
    }
    let (span_fields, rest) = spans(rest.trim_start());
    let (message, fields) = message_and_fields(rest);
    Parts {
        time: Some(time),
        level: Some(level),
        span_fields,
        message,
        fields,
    }
}

fn looks_like_time(word: &str) -> bool {
    word.len() >= 20
        && word.as_bytes()[4] == b'-'
        && word.as_bytes()[10] == b'T'
        && word.ends_with('Z')
}

/// `poll{profile=isp}:fetch{uid=7}: rest` into the spans' fields and `rest`.
fn spans(text: &str) -> (Vec<(&str, &str)>, &str) {
    let mut fields = Vec::new();
    let mut at = text;
    loop {
        let name_len = at
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(at.len());
        if name_len == 0 {
            return (Vec::new(), text);
        }
        let mut after = &at[name_len..];
        if let Some(inner) = after.strip_prefix('{') {
            let Some(end) = inner.find('}') else {
                return (Vec::new(), text);
            };
            fields.extend(key_values(&inner[..end]));
            after = &inner[end + 1..];
        }
        let Some(after) = after.strip_prefix(':') else {
            return (Vec::new(), text);
        };
        if let Some(rest) = after.strip_prefix(' ') {
            return (fields, rest);
        }
        at = after;
    }
}

/// Where ` key=` starts each field of `text` (a key is lower-case letters, digits, `_`, `.`).
fn field_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    for (i, _) in text.match_indices('=') {
        let mut j = i;
        while j > 0 && {
            let c = bytes[j - 1];
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'.'
        } {
            j -= 1;
        }
        if j < i && (j == 0 || bytes[j - 1] == b' ') {
            starts.push(j);
        }
    }
    starts
}

fn unquote(value: &str) -> &str {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

fn key_values(text: &str) -> Vec<(&str, &str)> {
    let starts = field_starts(text);
    let mut out = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(text.len(), |&next| next);
        let item = text[start..end].trim_end();
        if let Some((key, value)) = item.split_once('=') {
            out.push((key, unquote(value)));
        }
    }
    out
}

/// `delivered uid=7 size=4094` into the message and the fields.
fn message_and_fields(text: &str) -> (&str, Vec<(&str, &str)>) {
    match field_starts(text).first() {
        None => (text.trim_end(), Vec::new()),
        Some(&first) => (text[..first].trim_end(), key_values(&text[first..])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_delivery_line_apart() {
        let parts = parse(
            "2026-11-29T09:27:57.048409Z  INFO poll{profile=alice}: delivered \
             uid=000000136b0bf009 size=4094 recipient=alice@local.test reply=250 2.0.0 Ok: queued",
        );
        assert_eq!(parts.time, Some("2026-11-29T09:27:57.048409Z"));
        assert_eq!(parts.level, Some("INFO"));
        assert_eq!(parts.span_fields, [("profile", "alice")]);
        assert_eq!(parts.message, "delivered");
        assert_eq!(parts.field("recipient"), Some("alice@local.test"));
        assert_eq!(parts.field("reply"), Some("250 2.0.0 Ok: queued"));
        assert_eq!(parts.field("profile"), Some("alice"));
    }

    #[test]
    fn reads_lines_without_spans_nested_spans_and_quotes() {
        let parts = parse(
            "2026-11-29T09:28:07.589938Z  INFO poll done profile=alice listed=5 delivered=5 \
             bytes=20470 deleted=5 already_delivered=0",
        );
        assert_eq!(parts.message, "poll done");
        assert_eq!(parts.field("already_delivered"), Some("0"));
        let parts =
            parse("2026-01-02T03:04:05.678Z  WARN poll{profile=\"isp\"}:idle{folder=INBOX}: lost");
        assert_eq!(parts.span_fields, [("profile", "isp"), ("folder", "INBOX")]);
        assert_eq!(parts.message, "lost");
        let parts = parse("[3 log lines were skipped]");
        assert_eq!(
            (parts.time, parts.message),
            (None, "[3 log lines were skipped]")
        );
    }
}
