//! The wizard's presets: the remote mailbox (Microsoft 365, Gmail / Google Workspace,
//! Outlook.com, "my ISP or web host") and the local mail server (Exchange, hMailServer,
//! Postfix or another). Each fills the form's fields the way the configuration and the
//! OAuth2 support expect them; the person can change any of them afterwards in the form.

use mailpull_shared::config::{AuthMethod, OAuthProvider, Protocol, Security};

use crate::form::{FormFields, PasswordFrom, SecretFrom};

/// Where the mail is picked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemotePreset {
    Microsoft365,
    Google,
    OutlookCom,
    /// Any other provider: the wizard finds the server's ports.
    Isp,
}

impl RemotePreset {
    pub const ALL: [RemotePreset; 4] = [
        RemotePreset::Microsoft365,
        RemotePreset::Google,
        RemotePreset::OutlookCom,
        RemotePreset::Isp,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RemotePreset::Microsoft365 => "Microsoft 365",
            RemotePreset::Google => "Gmail / Google Workspace",
            RemotePreset::OutlookCom => "Outlook.com",
            RemotePreset::Isp => "My ISP or web host",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            RemotePreset::Microsoft365 => {
                "A work or school mailbox at Microsoft. It signs in with Microsoft (no password \
                 is kept): you need the Application (client) ID of an app registered in your \
                 Microsoft Entra admin center."
            }
            RemotePreset::Google => {
                "A Gmail or Google Workspace mailbox. It signs in with Google (no password is \
                 kept): you need the client ID and client secret of a Google Cloud OAuth client."
            }
            RemotePreset::OutlookCom => {
                "A personal Outlook.com or Hotmail mailbox. It signs in with Microsoft: you need \
                 the Application (client) ID of an app registered for personal accounts."
            }
            RemotePreset::Isp => {
                "Any other provider: type the server's name and Mailpull looks for it on the \
                 usual ports, encrypted."
            }
        }
    }

    /// Signs in with OAuth 2.0 instead of a password.
    pub fn oauth(self) -> bool {
        self != RemotePreset::Isp
    }

    /// Fills the remote mailbox and the login of `fields` for this preset.
    pub fn apply(self, fields: &mut FormFields) {
        let (server, provider, tenant) = match self {
            RemotePreset::Microsoft365 => ("outlook.office365.com", OAuthProvider::Microsoft, ""),
            RemotePreset::Google => ("imap.gmail.com", OAuthProvider::Google, ""),
            RemotePreset::OutlookCom => (
                "outlook.office365.com",
                OAuthProvider::Microsoft,
                "consumers",
            ),
            RemotePreset::Isp => {
                fields.server.clear();
                fields.port.clear();
                fields.protocol = Protocol::Pop3;
                fields.security = None;
                fields.auth = AuthMethod::Auto;
                fields.password_from = PasswordFrom::Keyring;
                return;
            }
        };
        fields.server = server.into();
        fields.port.clear();
        fields.protocol = Protocol::Imap;
        fields.security = None;
        fields.auth = AuthMethod::XOAuth2;
        fields.provider = provider;
        fields.tenant = tenant.into();
        fields.password.clear();
        fields.secret_from = if provider == OAuthProvider::Google {
            SecretFrom::Keyring
        } else {
            SecretFrom::None
        };
    }
}

/// Where the mail is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalPreset {
    Exchange,
    HMailServer,
    Postfix,
}

impl LocalPreset {
    pub const ALL: [LocalPreset; 3] = [
        LocalPreset::Exchange,
        LocalPreset::HMailServer,
        LocalPreset::Postfix,
    ];

    pub fn label(self) -> &'static str {
        match self {
            LocalPreset::Exchange => "Exchange",
            LocalPreset::HMailServer => "hMailServer",
            LocalPreset::Postfix => "Postfix or another mail server",
        }
    }

    pub fn explain(self) -> &'static str {
        match self {
            LocalPreset::Exchange => {
                "Your Exchange server's name and port 25, encrypted with STARTTLS. If Exchange \
                 uses its own self-signed certificate, export it and choose the file below."
            }
            LocalPreset::HMailServer => {
                "hMailServer on this computer, port 25. Mailpull hands each message over as \
                 another mail server would."
            }
            LocalPreset::Postfix => {
                "Any mail server that accepts mail by SMTP: its name or address and port."
            }
        }
    }

    /// Fills the local mail server of `fields` for this preset.
    pub fn apply(self, fields: &mut FormFields) {
        match self {
            LocalPreset::Exchange => {
                // Only the administrator knows its name: typed, with the example as a hint.
                fields.smtp.clear();
                fields.smtp_security = Some(Security::StartTls);
            }
            LocalPreset::HMailServer | LocalPreset::Postfix => {
                fields.smtp = "127.0.0.1:25".into();
                fields.smtp_security = None;
                fields.local_ca_file.clear();
            }
        }
    }
}
