//! `[worker] metrics` and `metrics_public`: where the Prometheus endpoint listens. The
//! endpoint has no authentication, so an address other than loopback (127.0.0.0/8, ::1) is
//! refused unless `metrics_public = true` says it is meant.

use std::net::SocketAddr;

use super::fields::Errors;
use crate::config::raw::RawWorker;

pub(super) fn check_metrics(raw: &RawWorker, errors: &mut Errors) -> Option<SocketAddr> {
    let text = raw.metrics.as_deref()?;
    let Ok(addr) = text.trim().parse::<SocketAddr>() else {
        errors.push(
            None,
            "worker.metrics",
            format!(
                "\"{text}\" is not an IP address and port (for example \"127.0.0.1:9464\" or \"[::1]:9464\")"
            ),
        );
        return None;
    };
    if addr.port() == 0 {
        errors.push(
            None,
            "worker.metrics",
            format!("\"{text}\" has port 0; name the port Prometheus scrapes (for example 9464)"),
        );
        return None;
    }
    if !addr.ip().is_loopback() && raw.metrics_public != Some(true) {
        errors.push(
            None,
            "worker.metrics",
            format!(
                "{addr} is not a loopback address and the endpoint has no authentication; \
                 set worker.metrics_public = true to serve it there"
            ),
        );
        return None;
    }
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(metrics: Option<&str>, public: Option<bool>) -> (Option<SocketAddr>, Vec<String>) {
        let raw = RawWorker {
            metrics: metrics.map(str::to_string),
            metrics_public: public,
            ..RawWorker::default()
        };
        let mut errors = Errors::default();
        let addr = check_metrics(&raw, &mut errors);
        let messages = errors
            .into_vec()
            .into_iter()
            .map(|err| format!("{}: {}", err.field, err.message))
            .collect();
        (addr, messages)
    }

    #[test]
    fn absent_means_no_endpoint() {
        assert_eq!(check(None, None), (None, vec![]));
        assert_eq!(check(None, Some(true)), (None, vec![]));
    }

    #[test]
    fn loopback_addresses_are_taken() {
        for text in ["127.0.0.1:9464", "[::1]:9464", "127.0.0.2:1"] {
            let (addr, errors) = check(Some(text), None);
            assert_eq!(addr, Some(text.parse().expect("addr")), "{text}");
            assert!(errors.is_empty(), "{text}: {errors:?}");
        }
    }

    #[test]
    fn another_address_needs_metrics_public() {
        let (addr, errors) = check(Some("0.0.0.0:9464"), None);
        assert_eq!(addr, None);
        assert_eq!(
            errors,
            [
                "worker.metrics: 0.0.0.0:9464 is not a loopback address and the endpoint has no \
              authentication; set worker.metrics_public = true to serve it there"
            ]
        );
        assert!(check(Some("192.0.2.7:9464"), Some(false)).0.is_none());
        let (addr, errors) = check(Some("0.0.0.0:9464"), Some(true));
        assert_eq!(addr, Some("0.0.0.0:9464".parse().expect("addr")));
        assert!(errors.is_empty());
    }

    #[test]
    fn a_name_or_a_missing_port_is_refused_with_the_field() {
        for text in ["localhost:9464", "127.0.0.1", "", "9464"] {
            let (addr, errors) = check(Some(text), None);
            assert_eq!(addr, None);
            assert_eq!(
                errors,
                [format!(
                    "worker.metrics: \"{text}\" is not an IP address and port (for example \
                     \"127.0.0.1:9464\" or \"[::1]:9464\")"
                )]
            );
        }
        let (_, errors) = check(Some("127.0.0.1:0"), None);
        assert_eq!(
            errors,
            [
                "worker.metrics: \"127.0.0.1:0\" has port 0; name the port Prometheus scrapes (for example 9464)"
            ]
        );
    }
}
