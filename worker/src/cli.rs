//! The IPC commands of the command line: `status`, `poll-now` and `set-password` talk to the
//! running worker over the same pipe as the Pull Manager; `set-password` for the Linux
//! service writes the service secret store instead. Formatting is pure and unit-tested.

use std::fmt::Write as _;
use std::io::{BufRead, IsTerminal};
use std::path::Path;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use mailpull_shared::config::Config;
use mailpull_shared::ipc::{ClientError, Endpoint, IpcClient, ProfileStatus, PushState};
use mailpull_shared::secrets::{PasswordSource, Secret, SecretKind, ServiceStore};

use crate::push::NO_SLOT_POLL_INTERVAL;

pub use crate::service_config::EXIT_NO_WORKER;

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| anyhow::anyhow!("cannot start the async runtime: {err}"))
}

/// Runs `call` against the worker of `config`; connection problems print a clear message and
/// give [`EXIT_NO_WORKER`], a refused request gives 1.
fn with_client<F, T>(config: &Path, call: F) -> anyhow::Result<Result<T, ExitCode>>
where
    F: AsyncFnOnce(&mut IpcClient) -> Result<T, ClientError>,
{
    let endpoint = Endpoint::for_config(config);
    runtime()?.block_on(async {
        let mut client = match IpcClient::connect(&endpoint).await {
            Ok(client) => client,
            Err(err) => {
                eprintln!("mailpull-worker: {err}");
                if matches!(err, ClientError::NotRunning { .. })
                    && let Some(service) = crate::service_config::service_config(config, false)
                {
                    eprintln!(
                        "mailpull-worker: {} is {}: start the service ({}), not a worker of your own, which would keep the secrets in the OS keyring of your account",
                        config.display(),
                        service.what,
                        service.start
                    );
                }
                return Ok(Err(ExitCode::from(EXIT_NO_WORKER)));
            }
        };
        match call(&mut client).await {
            Ok(value) => Ok(Ok(value)),
            Err(err) => {
                eprintln!("mailpull-worker: {err}");
                Ok(Err(ExitCode::FAILURE))
            }
        }
    })
}

/// `mailpull-worker status`: prints the table of profiles.
pub fn status(config: &Path) -> anyhow::Result<ExitCode> {
    match with_client(config, async |client| client.status().await)? {
        Ok(profiles) => {
            print!("{}", status_table(&profiles, unix_now()));
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

/// `mailpull-worker poll-now NAME`.
pub fn poll_now(config: &Path, name: &str) -> anyhow::Result<ExitCode> {
    print_done(with_client(config, async |client| {
        client.poll_now(name).await
    })?)
}

/// Prints the worker's message of a request that succeeded.
fn print_done(reply: Result<String, ExitCode>) -> anyhow::Result<ExitCode> {
    match reply {
        Ok(message) => {
            println!("{message}");
            Ok(ExitCode::SUCCESS)
        }
        Err(code) => Ok(code),
    }
}

/// `mailpull-worker set-password NAME [--client-secret]`: the secret goes one way, into the
/// keyring of the worker's account; the reply never repeats it.
pub fn set_password(config: &Path, name: &str, client_secret: bool) -> anyhow::Result<ExitCode> {
    let what = if client_secret {
        "OAuth client secret"
    } else {
        "password"
    };
    let secret = read_secret(&format!("{what} of profile \"{name}\": "))?;
    if secret.is_empty() {
        anyhow::bail!("no {what} given (standard input was empty); nothing was sent");
    }
    print_done(with_client(config, async |client| {
        if client_secret {
            client.set_client_secret(name, &secret).await
        } else {
            client.set_secret(name, &secret).await
        }
    })?)
}

/// `mailpull-worker forget-secrets`: the running worker removes every profile's password,
/// client secret and refresh token from its account's OS keyring (uninstall, "Remove my data").
pub fn forget_secrets(config: &Path) -> anyhow::Result<ExitCode> {
    print_done(with_client(config, async |client| {
        client.forget_secrets().await
    })?)
}

/// `set-password` for the service: `name`'s secret into the root-owned service secret store
/// (temporary file + rename, mode 0600); printed: where it went, never the secret.
pub fn set_in_service_store(
    store: &ServiceStore,
    config: &Config,
    name: &str,
    client_secret: bool,
) -> anyhow::Result<ExitCode> {
    let kind = if client_secret {
        SecretKind::ClientSecret
    } else {
        SecretKind::Password
    };
    let what = kind.label();
    let Some(profile) = config.profile(name) else {
        let names: Vec<&str> = config.profiles.iter().map(|p| p.name.as_str()).collect();
        anyhow::bail!(
            "no profile \"{name}\" in {} (profiles: {}); nothing was stored",
            config
                .source
                .as_deref()
                .map_or_else(|| "the configuration".into(), |p| p.display().to_string()),
            names.join(", ")
        );
    };
    let source = match kind {
        SecretKind::Password => profile.remote.credentials.password(),
        SecretKind::ClientSecret => profile
            .remote
            .credentials
            .oauth2()
            .and_then(|o| o.client_secret.as_ref()),
    };
    let secret = read_secret(&format!("{what} of profile \"{name}\": "))?;
    if secret.is_empty() {
        anyhow::bail!("no {what} given (standard input was empty); nothing was stored");
    }
    store.set(kind, name, &Secret::new(secret))?;
    println!(
        "{what} of profile \"{name}\" stored in the {}; a service started by systemd reads it at start: systemctl restart mailpull",
        store.describe()
    );
    if source != Some(&PasswordSource::Keyring) {
        println!(
            "note: profile \"{name}\" reads its {what} from another source (set {} = {{ keyring = true }} to use this one)",
            if client_secret {
                "client_secret"
            } else {
                "password"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A secret from the terminal without echo, or the first line of standard input.
fn read_secret(prompt: &str) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return rpassword::prompt_password(prompt)
            .map_err(|err| anyhow::anyhow!("cannot read the secret from the terminal: {err}"));
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|err| anyhow::anyhow!("cannot read the secret from standard input: {err}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// `95` → `1m35s`.
fn span(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        3600..86_400 => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{:02}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

fn ago(time: Option<u64>, now: u64) -> String {
    match time {
        None => "-".into(),
        Some(t) => format!("{} ago", span(now.saturating_sub(t))),
    }
}

fn until(time: Option<u64>, now: u64) -> String {
    match time {
        None => "-".into(),
        Some(t) if t <= now => "now".into(),
        Some(t) => format!("in {}", span(t - now)),
    }
}

/// The status table, one line per profile.
pub fn status_table(profiles: &[ProfileStatus], now: u64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<9} {:<10} {:>12} {:>12} {:>8} {:>12}  last error",
        "profile", "state", "push", "last poll", "next poll", "messages", "bytes"
    );
    if profiles.is_empty() {
        out.push_str("(no profiles)\n");
    }
    let no_slot = profiles
        .iter()
        .filter(|p| p.push == PushState::NoSlot)
        .count();
    for p in profiles {
        let error = p
            .last_error
            .as_deref()
            .map(|e| e.replace('\n', " "))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<20} {:<9} {:<10} {:>12} {:>12} {:>8} {:>12}  {error}",
            p.name,
            if p.needs_sign_in {
                "sign-in"
            } else {
                p.state.as_str()
            },
            p.push.as_str(),
            ago(p.last_poll, now),
            until(p.next_poll, now),
            p.messages,
            p.bytes,
        );
    }
    if profiles.iter().any(|p| p.holder.is_some()) {
        out.push_str("shared state, held by:\n");
        for p in profiles {
            let holder = p.holder.as_deref().unwrap_or("(no worker)");
            let _ = writeln!(out, "  {:<20} {holder}", p.name);
        }
    }
    if no_slot > 0 {
        let _ = writeln!(
            out,
            "{no_slot} push profile(s) without an IDLE slot (worker.max_idle_connections reached): \
             polled every {}s until a slot frees",
            NO_SLOT_POLL_INTERVAL.as_secs()
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailpull_shared::ipc::ProfileState;

    #[test]
    fn table_shows_every_column() {
        let rows = vec![
            ProfileStatus {
                name: "isp".into(),
                state: ProfileState::Ok,
                last_poll: Some(1000 - 95),
                next_poll: Some(1000 + 600),
                messages: 12,
                bytes: 34_567,
                last_error: None,
                consecutive_failures: 0,
                needs_sign_in: false,
                push: PushState::Idling,
                holder: None,
            },
            ProfileStatus {
                name: "broken".into(),
                state: ProfileState::Error,
                last_poll: Some(990),
                next_poll: Some(1000 + 7200),
                messages: 0,
                bytes: 0,
                last_error: Some("login to x failed:\nbad password".into()),
                consecutive_failures: 2,
                needs_sign_in: false,
                push: PushState::NoSlot,
                holder: None,
            },
            ProfileStatus {
                name: "off".into(),
                state: ProfileState::Disabled,
                last_poll: None,
                next_poll: None,
                messages: 0,
                bytes: 0,
                last_error: None,
                consecutive_failures: 0,
                needs_sign_in: false,
                push: PushState::Off,
                holder: None,
            },
        ];
        let table = status_table(&rows, 1000);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("profile"));
        assert!(lines[1].contains("isp") && lines[1].contains("1m35s ago"));
        assert!(lines[1].contains("in 10m00s") && lines[1].contains("34567"));
        assert!(lines[2].contains("error") && lines[2].contains("in 2h00m"));
        assert!(lines[2].ends_with("login to x failed: bad password"));
        assert!(lines[3].contains("disabled"));
        assert!(lines[1].contains(" idle "), "{}", lines[1]);
        assert!(lines[2].contains(" no slot "), "{}", lines[2]);
        assert!(lines[4].starts_with("1 push profile(s) without an IDLE slot"));
        assert!(lines[4].ends_with("polled every 60s until a slot frees"));
    }

    #[test]
    fn a_shared_state_lists_the_holders() {
        let row = |name: &str, holder: Option<&str>| ProfileStatus {
            name: name.into(),
            state: ProfileState::Ok,
            last_poll: None,
            next_poll: None,
            messages: 0,
            bytes: 0,
            last_error: None,
            consecutive_failures: 0,
            needs_sign_in: false,
            push: PushState::Off,
            holder: holder.map(str::to_string),
        };
        let table = status_table(&[row("a", Some("h1:10:ab")), row("b", None)], 1000);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[3], "shared state, held by:");
        assert_eq!(
            lines[4].split_whitespace().collect::<Vec<_>>(),
            ["a", "h1:10:ab"]
        );
        assert_eq!(
            lines[5].split_whitespace().collect::<Vec<_>>(),
            ["b", "(no", "worker)"]
        );
        let local = status_table(&[row("a", None)], 1000);
        assert!(!local.contains("held by"), "{local}");
    }

    #[test]
    fn spans() {
        assert_eq!(span(0), "0s");
        assert_eq!(span(3600), "1h00m");
        assert_eq!(span(90_000), "1d01h");
        assert_eq!(until(Some(5), 10), "now");
        assert_eq!(ago(None, 10), "-");
    }
}
