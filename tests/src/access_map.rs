//! A Postfix `tcp:` lookup table served from memory (see tcp_table(5)): Postfix asks it on
//! every lookup, so changing a rule takes effect at once, without `postfix reload`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use anyhow::Context;

type Rules = Arc<Mutex<BTreeMap<String, String>>>;

/// The table server: a listener on 127.0.0.1 and one thread per Postfix connection.
#[derive(Debug)]
pub(crate) struct AccessMapServer {
    port: u16,
    rules: Rules,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl AccessMapServer {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("binding the access map server to 127.0.0.1")?;
        let port = listener
            .local_addr()
            .context("access map server address")?
            .port();
        let rules: Rules = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (rules, stop) = (Arc::clone(&rules), Arc::clone(&stop));
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        let rules = Arc::clone(&rules);
                        std::thread::spawn(move || serve(conn, &rules));
                    }
                }
            })
        };
        Ok(Self {
            port,
            rules,
            stop,
            acceptor: Some(acceptor),
        })
    }

    /// The `tcp:HOST:PORT` table name for main.cf.
    pub(crate) fn table(&self) -> String {
        format!("tcp:127.0.0.1:{}", self.port)
    }

    /// Sets (`Some`) or removes (`None`) the answer for `key`; returns the previous one.
    pub(crate) fn set(&self, key: &str, value: Option<&str>) -> Option<String> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let key = key.to_ascii_lowercase();
        match value {
            Some(v) => rules.insert(key, v.to_owned()),
            None => rules.remove(&key),
        }
    }
}

impl Drop for AccessMapServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocked accept() so the thread sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

/// Answers `get KEY` requests on one connection until Postfix closes it.
fn serve(conn: TcpStream, rules: &Mutex<BTreeMap<String, String>>) {
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = answer(line.trim_end_matches(['\r', '\n']), rules);
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(request: &str, rules: &Mutex<BTreeMap<String, String>>) -> String {
    let Some(key) = request.strip_prefix("get ") else {
        return "400 unsupported request\n".to_owned();
    };
    let key = decode(key).to_ascii_lowercase();
    let rules = rules.lock().unwrap_or_else(|p| p.into_inner());
    // Like Postfix's own access tables: the address, then its domain, then "localpart@"
    // (tcp: tables only ever receive the full address).
    let mut candidates = vec![key.clone()];
    if let Some((local, domain)) = key.rsplit_once('@') {
        candidates.push(domain.to_owned());
        candidates.push(format!("{local}@"));
    }
    match candidates.iter().find_map(|k| rules.get(k)) {
        Some(value) => format!("200 {}\n", encode(value)),
        None => "500 not found\n".to_owned(),
    }
}

/// tcp_table(5) encoding: '%', whitespace and non-printing bytes become %XX.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b == b'%' || !(0x21..0x7f).contains(&b) {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_the_tcp_table_protocol() {
        let rules = Mutex::new(BTreeMap::from([(
            "bob@local.test".to_owned(),
            "451 4.3.0 50% busy".to_owned(),
        )]));
        assert_eq!(
            answer("get Bob%40local.test", &rules),
            "200 451%204.3.0%2050%25%20busy\n"
        );
        assert_eq!(
            answer("get bob@local.test", &rules),
            "200 451%204.3.0%2050%25%20busy\n"
        );
        assert_eq!(answer("get alice@local.test", &rules), "500 not found\n");
        let domain = Mutex::new(BTreeMap::from([(
            "local.test".to_owned(),
            "550 x".to_owned(),
        )]));
        assert_eq!(answer("get alice%40local.test", &domain), "200 550%20x\n");
        assert_eq!(answer("put x y", &rules), "400 unsupported request\n");
        assert_eq!(decode("a%20b%zz"), "a b%zz");
    }
}
