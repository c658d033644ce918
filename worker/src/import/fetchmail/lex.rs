//! The tokens of a `.fetchmailrc`, as fetchmail's manual describes them (and as fetchmail
//! 6.4 reads them where the two differ, checked with its `--configdump`): `#` comments to the
//! end of the line, numbers (decimal digit runs), unquoted strings (anything but whitespace
//! and `, ; : =`), strings in double or single quotes (ending at the next quote of their
//! kind: a backslash does not escape it), fetchmail's escapes in both (`\n \t \b \r`,
//! `\nnn` decimal, `\0oo` octal, `\xhh` hex, `\` + any other character for that
//! character), and a backslash before a line end joining the lines. `,`, `;` and `:` are
//! punctuation without meaning; `=` maps a remote name to a local one. Pure: text in, tokens
//! with their line numbers out.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    /// A decimal digit sequence, unquoted (the text is kept: a user may be called `1234`).
    Number(String),
    /// An unquoted string; keywords and noise words are unquoted strings too.
    Word(String),
    /// A quoted string: never a keyword.
    Quoted(String),
    /// `=` between a remote and a local name.
    Map,
}

/// One token and the line (from 1) where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub line: usize,
    pub kind: TokenKind,
}

impl Token {
    /// The string a token stands for where a string is expected (a number counts: user names
    /// and passwords such as `1234` are written unquoted).
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            TokenKind::Number(text) | TokenKind::Word(text) | TokenKind::Quoted(text) => Some(text),
            TokenKind::Map => None,
        }
    }

    /// The unquoted word, lowercased, when this token could be a keyword.
    pub fn keyword(&self) -> Option<String> {
        match &self.kind {
            TokenKind::Word(text) => Some(text.to_ascii_lowercase()),
            _ => None,
        }
    }
}

/// A string that does not end, or an escape that is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexError {
    pub line: usize,
    pub expected: String,
}

/// Splits `text` into tokens. Punctuation (`, ; :`), comments and a backslash before a line
/// end (outside strings too) are dropped here.
pub fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            '\\' if chars.get(i + 1) == Some(&'\n') => {
                line += 1;
                i += 2;
            }
            c if c.is_whitespace() => i += 1,
            ',' | ';' | ':' => i += 1,
            '#' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '=' => {
                tokens.push(Token {
                    line,
                    kind: TokenKind::Map,
                });
                i += 1;
            }
            '"' | '\'' => {
                // As fetchmail's lexer: the string ends at the next quote of its kind (a
                // backslash does not escape it); escapes are resolved afterwards.
                let Some(length) = chars[i + 1..].iter().position(|q| *q == c) else {
                    return Err(LexError {
                        line,
                        expected: format!("a closing {c} for the string that starts on this line"),
                    });
                };
                let raw = &chars[i + 1..i + 1 + length];
                let value = unescape(raw).map_err(|expected| LexError { line, expected })?;
                tokens.push(Token {
                    line,
                    kind: TokenKind::Quoted(value),
                });
                line += raw.iter().filter(|c| **c == '\n').count();
                i += length + 2;
            }
            _ => {
                let begin = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], ',' | ';' | ':' | '=')
                {
                    i += 1;
                }
                let raw = &chars[begin..i];
                let kind = if raw.iter().all(|c| c.is_ascii_digit()) {
                    TokenKind::Number(raw.iter().collect())
                } else {
                    let value = unescape(raw).map_err(|expected| LexError { line, expected })?;
                    TokenKind::Word(value)
                };
                tokens.push(Token { line, kind });
            }
        }
    }
    Ok(tokens)
}

/// Resolves fetchmail's escapes in the text of a string: `\n \t \b \r \\`, `\xhh` (one or
/// two hex digits), `\0oo` (octal, the 0 and up to two more digits, as fetchmail reads it),
/// `\nnn` (decimal, up to three digits), a backslash before a line end (both dropped), a
/// backslash at the end (dropped) and `\` + any other character for that character.
fn unescape(chars: &[char]) -> Result<String, String> {
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&next) = chars.get(i + 1) else {
            break;
        };
        i += 2;
        match next {
            '\n' => {}
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'b' => out.push('\u{8}'),
            'r' => out.push('\r'),
            'x' | 'X' => {
                let (value, used) = digits(&chars[i..], 16, 2);
                out.push(code(value, used, "\\x with one or two hex digits")?);
                i += used;
            }
            '0' => {
                let (value, used) = digits(&chars[i..], 8, 2);
                out.push(code(value, 1, "an octal escape")?);
                i += used;
            }
            '1'..='9' => {
                let (rest, used) = digits(&chars[i..], 10, 2);
                let first = u32::from(next as u8 - b'0');
                let value = first * 10u32.pow(used as u32) + rest;
                out.push(code(value, 1, "a decimal escape of at most 255")?);
                i += used;
            }
            other => out.push(other),
        }
    }
    Ok(out)
}

/// Up to `max` digits in `radix` at the start of `chars`: their value and how many.
fn digits(chars: &[char], radix: u32, max: usize) -> (u32, usize) {
    let mut value = 0;
    let mut used = 0;
    while used < max {
        match chars.get(used).and_then(|c| c.to_digit(radix)) {
            Some(d) => {
                value = value * radix + d;
                used += 1;
            }
            None => break,
        }
    }
    (value, used)
}

/// The character of byte value `value` (Latin-1, as fetchmail's bytes read in UTF-8 text).
fn code(value: u32, used: usize, expected: &str) -> Result<char, String> {
    if used == 0 || value > 255 {
        return Err(expected.to_string());
    }
    char::from_u32(value).ok_or_else(|| expected.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<TokenKind> {
        tokenize(text)
            .expect("tokens")
            .into_iter()
            .map(|t| t.kind)
            .collect()
    }

    fn word(text: &str) -> TokenKind {
        TokenKind::Word(text.into())
    }

    #[test]
    fn words_numbers_quotes_and_punctuation() {
        assert_eq!(
            kinds("poll pop.x.net: user \"jsmith\", with pass 1234; is 'a b' here"),
            vec![
                word("poll"),
                word("pop.x.net"),
                word("user"),
                TokenKind::Quoted("jsmith".into()),
                word("with"),
                word("pass"),
                TokenKind::Number("1234".into()),
                word("is"),
                TokenKind::Quoted("a b".into()),
                word("here"),
            ]
        );
    }

    #[test]
    fn comments_end_at_the_line_and_lines_are_counted() {
        let tokens = tokenize("# a comment poll x\nset daemon 300 # more\n\n poll y").unwrap();
        let lines: Vec<(usize, Option<&str>)> = tokens.iter().map(|t| (t.line, t.text())).collect();
        assert_eq!(
            lines,
            vec![
                (2, Some("set")),
                (2, Some("daemon")),
                (2, Some("300")),
                (4, Some("poll")),
                (4, Some("y"))
            ]
        );
    }

    #[test]
    fn a_hash_inside_a_word_is_not_a_comment() {
        assert_eq!(kinds("pass ab#cd"), vec![word("pass"), word("ab#cd")]);
    }

    #[test]
    fn mappings() {
        assert_eq!(
            kinds("'hurkle'='happy' a = b"),
            vec![
                TokenKind::Quoted("hurkle".into()),
                TokenKind::Map,
                TokenKind::Quoted("happy".into()),
                word("a"),
                TokenKind::Map,
                word("b"),
            ]
        );
    }

    #[test]
    fn escapes_as_fetchmail_reads_them() {
        // Checked against fetchmail 6.4's `--configdump`: the octal escape is the 0 and up
        // to two more digits, so `\0101` is a backspace and a "1".
        assert_eq!(
            kinds(r#""a\tb\n\\ \x41\101\0101\072 \é""#),
            vec![TokenKind::Quoted("a\tb\n\\ Ae\u{8}1: é".into())]
        );
        assert_eq!(kinds(r#""\233""#), vec![TokenKind::Quoted("\u{e9}".into())]);
        assert_eq!(kinds(r#"'a\x22b'"#), vec![TokenKind::Quoted("a\"b".into())]);
    }

    #[test]
    fn a_backslash_does_not_escape_the_closing_quote() {
        assert_eq!(
            kinds(r#"pass "e\" is x"#),
            vec![
                word("pass"),
                TokenKind::Quoted("e".into()),
                word("is"),
                word("x")
            ]
        );
        assert_eq!(kinds(r#"ab"cd"#), vec![word("ab\"cd")]);
    }

    #[test]
    fn an_unterminated_string_names_its_line() {
        let err = tokenize("poll x\n user \"joe\n pass y").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.expected.contains("closing \""), "{}", err.expected);
    }

    #[test]
    fn a_bad_hex_escape_is_an_error() {
        let err = tokenize("pass \"\\xZZ\"").unwrap_err();
        assert!(err.expected.contains("hex"), "{}", err.expected);
    }
}
