//! Fuzz target: see `mailpull_fuzz::routing`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpull_fuzz::routing(data));
