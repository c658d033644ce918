//! Fuzz target: see `mailpull_fuzz::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpull_fuzz::config(data));
