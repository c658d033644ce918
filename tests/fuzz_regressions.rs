//! The fuzz targets' bodies (`fuzz/src/lib.rs`) run in plain `cargo test` over the seed
//! corpus (`fuzz/seeds/TARGET/`) and every input a fuzzer found a bug with
//! (`fuzz/regressions/TARGET/`; dotfiles and `.md` files skipped), so a fixed crash stays
//! fixed without cargo-fuzz or nightly.

#[path = "../fuzz/src/lib.rs"]
mod bodies;

use std::path::Path;

/// Runs `body` over every file of `fuzz/seeds/<target>` and `fuzz/regressions/<target>`;
/// returns how many inputs it ran.
fn run_inputs(target: &str, body: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut ran = 0;
    for dir in ["seeds", "regressions"] {
        let dir = root.join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if !path.is_file() || hidden || path.extension().is_some_and(|e| e == "md") {
                continue;
            }
            let data = std::fs::read(&path).expect("read input");
            let result = std::panic::catch_unwind(|| body(&data));
            assert!(result.is_ok(), "{} fails again", path.display());
            ran += 1;
        }
    }
    ran
}

#[test]
fn pop3_reply_inputs() {
    assert!(run_inputs("pop3_reply", bodies::pop3_reply) >= 6);
}

#[test]
fn pop3_parsers_inputs() {
    assert!(run_inputs("pop3_parsers", bodies::pop3_parsers) >= 6);
}

#[test]
fn routing_inputs() {
    assert!(run_inputs("routing", bodies::routing) >= 2);
}

#[test]
fn ipc_frame_inputs() {
    assert!(run_inputs("ipc_frame", bodies::ipc_frame) >= 4);
}

#[test]
fn import_inputs() {
    assert!(run_inputs("import", bodies::import) >= 10);
}

#[test]
fn config_inputs() {
    assert!(run_inputs("config", bodies::config) >= 2);
}
