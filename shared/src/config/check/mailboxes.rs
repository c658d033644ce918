//! A file-level check: no two enabled profiles pull the same remote mailbox. Both would fetch,
//! deliver and delete the same messages (each keeps its own records), so every message could
//! arrive twice. A mailbox is the account (host and user name, both without regard to case;
//! port, security and protocol are only the route to it) and a folder: POP3 reads INBOX, IMAP
//! the folders listed, `INBOX` without regard to case as IMAP defines it.

use super::fields::Errors;
use crate::config::model::{Profile, Protocol};

/// Pushes an error on every enabled profile that pulls a folder an earlier enabled profile
/// already pulls, naming both.
pub(super) fn check_distinct_mailboxes(profiles: &[Profile], errors: &mut Errors) {
    let enabled: Vec<&Profile> = profiles.iter().filter(|p| p.enabled).collect();
    for (index, later) in enabled.iter().enumerate() {
        let clash = enabled[..index]
            .iter()
            .find_map(|earlier| shared_folder(earlier, later).map(|folder| (earlier, folder)));
        if let Some((earlier, folder)) = clash {
            errors.push(
                Some(&later.name),
                "remote.username",
                format!(
                    "pulls the same mailbox as profile \"{}\" ({}@{}, folder {folder}): both \
                     would fetch and deliver every message; give them different folders, or \
                     disable one",
                    earlier.name, later.remote.username, later.remote.host
                ),
            );
        }
    }
}

/// The first folder that `a` and `b` both pull, when they pull one account.
fn shared_folder(a: &Profile, b: &Profile) -> Option<String> {
    if !same_host(&a.remote.host, &b.remote.host)
        || !a.remote.username.eq_ignore_ascii_case(&b.remote.username)
    {
        return None;
    }
    let theirs = folders(b);
    folders(a)
        .into_iter()
        .find(|folder| theirs.contains(folder))
}

/// Host names compare without regard to case and without a final dot.
fn same_host(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

/// The folders a profile pulls, INBOX spelled one way.
fn folders(profile: &Profile) -> Vec<String> {
    match profile.remote.protocol {
        Protocol::Pop3 => vec!["INBOX".to_string()],
        Protocol::Imap => profile
            .remote
            .folders
            .iter()
            .map(|folder| {
                if folder.eq_ignore_ascii_case("INBOX") {
                    "INBOX".to_string()
                } else {
                    folder.clone()
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::parse;

    /// A file with two profiles: `a` and `b` are the lines of their `[profile.remote]` tables.
    fn two(a: &str, b: &str) -> String {
        let profile = |name: &str, remote: &str| {
            format!(
                "[[profile]]\nname = \"{name}\"\n[profile.remote]\npassword = {{ env = \"PW\" }}\n{remote}\n[profile.local]\nuser = \"alice\"\ndomain = \"example.com\"\n"
            )
        };
        format!("{}{}", profile("first", a), profile("second", b))
    }

    fn errors(text: &str) -> Vec<String> {
        match parse(text, "m.toml") {
            Ok(_) => Vec::new(),
            Err(err) => err.errors.iter().map(ToString::to_string).collect(),
        }
    }

    const POP3S: &str = "protocol = \"pop3\"\nhost = \"mail.example.com\"\nusername = \"u\"";

    #[test]
    fn the_same_account_by_another_route_and_spelling_is_refused() {
        for other in [
            POP3S,
            // POP3 over STARTTLS on 110, host and user in other cases, a final dot.
            "protocol = \"pop3\"\nhost = \"MAIL.Example.com.\"\nport = 110\nsecurity = \"starttls\"\nusername = \"U\"",
            // IMAP's INBOX is the mailbox POP3 reads.
            "protocol = \"imap\"\nhost = \"mail.example.com\"\nusername = \"u\"",
            "protocol = \"imap\"\nhost = \"mail.example.com\"\nusername = \"u\"\nfolders = [\"Archive\", \"inbox\"]",
        ] {
            let errors = errors(&two(POP3S, other));
            assert_eq!(errors.len(), 1, "{other}: {errors:?}");
            assert!(
                errors[0].starts_with("profile \"second\": remote.username: pulls the same mailbox as profile \"first\""),
                "{}",
                errors[0]
            );
            assert!(errors[0].contains("folder INBOX"), "{}", errors[0]);
        }
    }

    #[test]
    fn other_accounts_other_folders_and_disabled_profiles_pass() {
        let imap = |folders: &str| {
            format!(
                "protocol = \"imap\"\nhost = \"mail.example.com\"\nusername = \"u\"\nfolders = {folders}"
            )
        };
        for (a, b) in [
            (POP3S.to_string(), POP3S.replace("\"u\"", "\"v\"")),
            (
                POP3S.to_string(),
                POP3S.replace("mail.example.com", "pop.example.com"),
            ),
            (imap("[\"INBOX\"]"), imap("[\"Archive\", \"Lists\"]")),
            // Folder names other than INBOX are case-sensitive in IMAP.
            (imap("[\"Lists\"]"), imap("[\"lists\"]")),
            (POP3S.to_string(), imap("[\"Sent\"]")),
        ] {
            assert_eq!(errors(&two(&a, &b)), Vec::<String>::new(), "{a} / {b}");
        }
        let disabled = two(POP3S, POP3S).replacen(
            "name = \"second\"",
            "name = \"second\"\nenabled = false",
            1,
        );
        assert_eq!(errors(&disabled), Vec::<String>::new());
    }

    #[test]
    fn an_overlapping_imap_folder_is_named() {
        let a = "protocol = \"imap\"\nhost = \"h.example\"\nusername = \"u\"\nfolders = [\"Lists\", \"Work\"]";
        let b = "protocol = \"imap\"\nhost = \"h.example\"\nusername = \"u\"\nfolders = [\"Work\"]";
        let errors = errors(&two(a, b));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("folder Work"), "{}", errors[0]);
    }
}
