//! Fuzz target: see `mailpull_fuzz::ipc_frame`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpull_fuzz::ipc_frame(data));
