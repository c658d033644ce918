//! Which recorded mailbox a profile polls, settled before each poll. Records are keyed by the
//! remote mailbox (`username@host`, see `Remote::mailbox_identity`), so a new port, security
//! or protocol, or another case of the names, finds the same records. When the host name
//! itself changes, the records move with the profile only if the new name reaches the same
//! server (both names resolve to a common address) and the username is the same: a host
//! alias (`mail.isp.example` → `pop.isp.example`), not a move to another provider, whose
//! UIDs mean other messages. Otherwise the profile starts afresh (a duplicate at worst, never
//! a loss).

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::Duration;

use mailpull_shared::config::{Profile, split_mailbox_identity};
use tracing::{info, warn};

use crate::state::{StateError, Store};

/// How long a host name lookup may take when judging a change of host.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Notes the mailbox `profile` polls now, moving its records when its host became another
/// name of the same server.
pub async fn settle(store: &Store, profile: &Profile) -> Result<(), StateError> {
    let name = &profile.name;
    let now = profile.remote.mailbox_identity();
    let Some(before) = store.mailbox_of(name).await? else {
        return store.set_mailbox(name, &now).await;
    };
    if before == now {
        return Ok(());
    }
    let alias = match (
        split_mailbox_identity(&before),
        split_mailbox_identity(&now),
    ) {
        (Some((old_user, old_host)), Some((new_user, new_host))) if old_user == new_user => {
            !store.has_records(&now).await?
                && !store.polled_by_another(&before, name).await?
                && same_server(old_host, new_host).await
        }
        _ => false,
    };
    if alias {
        let moved = store.move_mailbox(name, &before, &now).await?;
        info!(
            profile = %name,
            from = %before,
            to = %now,
            records = moved,
            "the profile's host is another name of the same server; its delivery records move with it"
        );
        Ok(())
    } else {
        warn!(
            profile = %name,
            from = %before,
            to = %now,
            "the profile now polls another mailbox; mail kept there is new to it"
        );
        store.set_mailbox(name, &now).await
    }
}

/// Whether two host names share an address (resolved now; a name that does not resolve
/// shares nothing).
async fn same_server(a: &str, b: &str) -> bool {
    let (left, right) = tokio::join!(addresses(a), addresses(b));
    !left.is_disjoint(&right)
}

async fn addresses(host: &str) -> HashSet<IpAddr> {
    match tokio::time::timeout(LOOKUP_TIMEOUT, tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(found)) => found.map(|addr| addr.ip()).collect(),
        _ => HashSet::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_of_one_address_are_one_server() {
        assert!(same_server("localhost", "127.0.0.1").await);
        assert!(same_server("127.0.0.1", "127.0.0.1").await);
        assert!(!same_server("127.0.0.1", "127.0.0.2").await);
        assert!(!same_server("no-such-host.invalid", "127.0.0.1").await);
    }
}
