//! The grammar of a `.fetchmailrc` over [`super::lex`]'s tokens: `set` globals, one optional
//! `defaults` entry, and `poll`/`skip` (or the old `server`) entries, each with its server
//! options and then its user descriptions (`user NAME ...` with user options). Options given
//! before the first `user` of an entry apply to all of its users (fetchmail's implicit user
//! when no `user` follows). Pure: tokens in, the file's structure out; what the options mean
//! is [`super::map`]'s business.

use super::lex::{Token, TokenKind};
use super::syntax::{self, Arity, Scope};

/// One option as written: `keep`, `no keep`, `folder a b`, `is a b=c here`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Opt {
    pub line: usize,
    /// The canonical keyword ([`syntax::lookup`]).
    pub name: &'static str,
    /// False after `no`.
    pub on: bool,
    /// Its strings (one for most options, several for lists; the header for `envelope`).
    pub values: Vec<String>,
    /// `remote=local` pairs of an `is`/`to` list.
    pub mappings: Vec<(String, String)>,
    /// `envelope SKIP HEADER`: the skip count.
    pub count: Option<String>,
    /// `user NAME here`: the name is the local one.
    pub here: bool,
}

/// `user NAME` and the options after it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserDesc {
    pub line: usize,
    pub opts: Vec<Opt>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    Poll,
    Skip,
    Defaults,
}

/// A `poll`, `skip` or `defaults` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub line: usize,
    pub kind: EntryKind,
    /// The poll name (none for `defaults`).
    pub label: Option<String>,
    pub server: Vec<Opt>,
    /// User options before the first `user`: shared by every user of the entry.
    pub shared: Vec<Opt>,
    pub users: Vec<UserDesc>,
}

/// `set NAME [VALUE]` or `set no NAME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    pub line: usize,
    pub name: String,
    pub on: bool,
    pub value: Option<String>,
}

/// A whole file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RcFile {
    pub globals: Vec<Global>,
    pub entries: Vec<Entry>,
}

/// Where the file stops making sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub expected: String,
}

struct Parser<'a> {
    tokens: &'a [Token],
    pos: usize,
}

fn describe(token: &Token) -> String {
    match &token.kind {
        TokenKind::Number(text) | TokenKind::Word(text) => format!("`{text}`"),
        TokenKind::Quoted(text) => format!("\"{text}\""),
        TokenKind::Map => "`=`".into(),
    }
}

/// Parses the tokens of one file.
pub fn parse(tokens: &[Token]) -> Result<RcFile, ParseError> {
    let mut parser = Parser { tokens, pos: 0 };
    let mut file = RcFile::default();
    while let Some(token) = parser.peek() {
        let line = token.line;
        match token.keyword().as_deref() {
            Some("set") => {
                parser.pos += 1;
                file.globals.push(parser.global(line)?);
            }
            Some(word @ ("poll" | "skip" | "server" | "defaults")) => {
                parser.pos += 1;
                let kind = match word {
                    "skip" => EntryKind::Skip,
                    "defaults" => EntryKind::Defaults,
                    _ => EntryKind::Poll,
                };
                if kind == EntryKind::Defaults && !file.entries.is_empty() {
                    return Err(ParseError {
                        line,
                        expected: "one `defaults` entry, before every `poll` and `skip` entry \
                                   (as fetchmail requires)"
                            .into(),
                    });
                }
                let label = match kind {
                    EntryKind::Defaults => None,
                    _ => Some(parser.value(&format!("a server name after `{word}`"))?),
                };
                file.entries.push(parser.entry(line, kind, label)?);
            }
            Some(word) if syntax::is_noise(word) => parser.pos += 1,
            _ => {
                return Err(ParseError {
                    line,
                    expected: format!(
                        "`poll`, `skip`, `defaults` or `set`, found {}",
                        describe(token)
                    ),
                });
            }
        }
    }
    Ok(file)
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_keyword(&self) -> Option<String> {
        self.peek().and_then(Token::keyword)
    }

    fn last_line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or_else(|| self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn error<T>(&self, expected: impl Into<String>) -> Result<T, ParseError> {
        let mut expected = expected.into();
        match self.peek() {
            Some(token) => expected.push_str(&format!(", found {}", describe(token))),
            None => expected.push_str(", found the end of the file"),
        }
        Err(ParseError {
            line: self.last_line(),
            expected,
        })
    }

    /// Any string, keywords included: fetchmail reads the word after `user`, `pass`, `is`/`to`
    /// and `=` as a name whatever it is (`user keep` logs in as "keep").
    fn name(&mut self, expected: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(token) if token.kind != TokenKind::Map => {
                let text = token.text().unwrap_or_default().to_string();
                self.pos += 1;
                Ok(text)
            }
            _ => self.error(expected),
        }
    }

    /// A string (quoted, a number, or an unquoted word that is no keyword).
    fn value(&mut self, expected: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(token) if is_value(token) => {
                let text = token.text().unwrap_or_default().to_string();
                self.pos += 1;
                Ok(text)
            }
            _ => self.error(expected),
        }
    }

    fn global(&mut self, line: usize) -> Result<Global, ParseError> {
        let mut on = true;
        if self.peek_keyword().as_deref() == Some("no") {
            self.pos += 1;
            on = false;
        }
        let mut name = self.peek_keyword().unwrap_or_default();
        if let Some(rest) = name
            .strip_prefix("no")
            .filter(|rest| syntax::global_takes_value(rest) == Some(false))
        {
            name = rest.to_string();
            on = false;
        }
        let Some(takes_value) = syntax::global_takes_value(&name) else {
            return self.error(
                "a global option after `set` (daemon, postmaster, logfile, idfile, \
                 pidfile, syslog, bouncemail, spambounce, softbounce, invisible, showdots, properties)",
            );
        };
        self.pos += 1;
        let value = if takes_value && on {
            if self.peek().is_some_and(|t| t.kind == TokenKind::Map) {
                self.pos += 1;
            }
            Some(self.value(&format!("a value after `set {name}`"))?)
        } else {
            None
        };
        Ok(Global {
            line,
            name,
            on,
            value,
        })
    }

    fn entry(
        &mut self,
        line: usize,
        kind: EntryKind,
        label: Option<String>,
    ) -> Result<Entry, ParseError> {
        let mut entry = Entry {
            line,
            kind,
            label,
            server: Vec::new(),
            shared: Vec::new(),
            users: Vec::new(),
        };
        while let Some(token) = self.peek() {
            let opt_line = token.line;
            let Some(word) = token.keyword() else {
                return self.error("an option keyword");
            };
            if syntax::is_statement(&word) {
                break;
            }
            self.pos += 1;
            if syntax::is_noise(&word) {
                continue;
            }
            let (on, word) = if word == "no" {
                match self.peek_keyword() {
                    Some(next) => {
                        self.pos += 1;
                        (false, next)
                    }
                    None => return self.error("an option after `no`"),
                }
            } else if let Some(rest) = syntax::split_no(&word) {
                (false, rest.to_string())
            } else {
                (true, word)
            };
            let Some(keyword) = syntax::lookup(&word) else {
                self.pos -= 1;
                return self.error("an option keyword");
            };
            if !on && !matches!(keyword.arity, Arity::Flag | Arity::Envelope) {
                self.pos -= 1;
                return self.error(format!(
                    "`keep`, `fetchall`, `envelope` or another switch after `no`, not `{word}`"
                ));
            }
            let opt = self.option(opt_line, keyword, on)?;
            match keyword.scope {
                Scope::Server if !entry.users.is_empty() || !entry.shared.is_empty() => {
                    return Err(ParseError {
                        line: opt_line,
                        expected: format!(
                            "user options here: the server option `{word}` belongs before the \
                             first `user` of its entry"
                        ),
                    });
                }
                Scope::Server => entry.server.push(opt),
                Scope::User if keyword.name == "user" => entry.users.push(UserDesc {
                    line: opt_line,
                    opts: vec![opt],
                }),
                Scope::User => match entry.users.last_mut() {
                    Some(user) => user.opts.push(opt),
                    None => entry.shared.push(opt),
                },
            }
        }
        Ok(entry)
    }

    fn option(
        &mut self,
        line: usize,
        keyword: syntax::Keyword,
        on: bool,
    ) -> Result<Opt, ParseError> {
        let mut opt = Opt {
            line,
            name: keyword.name,
            on,
            ..Opt::default()
        };
        let after = format!("after `{}`", keyword.name);
        match keyword.arity {
            Arity::Flag => {}
            Arity::Envelope if !on => {}
            Arity::One if keyword.name == "password" => {
                opt.values.push(self.name(&format!("a password {after}"))?);
            }
            Arity::One => opt.values.push(self.value(&format!("a value {after}"))?),
            Arity::List => {
                opt.values.push(self.value(&format!("a value {after}"))?);
                while self.peek().is_some_and(is_value) {
                    opt.values.push(self.value("a value")?);
                }
            }
            Arity::Envelope => {
                if let Some(Token {
                    kind: TokenKind::Number(count),
                    ..
                }) = self.peek()
                    && self.tokens.get(self.pos + 1).is_some_and(is_value)
                {
                    opt.count = Some(count.clone());
                    self.pos += 1;
                }
                opt.values
                    .push(self.value(&format!("a header name {after}"))?);
            }
            Arity::User => {
                opt.values.push(self.name(&format!("a user name {after}"))?);
                match self.peek_keyword().as_deref() {
                    Some("here") => {
                        opt.here = true;
                        self.pos += 1;
                    }
                    Some("there") => self.pos += 1,
                    _ => {}
                }
            }
            Arity::Names => {
                let mut first = true;
                while first || self.peek().is_some_and(is_value) {
                    let name = if first {
                        self.name(&format!("local names {after}"))?
                    } else {
                        self.value("a local name")?
                    };
                    first = false;
                    if self.peek().is_some_and(|t| t.kind == TokenKind::Map) {
                        self.pos += 1;
                        let local = self.name("a local name after `=`")?;
                        opt.mappings.push((name, local));
                    } else {
                        opt.values.push(name);
                    }
                }
                if opt.values.is_empty() && opt.mappings.is_empty() {
                    return self.error(format!("local names {after}"));
                }
                if self.peek_keyword().as_deref() == Some("here") {
                    self.pos += 1;
                } else if self.peek_keyword().as_deref() == Some("there")
                    && opt.values.len() == 1
                    && opt.mappings.is_empty()
                {
                    // `is NAME there`: the name on the server.
                    self.pos += 1;
                    opt.name = "user";
                }
            }
        }
        Ok(opt)
    }
}

/// A token usable as a value: quoted, a number, or a word with no meaning of its own.
fn is_value(token: &Token) -> bool {
    match &token.kind {
        TokenKind::Quoted(_) | TokenKind::Number(_) => true,
        TokenKind::Word(word) => !syntax::is_reserved(&word.to_ascii_lowercase()),
        TokenKind::Map => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokenize;
    use super::*;

    fn rc(text: &str) -> RcFile {
        parse(&tokenize(text).expect("tokens")).expect("parse")
    }

    fn err(text: &str) -> ParseError {
        parse(&tokenize(text).expect("tokens")).unwrap_err()
    }

    #[test]
    fn the_manuals_noisy_example() {
        let file = rc(
            "poll pop.provider.net proto pop3\n     user \"jsmith\", with password secret1, is \"jsmith\" here;\npoll other.provider.net proto pop2:\n     user \"John.Smith\", with password \"My^Hat\", is \"John.Smith\" here;\n",
        );
        assert_eq!(file.entries.len(), 2);
        let first = &file.entries[0];
        assert_eq!(first.label.as_deref(), Some("pop.provider.net"));
        assert_eq!(first.server[0].name, "protocol");
        assert_eq!(first.server[0].values, vec!["pop3"]);
        let user = &first.users[0];
        assert_eq!(user.line, 2);
        let names: Vec<&str> = user.opts.iter().map(|o| o.name).collect();
        assert_eq!(names, vec!["user", "password", "is"]);
        assert_eq!(user.opts[1].values, vec!["secret1"]);
        assert_eq!(file.entries[1].users[0].opts[1].values, vec!["My^Hat"]);
    }

    #[test]
    fn multidrop_names_with_mappings_and_star() {
        let file = rc(
            "poll pop.provider.net:\n user maildrop with pass secret1 to golux 'hurkle'='happy' snark * here keep",
        );
        let opts = &file.entries[0].users[0].opts;
        assert_eq!(opts[2].name, "is");
        assert_eq!(opts[2].values, vec!["golux", "snark", "*"]);
        assert_eq!(
            opts[2].mappings,
            vec![("hurkle".to_string(), "happy".to_string())]
        );
        assert_eq!(opts[3].name, "keep");
    }

    #[test]
    fn no_forms_globals_and_defaults() {
        let file = rc(
            "set daemon 300\nset no bouncemail\nset postmaster \"pm\"\ndefaults proto imap no envelope no keep\n user \"jsmith\"\nskip mail.x.net pass \"s\" fetchall no fetchall",
        );
        assert_eq!(file.globals.len(), 3);
        assert_eq!(file.globals[0].value.as_deref(), Some("300"));
        assert!(!file.globals[1].on);
        let defaults = &file.entries[0];
        assert_eq!(defaults.kind, EntryKind::Defaults);
        assert_eq!(defaults.server.len(), 2);
        assert!(!defaults.server[1].on && defaults.server[1].name == "envelope");
        assert_eq!(defaults.shared[0].name, "keep");
        assert!(!defaults.shared[0].on);
        let skip = &file.entries[1];
        assert_eq!(skip.kind, EntryKind::Skip);
        assert!(skip.users.is_empty());
        assert_eq!(skip.shared.len(), 3);
    }

    #[test]
    fn envelope_with_a_skip_count_and_lists() {
        let file = rc(
            "poll x localdomains a.org b.org envelope 1 \"Received\" user u folder INBOX \"Lists/rust\" smtphost localhost/2525 mail.lan",
        );
        let entry = &file.entries[0];
        assert_eq!(entry.server[0].values, vec!["a.org", "b.org"]);
        assert_eq!(entry.server[1].count.as_deref(), Some("1"));
        assert_eq!(entry.server[1].values, vec!["Received"]);
        let opts = &entry.users[0].opts;
        assert_eq!(opts[1].values, vec!["INBOX", "Lists/rust"]);
        assert_eq!(opts[2].values, vec!["localhost/2525", "mail.lan"]);
    }

    /// As fetchmail 6.4's `--configdump` shows them.
    #[test]
    fn names_after_user_pass_and_is_may_be_keywords_and_no_joins_its_switch() {
        let file =
            rc("poll x proto pop3 user keep pass with is here nokeep nofetchall\nset nobouncemail");
        let opts = &file.entries[0].users[0].opts;
        assert_eq!(opts[0].values, vec!["keep"]);
        assert_eq!(opts[1].values, vec!["with"]);
        assert_eq!(opts[2].values, vec!["here"]);
        assert!(opts[3].name == "keep" && !opts[3].on);
        assert!(opts[4].name == "fetchall" && !opts[4].on);
        assert!(file.globals[0].name == "bouncemail" && !file.globals[0].on);
    }

    #[test]
    fn user_here_and_is_there() {
        let file = rc("poll x user joe there is jdoe here user jim here user a is b there");
        let users = &file.entries[0].users;
        assert!(!users[0].opts[0].here);
        assert!(users[1].opts[0].here);
        assert_eq!(users[2].opts[1].name, "user");
    }

    #[test]
    fn errors_name_the_line_and_what_was_expected() {
        let e = err("poll x\n  user joe pass my secret");
        assert_eq!(e.line, 2);
        assert!(e.expected.contains("option keyword") && e.expected.contains("`secret`"));
        let e = err("poll\n");
        assert!(e.expected.contains("server name"), "{}", e.expected);
        let e = err("poll x user joe\n via y");
        assert_eq!(e.line, 2);
        assert!(e.expected.contains("`via`"), "{}", e.expected);
        let e = err("set nothing");
        assert!(e.expected.contains("global option"), "{}", e.expected);
        let e = err("user joe");
        assert!(e.expected.contains("`poll`"), "{}", e.expected);
        let e = err("poll x user joe is");
        assert!(e.expected.contains("local names"), "{}", e.expected);
        let e = err("defaults proto pop3\npoll x\ndefaults keep");
        assert_eq!(e.line, 3);
        assert!(
            e.expected.contains("one `defaults` entry"),
            "{}",
            e.expected
        );
        let e = err("poll x no password");
        assert!(e.expected.contains("after `no`"), "{}", e.expected);
    }
}
