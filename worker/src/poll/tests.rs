//! Tests of the poll: the policy decisions and `process` over a fake mailbox.

use super::*;
use crate::context::{Clock, now_secs};
use crate::deliver::Deliverer;
use crate::source::Listed;
use crate::state::{MailboxKey, Record, Store};
use tokio_util::sync::CancellationToken;

const DAY: i64 = 86_400;

#[test]
fn the_age_decision_follows_the_policy() {
    let t0 = 1_700_000_000;
    assert!(remove_recorded(AfterDelivery::Delete, t0, t0));
    assert!(!remove_recorded(AfterDelivery::Keep, t0, t0 + 10_000 * DAY));
    let fourteen = AfterDelivery::KeepDays(14);
    assert!(!remove_recorded(fourteen, t0, t0));
    assert!(!remove_recorded(fourteen, t0, t0 + 14 * DAY));
    assert!(remove_recorded(fourteen, t0, t0 + 14 * DAY + 1));
    assert!(remove_recorded(fourteen, t0, t0 + 400 * DAY));
    // A clock that went backwards, or a record from the future, is never old.
    assert!(!remove_recorded(fourteen, t0, t0 - 30 * DAY));
    assert!(!remove_recorded(fourteen, i64::MAX, i64::MIN));
    assert!(remove_recorded(
        AfterDelivery::KeepDays(3650),
        0,
        3651 * DAY
    ));
}

/// A mailbox that lists fixed UIDs and remembers which were deleted; a fetch is an error
/// of the test unless `body` is set.
struct FakeMailbox {
    key: MailboxKey,
    uids: Vec<u32>,
    deleted: Vec<u32>,
    body: Option<Vec<u8>>,
    fetched: usize,
    /// The worker's budget, and the KiB left of it during each fetch.
    budget: Option<crate::budget::MemoryBudget>,
    available_during_fetch: Vec<usize>,
}

impl Mailbox for FakeMailbox {
    const COPIES: u64 = 2;

    fn key(&self) -> &MailboxKey {
        &self.key
    }
    async fn list(&mut self) -> Result<Vec<Listed>, SourceError> {
        Ok(self
            .uids
            .iter()
            .map(|&n| Listed {
                number: n,
                uid: Some(n.to_string()),
                size: Some(100),
            })
            .collect())
    }
    async fn fetch(&mut self, message: &Listed) -> Result<Vec<u8>, SourceError> {
        self.fetched += 1;
        if let Some(budget) = &self.budget {
            self.available_during_fetch.push(budget.available_kib());
        }
        match &self.body {
            Some(body) => Ok(body.clone()),
            None => panic!("a recorded message was fetched again: {message:?}"),
        }
    }
    async fn delete(&mut self, message: &Listed) -> Result<(), SourceError> {
        self.deleted.push(message.number);
        Ok(())
    }
    async fn commit(self, _clean: bool) -> Result<Committed, SourceError> {
        Ok(Committed::All)
    }
}

fn profile(after_delivery: &str) -> Profile {
    let text = format!(
        "[[profile]]\nname = \"p\"\nafter_delivery = {after_delivery}\n\
         [profile.remote]\nhost = \"h.example\"\nusername = \"u\"\npassword = {{ env = \"X\" }}\n\
         [profile.local]\nuser = \"alice\"\ndomain = \"d.example\"\n"
    );
    let config = mailpull_shared::config::parse(&text, "test.toml").expect("config");
    config.profiles[0].clone()
}

fn real_now() -> i64 {
    now_secs()
}
fn in_13_days() -> i64 {
    now_secs() + 13 * DAY
}
fn in_15_days() -> i64 {
    now_secs() + 15 * DAY
}

const BODY: &[u8] = b"Subject: recorded\r\n\r\nhello\r\n";

async fn run(clock: Clock, after_delivery: &str) -> (Vec<u32>, Vec<String>) {
    let (deleted, confirmed, fetched) = run_with(clock, after_delivery, Some(100)).await;
    assert_eq!(fetched, 0, "the listed size agrees: nothing fetched");
    (deleted, confirmed)
}

/// Two recorded messages listed at 100 bytes, recorded with `remote_size` and the digest
/// of [`BODY`]: what was deleted, confirmed, and how many fetches it took.
async fn run_with(
    clock: Clock,
    after_delivery: &str,
    remote_size: Option<u64>,
) -> (Vec<u32>, Vec<String>, usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let key = MailboxKey {
        account: "imap://u@h.example:993".into(),
        folder: "INBOX".into(),
        uidvalidity: 7,
    };
    for uid in ["1", "2"] {
        store
            .record(Record {
                key: key.clone(),
                uid: uid.into(),
                profile: "p".into(),
                size: 100,
                remote_size,
                digest: hex_digest(BODY),
                message_id: None,
                recipients: vec!["alice@d.example".into()],
                dedupe_key: None,
                shown: Default::default(),
            })
            .await
            .expect("record");
    }
    let ctx =
        PollContext::new(store, Deliverer::new(1), CancellationToken::new()).with_clock(clock);
    let mut mailbox = FakeMailbox {
        key,
        uids: vec![1, 2],
        deleted: Vec::new(),
        body: Some(BODY.to_vec()),
        fetched: 0,
        budget: Some(ctx.budget.clone()),
        available_during_fetch: Vec::new(),
    };
    let mut report = PollReport::default();
    let mut progress = Progress::default();
    process(
        &ctx,
        &profile(after_delivery),
        &mut mailbox,
        "IMAP",
        &mut report,
        &mut progress,
    )
    .await
    .expect("process");
    assert_eq!(report.delivered, 0);
    // Each fetch held the message's share of the budget (100 bytes x 2 copies: 1 KiB), and
    // every share was given back.
    let total = ctx.budget.total_kib() as usize;
    assert_eq!(
        mailbox.available_during_fetch,
        vec![total - 1; mailbox.fetched]
    );
    assert_eq!(ctx.budget.available_kib(), total);
    (mailbox.deleted, progress.to_confirm, mailbox.fetched)
}

#[tokio::test]
async fn a_record_without_a_listed_size_is_checked_by_digest_before_deletion() {
    // Rows from before schema version 2: the message is fetched, recognised, deleted.
    let (deleted, confirmed, fetched) = run_with(real_now, "\"delete\"", None).await;
    assert_eq!((deleted, confirmed.len(), fetched), (vec![1, 2], 2, 2));
    // Nothing to delete, nothing to check.
    assert_eq!(
        run_with(real_now, "\"keep\"", None).await,
        (vec![], vec![], 0)
    );
}

#[tokio::test]
async fn a_listed_size_that_differs_is_settled_by_the_digest() {
    // The server lists another size now, but the bytes are those recorded: the same
    // message, deleted without a second delivery.
    let (deleted, _, fetched) = run_with(real_now, "\"delete\"", Some(99)).await;
    assert_eq!((deleted, fetched), (vec![1, 2], 2));
    let (deleted, _, fetched) = run_with(real_now, "\"keep\"", Some(99)).await;
    assert_eq!((deleted, fetched), (vec![], 2));
}

#[tokio::test]
async fn recorded_messages_are_deleted_only_once_older_than_keep_days() {
    let keep14 = "{ keep_days = 14 }";
    assert_eq!(run(real_now, keep14).await, (vec![], vec![]));
    assert_eq!(run(in_13_days, keep14).await, (vec![], vec![]));
    assert_eq!(
        run(in_15_days, keep14).await,
        (vec![1, 2], vec!["1".to_string(), "2".to_string()])
    );
    assert_eq!(run(in_15_days, "\"keep\"").await, (vec![], vec![]));
    assert_eq!(run(real_now, "\"delete\"").await.0, vec![1, 2]);
}

/// A held message and one whose next attempt is later are not fetched (the fake mailbox
/// panics on a fetch); a held message with the `delete` action is deleted without a fetch,
/// and forgotten once the server commits.
#[tokio::test]
async fn held_and_waiting_messages_are_not_fetched_and_delete_needs_the_action() {
    use crate::state::{Attempt, HeldAction};
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("store");
    let key = MailboxKey {
        account: "u@h.example".into(),
        folder: "INBOX".into(),
        uidvalidity: 7,
    };
    let now = now_secs();
    let row = |uid: &str, held: bool, next_at: i64, action: Option<HeldAction>| Attempt {
        key: key.clone(),
        uid: uid.into(),
        profile: "p".into(),
        attempts: 3,
        first_at: now - 600,
        last_at: now - 60,
        next_at,
        reason: "451 busy".into(),
        held,
        action,
        summary: None,
    };
    store
        .put_attempt(row("1", true, 0, None))
        .await
        .expect("held");
    store
        .put_attempt(row("2", false, now + 600, None))
        .await
        .expect("waiting");
    store
        .put_attempt(row("3", true, 0, Some(HeldAction::Delete)))
        .await
        .expect("to delete");
    let ctx = PollContext::new(store.clone(), Deliverer::new(1), CancellationToken::new());
    let mut mailbox = FakeMailbox {
        key: key.clone(),
        uids: vec![1, 2, 3],
        deleted: Vec::new(),
        body: None,
        fetched: 0,
        budget: None,
        available_during_fetch: Vec::new(),
    };
    let mut report = PollReport::default();
    let mut progress = Progress::default();
    process(
        &ctx,
        &profile("\"delete\""),
        &mut mailbox,
        "IMAP",
        &mut report,
        &mut progress,
    )
    .await
    .expect("process");
    assert_eq!((report.held, report.waiting, mailbox.fetched), (1, 1, 0));
    assert_eq!(mailbox.deleted, vec![3]);
    assert_eq!(progress.dropped, vec!["3".to_string()]);
    assert!(
        progress.skipped,
        "not a clean poll: messages stay on the server"
    );
    assert!(report.left_on_server.is_empty());
}

#[test]
fn a_failed_poll_tells_the_metrics_its_kind() {
    use crate::metrics::{FailureKind, PollOutcome};
    let remote = PollError::Source(SourceError::Imap {
        server: "imap.example:993".into(),
        context: "LOGIN".into(),
        message: "refused".into(),
    });
    assert_eq!(
        remote.metrics_outcome(),
        PollOutcome::Failed(FailureKind::Remote)
    );
    let local = PollError::Deferred(DeliveryError::Unreachable {
        server: "127.0.0.1:25".into(),
        reason: "refused".into(),
    });
    assert_eq!(
        local.metrics_outcome(),
        PollOutcome::Failed(FailureKind::LocalServer)
    );
    assert_eq!(
        PollError::State(StateError::Gone).metrics_outcome(),
        PollOutcome::Failed(FailureKind::State)
    );
    // Messages left on the server are counted one by one; the poll itself went through.
    let left = PollError::Undelivered {
        count: 2,
        first: "7: refused".into(),
    };
    assert_eq!(left.metrics_outcome(), PollOutcome::Completed);
}

#[test]
fn what_a_poll_says_to_the_alerts() {
    use crate::alerts::Seen;
    use crate::source::SourceError;
    let revoked: Result<PollReport, PollError> = Err(PollError::Source(SourceError::OAuth(
        crate::oauth::OAuthError::NotSignedIn {
            profile: "p".into(),
        },
    )));
    let seen = alert_seen(&revoked);
    assert_eq!(seen.failing, Seen::Unknown);
    assert!(
        matches!(&seen.sign_in, Seen::Active(why) if why.contains("is not signed in")),
        "{seen:?}"
    );
    let refused: Result<PollReport, PollError> = Err(PollError::Source(SourceError::Auth {
        server: "isp:995".into(),
        user: "u".into(),
        message: "no".into(),
    }));
    let seen = alert_seen(&refused);
    assert!(matches!(seen.failing, Seen::Active(_)), "{seen:?}");
    assert_eq!(
        seen.sign_in,
        Seen::Unknown,
        "a refused login says nothing of OAuth"
    );
    // Deferred by the local server: a message was fetched, so the sign-in works.
    let deferred: Result<PollReport, PollError> = Err(PollError::Deferred(
        crate::deliver::DeliveryError::Transient {
            server: "127.0.0.1:25".into(),
            reply: "451 busy".into(),
        },
    ));
    let seen = alert_seen(&deferred);
    assert!(matches!(seen.failing, Seen::Active(_)), "{seen:?}");
    assert_eq!(seen.sign_in, Seen::Clear);
    let left: Result<PollReport, PollError> = Err(PollError::Undelivered {
        count: 1,
        first: "x".into(),
    });
    for result in [Ok(PollReport::default()), left] {
        let seen = alert_seen(&result);
        assert_eq!((seen.failing, seen.sign_in), (Seen::Clear, Seen::Clear));
    }
}
