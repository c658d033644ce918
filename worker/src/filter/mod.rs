//! A profile's `filter`: each message goes to a command's stdin before delivery (spam or
//! virus scanning, rewriting). The command runs without a shell, in its own process group,
//! with an environment of `PATH` and `LANG` only (no secret of the worker's reaches it), and is
//! killed — with its children — when it takes longer than its `timeout`. Its stdout is read
//! up to the profile's `max_message_mb` plus 1 MiB (more is a failure, so memory stays within
//! what the budget reserved for the message); stderr up to 4 KiB, for the reason. What its end
//! means is `verdict`'s pure decision.
//!
//! Layout: `verdict` (pure: exit status → deliver, fallback or failure), this module (running
//! the command, [`apply`] for the poll).

pub mod verdict;

use std::process::Stdio;

use mailpull_shared::config::{Filter, Profile};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::routing::Route;
pub use verdict::{Ended, FILTER_HEADER, Verdict, verdict};

/// What the filter printed beyond the message's size limit before it is refused.
const OUTPUT_SLACK_BYTES: u64 = 1024 * 1024;
/// What is kept of the filter's stderr.
const STDERR_BYTES: u64 = 4096;
/// `PATH` for the filter when the worker has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Where a message goes after its filter.
#[derive(Debug, PartialEq, Eq)]
pub enum Passed {
    /// Deliver it as usual (`raw` may now hold the filter's rewrite).
    Deliver,
    /// Deliver it to this fallback mailbox with this header line.
    Fallback { to: String, header: String },
}

/// Runs the profile's filter (if any) over `raw`. `Ok`: where the message goes, `raw`
/// replaced by the filter's output when it rewrites. `Err(reason)`: a failure of this message
/// (the filter timed out, was killed, exited with another code, or a fallback code with no
/// fallback to go to): it stays on the server and is tried again.
pub async fn apply(profile: &Profile, route: &Route, raw: &mut Vec<u8>) -> Result<Passed, String> {
    let Some(filter) = &profile.filter else {
        return Ok(Passed::Deliver);
    };
    let max_output = profile
        .remote
        .max_message_bytes
        .saturating_add(OUTPUT_SLACK_BYTES);
    match run(filter, raw, max_output).await {
        Verdict::Deliver(output) => {
            if let Some(output) = output {
                *raw = output;
            }
            Ok(Passed::Deliver)
        }
        Verdict::Fallback { output, header } => {
            // The header on one line (it is folded), for the log and a reason.
            let said = header.replace("\r\n", "");
            let to = match (&filter.fallback, route) {
                (Some(to), _) => to.clone(),
                (None, Route::Multi { fallback, .. }) => fallback.clone(),
                (None, Route::Single(_)) => {
                    return Err(format!("{said} but the profile has no fallback mailbox"));
                }
            };
            info!(profile = %profile.name, fallback = %to, "{said}");
            if let Some(output) = output {
                *raw = output;
            }
            Ok(Passed::Fallback { to, header })
        }
        Verdict::Fail(why) => {
            warn!(profile = %profile.name, error = %why, "the filter failed; the message stays on the server");
            Err(why)
        }
    }
}

/// Runs `filter` with `message` on its stdin.
pub async fn run(filter: &Filter, message: &[u8], max_output: u64) -> Verdict {
    let program = verdict::program(filter);
    let Some((first, args)) = filter.command.split_first() else {
        return Verdict::Fail("the filter has no command".into());
    };
    let mut command = tokio::process::Command::new(first);
    command
        .args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
        )
        .env("LANG", "C.UTF-8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return Verdict::Fail(format!("cannot start the filter {program}: {err}")),
    };
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Verdict::Fail(format!("the filter {program} has no pipes"));
    };
    let work = async {
        let write = async {
            // A filter may exit without reading everything: its exit status says what it meant.
            let _ = stdin.write_all(message).await;
            drop(stdin);
            Ok::<(), String>(())
        };
        let out = read_capped(stdout, max_output, true);
        let err = read_capped(stderr, STDERR_BYTES, false);
        let ((), output, stderr) = tokio::try_join!(write, out, err)?;
        let status = child.wait().await.map_err(|err| err.to_string())?;
        Ok::<_, String>((status, output, stderr))
    };
    let result = tokio::time::timeout(filter.timeout, work).await;
    let (status, output, stderr) = match result {
        Ok(Ok(done)) => done,
        Ok(Err(why)) => {
            kill(&mut child);
            return Verdict::Fail(format!("the filter {program}: {why}"));
        }
        Err(_) => {
            kill(&mut child);
            return Verdict::Fail(format!(
                "the filter {program} did not finish within {} s (timeout); it was killed",
                filter.timeout.as_secs()
            ));
        }
    };
    let ended = match (status.code(), signal(&status)) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signal(signal),
        (None, None) => Ended::Exited(-1),
    };
    verdict(filter, ended, output, &String::from_utf8_lossy(&stderr))
}

/// Reads `stream` to its end; more than `cap` bytes is an error when `strict`, otherwise the
/// rest is read and dropped.
async fn read_capped(
    stream: impl AsyncRead + Unpin,
    cap: u64,
    strict: bool,
) -> Result<Vec<u8>, String> {
    let mut kept = Vec::new();
    let mut limited = stream.take(cap.saturating_add(1));
    limited
        .read_to_end(&mut kept)
        .await
        .map_err(|err| err.to_string())?;
    if kept.len() as u64 > cap {
        if strict {
            return Err(format!(
                "it printed more than {cap} bytes (the message size limit and 1 MiB); refused"
            ));
        }
        kept.truncate(cap as usize);
        let mut rest = limited.into_inner();
        let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    }
    Ok(kept)
}

/// Kills the filter and everything it started (its process group).
fn kill(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.start_kill();
}

#[cfg(unix)]
fn signal(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn signal(_status: &std::process::ExitStatus) -> Option<i32> {
    None
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::time::Duration;

    fn sh(script: &str, rewrites: bool, timeout_ms: u64) -> Filter {
        Filter {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            timeout: Duration::from_millis(timeout_ms),
            rewrites,
            fallback_exit: vec![1],
            fallback: None,
        }
    }

    #[tokio::test]
    async fn the_message_goes_to_stdin_and_the_output_replaces_it() {
        let filter = sh("printf 'X-Filtered: yes\\r\\n'; cat", true, 5000);
        let got = run(&filter, b"Subject: hi\r\n\r\nbody\r\n", 1 << 20).await;
        assert_eq!(
            got,
            Verdict::Deliver(Some(
                b"X-Filtered: yes\r\nSubject: hi\r\n\r\nbody\r\n".to_vec()
            ))
        );
    }

    #[tokio::test]
    async fn no_secret_of_the_worker_reaches_the_filter() {
        let filter = sh("env", true, 5000);
        let Verdict::Deliver(Some(env)) = run(&filter, b"x", 1 << 20).await else {
            panic!("env failed")
        };
        let env = String::from_utf8_lossy(&env);
        let names: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        for name in &names {
            assert!(
                ["PATH", "LANG", "PWD", "SHLVL", "_"].contains(name),
                "the filter saw {name}: {env}"
            );
        }
    }

    #[tokio::test]
    async fn a_timeout_kills_the_filter_and_its_children() {
        let filter = sh("sleep 30 & sleep 30; cat", false, 300);
        let started = std::time::Instant::now();
        let got = run(&filter, b"x", 1 << 20).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(
            matches!(&got, Verdict::Fail(why) if why.contains("did not finish within")),
            "{got:?}"
        );
    }

    #[tokio::test]
    async fn a_signal_and_too_much_output_are_failures() {
        let got = run(&sh("kill -9 $$", false, 5000), b"x", 1 << 20).await;
        assert_eq!(
            got,
            Verdict::Fail("the filter sh was killed by signal 9".into())
        );
        let got = run(&sh("yes", true, 5000), b"x", 1000).await;
        assert!(
            matches!(&got, Verdict::Fail(why) if why.contains("more than 1000 bytes")),
            "{got:?}"
        );
        let got = run(&sh("echo busy >&2; exit 75", false, 5000), b"x", 1000).await;
        assert_eq!(
            got,
            Verdict::Fail("the filter sh exited with 75: busy".into())
        );
        let got = run(&sh("exit 1", false, 5000), b"x", 1000).await;
        assert!(matches!(got, Verdict::Fallback { output: None, .. }));
    }
}
