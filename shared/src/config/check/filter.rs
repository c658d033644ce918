//! A profile's `filter`: the command every message passes through before delivery (run
//! without a shell, so `command` is a list: the program, then its arguments), its timeout,
//! whether it rewrites the message, and the exit codes that send a message to a fallback
//! mailbox — which must then exist.

use std::path::Path;

use super::fields::{Errors, valid_mailbox};
use crate::config::duration::parse_duration;
use crate::config::model::{DEFAULT_FILTER_TIMEOUT, Filter, Local, qualify};
use crate::config::raw::RawFilter;

pub(super) fn check_filter(
    raw: &RawFilter,
    local: &Local,
    has_distribute: bool,
    p: Option<&str>,
    errors: &mut Errors,
) -> Option<Filter> {
    let command = match raw.command.as_deref() {
        None | Some([]) => {
            errors.push(
                p,
                "filter.command",
                "missing; the program and its arguments as a list, such as [\"spamc\", \"-x\", \"-E\"]",
            );
            None
        }
        Some(command) if command.iter().any(|arg| arg.contains('\0')) => {
            errors.push(p, "filter.command", "an argument contains a NUL character");
            None
        }
        Some(command) => check_program(&command[0], p, errors).then(|| command.to_vec()),
    };
    let timeout = match raw.timeout.as_deref().map(parse_duration) {
        None => DEFAULT_FILTER_TIMEOUT,
        Some(Ok(timeout)) if timeout.is_zero() => {
            errors.push(
                p,
                "filter.timeout",
                "must be longer than 0s (for example \"30s\")",
            );
            DEFAULT_FILTER_TIMEOUT
        }
        Some(Ok(timeout)) => timeout,
        Some(Err(message)) => {
            errors.push(p, "filter.timeout", message);
            DEFAULT_FILTER_TIMEOUT
        }
    };
    let mut fallback_exit = Vec::new();
    for code in raw.fallback_exit.iter().flatten() {
        match i32::try_from(*code) {
            Ok(code @ 1..=255) => fallback_exit.push(code),
            _ => errors.push(
                p,
                "filter.fallback_exit",
                format!("{code} is not an exit code that can mean \"to the fallback\" (1-255; 0 delivers)"),
            ),
        }
    }
    let fallback = match raw.fallback.as_deref().map(str::trim) {
        None => None,
        Some(user) if valid_mailbox(user) => Some(qualify(user, &local.domain)),
        Some(user) => {
            errors.push(
                p,
                "filter.fallback",
                format!("\"{user}\" is not a user name or address"),
            );
            None
        }
    };
    if !fallback_exit.is_empty() && fallback.is_none() && raw.fallback.is_none() && !has_distribute
    {
        errors.push(
            p,
            "filter.fallback",
            "missing; fallback_exit sends messages to a fallback mailbox, and this single-drop profile has none: name one, such as fallback = \"spam\"",
        );
    }
    Some(Filter {
        command: command?,
        timeout,
        rewrites: raw.rewrites.unwrap_or(false),
        fallback_exit,
        fallback,
    })
}

/// The program exists: a path names a file, a bare name is found on `PATH`.
fn check_program(program: &str, p: Option<&str>, errors: &mut Errors) -> bool {
    let found = if program.contains('/') || program.contains('\\') {
        Path::new(program).is_file()
    } else if program.is_empty() {
        false
    } else {
        std::env::var_os("PATH").is_some_and(|path| {
            std::env::split_paths(&path).any(|dir| {
                dir.join(program).is_file() || dir.join(format!("{program}.exe")).is_file()
            })
        })
    };
    if !found {
        errors.push(
            p,
            "filter.command",
            format!("program \"{program}\" not found (a path to a file, or a name on PATH)"),
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Security;

    fn local() -> Local {
        Local {
            smtp_host: "127.0.0.1".into(),
            smtp_port: 25,
            smtp_security: Security::Plain,
            ca_file: None,
            user: "alice".into(),
            domain: "local.test".into(),
        }
    }

    fn check(raw: RawFilter, distribute: bool) -> (Option<Filter>, Vec<String>) {
        let mut errors = Errors::default();
        let filter = check_filter(&raw, &local(), distribute, Some("p"), &mut errors);
        let messages = errors
            .into_vec()
            .into_iter()
            .map(|err| format!("{}: {}", err.field, err.message))
            .collect();
        (filter, messages)
    }

    #[test]
    fn a_command_alone_takes_the_defaults() {
        let (filter, errors) = check(
            RawFilter {
                command: Some(vec!["sh".into(), "-c".into(), "cat".into()]),
                ..RawFilter::default()
            },
            false,
        );
        assert!(errors.is_empty(), "{errors:?}");
        let filter = filter.expect("filter");
        assert_eq!(filter.timeout, DEFAULT_FILTER_TIMEOUT);
        assert!(!filter.rewrites);
        assert!(filter.fallback_exit.is_empty());
    }

    #[test]
    fn fallback_codes_need_a_fallback_mailbox() {
        let raw = RawFilter {
            command: Some(vec!["/bin/sh".into()]),
            fallback_exit: Some(vec![1]),
            ..RawFilter::default()
        };
        let (_, errors) = check(raw.clone(), false);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("filter.fallback: missing;"),
            "{errors:?}"
        );
        // Multi-drop: the [distribute] fallback; or one named here.
        assert!(check(raw.clone(), true).1.is_empty());
        let (filter, errors) = check(
            RawFilter {
                fallback: Some("spam".into()),
                ..raw
            },
            false,
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            filter.expect("filter").fallback.as_deref(),
            Some("spam@local.test")
        );
    }

    #[test]
    fn every_mistake_is_named_with_its_field() {
        let (filter, errors) = check(
            RawFilter {
                command: Some(vec!["no-such-filter-program-xyz".into()]),
                timeout: Some("0s".into()),
                fallback_exit: Some(vec![0, 256]),
                fallback: Some("a b".into()),
                ..RawFilter::default()
            },
            true,
        );
        assert_eq!(filter, None);
        assert_eq!(
            errors,
            [
                "filter.command: program \"no-such-filter-program-xyz\" not found (a path to a file, or a name on PATH)",
                "filter.timeout: must be longer than 0s (for example \"30s\")",
                "filter.fallback_exit: 0 is not an exit code that can mean \"to the fallback\" (1-255; 0 delivers)",
                "filter.fallback_exit: 256 is not an exit code that can mean \"to the fallback\" (1-255; 0 delivers)",
                "filter.fallback: \"a b\" is not a user name or address",
            ]
        );
        let (_, errors) = check(RawFilter::default(), false);
        assert!(
            errors[0].starts_with("filter.command: missing;"),
            "{errors:?}"
        );
    }
}
