//! The exposition: names, types, labels and values as Prometheus reads them.

use std::sync::Arc;
use std::time::Duration;

use super::*;

fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|value| value.parse().ok())
}

#[test]
fn every_metric_has_help_and_type_under_its_conventional_name() {
    let metrics = Arc::new(Metrics::new());
    metrics.refresh(&["isp".to_string()], Some(&[]), 0);
    metrics.smtp_reply("isp", SmtpClass::Success);
    metrics.poll_finished("isp", Duration::from_secs(1), PollOutcome::Completed);
    let _idle = metrics.idle_connection("isp");
    let text = metrics.encode();
    for (name, kind) in [
        ("mailpull_delivered_messages_total", "counter"),
        ("mailpull_delivered_bytes_total", "counter"),
        ("mailpull_failures_total", "counter"),
        ("mailpull_held_messages", "gauge"),
        ("mailpull_last_successful_poll_timestamp_seconds", "gauge"),
        ("mailpull_poll_duration_seconds", "histogram"),
        ("mailpull_idle_connections", "gauge"),
        ("mailpull_smtp_replies_total", "counter"),
        ("mailpull_state_database_bytes", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} missing in:\n{text}"
        );
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no help"
        );
    }
    assert!(
        !text.contains("# EOF"),
        "the Prometheus text format has no EOF marker"
    );
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
}

#[test]
fn deliveries_failures_replies_and_polls_are_counted_per_profile() {
    let metrics = Metrics::new();
    metrics.delivered("isp", 1000);
    metrics.delivered("isp", 234);
    metrics.delivered("other", 5);
    metrics.failed("isp", FailureKind::Message);
    metrics.smtp_reply("isp", SmtpClass::Success);
    metrics.smtp_reply("isp", SmtpClass::Permanent);
    metrics.poll_finished("isp", Duration::from_millis(300), PollOutcome::Completed);
    metrics.poll_finished(
        "isp",
        Duration::from_secs(20),
        PollOutcome::Failed(FailureKind::Remote),
    );
    let text = metrics.encode();
    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(
        value("mailpull_delivered_messages_total{profile=\"isp\"}"),
        2.0
    );
    assert_eq!(
        value("mailpull_delivered_bytes_total{profile=\"isp\"}"),
        1234.0
    );
    assert_eq!(
        value("mailpull_delivered_bytes_total{profile=\"other\"}"),
        5.0
    );
    assert_eq!(
        value("mailpull_failures_total{profile=\"isp\",kind=\"message\"}"),
        1.0
    );
    assert_eq!(
        value("mailpull_failures_total{profile=\"isp\",kind=\"remote\"}"),
        1.0
    );
    assert_eq!(
        value("mailpull_smtp_replies_total{profile=\"isp\",class=\"2xx\"}"),
        1.0
    );
    assert_eq!(
        value("mailpull_smtp_replies_total{profile=\"isp\",class=\"5xx\"}"),
        1.0
    );
    assert_eq!(
        value("mailpull_poll_duration_seconds_count{profile=\"isp\"}"),
        2.0
    );
    assert_eq!(
        value("mailpull_poll_duration_seconds_bucket{profile=\"isp\",le=\"0.5\"}"),
        1.0
    );
    assert_eq!(
        value("mailpull_poll_duration_seconds_bucket{profile=\"isp\",le=\"+Inf\"}"),
        2.0
    );
    let last = value("mailpull_last_successful_poll_timestamp_seconds{profile=\"isp\"}");
    assert!(last > 1.7e9, "{last}");
}

#[test]
fn scrape_time_values_show_every_profile_and_drop_stale_ones() {
    let metrics = Metrics::new();
    let profiles = ["isp".to_string(), "quiet".to_string()];
    metrics.refresh(&profiles, Some(&[("isp".to_string(), 3)]), 4096);
    let text = metrics.encode();
    assert_eq!(
        sample(&text, "mailpull_held_messages{profile=\"isp\"}"),
        Some(3.0)
    );
    assert_eq!(
        sample(&text, "mailpull_held_messages{profile=\"quiet\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "mailpull_delivered_messages_total{profile=\"quiet\"}"
        ),
        Some(0.0)
    );
    assert_eq!(sample(&text, "mailpull_state_database_bytes"), Some(4096.0));
    // The database did not answer: no held values rather than stale ones.
    metrics.refresh(&profiles, None, 4096);
    assert_eq!(
        sample(&metrics.encode(), "mailpull_held_messages{profile=\"isp\"}"),
        None
    );
}

#[test]
fn an_idle_connection_counts_while_its_guard_lives() {
    let metrics = Arc::new(Metrics::new());
    let first = metrics.idle_connection("push");
    let second = metrics.idle_connection("push");
    let series = "mailpull_idle_connections{profile=\"push\"}";
    assert_eq!(sample(&metrics.encode(), series), Some(2.0));
    drop(first);
    drop(second);
    assert_eq!(sample(&metrics.encode(), series), Some(0.0));
}

#[test]
fn label_values_are_escaped() {
    let metrics = Metrics::new();
    metrics.delivered("a \"quoted\" \\ name\nnext", 1);
    let text = metrics.encode();
    assert!(
        text.contains(
            r#"mailpull_delivered_messages_total{profile="a \"quoted\" \\ name\nnext"} 1"#
        ),
        "{text}"
    );
}

mod endpoint {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::state::Store;

    /// An endpoint on 127.0.0.1:0 over a fresh state database; its address.
    pub(super) async fn start(
        metrics: Arc<Metrics>,
        cancel: &CancellationToken,
    ) -> (tempfile::TempDir, std::net::SocketAddr) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let names: ProfileNames = Arc::new(|| vec!["isp".to_string()]);
        let server = MetricsServer::bind(
            "127.0.0.1:0".parse().expect("addr"),
            metrics,
            store,
            names,
            cancel.clone(),
        )
        .await
        .expect("bind");
        let addr = server.local_addr().expect("addr");
        tokio::spawn(server.serve());
        (dir, addr)
    }

    async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request).await.expect("write");
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await.expect("read");
        String::from_utf8(reply).expect("utf-8")
    }

    #[tokio::test]
    async fn it_serves_metrics_and_health_and_refuses_the_rest() {
        let metrics = Arc::new(Metrics::new());
        metrics.delivered("isp", 42);
        let cancel = CancellationToken::new();
        let (_dir, addr) = start(metrics, &cancel).await;

        let reply = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(
            reply.contains(&format!("Content-Type: {CONTENT_TYPE}\r\n")),
            "{reply}"
        );
        assert!(reply.contains("Connection: close\r\n"), "{reply}");
        let body = reply.split_once("\r\n\r\n").expect("body").1;
        assert_eq!(
            sample(body, "mailpull_delivered_bytes_total{profile=\"isp\"}"),
            Some(42.0)
        );
        assert_eq!(
            sample(body, "mailpull_held_messages{profile=\"isp\"}"),
            Some(0.0)
        );
        let db = sample(body, "mailpull_state_database_bytes").expect("db size");
        assert!(db > 0.0, "{body}");

        let reply = exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nok\n"), "{reply}");

        let reply = exchange(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
        assert!(
            reply.contains("Content-Length: 3\r\n") && reply.ends_with("\r\n\r\n"),
            "{reply}"
        );

        let reply = exchange(addr, b"GET /other HTTP/1.1\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
        let reply = exchange(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 405 "), "{reply}");
        assert!(reply.contains("Allow: GET, HEAD\r\n"), "{reply}");
        let reply = exchange(addr, b"hello\r\n\r\n").await;
        assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
        let mut huge = b"GET /metrics HTTP/1.1\r\nX: ".to_vec();
        huge.resize(super::super::http::MAX_HEAD, b'a');
        let reply = exchange(addr, &huge).await;
        assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");

        cancel.cancel();
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_that_never_ends_gets_408_after_the_read_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let cancel = tokio_util::sync::CancellationToken::new();
    let (_dir, addr) = endpoint::start(Arc::new(Metrics::new()), &cancel).await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("write");
    let started = tokio::time::Instant::now();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.expect("read");
    let reply = String::from_utf8(reply).expect("utf-8");
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    assert!(
        started.elapsed() >= server::READ_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    cancel.cancel();
}

/// The series names Prometheus stores from a scrape in which every metric has a value.
fn exported_series() -> std::collections::BTreeSet<String> {
    let metrics = Arc::new(Metrics::new());
    metrics.refresh(&["isp".to_string()], Some(&[("isp".to_string(), 1)]), 1);
    metrics.smtp_reply("isp", SmtpClass::Success);
    metrics.poll_finished("isp", Duration::from_secs(1), PollOutcome::Completed);
    let _idle = metrics.idle_connection("isp");
    let mut names = std::collections::BTreeSet::new();
    for line in metrics.encode().lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        } else {
            names.insert(name.to_string());
        }
    }
    names
}

/// The identifiers of a PromQL expression, without quoted strings, range selectors and
/// dashboard variables.
fn identifiers(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = expr.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '[' => {
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                }
            }
            '$' | '0'..='9' | '.' => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
                {
                    chars.next();
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut word = c.to_string();
                while let Some(&c) = chars.peek() {
                    if !(c.is_ascii_alphanumeric() || matches!(c, '_' | ':')) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                out.push(word);
            }
            _ => {}
        }
    }
    out
}

#[test]
fn the_grafana_dashboard_queries_only_exported_metrics_and_shows_them_all() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).expect("assets/grafana-dashboard.json");
    let dashboard: serde_json::Value = serde_json::from_str(&text).expect("the dashboard is JSON");
    let exported = exported_series();
    // PromQL functions and keywords, and the labels the dashboard groups or filters by.
    let promql = [
        "sum",
        "rate",
        "increase",
        "histogram_quantile",
        "time",
        "label_values",
        "by",
        "profile",
        "kind",
        "class",
        "le",
    ];
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        exprs.push(
            variable["definition"]
                .as_str()
                .expect("definition")
                .to_string(),
        );
        exprs.push(
            variable["query"]["query"]
                .as_str()
                .expect("query")
                .to_string(),
        );
    }
    assert!(exprs.len() >= 10, "{exprs:?}");
    let mut used = std::collections::BTreeSet::new();
    for expr in &exprs {
        let words = identifiers(expr);
        assert!(
            words.iter().any(|word| word.starts_with("mailpull_")),
            "{expr} queries no mailpull metric"
        );
        for word in words {
            if promql.contains(&word.as_str()) {
                continue;
            }
            assert!(
                exported.contains(&word),
                "{expr}: {word} is not exported ({exported:?})"
            );
            used.insert(word);
        }
    }
    for family in &exported {
        let histogram_part = family.ends_with("_sum") || family.ends_with("_count");
        assert!(
            histogram_part || used.contains(family),
            "the dashboard does not show {family}"
        );
    }
}

#[test]
fn promql_identifiers_skip_strings_ranges_and_variables() {
    assert_eq!(
        identifiers(
            r#"sum by (le) (rate(m_bucket{profile=~"$p", x="a\"b"}[$__rate_interval])) * 0.95"#
        ),
        ["sum", "by", "le", "rate", "m_bucket", "profile", "x"]
    );
}
