//! Fuzz target: see `mailpull_fuzz::import`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpull_fuzz::import(data));
