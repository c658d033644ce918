//! Alert mail to an administrator (`[worker] alerts`): after each poll, for each kind of
//! trouble — the profile failing (for `alerts.after`), held messages, a needed OAuth sign-in —
//! one mail when it starts and one when it is over, sent over SMTP like a delivery (the
//! `alerts.smtp` server, else the profile's own local server, with the null sender so an alert
//! never bounces into a loop). What to do is `decide`'s pure decision over the row the state
//! database keeps (`state::alerts`), so a restart neither repeats a mail nor forgets the
//! recovery; `mail` writes the text. A mail that cannot be sent is tried again after the next
//! poll.
//!
//! Layout: `decide` (pure: the step for one kind), `mail` (pure: the message), this module
//! (the state rows, held messages in words, sending). What a poll's result says is
//! `poll::alert_seen`'s to word; this module imports neither `poll` nor `context`.

pub mod decide;
pub mod mail;

use std::path::Path;
use std::time::Duration;

use mailpull_shared::config::{Alerts, Local, Profile};
use tracing::{info, warn};

use crate::deliver::{Deliverer, DeliveryError};
use crate::state::{AlertKind, AlertRow, Attempt, Store};
pub use decide::Seen;
use decide::{Step, decide};
use mail::Letter;

/// How long one alert mail may take to send.
const SEND_TIMEOUT: Duration = Duration::from_secs(60);
/// Held messages named in a mail; more are counted.
const HELD_LISTED: usize = 10;

/// What a poll's result said about the failing profile and its sign-in (the poll's module
/// words it: `poll::alert_seen`); held messages are read from the state database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollSeen {
    pub failing: Seen,
    pub sign_in: Seen,
}

/// What sending needs: the state database, the SMTP client, this machine's name, now.
pub struct Env<'a> {
    pub store: &'a Store,
    pub deliverer: &'a Deliverer,
    pub hostname: &'a str,
    /// Unix seconds.
    pub now: i64,
}

/// The `[worker] alerts` settings at work (read at start).
pub struct Alerter {
    settings: Alerts,
    from: String,
    /// The worker's configuration file as a command's `--config` argument.
    config: Option<String>,
}

impl Alerter {
    /// `config_file`: the file the worker read, named in the commands a mail suggests (the
    /// default file differs between root, other users and the service, so it is always said).
    pub fn new(settings: Alerts, hostname: &str, config_file: Option<&Path>) -> Self {
        let from = settings
            .from
            .clone()
            .unwrap_or_else(|| format!("mailpull@{hostname}"));
        let config = config_file.map(|path| {
            let absolute = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
            mail::argument(&absolute.display().to_string())
        });
        Alerter {
            settings,
            from,
            config,
        }
    }

    /// Looks at what the poll of `profile` showed and sends what is due. Never fails: a
    /// problem is logged and the mail tried again after the next poll.
    pub async fn after_poll(&self, ctx: &Env<'_>, profile: &Profile, seen: PollSeen) {
        let rows = match ctx.store.alerts(&profile.name).await {
            Ok(rows) => rows,
            Err(err) => {
                warn!(profile = %profile.name, error = %err, "alerts: cannot read their state");
                return;
            }
        };
        let held = ctx.store.held(Some(profile.name.clone())).await;
        for kind in AlertKind::ALL {
            let seen = match kind {
                AlertKind::Held => match &held {
                    Ok(held) => held_seen(held),
                    Err(_) => Seen::Unknown,
                },
                AlertKind::Failing => seen.failing.clone(),
                AlertKind::SignIn => seen.sign_in.clone(),
            };
            let row = rows.iter().find(|row| row.kind == kind);
            let after = self.settings.after.as_secs() as i64;
            let step = decide(&profile.name, kind, seen, row, ctx.now, after);
            self.carry_out(ctx, profile, row, step).await;
        }
    }

    async fn carry_out(
        &self,
        ctx: &Env<'_>,
        profile: &Profile,
        old: Option<&AlertRow>,
        step: Step,
    ) {
        let name = &profile.name;
        let saved = match step {
            Step::Nothing => Ok(()),
            Step::Remember(row) if old == Some(&row) => Ok(()),
            Step::Remember(row) => ctx.store.put_alert(row).await,
            Step::Forget => ctx.store.clear_alert(name, kindless(old)).await,
            Step::Alert(mut row) => match self.send(ctx, profile, &row, false).await {
                Ok(()) => {
                    info!(profile = %name, kind = row.kind.as_str(), to = %self.settings.to, "alert sent");
                    row.sent_at = Some(ctx.now);
                    ctx.store.put_alert(row).await
                }
                Err(err) => {
                    warn!(profile = %name, kind = row.kind.as_str(), error = %err, "alert not sent; trying again after the next poll");
                    ctx.store.put_alert(row).await
                }
            },
            Step::Recover(row) => match self.send(ctx, profile, &row, true).await {
                Ok(()) => {
                    info!(profile = %name, kind = row.kind.as_str(), to = %self.settings.to, "recovery sent");
                    ctx.store.clear_alert(name, row.kind).await
                }
                Err(err) => {
                    warn!(profile = %name, kind = row.kind.as_str(), error = %err, "recovery mail not sent; trying again after the next poll");
                    Ok(())
                }
            },
        };
        if let Err(err) = saved {
            warn!(profile = %name, error = %err, "alerts: cannot write their state");
        }
    }

    async fn send(
        &self,
        ctx: &Env<'_>,
        profile: &Profile,
        row: &AlertRow,
        recovered: bool,
    ) -> Result<(), DeliveryError> {
        let message = mail::compose(&Letter {
            kind: row.kind,
            recovered,
            profile,
            since: row.since,
            now: ctx.now,
            detail: &row.detail,
            from: &self.from,
            to: &self.settings.to,
            hostname: ctx.hostname,
            config: self.config.as_deref(),
        });
        let server = self.server(profile);
        ctx.deliverer
            .send(
                &server,
                SEND_TIMEOUT,
                None,
                std::slice::from_ref(&self.settings.to),
                message,
                |_| (),
            )
            .await
            .1
            .map(drop)
    }

    /// `alerts.smtp`, else the profile's own local server.
    fn server(&self, profile: &Profile) -> Local {
        match &self.settings.smtp {
            Some(smtp) => Local {
                smtp_host: smtp.host.clone(),
                smtp_port: smtp.port,
                smtp_security: smtp.security,
                ca_file: smtp.ca_file.clone(),
                user: String::new(),
                domain: String::new(),
            },
            None => profile.local.clone(),
        }
    }
}

/// The kind of the row being forgotten (a `Forget` step always has one).
fn kindless(old: Option<&AlertRow>) -> AlertKind {
    old.map_or(AlertKind::Failing, |row| row.kind)
}

/// The held messages in words, or clear when there are none.
fn held_seen(held: &[Attempt]) -> Seen {
    if held.is_empty() {
        return Seen::Clear;
    }
    let mut lines = vec![format!("{} message(s) held", held.len())];
    for row in held.iter().take(HELD_LISTED) {
        let place = if row.key.folder.is_empty() {
            format!("message {}", row.uid)
        } else {
            format!("message {} in {}", row.uid, row.key.folder)
        };
        lines.push(format!(
            "- {place}: {} attempt(s), the first at {}: {}",
            row.attempts,
            crate::held::format_time(row.first_at),
            row.reason
        ));
    }
    if held.len() > HELD_LISTED {
        lines.push(format!("- and {} more", held.len() - HELD_LISTED));
    }
    Seen::Active(lines.join("\n"))
}
