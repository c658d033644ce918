//! The server notation known from other POP3 connectors: `"mail.myisp.com 995s"` means host
//! `mail.myisp.com`, port 995, implicit TLS; `"mail.myisp.com 110"` plain port 110;
//! `"mail.myisp.com"` alone takes the protocol's default TLS port.

/// Host, port and whether the trailing `s` asked for TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNotation {
    pub host: String,
    pub port: Option<u16>,
    pub tls: bool,
}

pub fn parse_server(text: &str) -> Result<ServerNotation, String> {
    let mut parts = text.split_whitespace();
    let host = parts
        .next()
        .ok_or_else(|| "empty server; write for example \"mail.myisp.com 995s\"".to_string())?;
    let port_part = parts.next();
    if let Some(extra) = parts.next() {
        return Err(format!(
            "unexpected \"{extra}\" in \"{text}\"; the form is \"HOST PORT\" or \"HOST PORTs\""
        ));
    }
    let Some(port_part) = port_part else {
        return Ok(ServerNotation {
            host: host.to_string(),
            port: None,
            tls: true,
        });
    };
    let (digits, tls) = match port_part.strip_suffix(['s', 'S']) {
        Some(digits) => (digits, true),
        None => (port_part, false),
    };
    let port: u16 = digits
        .parse()
        .ok()
        .filter(|port| *port != 0)
        .ok_or_else(|| {
            format!("\"{port_part}\" is not a port (1-65535, optionally followed by s for TLS)")
        })?;
    Ok(ServerNotation {
        host: host.to_string(),
        port: Some(port),
        tls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_manual_examples() {
        assert_eq!(
            parse_server("mail.myserverdomain.com 995s"),
            Ok(ServerNotation {
                host: "mail.myserverdomain.com".into(),
                port: Some(995),
                tls: true
            })
        );
        assert_eq!(
            parse_server("mail.myisp.com 110"),
            Ok(ServerNotation {
                host: "mail.myisp.com".into(),
                port: Some(110),
                tls: false
            })
        );
        assert_eq!(
            parse_server("mail.myisp.com"),
            Ok(ServerNotation {
                host: "mail.myisp.com".into(),
                port: None,
                tls: true
            })
        );
    }

    #[test]
    fn refuses_bad_ports_and_extra_words() {
        assert!(parse_server("host 99999s").is_err());
        assert!(parse_server("host 0").is_err());
        assert!(parse_server("host 995x").is_err());
        assert!(parse_server("host 995s extra").is_err());
        assert!(parse_server("   ").is_err());
    }
}
