//! The keywords of a `.fetchmailrc` and what follows each, from fetchmail's manual: server
//! options (after `poll NAME`), user options (after `user NAME`), the `set` globals and the
//! noise words. One table, so the parser and the mapping agree on every name.

/// Where an option may appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Server,
    User,
}

/// What follows a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arity {
    /// Nothing (`keep`, `ssl`); `no KEYWORD` turns it off.
    Flag,
    /// One string or number.
    One,
    /// One or more strings up to the next keyword (`folder a b`, `localdomains x y`).
    List,
    /// `envelope [SKIP] HEADER`.
    Envelope,
    /// `is`/`to`: local names or `remote=local` mappings, optionally `*`, then `here`.
    Names,
    /// `user NAME [here|there]`.
    User,
}

/// One keyword: its canonical name, scope and arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keyword {
    pub name: &'static str,
    pub scope: Scope,
    pub arity: Arity,
}

const fn kw(name: &'static str, scope: Scope, arity: Arity) -> Keyword {
    Keyword { name, scope, arity }
}

use Arity::{Envelope, Flag, List, Names, One, User as UserDesc};
use Scope::{Server, User};

/// Every option keyword (aliases map to the canonical name in [`lookup`]).
const KEYWORDS: &[Keyword] = &[
    kw("via", Server, One),
    kw("protocol", Server, One),
    kw("localdomains", Server, List),
    kw("port", Server, One),
    kw("service", Server, One),
    kw("auth", Server, One),
    kw("timeout", Server, One),
    kw("envelope", Server, Envelope),
    kw("qvirtual", Server, One),
    kw("aka", Server, List),
    kw("interface", Server, One),
    kw("monitor", Server, One),
    kw("plugin", Server, One),
    kw("plugout", Server, One),
    kw("dns", Server, Flag),
    kw("checkalias", Server, Flag),
    kw("uidl", Server, Flag),
    kw("interval", Server, One),
    kw("tracepolls", Server, Flag),
    kw("principal", Server, One),
    kw("esmtpname", Server, One),
    kw("esmtppassword", Server, One),
    kw("bad-header", Server, One),
    kw("user", User, UserDesc),
    kw("is", User, Names),
    kw("password", User, One),
    kw("ssl", User, Flag),
    kw("sslcert", User, One),
    kw("sslkey", User, One),
    kw("sslproto", User, One),
    kw("sslcertck", User, Flag),
    kw("sslcertfile", User, One),
    kw("sslcertpath", User, One),
    kw("sslcommonname", User, One),
    kw("sslfingerprint", User, One),
    kw("folder", User, List),
    kw("smtphost", User, List),
    kw("fetchdomains", User, List),
    kw("smtpaddress", User, One),
    kw("smtpname", User, One),
    kw("antispam", User, List),
    kw("mda", User, One),
    kw("bsmtp", User, One),
    kw("lmtp", User, Flag),
    kw("preconnect", User, One),
    kw("postconnect", User, One),
    kw("keep", User, Flag),
    kw("flush", User, Flag),
    kw("limitflush", User, Flag),
    kw("fetchall", User, Flag),
    kw("rewrite", User, Flag),
    kw("stripcr", User, Flag),
    kw("forcecr", User, Flag),
    kw("pass8bits", User, Flag),
    kw("dropstatus", User, Flag),
    kw("dropdelivered", User, Flag),
    kw("mimedecode", User, Flag),
    kw("idle", User, Flag),
    kw("showdots", User, Flag),
    kw("limit", User, One),
    kw("warnings", User, One),
    kw("batchlimit", User, One),
    kw("fetchlimit", User, One),
    kw("fetchsizelimit", User, One),
    kw("fastuidl", User, One),
    kw("expunge", User, One),
    kw("properties", User, One),
];

/// The keyword `word` (lowercase) stands for, aliases resolved.
pub fn lookup(word: &str) -> Option<Keyword> {
    let canonical = match word {
        "proto" => "protocol",
        "local" => "localdomains",
        "authenticate" => "auth",
        "username" => "user",
        "to" => "is",
        "pass" => "password",
        "smtp" => "smtphost",
        "folders" => "folder",
        "pre" => "preconnect",
        "post" => "postconnect",
        "preauth" | "preauthenticate" => "auth",
        "pass8" => "pass8bits",
        "mimedec" => "mimedecode",
        other => other,
    };
    KEYWORDS.iter().copied().find(|k| k.name == canonical)
}

/// `nokeep`, `nofetchall`, ...: fetchmail reads these single words as `no` and a switch.
pub fn split_no(word: &str) -> Option<&str> {
    let rest = word.strip_prefix("no")?;
    matches!(
        rest,
        "bouncemail"
            | "uidl"
            | "checkalias"
            | "dns"
            | "envelope"
            | "keep"
            | "flush"
            | "limitflush"
            | "fetchall"
            | "rewrite"
            | "forcecr"
            | "stripcr"
            | "pass8"
            | "pass8bits"
            | "dropstatus"
            | "dropdelivered"
            | "mimedec"
            | "mimedecode"
            | "spambounce"
            | "idle"
    )
    .then_some(rest)
}

/// Words that start a new statement.
pub fn is_statement(word: &str) -> bool {
    matches!(word, "poll" | "skip" | "server" | "defaults" | "set")
}

/// Words fetchmail ignores, there to read like English (`here` and `there` only mean
/// something right after `user NAME` or a name list).
pub fn is_noise(word: &str) -> bool {
    matches!(
        word,
        "and" | "with" | "has" | "wants" | "options" | "here" | "there"
    )
}

/// Any word with a meaning of its own: a name list ends before one.
pub fn is_reserved(word: &str) -> bool {
    is_statement(word)
        || is_noise(word)
        || word == "no"
        || split_no(word).is_some()
        || lookup(word).is_some()
}

/// The `set NAME` globals that take a value (the others are flags, `set no NAME` too).
pub fn global_takes_value(name: &str) -> Option<bool> {
    match name {
        "daemon" | "postmaster" | "logfile" | "idfile" | "pidfile" | "properties" => Some(true),
        "bouncemail" | "spambounce" | "softbounce" | "syslog" | "invisible" | "showdots" => {
            Some(false)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_one_name() {
        assert_eq!(lookup("proto").map(|k| k.name), Some("protocol"));
        assert_eq!(lookup("username").map(|k| k.name), Some("user"));
        assert_eq!(lookup("to").map(|k| k.name), Some("is"));
        assert_eq!(lookup("pass").map(|k| k.name), Some("password"));
        assert_eq!(lookup("local").map(|k| k.name), Some("localdomains"));
        assert!(lookup("sslcertck").is_some_and(|k| k.arity == Arity::Flag));
        assert!(lookup("jsmith").is_none());
        assert_eq!(lookup("smtp").map(|k| k.name), Some("smtphost"));
        assert_eq!(lookup("folders").map(|k| k.name), Some("folder"));
        assert_eq!(split_no("nokeep"), Some("keep"));
        assert_eq!(split_no("nothing"), None);
    }

    #[test]
    fn reserved_words_end_name_lists() {
        for word in ["keep", "here", "poll", "no", "and", "smtphost"] {
            assert!(is_reserved(word), "{word}");
        }
        assert!(!is_reserved("golux"));
    }
}
