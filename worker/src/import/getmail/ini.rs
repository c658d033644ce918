//! getmail's rc file format (Python's ConfigParser): `[section]` headers, `name = value` or
//! `name: value`, `#` and `;` comment lines, values continued on indented lines; and the
//! value types getmail's documentation lists (booleans, integers, tuples of quoted strings).
//! Pure.

/// `name = value` and its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Lowercased, as ConfigParser reads option names.
    pub key: String,
    pub value: String,
    pub line: usize,
}

/// `[name]` and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

impl Section {
    /// The entry `key`, if written.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }
}

/// A line that is neither a section, an option, a comment nor a continuation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IniError {
    pub line: usize,
    pub expected: String,
}

/// The sections of `text`, in order.
pub fn parse(text: &str) -> Result<Vec<Section>, IniError> {
    let mut sections: Vec<Section> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let indented = raw.starts_with([' ', '\t']);
        if indented && let Some(entry) = sections.last_mut().and_then(|s| s.entries.last_mut()) {
            entry.value.push('\n');
            entry.value.push_str(trimmed);
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(IniError {
                    line,
                    expected: "`]` at the end of the section header".into(),
                });
            };
            let name = name.trim().to_string();
            if sections.iter().any(|s| s.name == name) {
                return Err(IniError {
                    line,
                    expected: format!("one [{name}] section only (it appears twice)"),
                });
            }
            sections.push(Section {
                name,
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let split = trimmed.find(['=', ':']);
        let (Some(at), Some(section)) = (split, sections.last_mut()) else {
            return Err(IniError {
                line,
                expected: if sections.is_empty() {
                    "a [section] header before the first option".into()
                } else {
                    "`name = value`, a [section] header or a # comment".into()
                },
            });
        };
        let key = trimmed[..at].trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(IniError {
                line,
                expected: "an option name before `=`".into(),
            });
        }
        section.entries.push(Entry {
            key,
            value: trimmed[at + 1..].trim().to_string(),
            line,
        });
    }
    Ok(sections)
}

/// A ConfigParser boolean (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`).
pub fn boolean(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// A tuple of quoted strings, `("a", 'b',)`; a value without parentheses is one string.
pub fn tuple(value: &str) -> Result<Vec<String>, String> {
    let value = value.trim();
    let Some(inner) = value
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
    else {
        return Ok(vec![value.to_string()]);
    };
    let chars: Vec<char> = inner.chars().collect();
    let mut items = Vec::new();
    let mut i = 0;
    let mut need_comma = false;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == ',' && need_comma {
            need_comma = false;
            i += 1;
        } else if (c == '"' || c == '\'') && !need_comma {
            let mut item = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("a closing {c} in {value}")),
                    Some(&q) if q == c => break,
                    Some('\\') if i + 1 < chars.len() => {
                        item.push(chars[i + 1]);
                        i += 2;
                        continue;
                    }
                    Some(&other) => item.push(other),
                }
                i += 1;
            }
            i += 1;
            items.push(item);
            need_comma = true;
        } else {
            return Err(format!(
                "a tuple of quoted strings such as (\"a\", \"b\"), not {value}"
            ));
        }
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_options_comments_and_continuations() {
        let sections = parse(
            "# getmailrc\n[retriever]\ntype = SimpleIMAPSSLRetriever\nServer: imap.x.net\nmailboxes = (\"INBOX\",\n    \"Lists.rust\")\n; comment\n\n[options]\ndelete = true\n",
        )
        .unwrap();
        assert_eq!(sections.len(), 2);
        let retriever = &sections[0];
        assert_eq!(retriever.line, 2);
        assert_eq!(retriever.get("server").unwrap().value, "imap.x.net");
        let mailboxes = retriever.get("mailboxes").unwrap();
        assert_eq!(mailboxes.line, 5);
        assert_eq!(
            tuple(&mailboxes.value).unwrap(),
            vec!["INBOX", "Lists.rust"]
        );
        assert_eq!(sections[1].get("delete").map(|e| e.line), Some(10));
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("server = x\n").unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.expected.contains("[section]"), "{}", err.expected);
        let err = parse("[retriever]\nserver x\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse("[a]\n[a]\n").unwrap_err();
        assert!(err.expected.contains("twice"));
        let err = parse("[retriever\n").unwrap_err();
        assert!(err.expected.contains("`]`"));
    }

    #[test]
    fn values() {
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("0"), Some(false));
        assert_eq!(boolean("maybe"), None);
        assert_eq!(
            tuple("('-oi', \"-f\", '%(sender)',)").unwrap(),
            vec!["-oi", "-f", "%(sender)"]
        );
        assert_eq!(tuple("ALL").unwrap(), vec!["ALL"]);
        assert_eq!(tuple("()").unwrap(), Vec::<String>::new());
        assert!(tuple("(\"a\" \"b\")").is_err());
        assert!(tuple("(\"a)").is_err());
    }
}
