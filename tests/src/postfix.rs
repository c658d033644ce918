//! [`LocalMailServer`]: the "internal" mail server Mailpull delivers to. A private Postfix on
//! 127.0.0.1 accepts mail for `local.test` and hands it by LMTP to a private Dovecot that stores
//! it in Maildirs the tests read directly.
//!
//! What arrives in a mailbox is the submitted message with these changes:
//! - line endings are LF (Dovecot stores Maildir files with LF);
//! - a `Return-Path:` header in the submitted message is removed (Postfix's default
//!   `message_drop_headers`);
//! - four header lines are prepended, in this order: `Return-Path: <envelope sender>`,
//!   `Delivered-To: user@local.test` and `Received: ... by HOST with LMTP ...` (Dovecot), then
//!   `Received: from ... by mailpull-local.test (Postfix) with ESMTP ...` (Postfix);
//! - Postfix would add `Date:`, `Message-ID:` and `From:` if they were missing (mail from
//!   127.0.0.1 counts as local), and rewrites unqualified addresses in headers.
//!
//! [`crate::as_delivered`] and [`crate::added_headers`] compare a submitted message with a
//! delivered one under these rules.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::access_map::AccessMapServer;
use crate::dovecot::{
    DovecotInstance, PasswdFile, START_ATTEMPTS, check_user_name, common_config, port_race,
};
use crate::maildir;
use crate::maillog::Taken;
use crate::ports::{free_port, wait_for_port};
use crate::system::{
    SystemUser, group_id, mail_user, make_dir, read_log, run, scratch_dir, system_user,
    terminate_pid, wait_group_gone, write_file,
};
use crate::tls::CertPair;

/// The mail domain the local server accepts.
pub const LOCAL_DOMAIN: &str = "local.test";
/// IMAP password of every local user (IMAP on [`LocalMailServer::imap_port`]).
pub const LOCAL_PASSWORD: &str = "local-secret";

/// How to run a [`LocalMailServer`].
#[derive(Debug, Clone, Default)]
pub struct LocalOptions {
    /// Local parts of the mailboxes in `local.test`.
    pub users: Vec<String>,
    /// Offer STARTTLS on the SMTP port with this certificate (`smtpd_tls_security_level = may`).
    pub tls: Option<CertPair>,
    /// Do not offer SMTPUTF8 (`smtputf8_enable = no`): a server that takes only ASCII
    /// envelope addresses.
    pub no_smtputf8: bool,
    /// Extra lines appended to Postfix's main.cf.
    pub extra_main_cf: String,
    /// A Sieve script run before every delivery into a mailbox: the LMTP Dovecot loads
    /// Pigeonhole's `sieve` plugin with this script as its global `sieve_before`, the way the
    /// README's "Delivery ids and dropping the copies" sets it up ([`SIEVE_PLUGIN_CONFIG`]),
    /// and Postfix hands a user one message at a time ([`SIEVE_POSTFIX_CONFIG`]).
    /// The script is compiled with `sievec` at start; a script error fails the start with
    /// sievec's message. Needs the `dovecot-sieve` package. `None`: no Sieve.
    pub sieve_before: Option<String>,
    /// Header fields Postfix logs for every message it takes (`header_checks` with `INFO`:
    /// `QUEUEID: info: header NAME: VALUE from ...`), with long queue ids so that an id is
    /// never reused; [`crate::maillog::taken`] reads them from [`LocalMailServer::maillog`].
    pub log_headers: Vec<String>,
}

/// The Postfix settings that go with [`LocalOptions::sieve_before`]: LMTP deliveries to one
/// recipient one at a time (a recipient limit of 1 makes the concurrency limit one per
/// recipient). Dovecot 2.3 rewrites a user's duplicate file (`~/.dovecot.lda-dupes`) at the
/// end of each delivery from what it read at the `duplicate` test, so deliveries to one user
/// side by side can drop each other's ids, and a copy of such a message then lands.
pub const SIEVE_POSTFIX_CONFIG: &str = "lmtp_destination_recipient_limit = 1
lmtp_destination_concurrency_limit = 1
";

/// The Dovecot settings behind [`LocalOptions::sieve_before`] (`{script}`: the script's
/// path), as the README gives them: Pigeonhole's `sieve` plugin for LMTP, the global script
/// before the user's own, and a `duplicate` period of up to 7 days (Pigeonhole's default
/// maximum is 2 days: a longer `:seconds` is cut to that, with a warning at compile time).
pub const SIEVE_PLUGIN_CONFIG: &str = "protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
plugin {
  sieve_before = {script}
  sieve_duplicate_max_period = 7d
}
";

/// A private Postfix (SMTP on 127.0.0.1:[`smtp_port`](Self::smtp_port)) delivering by LMTP to
/// a private Dovecot. Dropping it stops both and deletes the temp dir.
#[derive(Debug)]
pub struct LocalMailServer {
    master_pid: u32,
    // Dropped after Drop::drop stopped Postfix, and before the temp dir goes.
    dovecot: Option<DovecotInstance>,
    conf_dir: PathBuf,
    maillog: PathBuf,
    mail_root: PathBuf,
    users: Vec<String>,
    access: AccessMapServer,
    smtp: u16,
    lmtp: u16,
    imap: u16,
    dir: TempDir,
}

impl LocalMailServer {
    /// Starts a server with mailboxes for `users` (local parts in `local.test`).
    pub fn start(users: &[&str]) -> anyhow::Result<Self> {
        Self::start_with(LocalOptions {
            users: users.iter().map(|u| (*u).to_owned()).collect(),
            ..LocalOptions::default()
        })
    }

    /// Starts with `opts`; returns once Postfix accepts SMTP connections.
    pub fn start_with(opts: LocalOptions) -> anyhow::Result<Self> {
        let owner = mail_user()?;
        // Postfix's own service users must exist too.
        system_user("postfix")?;
        let dir = scratch_dir("mailpull-local-")?;
        let mail_root = dir.path().join("mail");
        make_dir(&mail_root, Some(&owner), 0o755)?;
        let passwd = PasswdFile::create(dir.path().join("passwd"))?;
        for user in &opts.users {
            check_user_name(user)?;
            if user.contains('@') {
                bail!(
                    "local user {user:?}: give the local part only (the domain is {LOCAL_DOMAIN})"
                );
            }
            make_dir(&mail_root.join(user), Some(&owner), 0o700)?;
            maildir::create(&mail_root.join(user).join("Maildir"), &owner, false)?;
            passwd.set(user, LOCAL_PASSWORD)?;
        }

        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            match launch(&opts, dir.path(), &mail_root, &passwd, &owner) {
                Ok(started) => {
                    return Ok(Self {
                        master_pid: started.master_pid,
                        dovecot: Some(started.dovecot),
                        conf_dir: dir.path().join("postfix"),
                        maillog: dir.path().join("maillog"),
                        mail_root,
                        users: opts.users.clone(),
                        access: started.access,
                        smtp: started.smtp,
                        lmtp: started.lmtp,
                        imap: started.imap,
                        dir,
                    });
                }
                Err(e) if port_race(&e) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("local mail server did not start")))
    }

    /// The SMTP port (Postfix smtpd) on 127.0.0.1.
    pub fn smtp_port(&self) -> u16 {
        self.smtp
    }

    /// The LMTP port of the local Dovecot (behind Postfix).
    pub fn lmtp_port(&self) -> u16 {
        self.lmtp
    }

    /// Plain IMAP to the local mailboxes (user = local part, password [`LOCAL_PASSWORD`]).
    pub fn imap_port(&self) -> u16 {
        self.imap
    }

    /// "local.test".
    pub fn domain(&self) -> &str {
        LOCAL_DOMAIN
    }

    /// `user@local.test`.
    pub fn address(&self, user: &str) -> String {
        format!("{user}@{LOCAL_DOMAIN}")
    }

    /// The temp dir holding config, queue, logs and mailboxes.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn inbox(&self, user: &str) -> anyhow::Result<PathBuf> {
        if !self.users.iter().any(|u| u == user) {
            bail!(
                "{user:?} is not a mailbox of this local server (users: {:?})",
                self.users
            );
        }
        Ok(self.mail_root.join(user).join("Maildir"))
    }

    /// Raw bytes of every message delivered to `user` (local part), oldest first.
    pub fn messages(&self, user: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        maildir::read_messages(&self.inbox(user)?)
    }

    /// Polls `user`'s mailbox until at least `n` messages are there (Postfix delivers
    /// asynchronously) and returns all of them; fails after `timeout` saying how many arrived.
    pub fn wait_for_messages(
        &self,
        user: &str,
        n: usize,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Vec<u8>>> {
        let inbox = self.inbox(user)?;
        let deadline = Instant::now() + timeout;
        loop {
            let count = maildir::message_files(&inbox)?.len();
            if count >= n {
                return maildir::read_messages(&inbox);
            }
            if Instant::now() >= deadline {
                bail!(
                    "{user}@{LOCAL_DOMAIN} has {count} message(s) after {timeout:?}, expected {n}.\n\
                     --- maillog ---\n{}",
                    self.maillog()
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Makes Postfix answer `RCPT TO:<address>` with `reply` (for example
    /// `"451 4.3.0 try again later"` or `"550 5.1.1 no such user"`); `None` removes the rule.
    /// Postfix words the reply as `CODE X.Y.Z <address>: Recipient address rejected: TEXT`.
    /// `address` may also be a whole domain (`local.test`). Takes effect at once, also for
    /// SMTP sessions already open: the rules are a `check_recipient_access` table that Postfix
    /// asks on every RCPT (a `tcp:` table served by this process, so no `postfix reload`).
    pub fn set_reject(&self, address: &str, reply: Option<&str>) -> anyhow::Result<()> {
        if address.is_empty() || address.contains(char::is_whitespace) {
            bail!("invalid address {address:?} for set_reject");
        }
        if let Some(reply) = reply {
            let code = reply.get(..3).and_then(|c| c.parse::<u16>().ok());
            let well_formed = code.is_some_and(|c| (400..600).contains(&c))
                && reply.as_bytes().get(3) == Some(&b' ')
                && !reply.contains(['\r', '\n']);
            if !well_formed {
                bail!(
                    "reject reply must look like \"451 4.3.0 text\" or \"550 5.1.1 text\", got {reply:?}"
                );
            }
        }
        self.access.set(address, reply);
        Ok(())
    }

    /// Asks Postfix to retry deferred mail now (`postqueue -f`).
    pub fn flush_queue(&self) -> anyhow::Result<()> {
        run(Command::new("postqueue")
            .arg("-c")
            .arg(&self.conf_dir)
            .arg("-f"))?;
        Ok(())
    }

    /// Messages waiting in Postfix's queue (deferred or in flight), from `postqueue -j`.
    pub fn queue_len(&self) -> anyhow::Result<usize> {
        let out = run(Command::new("postqueue")
            .arg("-c")
            .arg(&self.conf_dir)
            .arg("-j"))?;
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count())
    }

    /// Waits until Postfix's log contains `needle` (it is written asynchronously, so a line
    /// such as `status=sent` can show up a moment after the message is in the mailbox).
    pub fn wait_for_maillog(&self, needle: &str, timeout: Duration) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.maillog();
            if log.contains(needle) {
                return Ok(log);
            }
            if Instant::now() >= deadline {
                bail!("the maillog has no {needle:?} after {timeout:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What Postfix took and delivered so far, from its log (see [`crate::maillog`]).
    pub fn taken(&self) -> Vec<Taken> {
        crate::maillog::taken(&self.maillog())
    }

    /// Waits until Postfix's queue is empty and its log has at least `sent` deliveries
    /// (`status=sent`) of the messages that `matches`, then returns what it took. Each copy
    /// that crossed SMTP is then delivered or dropped by the receiving side: counting the
    /// mailbox afterwards misses none. Fails after `timeout` saying what it saw.
    pub fn wait_for_taken(
        &self,
        sent: usize,
        matches: impl Fn(&Taken) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Vec<Taken>> {
        let deadline = Instant::now() + timeout;
        loop {
            let taken = self.taken();
            let seen: usize = taken.iter().filter(|t| matches(t)).map(|t| t.sent).sum();
            let queued = self.queue_len()?;
            if seen >= sent && queued == 0 {
                return Ok(taken);
            }
            if Instant::now() >= deadline {
                bail!(
                    "after {timeout:?} Postfix's log has {seen} of {sent} deliveries, {queued} message(s) queued.\n\
                     --- maillog ---\n{}",
                    self.maillog()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Postfix's log (the `maillog_file`).
    pub fn maillog(&self) -> String {
        read_log(&self.maillog)
    }

    /// The local Dovecot's log (LMTP deliveries, IMAP logins).
    pub fn dovecot_log(&self) -> String {
        crate::dovecot::dovecot_log(&self.dir.path().join("dovecot"))
    }
}

impl Drop for LocalMailServer {
    fn drop(&mut self) {
        // The master is a session leader: its pid is its workers' process group.
        terminate_pid(self.master_pid, Duration::from_secs(5));
        wait_group_gone(self.master_pid, Duration::from_secs(5));
        self.dovecot = None;
    }
}

struct Started {
    master_pid: u32,
    access: AccessMapServer,
    dovecot: DovecotInstance,
    smtp: u16,
    lmtp: u16,
    imap: u16,
}

fn launch(
    opts: &LocalOptions,
    dir: &Path,
    mail_root: &Path,
    passwd: &PasswdFile,
    owner: &SystemUser,
) -> anyhow::Result<Started> {
    let (smtp, lmtp, imap) = (free_port()?, free_port()?, free_port()?);

    let dv_dir = dir.join("dovecot");
    make_dir(&dv_dir, None, 0o755)?;
    let config = common_config(&dv_dir, mail_root, passwd.path(), owner, "%n")
        + &format!(
            "protocols = lmtp imap
ssl = no
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
}}
service imap-login {{
  service_count = 0
  inet_listener imap {{
    port = {imap}
  }}
}}
"
        );
    let sieve_script = dv_dir.join("before.sieve");
    let config = match &opts.sieve_before {
        Some(script) => {
            write_file(&sieve_script, script.as_bytes(), 0o644)?;
            config + &SIEVE_PLUGIN_CONFIG.replace("{script}", &sieve_script.display().to_string())
        }
        None => config,
    };
    let dovecot = DovecotInstance::start(&dv_dir, &config, &[lmtp, imap], Some(imap))?;
    if opts.sieve_before.is_some() {
        // Compiled now, with the instance's own settings (the duplicate period's maximum is
        // checked at compile time), so that a bad script fails here and not at a delivery.
        run(Command::new("sievec")
            .arg("-c")
            .arg(dv_dir.join("dovecot.conf"))
            .arg(&sieve_script))
        .context("compiling LocalOptions::sieve_before (is dovecot-sieve installed? run scripts/setup-deps.sh)")?;
        // sievec runs as root; the LMTP processes (the mail user) must read the binary.
        let binary = sieve_script.with_extension("svbin");
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("chmod 644 {}", binary.display()))?;
    }

    let conf = dir.join("postfix");
    make_dir(&conf, None, 0o755)?;
    let queue = dir.join("queue");
    make_dir(&queue, None, 0o755)?;
    let data = dir.join("data");
    make_dir(&data, Some(&system_user("postfix")?), 0o700)?;
    let maillog = dir.join("maillog");
    let vmailbox: String = opts
        .users
        .iter()
        .map(|u| format!("{u}@{LOCAL_DOMAIN} {u}/Maildir/\n"))
        .collect();
    write_file(&conf.join("vmailbox"), vmailbox.as_bytes(), 0o644)?;
    let access = AccessMapServer::start()?;
    let access_table = access.table();
    let c = conf.display();
    let mut main_cf = format!(
        "# Generated by mailpull-tests: a private Postfix for tests.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mailpull-local.test
mydomain = mailpull-local.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
relay_domains =
relayhost =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
biff = no
virtual_mailbox_domains = {LOCAL_DOMAIN}
virtual_mailbox_maps = texthash:{c}/vmailbox
virtual_transport = lmtp:inet:127.0.0.1:{lmtp}
smtpd_recipient_restrictions = check_recipient_access {access_table}, permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtpd_banner = $myhostname ESMTP Mailpull test Postfix
maillog_file = {maillog}
maillog_file_prefixes = {dir}
message_size_limit = 104857600
mailbox_size_limit = 0
virtual_mailbox_limit = 0
default_process_limit = 300
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
",
        queue = queue.display(),
        data = data.display(),
        maillog = maillog.display(),
        dir = dir.display(),
    );
    let mut master_cf = format!(
        "# Generated by mailpull-tests: Debian's services, no chroot, SMTP on a private port.
127.0.0.1:{smtp} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"
    );
    if let Some(tls) = &opts.tls {
        main_cf += &format!(
            "smtpd_tls_security_level = may
smtpd_tls_cert_file = {}
smtpd_tls_key_file = {}
smtpd_tls_loglevel = 1
",
            tls.cert_file.display(),
            tls.key_file.display()
        );
        master_cf += "tlsmgr    unix  -       -       n       1000?   1       tlsmgr\n";
    }
    if opts.no_smtputf8 {
        main_cf += "smtputf8_enable = no\n";
    }
    if !opts.log_headers.is_empty() {
        let mut checks = String::new();
        for name in &opts.log_headers {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                bail!(
                    "LocalOptions::log_headers: {name:?} is not a header field name (letters, digits, '-')"
                );
            }
            checks += &format!("/^{name}:/ INFO\n");
        }
        write_file(&conf.join("header_checks"), checks.as_bytes(), 0o644)?;
        main_cf +=
            &format!("header_checks = regexp:{c}/header_checks\nenable_long_queue_ids = yes\n");
    }
    if opts.sieve_before.is_some() {
        main_cf += SIEVE_POSTFIX_CONFIG;
    }
    main_cf += &opts.extra_main_cf;
    main_cf.push('\n');
    write_file(&conf.join("main.cf"), main_cf.as_bytes(), 0o644)?;
    write_file(&conf.join("master.cf"), master_cf.as_bytes(), 0o644)?;
    // Postfix waits (in 0.3 s steps, ~2 s) while a table or config file's mtime is recent,
    // in case it is still being edited. Back-date what was just written.
    let past = std::time::SystemTime::now() - Duration::from_secs(60);
    for name in ["main.cf", "master.cf", "vmailbox", "header_checks"] {
        let path = conf.join(name);
        if !path.exists() {
            continue;
        }
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(past))
            .with_context(|| format!("back-dating {}", path.display()))?;
    }

    let postfix = |args: &[&str]| {
        let mut cmd = Command::new("postfix");
        cmd.arg("-c").arg(&conf).args(args);
        cmd
    };
    let failure = |what: &str, err: anyhow::Error| {
        // Postfix prints fatal start-up errors to syslog or a terminal only; `script` gives
        // `postfix check` a terminal so its complaints end up in the error.
        let check = Command::new("script")
            .args([
                "-qec",
                &format!("postfix -c {} check", conf.display()),
                "/dev/null",
            ])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_else(|e| format!("(script unavailable: {e})"));
        anyhow::anyhow!(
            "{what}: {err:#}\n--- postfix check ---\n{check}\n--- maillog ---\n{}",
            read_log(&maillog)
        )
    };
    // The queue directories as postfix-files describes them (`post-install create-missing`
    // does the same but takes seconds); quick-start then skips postfix-script's slow checks.
    let postfix_user = system_user("postfix")?;
    let postdrop = group_id("postdrop")?;
    for sub in [
        "active", "bounce", "corrupt", "defer", "deferred", "flush", "hold", "incoming", "private",
        "saved", "trace",
    ] {
        make_dir(&queue.join(sub), Some(&postfix_user), 0o700)?;
    }
    for (sub, mode) in [("maildrop", 0o730), ("public", 0o710)] {
        let path = queue.join(sub);
        make_dir(&path, Some(&postfix_user), mode)?;
        std::os::unix::fs::chown(&path, None, Some(postdrop))
            .with_context(|| format!("chgrp postdrop {}", path.display()))?;
    }
    make_dir(&queue.join("pid"), None, 0o755)?;
    write_file(&queue.join("quick-start"), b"", 0o644)?;
    run(&mut postfix(&["start"])).map_err(|e| failure("postfix start", e))?;
    let pid_file = queue.join("pid").join("master.pid");
    let master_pid = std::fs::read_to_string(&pid_file)
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .with_context(|| format!("reading Postfix's pid file {}", pid_file.display()))?;
    if let Err(e) = wait_for_port(smtp, crate::dovecot::START_TIMEOUT) {
        terminate_pid(master_pid, Duration::from_secs(5));
        return Err(failure("Postfix smtpd never listened", e));
    }
    Ok(Started {
        master_pid,
        access,
        dovecot,
        smtp,
        lmtp,
        imap,
    })
}
