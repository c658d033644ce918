//! Fuzz target: see `mailpull_fuzz::pop3_parsers`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| mailpull_fuzz::pop3_parsers(data));
