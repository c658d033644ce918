//! Private Dovecot instances: [`RemoteDovecot`], the "ISP" with POP3/POP3S/IMAP/IMAPS on free
//! 127.0.0.1 ports, and the building blocks (config text, start/stop) that the local LMTP
//! Dovecot of [`crate::LocalMailServer`] reuses.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, bail};
use tempfile::TempDir;

use crate::client::LineClient;
use crate::maildir;
use crate::ports::{free_port, port_is_open};
use crate::system::{
    SystemUser, group_members, mail_user, make_dir, process_name, read_log, scratch_dir,
    signal_group, terminate_child, wait_group_gone, write_file,
};
use crate::tls::{CertPair, TestCa};

/// How long a server may take to start accepting connections.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times start-up is retried with fresh ports when one was taken meanwhile.
pub(crate) const START_ATTEMPTS: usize = 3;

/// One running `dovecot -F -c FILE` process, stopped on drop. Its files live in `dir`.
#[derive(Debug)]
pub(crate) struct DovecotInstance {
    dir: PathBuf,
    child: Child,
}

impl DovecotInstance {
    /// Writes `config` to `dir/dovecot.conf`, starts Dovecot in the foreground and waits until
    /// every port in `ports` accepts connections. On failure the error carries Dovecot's log.
    pub(crate) fn start(
        dir: &Path,
        config: &str,
        ports: &[u16],
        banner_port: Option<u16>,
    ) -> anyhow::Result<Self> {
        let conf = dir.join("dovecot.conf");
        write_file(&conf, config.as_bytes(), 0o644)?;
        let stderr_path = dir.join("dovecot.stderr");
        let stderr = File::create(&stderr_path)
            .with_context(|| format!("creating {}", stderr_path.display()))?;
        let stdout = stderr
            .try_clone()
            .context("duplicating the stderr file handle")?;
        let child = Command::new("dovecot")
            // Own process group, so that stopping can wait for every worker.
            .process_group(0)
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .context("starting dovecot (is dovecot-core installed? run scripts/setup-deps.sh)")?;
        let mut instance = Self {
            dir: dir.to_owned(),
            child,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        for &port in ports {
            loop {
                if let Ok(Some(status)) = instance.child.try_wait() {
                    bail!(
                        "dovecot -c {} exited during start-up ({status}).\n{}",
                        conf.display(),
                        instance.log()
                    );
                }
                if port_is_open(port) {
                    break;
                }
                if Instant::now() >= deadline {
                    bail!(
                        "dovecot -c {} does not listen on 127.0.0.1:{port} after {START_TIMEOUT:?}.\n{}",
                        conf.display(),
                        instance.log()
                    );
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        // A greeting means a login process is up: only then does the master react promptly to
        // SIGTERM (stopping it while it is still spawning workers took seconds). Without a
        // plaintext port, wait for the login processes that process_min_avail starts instead.
        match banner_port {
            Some(port) => {
                let greeting = LineClient::connect(port).and_then(|mut c| c.read_line());
                if let Err(e) = greeting {
                    bail!(
                        "dovecot sent no greeting on 127.0.0.1:{port}: {e:#}\n{}",
                        instance.log()
                    );
                }
            }
            None => {
                let pgid = instance.child.id();
                while group_members(pgid)
                    .iter()
                    .all(|pid| !process_name(*pid).ends_with("-login"))
                {
                    if Instant::now() >= deadline {
                        bail!("dovecot started no login process.\n{}", instance.log());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
        Ok(instance)
    }

    /// Dovecot's log file plus anything it printed to stderr.
    pub(crate) fn log(&self) -> String {
        dovecot_log(&self.dir)
    }
}

/// The log of the Dovecot instance whose files are in `dir`, plus its stderr if any.
pub(crate) fn dovecot_log(dir: &Path) -> String {
    let mut text = read_log(&dir.join("dovecot.log"));
    let stderr = read_log(&dir.join("dovecot.stderr"));
    if !stderr.trim().is_empty() {
        text.push_str("--- dovecot stderr ---\n");
        text.push_str(&stderr);
    }
    text
}

impl Drop for DovecotInstance {
    fn drop(&mut self) {
        // SIGTERM to the whole group: the master alone waits seconds for its workers.
        let pgid = self.child.id();
        signal_group(pgid, "TERM");
        terminate_child(&mut self.child, Duration::from_secs(5));
        wait_group_gone(pgid, Duration::from_secs(5));
    }
}

/// True when a start-up failure looks like a port taken by someone else in the meantime.
pub(crate) fn port_race(err: &anyhow::Error) -> bool {
    format!("{err:#}").contains("Address already in use")
}

/// Settings every private Dovecot shares: paths in `dir`, the unprivileged mail user, a
/// passwd-file passdb with `{PLAIN}` passwords and a static userdb with homes in `mail_root`.
pub(crate) fn common_config(
    dir: &Path,
    mail_root: &Path,
    passwd: &Path,
    user: &SystemUser,
    username_format: &str,
) -> String {
    let d = dir.display();
    format!(
        "# Generated by mailpull-tests: a private Dovecot for tests.
instance_name = mailpull-test
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
listen = 127.0.0.1
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_username_format = {username_format}
auth_failure_delay = 0
mail_location = maildir:~/Maildir
mail_uid = {uid}
mail_gid = {gid}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%{username_var}
}}
default_process_limit = 500
default_client_limit = 5000
service anvil {{
  client_limit = 5000
}}
service auth {{
  client_limit = 10000
}}
",
        uid = user.uid,
        gid = user.gid,
        passwd = passwd.display(),
        mail = mail_root.display(),
        username_var = if username_format == "%n" { "n" } else { "u" },
    )
}

/// A user name usable as a passwd-file key and a directory name.
pub(crate) fn check_user_name(user: &str) -> anyhow::Result<()> {
    if user.is_empty()
        || user == "."
        || user == ".."
        || user.contains([':', '/', '\n', '\r', '\0', ' ', '\t'])
    {
        bail!(
            "invalid mail user name {user:?} (empty, '.', '..', or contains ':', '/', whitespace)"
        );
    }
    Ok(())
}

/// A passwd-file of `{PLAIN}` passwords that Dovecot notices changes to.
#[derive(Debug)]
pub(crate) struct PasswdFile {
    path: PathBuf,
    users: Mutex<(BTreeMap<String, String>, SystemTime)>,
}

impl PasswdFile {
    pub(crate) fn create(path: PathBuf) -> anyhow::Result<Self> {
        write_file(&path, b"", 0o644)?;
        Ok(Self {
            path,
            users: Mutex::new((BTreeMap::new(), SystemTime::UNIX_EPOCH)),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Adds or replaces `user`. Dovecot re-reads the file when its mtime or size changes, so
    /// each write moves the mtime forward by at least a second.
    pub(crate) fn set(&self, user: &str, password: &str) -> anyhow::Result<()> {
        self.set_many(&[(user, password)])
    }

    /// Adds or replaces every `(user, password)` of `users` with one write of the file.
    pub(crate) fn set_many(&self, users: &[(&str, &str)]) -> anyhow::Result<()> {
        for (user, password) in users {
            check_user_name(user)?;
            if password.contains([':', '\n', '\r', '\0']) {
                bail!("passwords in the test passwd-file cannot contain ':' or line breaks");
            }
        }
        let mut guard = self.users.lock().unwrap_or_else(|p| p.into_inner());
        for (user, password) in users {
            guard.0.insert((*user).to_owned(), (*password).to_owned());
        }
        let text: String = guard
            .0
            .iter()
            .map(|(u, p)| format!("{u}:{{PLAIN}}{p}\n"))
            .collect();
        write_file(&self.path, text.as_bytes(), 0o644)?;
        let now = SystemTime::now();
        let stamp = if now > guard.1 + Duration::from_secs(1) {
            now
        } else {
            guard.1 + Duration::from_secs(1)
        };
        File::options()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_modified(stamp))
            .with_context(|| format!("setting the mtime of {}", self.path.display()))?;
        guard.1 = stamp;
        Ok(())
    }
}

/// How to run a [`RemoteDovecot`].
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Certificate and key the server presents on every TLS port.
    pub cert: CertPair,
    /// Offer STLS (POP3) and STARTTLS (IMAP) on the plain ports. When false the plain ports
    /// speak plaintext only, and POP3S/IMAPS are served by a second Dovecot on the same
    /// mailboxes (Dovecot cannot mix both in one instance).
    pub starttls: bool,
    /// Extra lines appended to dovecot.conf (for example `pop3_uidl_format = %g`).
    pub extra_config: String,
    /// OAuth 2.0: also accept SASL XOAUTH2 and OAUTHBEARER, validating the bearer token at
    /// this RFC 7662 introspection URL (Dovecot's `oauth2` passdb, `introspection_mode = post`).
    pub oauth2_introspection_url: Option<String>,
    /// `imap_capability`: the exact CAPABILITY list Dovecot advertises after login (for
    /// example without UIDPLUS). `None`: Dovecot's own list.
    pub imap_capability: Option<String>,
}

impl RemoteOptions {
    /// Defaults: the CA's localhost certificate, STLS/STARTTLS offered, no extra config.
    pub fn new(ca: &TestCa) -> Self {
        Self {
            cert: ca.server_pair(),
            starttls: true,
            extra_config: String::new(),
            oauth2_introspection_url: None,
            imap_capability: None,
        }
    }

    /// Accept XOAUTH2 and OAUTHBEARER with tokens checked at `introspection_url` (the
    /// token's `username` must be the login name; `active` must be true). Passwords keep
    /// working.
    pub fn with_oauth2(mut self, introspection_url: &str) -> Self {
        self.oauth2_introspection_url = Some(introspection_url.to_string());
        self
    }

    /// Present `cert` instead (an untrusted or wrong-host one, for TLS failure tests).
    pub fn with_cert(mut self, cert: CertPair) -> Self {
        self.cert = cert;
        self
    }

    /// Do not offer STLS/STARTTLS on the plain ports.
    pub fn without_starttls(mut self) -> Self {
        self.starttls = false;
        self
    }

    /// Advertise exactly `capabilities` after login (Dovecot's `imap_capability`), e.g. a
    /// list without UIDPLUS. Dovecot still accepts the commands it leaves out.
    pub fn with_imap_capability(mut self, capabilities: &str) -> Self {
        self.imap_capability = Some(capabilities.to_string());
        self
    }

    /// Append raw Dovecot settings.
    pub fn with_extra_config(mut self, config: &str) -> Self {
        self.extra_config.push_str(config);
        self.extra_config.push('\n');
        self
    }
}

/// The "ISP": a private Dovecot serving POP3 (plain, STLS offered), POP3S, IMAP (STARTTLS
/// offered) and IMAPS on free 127.0.0.1 ports, with Maildir mailboxes in a temp dir.
/// Users log in with the exact (case-sensitive) names given to [`RemoteDovecot::add_user`].
/// Dropping it stops Dovecot and deletes the temp dir.
#[derive(Debug)]
pub struct RemoteDovecot {
    // Field order matters: instances stop before the temp dir is removed.
    instances: Vec<DovecotInstance>,
    instance_dirs: Vec<PathBuf>,
    passwd: PasswdFile,
    mail_root: PathBuf,
    owner: SystemUser,
    pop3: u16,
    pop3s: u16,
    imap: u16,
    imaps: u16,
    dir: TempDir,
}

impl RemoteDovecot {
    /// Starts with the defaults of [`RemoteOptions::new`].
    pub fn start(ca: &TestCa) -> anyhow::Result<Self> {
        Self::start_with(RemoteOptions::new(ca))
    }

    /// Starts with `opts`; returns once every port accepts connections.
    pub fn start_with(opts: RemoteOptions) -> anyhow::Result<Self> {
        let owner = mail_user()?;
        let dir = scratch_dir("mailpull-remote-")?;
        let mail_root = dir.path().join("mail");
        make_dir(&mail_root, Some(&owner), 0o755)?;
        let passwd = PasswdFile::create(dir.path().join("passwd"))?;

        let mut last_err = None;
        for _ in 0..START_ATTEMPTS {
            match Self::launch(&opts, dir.path(), &mail_root, &passwd, &owner) {
                Ok((instances, [pop3, pop3s, imap, imaps])) => {
                    return Ok(Self {
                        instance_dirs: instances.iter().map(|i| i.dir.clone()).collect(),
                        instances,
                        passwd,
                        mail_root,
                        owner,
                        pop3,
                        pop3s,
                        imap,
                        imaps,
                        dir,
                    });
                }
                Err(e) if port_race(&e) => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("remote Dovecot did not start")))
    }

    fn launch(
        opts: &RemoteOptions,
        dir: &Path,
        mail_root: &Path,
        passwd: &PasswdFile,
        owner: &SystemUser,
    ) -> anyhow::Result<(Vec<DovecotInstance>, [u16; 4])> {
        let ports = [free_port()?, free_port()?, free_port()?, free_port()?];
        let [pop3, pop3s, imap, imaps] = ports;
        let ssl = format!(
            "ssl_cert = <{}\nssl_key = <{}\n",
            opts.cert.cert_file.display(),
            opts.cert.key_file.display()
        );
        let tuning = "protocol pop3 {\n  mail_max_userip_connections = 1000\n}\n\
                      protocol imap {\n  mail_max_userip_connections = 1000\n}\n\
                      service pop3 {\n  process_limit = 500\n}\n\
                      service imap {\n  process_limit = 500\n}\n";
        let login = |proto: &str, plain: Option<u16>, tls: Option<u16>| {
            let mut s = format!(
                "service {proto}-login {{\n  service_count = 0\n  client_limit = 1000\n  process_min_avail = 1\n"
            );
            if let Some(port) = plain {
                s += &format!("  inet_listener {proto} {{\n    port = {port}\n  }}\n");
            }
            if let Some(port) = tls {
                s += &format!(
                    "  inet_listener {proto}s {{\n    port = {port}\n    ssl = yes\n  }}\n"
                );
            }
            s += "}\n";
            s
        };
        let oauth2 = match &opts.oauth2_introspection_url {
            Some(url) => {
                let ext = dir.join("dovecot-oauth2.conf.ext");
                let text = format!(
                    "introspection_mode = post\nintrospection_url = {url}\nforce_introspection = yes\nusername_attribute = username\nactive_attribute = active\nactive_value = true\ntimeout_msecs = 10000\n"
                );
                write_file(&ext, text.as_bytes(), 0o644)?;
                format!(
                    "passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {}\n}}\n",
                    ext.display()
                )
            }
            None => String::new(),
        };
        let common = |sub: &Path| {
            let mut text = common_config(sub, mail_root, passwd.path(), owner, "%u");
            if !oauth2.is_empty() {
                text = text.replace(
                    "auth_mechanisms = plain login\n",
                    "auth_mechanisms = plain login xoauth2 oauthbearer\n",
                ) + &oauth2;
            }
            let capability = match &opts.imap_capability {
                Some(caps) => format!("imap_capability = {caps}\n"),
                None => String::new(),
            };
            text + "protocols = pop3 imap\n" + tuning + &capability
        };

        let mut instances = Vec::new();
        if opts.starttls {
            let sub = dir.join("dovecot");
            make_dir(&sub, None, 0o755)?;
            let config = common(&sub)
                + "ssl = yes\n"
                + &ssl
                + &login("pop3", Some(pop3), Some(pop3s))
                + &login("imap", Some(imap), Some(imaps))
                + &opts.extra_config;
            instances.push(DovecotInstance::start(&sub, &config, &ports, Some(pop3))?);
        } else {
            let plain_dir = dir.join("dovecot-plain");
            make_dir(&plain_dir, None, 0o755)?;
            let config = common(&plain_dir)
                + "ssl = no\n"
                + &login("pop3", Some(pop3), None)
                + &login("imap", Some(imap), None)
                + &opts.extra_config;
            instances.push(DovecotInstance::start(
                &plain_dir,
                &config,
                &[pop3, imap],
                Some(pop3),
            )?);
            let tls_dir = dir.join("dovecot-tls");
            make_dir(&tls_dir, None, 0o755)?;
            let config = common(&tls_dir)
                + "ssl = required\n"
                + &ssl
                + &login("pop3", None, Some(pop3s))
                + &login("imap", None, Some(imaps))
                + &opts.extra_config;
            instances.push(DovecotInstance::start(
                &tls_dir,
                &config,
                &[pop3s, imaps],
                None,
            )?);
        }
        Ok((instances, ports))
    }

    /// Plain POP3 port (STLS offered unless started `without_starttls`).
    pub fn pop3_port(&self) -> u16 {
        self.pop3
    }

    /// POP3 over implicit TLS.
    pub fn pop3s_port(&self) -> u16 {
        self.pop3s
    }

    /// Plain IMAP port (STARTTLS offered unless started `without_starttls`).
    pub fn imap_port(&self) -> u16 {
        self.imap
    }

    /// IMAP over implicit TLS.
    pub fn imaps_port(&self) -> u16 {
        self.imaps
    }

    /// The temp dir holding config, logs and mailboxes.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Creates (or changes the password of) a user with an empty INBOX.
    pub fn add_user(&self, user: &str, password: &str) -> anyhow::Result<()> {
        check_user_name(user)?;
        let home = self.mail_root.join(user);
        crate::system::make_dir(&home, Some(&self.owner), 0o700)?;
        maildir::create(&self.maildir(user), &self.owner, false)?;
        self.passwd.set(user, password)
    }

    /// [`Self::add_user`] for many users at once (one write of the passwd-file, which
    /// `add_user` rewrites whole for each user): for benchmarks with thousands of accounts.
    pub fn add_users(&self, users: &[(&str, &str)]) -> anyhow::Result<()> {
        for (user, _) in users {
            check_user_name(user)?;
            let home = self.mail_root.join(user);
            crate::system::make_dir(&home, Some(&self.owner), 0o700)?;
            maildir::create(&self.maildir(user), &self.owner, false)?;
        }
        self.passwd.set_many(users)
    }

    /// The Maildir root of `user`.
    pub fn maildir(&self, user: &str) -> PathBuf {
        self.mail_root.join(user).join("Maildir")
    }

    fn existing_folder(&self, user: &str, folder: &str) -> anyhow::Result<PathBuf> {
        check_user_name(user)?;
        let root = self.maildir(user);
        if !root.is_dir() {
            bail!("remote user {user:?} does not exist (call add_user first)");
        }
        maildir::folder_dir(&root, folder)
    }

    /// Drops `raw` into the user's INBOX (`Maildir/new`), as the mail user.
    pub fn add_message(&self, user: &str, raw: &[u8]) -> anyhow::Result<()> {
        self.add_message_to(user, maildir::INBOX, raw)
    }

    /// Drops `raw` into `folder` ("INBOX", "Archive", "Archive/2024", ...), creating it.
    pub fn add_message_to(&self, user: &str, folder: &str, raw: &[u8]) -> anyhow::Result<()> {
        let dir = self.existing_folder(user, folder)?;
        maildir::create(&dir, &self.owner, dir != self.maildir(user))?;
        maildir::deliver(&dir, &self.owner, raw)?;
        Ok(())
    }

    /// Messages still in the user's INBOX (new + cur; expunged ones are gone from disk).
    pub fn message_count(&self, user: &str) -> anyhow::Result<usize> {
        self.message_count_in(user, maildir::INBOX)
    }

    /// Messages still in `folder`, including ones flagged \Deleted but not yet expunged.
    pub fn message_count_in(&self, user: &str, folder: &str) -> anyhow::Result<usize> {
        Ok(maildir::message_files(&self.existing_folder(user, folder)?)?.len())
    }

    /// Messages in INBOX that carry the \Deleted flag (Maildir flag `T`) but were not expunged.
    pub fn deleted_flag_count(&self, user: &str) -> anyhow::Result<usize> {
        let files = maildir::message_files(&self.existing_folder(user, maildir::INBOX)?)?;
        Ok(files
            .iter()
            .filter(|p| maildir::flags(p).contains('T'))
            .count())
    }

    /// Raw bytes of the messages in the user's INBOX, oldest first.
    pub fn messages(&self, user: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        self.messages_in(user, maildir::INBOX)
    }

    /// Raw bytes of the messages in `folder`, oldest first.
    pub fn messages_in(&self, user: &str, folder: &str) -> anyhow::Result<Vec<Vec<u8>>> {
        maildir::read_messages(&self.existing_folder(user, folder)?)
    }

    /// `doveadm -c CONF ARGS...` against this server; its stdout.
    fn doveadm(&self, args: &[&str]) -> anyhow::Result<String> {
        let conf = self
            .instance_dirs
            .first()
            .context("no Dovecot instance")?
            .join("dovecot.conf");
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&conf)
            .args(args)
            .output()
            .context("run doveadm")?;
        if !out.status.success() {
            bail!(
                "doveadm {}: {}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The IMAP connections open now, per user (`doveadm who -1`: one line per connection,
    /// `USER PROTO PID IP ...`).
    pub fn imap_sessions(&self) -> anyhow::Result<std::collections::BTreeMap<String, usize>> {
        let mut sessions = std::collections::BTreeMap::new();
        for line in self.doveadm(&["who", "-1"])?.lines() {
            let mut fields = line.split_whitespace();
            if let (Some(user), Some("imap")) = (fields.next(), fields.next()) {
                *sessions.entry(user.to_string()).or_default() += 1;
            }
        }
        Ok(sessions)
    }

    /// Gives `folder` of `user` a new UIDVALIDITY with `doveadm mailbox update`, as a server
    /// does after rebuilding its index: every UID the client knew is void afterwards.
    pub fn set_uidvalidity(&self, user: &str, folder: &str, value: u32) -> anyhow::Result<()> {
        check_user_name(user)?;
        let value = value.to_string();
        self.doveadm(&[
            "mailbox",
            "update",
            "--uid-validity",
            &value,
            "-u",
            user,
            folder,
        ])
        .map(|_| ())
    }

    /// The UIDVALIDITY of `folder` of `user` (`doveadm mailbox status`).
    pub fn uidvalidity(&self, user: &str, folder: &str) -> anyhow::Result<u32> {
        check_user_name(user)?;
        let text = self.doveadm(&[
            "-f",
            "flow",
            "mailbox",
            "status",
            "-u",
            user,
            "uidvalidity",
            folder,
        ])?;
        text.rsplit('=')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("doveadm mailbox status said {text:?}"))
    }

    /// Dovecot's log (all instances).
    pub fn log(&self) -> String {
        self.instance_dirs
            .iter()
            .map(|d| dovecot_log(d))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Stops the server now (as dropping does) while keeping the files for inspection; the
    /// ports then refuse connections, which lets tests simulate an ISP going away.
    pub fn stop(&mut self) {
        self.instances.clear();
    }
}
