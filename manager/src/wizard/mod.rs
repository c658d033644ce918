//! The first-run wizard's state, apart from drawing: a new profile built in five steps —
//! the remote mailbox ([`Step::Mailbox`], with [`RemotePreset`]s and, for "my ISP or web
//! host", the worker's search of the usual ports), the sign-in ([`Step::SignIn`]: a password,
//! or an OAuth client for a later sign-in), where mail goes ([`Step::Delivery`], with
//! [`LocalPreset`]s), who receives it ([`Step::Recipients`]: one local user, or a catch-all
//! split over local users) and the connection test and Save ([`Step::Finish`]). It fills the
//! profile form's own [`FormFields`], so Save writes exactly what the form would; Next checks
//! the step ([`Wizard::problems`]), Back keeps every value, Cancel drops the wizard and
//! nothing was written.
//!
//! Layout: `presets` (the remote and local presets and what each fills in), `search` (the
//! findings of "find my server" and choosing one).

mod presets;
mod search;

use mailpull_shared::config::{Security, default_smtp_security, split_host_port};
use mailpull_shared::ipc::{ServerCandidate, standard_candidates};

use crate::form::{FormFields, SecretFrom};

pub use presets::{LocalPreset, RemotePreset};
pub use search::{Search, choose, describe_candidate, is_chosen};

/// The wizard's steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Mailbox,
    SignIn,
    Delivery,
    Recipients,
    Finish,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Mailbox,
        Step::SignIn,
        Step::Delivery,
        Step::Recipients,
        Step::Finish,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Mailbox => "Mailbox",
            Step::SignIn => "Sign-in",
            Step::Delivery => "Your mail server",
            Step::Recipients => "Recipients",
            Step::Finish => "Test and save",
        }
    }

    pub fn number(self) -> usize {
        Step::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }

    fn next(self) -> Option<Step> {
        Step::ALL.get(self.number()).copied()
    }

    fn back(self) -> Option<Step> {
        self.number().checked_sub(2).map(|i| Step::ALL[i])
    }
}

/// What the wizard asks of the window (applied after drawing, like the views' actions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WizardAction {
    Open,
    Next,
    Back,
    /// Close the wizard; nothing was saved.
    Cancel,
    /// Close the wizard and edit a new profile in the full form instead.
    FullForm,
    /// Ask the worker which of the usual ports answer on the typed server.
    FindServer,
    /// The connection test of the profile as filled in, with the typed password.
    Test,
    /// Save, then start the first poll (or the sign-in of an OAuth profile).
    Save,
}

/// Who receives the mail of the mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipients {
    /// Everything goes to one local user.
    One,
    /// A catch-all mailbox: each message goes to the local users it is addressed to.
    CatchAll,
}

/// The wizard, while open.
#[derive(Debug, Clone)]
pub struct Wizard {
    pub step: Step,
    pub remote: Option<RemotePreset>,
    pub local: Option<LocalPreset>,
    pub recipients: Recipients,
    /// The new profile as filled in so far.
    pub fields: FormFields,
    /// "Find my server" for [`RemotePreset::Isp`].
    pub search: Search,
    /// The ports "find my server" tries ([`standard_candidates`] unless changed, e.g. by
    /// tests whose server listens elsewhere).
    pub candidates: Vec<ServerCandidate>,
    /// What keeps Next from going on, shown above the buttons.
    pub problems: Vec<String>,
    /// Save was pressed: the answer closes the wizard.
    pub saving: bool,
}

impl Default for Wizard {
    fn default() -> Self {
        Wizard {
            step: Step::Mailbox,
            remote: None,
            local: None,
            recipients: Recipients::One,
            fields: FormFields::default(),
            search: Search::NotYet,
            candidates: standard_candidates(),
            problems: Vec::new(),
            saving: false,
        }
    }
}

impl Wizard {
    pub fn choose_remote(&mut self, preset: RemotePreset) {
        if self.remote != Some(preset) {
            self.remote = Some(preset);
            preset.apply(&mut self.fields);
            self.search = Search::NotYet;
        }
        self.problems.clear();
    }

    pub fn choose_local(&mut self, preset: LocalPreset) {
        if self.local != Some(preset) {
            self.local = Some(preset);
            preset.apply(&mut self.fields);
        }
        self.problems.clear();
    }

    pub fn choose_recipients(&mut self, recipients: Recipients) {
        self.recipients = recipients;
        self.fields.distribute = recipients == Recipients::CatchAll;
        self.problems.clear();
    }

    /// The local mail server is reached with STARTTLS.
    pub fn local_starttls(&self) -> bool {
        self.fields.local_security() == Security::StartTls
    }

    /// Encrypt the local delivery with STARTTLS or not (not written when it is the
    /// model's default for the host).
    pub fn set_local_starttls(&mut self, on: bool) {
        let host = split_host_port(self.fields.smtp.trim()).map_or(String::new(), |(host, _)| host);
        let chosen = if on {
            Security::StartTls
        } else {
            Security::Plain
        };
        self.fields.smtp_security = (chosen != default_smtp_security(&host)).then_some(chosen);
    }

    /// What is missing or wrong in `step`, in plain words; empty: Next may go on.
    pub fn problems(&self, step: Step) -> Vec<String> {
        let f = &self.fields;
        let blank = |text: &str| text.trim().is_empty();
        let mut out = Vec::new();
        match step {
            Step::Mailbox => match self.remote {
                None => out.push("Choose where your mail is now.".into()),
                Some(RemotePreset::Isp) => {
                    if blank(&f.server) {
                        out.push("Type the name of your provider's mail server.".into());
                    } else if !self.search.chosen(f) {
                        out.push(
                            "Press \"Find my server\" and wait until a working way to reach it \
                             is found."
                                .into(),
                        );
                    }
                }
                Some(_) => {}
            },
            Step::SignIn => {
                if blank(&f.username) {
                    out.push("Type the user name (usually the e-mail address).".into());
                }
                if self.remote.is_some_and(RemotePreset::oauth) {
                    if blank(&f.client_id) {
                        out.push("Type the application (client) ID.".into());
                    }
                    if f.secret_from == SecretFrom::Keyring && f.client_secret.is_empty() {
                        out.push("Type the client secret.".into());
                    }
                } else if f.password.is_empty() {
                    out.push("Type the password of the mailbox.".into());
                }
            }
            Step::Delivery => {
                if self.local.is_none() {
                    out.push("Choose your mail server.".into());
                } else if blank(&f.smtp) {
                    out.push(
                        "Type your mail server's name and port, like exchange.example.local:25."
                            .into(),
                    );
                } else if !split_host_port(f.smtp.trim())
                    .is_some_and(|(host, port)| !host.is_empty() && (1..=65535).contains(&port))
                {
                    out.push(format!(
                        "\"{}\" is not a server name and port, like mail.example.local:25.",
                        f.smtp.trim()
                    ));
                }
            }
            Step::Recipients => match self.recipients {
                Recipients::One => {
                    if blank(&f.local_user) {
                        out.push("Type the local user who receives the mail.".into());
                    }
                    if blank(&f.local_domain) {
                        out.push("Type your mail domain, like example.com.".into());
                    }
                }
                Recipients::CatchAll => {
                    if blank(&f.local_domains) {
                        out.push("Type your mail domains, like example.com.".into());
                    }
                    if blank(&f.fallback) {
                        out.push("Type the mailbox that receives what is for nobody here.".into());
                    }
                }
            },
            Step::Finish => {
                if blank(&f.name) {
                    out.push("Give the connection a name.".into());
                }
            }
        }
        out
    }

    /// Next: on to the next step when this one is complete, else its problems are shown.
    pub fn next(&mut self) {
        self.problems = self.problems(self.step);
        if !self.problems.is_empty() {
            return;
        }
        if let Some(next) = self.step.next() {
            self.step = next;
            if next == Step::Finish && self.fields.name.trim().is_empty() {
                self.fields.name = suggested_name(&self.fields.username);
            }
        }
    }

    /// Back: the previous step, every value kept.
    pub fn back(&mut self) {
        self.problems.clear();
        if let Some(back) = self.step.back() {
            self.step = back;
        }
    }
}

/// A profile name from the user name: `alice@myisp.example` → `alice-myisp`.
pub fn suggested_name(username: &str) -> String {
    let username = username.trim();
    let (user, domain) = username.split_once('@').unwrap_or((username, ""));
    let first = domain.split('.').next().unwrap_or("");
    let raw = if first.is_empty() {
        user.to_string()
    } else {
        format!("{user}-{first}")
    };
    let name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    if name.is_empty() {
        "mailbox".into()
    } else {
        name
    }
}

#[cfg(test)]
mod tests;
