//! A small OAuth 2.0 authorization server for tests, on plain HTTP at 127.0.0.1: the device
//! authorization endpoint (RFC 8628), the authorization endpoint (code + PKCE S256, answered
//! at once with a redirect, as if the person had approved), the token endpoint (device code,
//! authorization code and refresh grants, with refresh-token rotation) and the token
//! introspection endpoint (RFC 7662) that Dovecot's `oauth2` passdb asks. Tokens are random,
//! expire, and can be revoked; counters let tests see what the worker did.
//!
//! Each registered client id signs in one mail user (the person who would approve).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What the server has done, for assertions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OAuthCounters {
    pub device_starts: u64,
    /// Device-code token requests answered `authorization_pending` or `slow_down`.
    pub device_pending: u64,
    pub device_grants: u64,
    pub authorize_redirects: u64,
    pub code_grants: u64,
    pub refresh_grants: u64,
    /// Refresh grants refused with `invalid_grant`.
    pub refresh_refused: u64,
    pub introspections_active: u64,
    pub introspections_inactive: u64,
    /// Token requests refused for a missing or wrong client secret (`invalid_client`).
    pub client_secret_refused: u64,
}

/// How the person answers a device-code sign-in (after the pending polls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceOutcome {
    #[default]
    Approve,
    /// `access_denied`.
    Deny,
    /// `expired_token`.
    Expire,
}

#[derive(Debug)]
struct Device {
    client_id: String,
    polls: u32,
    expires: Instant,
}

#[derive(Debug)]
struct Code {
    client_id: String,
    challenge: String,
    redirect_uri: String,
}

#[derive(Debug, Default)]
struct State {
    /// client id → the mail user it signs in.
    clients: HashMap<String, String>,
    /// client id → the client secret its token requests must carry (confidential clients).
    client_secrets: HashMap<String, String>,
    devices: HashMap<String, Device>,
    codes: HashMap<String, Code>,
    /// access token → (user, expiry).
    access: HashMap<String, (String, Instant)>,
    /// refresh token → client id.
    refresh: HashMap<String, String>,
    counters: OAuthCounters,
    access_lifetime: Duration,
    /// Device-code polls answered `authorization_pending` before approval.
    pending_polls: u32,
    rotate: bool,
    slow_down_once: bool,
    device_outcome: DeviceOutcome,
}

/// The running server; stopped on drop.
pub struct FakeOAuthServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FakeOAuthServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FakeOAuthServer(127.0.0.1:{})", self.port)
    }
}

fn random_token(prefix: &str) -> String {
    let bytes: [u8; 18] = std::array::from_fn(|_| fastrand::u8(..));
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

impl FakeOAuthServer {
    /// Starts on a free port. Access tokens live an hour, the device code is approved after
    /// two pending polls, refresh tokens rotate on every refresh.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind fake OAuth server")?;
        listener.set_nonblocking(true).context("nonblocking")?;
        let port = listener.local_addr().context("local_addr")?.port();
        let state = Arc::new(Mutex::new(State {
            access_lifetime: Duration::from_secs(3600),
            pending_polls: 2,
            rotate: true,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (state, stop) = (state.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let state = state.clone();
                            std::thread::spawn(move || serve(stream, &state));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Ok(FakeOAuthServer {
            port,
            state,
            stop,
            thread: Some(thread),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT/` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    /// A `[profile.remote.oauth2]` table (without its header) for `client_id` with this
    /// server as a custom provider.
    pub fn custom_table(&self, client_id: &str) -> String {
        format!(
            "provider = \"custom\"\nclient_id = \"{client_id}\"\nscopes = [\"mail\", \"offline\"]\ndevice_authorization_url = \"{}\"\nauthorization_url = \"{}\"\ntoken_url = \"{}\"",
            self.url("device"),
            self.url("authorize"),
            self.url("token")
        )
    }

    /// The introspection endpoint for Dovecot's `oauth2` passdb.
    pub fn introspection_url(&self) -> String {
        self.url("introspect")
    }

    /// Registers `client_id`, whose sign-ins are approved for mail user `user`.
    pub fn register_client(&self, client_id: &str, user: &str) {
        self.lock()
            .clients
            .insert(client_id.to_string(), user.to_string());
    }

    /// Makes `client_id` a confidential client: its token requests must carry `secret` as
    /// `client_secret`, else they are refused with `invalid_client`.
    pub fn require_client_secret(&self, client_id: &str, secret: &str) {
        self.lock()
            .client_secrets
            .insert(client_id.to_string(), secret.to_string());
    }

    /// Lifetime of access tokens issued from now on.
    pub fn set_access_lifetime(&self, lifetime: Duration) {
        self.lock().access_lifetime = lifetime;
    }

    /// How device-code sign-ins end from now on.
    pub fn set_device_outcome(&self, outcome: DeviceOutcome) {
        self.lock().device_outcome = outcome;
    }

    /// Answer the next device-code poll with `slow_down` once.
    pub fn slow_down_once(&self) {
        self.lock().slow_down_once = true;
    }

    /// Revokes every refresh and access token of `client_id` (the person signed out).
    pub fn revoke(&self, client_id: &str) {
        let mut state = self.lock();
        let Some(user) = state.clients.get(client_id).cloned() else {
            return;
        };
        state.refresh.retain(|_, c| c != client_id);
        state.access.retain(|_, (u, _)| *u != user);
    }

    /// Expires every access token now (as if an hour had passed).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for (_, expiry) in self.lock().access.values_mut() {
            *expiry = now;
        }
    }

    pub fn counters(&self) -> OAuthCounters {
        self.lock().counters.clone()
    }
}

impl Drop for FakeOAuthServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Request {
    method: String,
    path: String,
    query: HashMap<String, String>,
    form: HashMap<String, String>,
}

fn decode(text: &str) -> String {
    mailpull_worker::oauth::urlenc::decode(text).unwrap_or_default()
}

fn parse_pairs(text: &str) -> HashMap<String, String> {
    mailpull_worker::oauth::urlenc::parse_query(text)
        .into_iter()
        .collect()
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0u8; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: decode(path),
        query: parse_pairs(query),
        form: parse_pairs(&String::from_utf8_lossy(&body)),
    })
}

fn respond(mut stream: &TcpStream, status: &str, extra: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(text.as_bytes());
    let _ = stream.flush();
}

fn json_error(stream: &TcpStream, error: &str) {
    let body =
        serde_json::json!({ "error": error, "error_description": format!("fake server: {error}") });
    respond(stream, "400 Bad Request", "", &body.to_string());
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/device") => device_start(&stream, &mut state, &request),
        ("GET", "/authorize") => authorize(&stream, &mut state, &request),
        ("POST", "/token") => token(&stream, &mut state, &request),
        ("POST", "/introspect") => introspect(&stream, &mut state, &request),
        _ => respond(&stream, "404 Not Found", "", "{}"),
    }
}

fn device_start(stream: &TcpStream, state: &mut State, request: &Request) {
    let client_id = request.form.get("client_id").cloned().unwrap_or_default();
    if !state.clients.contains_key(&client_id) {
        return json_error(stream, "invalid_client");
    }
    let device_code = random_token("tok_dc_");
    state.devices.insert(
        device_code.clone(),
        Device {
            client_id,
            polls: 0,
            expires: Instant::now() + Duration::from_secs(600),
        },
    );
    state.counters.device_starts += 1;
    let body = serde_json::json!({
        "device_code": device_code,
        "user_code": "WDJB-MJHT",
        "verification_uri": "http://127.0.0.1/device-login",
        "expires_in": 600,
        "interval": 1,
    });
    respond(stream, "200 OK", "", &body.to_string());
}

fn authorize(stream: &TcpStream, state: &mut State, request: &Request) {
    let q = &request.query;
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let client_id = get("client_id");
    let redirect_uri = get("redirect_uri");
    if !state.clients.contains_key(&client_id)
        || get("response_type") != "code"
        || get("code_challenge_method") != "S256"
        || get("code_challenge").len() != 43
        || !redirect_uri.starts_with("http://127.0.0.1:")
    {
        return respond(
            stream,
            "400 Bad Request",
            "",
            r#"{"error":"invalid_request"}"#,
        );
    }
    let code = random_token("tok_code_");
    state.codes.insert(
        code.clone(),
        Code {
            client_id,
            challenge: get("code_challenge"),
            redirect_uri: redirect_uri.clone(),
        },
    );
    state.counters.authorize_redirects += 1;
    let location = format!(
        "Location: {redirect_uri}?code={code}&state={}\r\n",
        mailpull_worker::oauth::urlenc::encode(&get("state"))
    );
    respond(stream, "302 Found", &location, "{}");
}

fn issue(stream: &TcpStream, state: &mut State, client_id: &str, refresh: Option<String>) {
    let user = state.clients.get(client_id).cloned().unwrap_or_default();
    let access = random_token("tok_at_");
    let lifetime = state.access_lifetime;
    state
        .access
        .insert(access.clone(), (user, Instant::now() + lifetime));
    let refresh = match refresh {
        Some(old) if !state.rotate => old,
        Some(old) => {
            state.refresh.remove(&old);
            let new = random_token("tok_rt_");
            state.refresh.insert(new.clone(), client_id.to_string());
            new
        }
        None => {
            let new = random_token("tok_rt_");
            state.refresh.insert(new.clone(), client_id.to_string());
            new
        }
    };
    let body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "refresh_token": refresh,
        "scope": "mail",
    });
    respond(stream, "200 OK", "", &body.to_string());
}

fn token(stream: &TcpStream, state: &mut State, request: &Request) {
    let f = &request.form;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let client_id = get("client_id");
    if !state.clients.contains_key(&client_id) {
        return json_error(stream, "invalid_client");
    }
    if let Some(required) = state.client_secrets.get(&client_id)
        && *required != get("client_secret")
    {
        state.counters.client_secret_refused += 1;
        return json_error(stream, "invalid_client");
    }
    match get("grant_type").as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let code = get("device_code");
            let slow_down = std::mem::take(&mut state.slow_down_once);
            let pending = state.pending_polls;
            let Some(device) = state.devices.get_mut(&code) else {
                return json_error(stream, "invalid_grant");
            };
            if device.client_id != client_id {
                return json_error(stream, "invalid_grant");
            }
            if Instant::now() > device.expires {
                return json_error(stream, "expired_token");
            }
            device.polls += 1;
            if slow_down {
                state.counters.device_pending += 1;
                return json_error(stream, "slow_down");
            }
            if device.polls <= pending {
                state.counters.device_pending += 1;
                return json_error(stream, "authorization_pending");
            }
            state.devices.remove(&code);
            match state.device_outcome {
                DeviceOutcome::Approve => {}
                DeviceOutcome::Deny => return json_error(stream, "access_denied"),
                DeviceOutcome::Expire => return json_error(stream, "expired_token"),
            }
            state.counters.device_grants += 1;
            issue(stream, state, &client_id, None);
        }
        "authorization_code" => {
            let Some(code) = state.codes.remove(&get("code")) else {
                return json_error(stream, "invalid_grant");
            };
            let verifier = get("code_verifier");
            let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if code.client_id != client_id
                || code.redirect_uri != get("redirect_uri")
                || code.challenge != challenge
            {
                return json_error(stream, "invalid_grant");
            }
            state.counters.code_grants += 1;
            issue(stream, state, &client_id, None);
        }
        "refresh_token" => {
            let refresh = get("refresh_token");
            if state.refresh.get(&refresh) != Some(&client_id) {
                state.counters.refresh_refused += 1;
                return json_error(stream, "invalid_grant");
            }
            state.counters.refresh_grants += 1;
            issue(stream, state, &client_id, Some(refresh));
        }
        _ => json_error(stream, "unsupported_grant_type"),
    }
}

fn introspect(stream: &TcpStream, state: &mut State, request: &Request) {
    let token = request.form.get("token").cloned().unwrap_or_default();
    let body = match state.access.get(&token) {
        Some((user, expiry)) if Instant::now() < *expiry => {
            state.counters.introspections_active += 1;
            serde_json::json!({ "active": true, "username": user, "scope": "mail" })
        }
        _ => {
            state.counters.introspections_inactive += 1;
            serde_json::json!({ "active": false })
        }
    };
    respond(stream, "200 OK", "", &body.to_string());
}
