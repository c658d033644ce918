//! Stage one's type errors in the words of the file: the raw tables are deserialized with
//! the path of every value tracked (`serde_path_to_error`), so a wrong type names its dotted
//! field and what was written there, e.g. `remote.port: expected a number, found "many"`.
//! Imports no sibling.

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// Fields whose value is a secret (or a source of one): a wrongly typed value is described
/// by its kind only, never quoted.
const SECRET_FIELDS: &[&str] = &["password", "client_secret"];

/// Fields holding a duration written as text (`"10m"`).
const DURATION_FIELDS: &[&str] = &["interval", "timeout"];

/// A value that does not fit its raw type: the dotted field (relative to the table
/// deserialized) and the message.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct TypeError {
    pub field: String,
    pub message: String,
}

/// Deserializes `value` as `T`, naming the field of the first value that does not fit.
pub(super) fn deserialize<T: DeserializeOwned>(value: &toml::Value) -> Result<T, TypeError> {
    serde_path_to_error::deserialize(value.clone()).map_err(|err| {
        let segments: Vec<String> = err
            .path()
            .iter()
            .map_while(|segment| match segment {
                Segment::Seq { index } => Some(format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => Some(key.clone()),
                Segment::Unknown => None,
            })
            .collect();
        let field = dotted(&segments);
        let message = describe(
            super::fields::one_line(err.inner().message()).as_str(),
            &segments,
            lookup(value, &segments),
        );
        TypeError { field, message }
    })
}

fn dotted(segments: &[String]) -> String {
    let mut out = String::new();
    for segment in segments {
        if !out.is_empty() && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    out
}

/// The value written at `segments`, if the path leads to one.
fn lookup<'a>(value: &'a toml::Value, segments: &[String]) -> Option<&'a toml::Value> {
    segments.iter().try_fold(value, |value, segment| {
        match segment
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            Some(index) => value.as_array()?.get(index.parse::<usize>().ok()?),
            None => value.as_table()?.get(segment),
        }
    })
}

/// The message for serde's `message` about the value at `segments` (`found`).
fn describe(message: &str, segments: &[String], found: Option<&toml::Value>) -> String {
    let name = segments
        .iter()
        .rev()
        .find(|s| !s.starts_with('['))
        .map_or("", String::as_str);
    let secret = SECRET_FIELDS.contains(&name);
    let expected = if let Some(rest) = message.strip_prefix("invalid type: ") {
        let Some((_, expected)) = rest.rsplit_once(", expected ") else {
            return message.to_string();
        };
        expected_words(expected, name, segments.last().is_some_and(|s| s == name))
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // The field is in the path already: keep the choices only.
        return match rest.split_once("`, expected ") {
            Some((_, choices)) => format!("unknown field; expected {choices}"),
            None => "unknown field".to_string(),
        };
    } else if message.starts_with("data did not match any variant of untagged enum") {
        match name {
            "password" | "client_secret" => {
                "{ keyring = true }, { file = \"PATH\" } or { env = \"VAR\" }".to_string()
            }
            _ => return message.to_string(),
        }
    } else {
        return message.to_string();
    };
    match found {
        Some(value) => format!("expected {expected}, found {}", shown(value, secret)),
        None => format!("expected {expected}"),
    }
}

/// serde's name of the expected type, in the words of the file.
fn expected_words(expected: &str, name: &str, is_field: bool) -> String {
    let integers = [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "isize", "usize",
    ];
    if integers.contains(&expected) || expected.starts_with("a number") {
        "a number".to_string()
    } else if expected == "a boolean" {
        "true or false".to_string()
    } else if expected == "a string" && is_field && DURATION_FIELDS.contains(&name) {
        "a duration such as \"10m\"".to_string()
    } else if expected == "a sequence" {
        "a list".to_string()
    } else if expected == "a map" || expected.starts_with("struct ") {
        "a table".to_string()
    } else {
        expected.to_string()
    }
}

/// What was written: the value itself for plain values, its kind for lists and tables (and
/// for anything in a secret's field).
fn shown(value: &toml::Value, secret: bool) -> String {
    let kind = match value {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) | toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "true or false",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => return "a list".to_string(),
        toml::Value::Table(_) => return "a table".to_string(),
    };
    if secret {
        return kind.to_string();
    }
    match value {
        toml::Value::String(text) => {
            let text: String = text.chars().take(60).collect();
            format!("{text:?}")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::raw::RawProfile;

    fn error(text: &str) -> TypeError {
        let value: toml::Value = toml::from_str(text).expect("toml");
        deserialize::<RawProfile>(&value).expect_err("a type error")
    }

    #[test]
    fn a_type_error_names_its_dotted_field_and_the_value() {
        assert_eq!(
            error("[remote]\nport = \"many\""),
            TypeError {
                field: "remote.port".into(),
                message: "expected a number, found \"many\"".into()
            }
        );
        assert_eq!(
            error("[distribute]\nenvelope_headers = [\"To\", 1.5]").field,
            "distribute.envelope_headers[1]"
        );
    }

    #[test]
    fn a_secret_field_is_described_never_quoted() {
        let err = error("[remote]\npassword = 987654");
        assert_eq!(err.field, "remote.password");
        assert!(!err.message.contains("987654"), "{}", err.message);
        let err = error("[remote.oauth2]\nclient_secret = [\"s3cr3t\"]");
        assert!(!err.message.contains("s3cr3t"), "{}", err.message);
    }
}
