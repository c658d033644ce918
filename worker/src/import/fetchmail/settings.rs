//! The options in force for one user of one entry: the `defaults` entry, then the entry's
//! server options, its options before the first `user`, then the user's own, each later one
//! overriding an earlier one as in fetchmail. Options that have no place here are kept in
//! `others`, in order, for the mapping to report.

use super::parse::{Entry, Opt};

/// A value and the line it was set on.
pub type At<T> = Option<(T, usize)>;

/// The local names of an `is`/`to` list and its `remote=local` mappings.
pub type Names = (Vec<String>, Vec<(String, String)>);

/// Every option that shapes a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    pub via: At<String>,
    pub protocol: At<String>,
    pub localdomains: At<Vec<String>>,
    pub aka: At<Vec<String>>,
    pub port: At<String>,
    pub auth: At<String>,
    pub timeout: At<String>,
    /// `envelope [SKIP] HEADER` (`Some((None, ..))` for `no envelope`).
    pub envelope: At<Option<(Option<String>, String)>>,
    pub interval: At<String>,
    pub user: At<String>,
    /// `user NAME here`: the local name.
    pub user_here: At<String>,
    /// The local names of `is`/`to`, and its `remote=local` mappings.
    pub names: At<Names>,
    pub password: At<String>,
    pub ssl: At<bool>,
    pub sslproto: At<String>,
    pub sslcertck: At<bool>,
    pub sslcertfile: At<String>,
    pub folders: At<Vec<String>>,
    pub smtphost: At<Vec<String>>,
    pub smtpaddress: At<String>,
    pub smtpname: At<String>,
    pub keep: At<bool>,
    pub fetchall: At<bool>,
    pub idle: At<bool>,
    pub limit: At<String>,
    /// Everything else, for the report.
    pub others: Vec<Opt>,
}

fn first(opt: &Opt) -> String {
    opt.values.first().cloned().unwrap_or_default()
}

impl Settings {
    /// The settings of `user_opts` in `entry` after `defaults`.
    pub fn resolve(defaults: Option<&Entry>, entry: &Entry, user_opts: &[Opt]) -> Settings {
        let mut settings = Settings::default();
        let layers = defaults
            .into_iter()
            .flat_map(|d| {
                d.server
                    .iter()
                    .chain(&d.shared)
                    .chain(d.users.iter().flat_map(|u| &u.opts))
            })
            .chain(&entry.server)
            .chain(&entry.shared)
            .chain(user_opts);
        for opt in layers {
            settings.apply(opt);
        }
        settings
    }

    fn apply(&mut self, opt: &Opt) {
        let line = opt.line;
        let one = || Some((first(opt), line));
        let list = || Some((opt.values.clone(), line));
        let flag = || Some((opt.on, line));
        match opt.name {
            "via" => self.via = one(),
            "protocol" => self.protocol = one(),
            "localdomains" => self.localdomains = list(),
            "aka" => self.aka = list(),
            "port" | "service" => self.port = one(),
            "auth" => self.auth = one(),
            "timeout" => self.timeout = one(),
            "envelope" => {
                let value = opt.on.then(|| (opt.count.clone(), first(opt)));
                self.envelope = Some((value, line));
            }
            "interval" => self.interval = one(),
            "user" if opt.here => self.user_here = one(),
            "user" => self.user = one(),
            "is" => self.names = Some(((opt.values.clone(), opt.mappings.clone()), line)),
            "password" => self.password = one(),
            "ssl" => self.ssl = flag(),
            "sslproto" => self.sslproto = one(),
            "sslcertck" => self.sslcertck = flag(),
            "sslcertfile" => self.sslcertfile = one(),
            "folder" => self.folders = list(),
            "smtphost" => self.smtphost = list(),
            "smtpaddress" => self.smtpaddress = one(),
            "smtpname" => self.smtpname = one(),
            "keep" => self.keep = flag(),
            "fetchall" => self.fetchall = flag(),
            "idle" => self.idle = flag(),
            "limit" => self.limit = one(),
            _ => {
                self.others.retain(|o| o.name != opt.name);
                self.others.push(opt.clone());
            }
        }
    }

    /// The remote login: `user NAME`, else the local name of `user NAME here`.
    pub fn remote_user(&self) -> Option<(&str, usize)> {
        self.user
            .as_ref()
            .or(self.user_here.as_ref())
            .map(|(name, line)| (name.as_str(), *line))
    }

    /// Whether the option is on (`keep`, `fetchall`, ...).
    pub fn on(flag: &At<bool>) -> bool {
        flag.as_ref().is_some_and(|(on, _)| *on)
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokenize;
    use super::super::parse::{EntryKind, parse};
    use super::*;

    #[test]
    fn later_layers_override_earlier_ones() {
        let file = parse(
            &tokenize(
                "defaults proto pop3 user \"jsmith\" keep mda x\npoll a.net pass s1\npoll b.net proto imap\n user jj there has password s2 no keep mda y",
            )
            .unwrap(),
        )
        .unwrap();
        let defaults = file.entries.iter().find(|e| e.kind == EntryKind::Defaults);
        let a = Settings::resolve(defaults, &file.entries[1], &[]);
        assert_eq!(a.protocol, Some(("pop3".into(), 1)));
        assert_eq!(a.remote_user(), Some(("jsmith", 1)));
        assert_eq!(a.password, Some(("s1".into(), 2)));
        assert!(Settings::on(&a.keep));
        let b_entry = &file.entries[2];
        let b = Settings::resolve(defaults, b_entry, &b_entry.users[0].opts);
        assert_eq!(b.protocol, Some(("imap".into(), 3)));
        assert_eq!(b.remote_user(), Some(("jj", 4)));
        assert!(!Settings::on(&b.keep));
        assert_eq!(b.others.len(), 1);
        assert_eq!(b.others[0].values, vec!["y"]);
        assert_eq!(b.others[0].line, 4);
    }
}
