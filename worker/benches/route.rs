//! Benchmarks multi-drop routing: `decide` over every message of the routing corpus
//! (`tests/corpus/routing/*.eml`, loaded once at start).
//!
//! Reports one figure per message (`route/one-shot/NNN-name`, the rules prepared on every call as
//! `decide` does) and the whole corpus with a prepared `Router` (`route/router/corpus`, divide by
//! the message count for the per-message time), plus `route/prepare` (`Router::new` alone).
//! Quick run: `cargo bench -p mailpull-worker --bench route -- --quick`.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mailpull_worker::routing::{Router, Rules, decide};

/// The routing tests' rules (`tests/common/rules.rs`).
#[path = "../tests/common/rules.rs"]
mod rules;

fn corpus() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/routing");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let name = p
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, bytes)
        })
        .collect()
}

fn bench_route(c: &mut Criterion) {
    let rules = rules::test_rules();
    let messages = corpus();
    assert!(!messages.is_empty(), "routing corpus is empty");

    let mut one_shot = c.benchmark_group("route/one-shot");
    for (name, message) in &messages {
        one_shot.bench_function(name.as_str(), |b| {
            b.iter(|| decide(black_box(message), black_box(&rules)))
        });
    }
    one_shot.finish();

    c.bench_function("route/prepare", |b| {
        b.iter(|| Router::new(black_box(&rules)))
    });

    let router = Router::new(&rules);
    let mut whole = c.benchmark_group("route/router");
    whole.throughput(Throughput::Elements(messages.len() as u64));
    whole.bench_function("corpus", |b| {
        b.iter(|| {
            for (_, message) in &messages {
                black_box(router.decide(black_box(message)));
            }
        })
    });
    whole.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(600))
        .sample_size(20);
    targets = bench_route
}
criterion_main!(benches);
