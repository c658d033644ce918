//! One `[[profile]]` table: its name, enabled flag and push, and each of its sections (the
//! `filter` among them).

use super::distribute::check_distribute;
use super::fields::Errors;
use super::local::check_local;
use super::remote::check_remote;
use super::schedule::{check_after_delivery, check_interval};
use crate::config::model::{Profile, Protocol};
use crate::config::raw::RawProfile;

/// One `[[profile]]` table; `label` names it in errors (its name, or `#N`).
pub(super) fn check_profile_table(
    raw: &RawProfile,
    label: &str,
    errors: &mut Errors,
) -> Option<Profile> {
    let p = Some(label);
    let name = match raw.name.as_deref().map(str::trim) {
        None | Some("") => {
            errors.push(p, "name", "missing; every profile needs a name");
            return None;
        }
        Some(name) if name.len() > 64 || name.chars().any(char::is_control) => {
            errors.push(
                p,
                "name",
                "must be at most 64 characters without control characters",
            );
            return None;
        }
        Some(name) => name.to_string(),
    };
    let interval = check_interval(raw.interval.as_deref(), p, errors);
    let after_delivery = check_after_delivery(raw.after_delivery.as_ref(), p, errors);
    let remote = match &raw.remote {
        Some(remote) => check_remote(remote, p, errors),
        None => {
            errors.push(p, "remote", "missing [profile.remote] section");
            None
        }
    };
    let local = match &raw.local {
        Some(local) => check_local(local, p, errors),
        None => {
            errors.push(p, "local", "missing [profile.local] section");
            None
        }
    };
    let distribute = match (&raw.distribute, &local) {
        (Some(distribute), Some(local)) if distribute.enabled.unwrap_or(true) => {
            check_distribute(distribute, local, p, errors)
        }
        _ => None,
    };
    let push = raw.push.unwrap_or(false);
    if push
        && remote
            .as_ref()
            .is_some_and(|r| r.protocol == Protocol::Pop3)
    {
        errors.push(
            p,
            "push",
            "needs protocol = \"imap\" (IMAP IDLE); POP3 has no push, it is polled every interval",
        );
    }
    let filter = match (&raw.filter, &local) {
        (Some(filter), Some(local)) => {
            super::filter::check_filter(filter, local, distribute.is_some(), p, errors)
        }
        _ => None,
    };
    Some(Profile {
        name,
        enabled: raw.enabled.unwrap_or(true),
        interval,
        after_delivery,
        push,
        remote: remote?,
        local: local?,
        distribute,
        filter,
    })
}
