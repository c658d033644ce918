//! The worker's access tokens: one cache entry per profile, refreshed with the refresh token
//! from the OS keyring when missing, expiring, or refused by the mail server. Concurrent
//! polls of one profile wait for one refresh (a per-profile async lock).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailpull_shared::config::{OAuth2, Profile};
use mailpull_shared::secrets::Secret;
use tracing::{info, warn};

use super::http::{Answer, OAuthHttp};
use super::{OAuthError, Tokens};

/// A token is refreshed when less than this (or a quarter of its lifetime, if shorter) is left.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(120);

struct Entry {
    access: Secret,
    refresh_at: Instant,
    /// The settings it was issued for: a changed client or endpoint discards it.
    issuer: (String, String),
}

type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

/// Access tokens of every OAuth profile, in memory only.
pub struct TokenCache {
    http: Mutex<Option<OAuthHttp>>,
    slots: Mutex<HashMap<String, Slot>>,
    refreshes: std::sync::atomic::AtomicU64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            http: Mutex::new(None),
            slots: Mutex::new(HashMap::new()),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache")
    }
}

fn issuer(oauth: &OAuth2) -> (String, String) {
    (oauth.token_url.clone(), oauth.client_id.clone())
}

/// When to refresh a token that lives `lifetime` from `issued`.
fn refresh_time(issued: Instant, lifetime: Duration) -> Instant {
    issued + lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 4))
}

impl TokenCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared HTTP client (built on first use).
    pub fn http(&self) -> Result<OAuthHttp, OAuthError> {
        let mut http = self.http.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = http.as_ref() {
            return Ok(client.clone());
        }
        let client = OAuthHttp::new()?;
        *http = Some(client.clone());
        Ok(client)
    }

    /// How many refresh grants this cache has made (for tests and status).
    pub fn refresh_count(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot(&self, profile: &str) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.entry(profile.to_string()).or_default().clone()
    }

    /// A valid access token for `profile`: the cached one, or a fresh one from the token
    /// endpoint.
    pub async fn access_token(&self, profile: &Profile) -> Result<Secret, OAuthError> {
        let oauth = super::settings(profile)?;
        let slot = self.slot(&profile.name);
        let mut entry = slot.lock().await;
        if let Some(cached) = entry.as_ref()
            && cached.issuer == issuer(oauth)
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.access.clone());
        }
        *entry = None;
        let issued = Instant::now();
        let tokens = self.refresh(profile, oauth).await?;
        let access = tokens.access_token.clone();
        *entry = Some(Entry {
            access: tokens.access_token,
            refresh_at: refresh_time(issued, tokens.expires_in),
            issuer: issuer(oauth),
        });
        Ok(access)
    }

    /// Forgets the cached access token of `profile` (the server refused it), unless a newer
    /// one than `refused` is already there.
    pub async fn invalidate(&self, profile: &str, refused: &Secret) {
        let slot = self.slot(profile);
        let mut entry = slot.lock().await;
        if entry.as_ref().is_some_and(|e| &e.access == refused) {
            *entry = None;
        }
    }

    /// Seeds the cache with a sign-in's access token.
    pub async fn seed(&self, profile: &Profile, tokens: &Tokens, issued: Instant) {
        let Some(oauth) = profile.remote.credentials.oauth2() else {
            return;
        };
        let slot = self.slot(&profile.name);
        *slot.lock().await = Some(Entry {
            access: tokens.access_token.clone(),
            refresh_at: refresh_time(issued, tokens.expires_in),
            issuer: issuer(oauth),
        });
    }

    /// Drops every cached token of profiles not in `keep`.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.retain(|name, _| keep(name));
    }

    /// The refresh grant (RFC 6749 §6); a rotated refresh token is stored back.
    async fn refresh(&self, profile: &Profile, oauth: &OAuth2) -> Result<Tokens, OAuthError> {
        let refresh =
            super::read_refresh_token(&profile.name)?.ok_or_else(|| OAuthError::NotSignedIn {
                profile: profile.name.clone(),
            })?;
        let mut form = super::client_params(profile, oauth)?;
        form.push(("grant_type".into(), Secret::new("refresh_token")));
        form.push(("refresh_token".into(), refresh.clone()));
        form.push(("scope".into(), Secret::new(oauth.scopes.join(" "))));
        let http = self.http()?;
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match http.post_form(&oauth.token_url, form).await? {
            Answer::Ok(object) => {
                let tokens = super::http::tokens(&oauth.token_url, &object)?;
                if let Some(rotated) = &tokens.refresh_token
                    && rotated != &refresh
                {
                    // The access token is good either way; a refresh token that cannot be
                    // stored means a new sign-in once this access token expires.
                    match super::store_refresh_token(&profile.name, rotated) {
                        Ok(()) => {
                            info!(profile = %profile.name, "OAuth refresh token rotated and stored")
                        }
                        Err(err) => warn!(
                            profile = %profile.name,
                            "the rotated OAuth refresh token could not be stored ({err}); the profile will need a new sign-in when this access token expires"
                        ),
                    }
                }
                info!(profile = %profile.name, expires_in_secs = tokens.expires_in.as_secs(), "OAuth access token refreshed");
                Ok(tokens)
            }
            Answer::Error { error, description } if error == "invalid_grant" => {
                Err(OAuthError::SignInRevoked {
                    profile: profile.name.clone(),
                    detail: match description {
                        Some(d) => format!("invalid_grant: {d}"),
                        None => "invalid_grant".into(),
                    },
                })
            }
            Answer::Error { error, description } => Err(OAuthError::Refused {
                url: oauth.token_url.clone(),
                error,
                description,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_comes_before_expiry() {
        let now = Instant::now();
        assert_eq!(
            refresh_time(now, Duration::from_secs(3600)),
            now + Duration::from_secs(3600 - 120)
        );
        // Short-lived tokens keep three quarters of their life.
        assert_eq!(
            refresh_time(now, Duration::from_secs(8)),
            now + Duration::from_secs(6)
        );
        assert_eq!(refresh_time(now, Duration::ZERO), now);
    }
}
