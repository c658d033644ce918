//! A getmailrc to a Mailpull profile: [`ini`] reads getmail's INI dialect (continuation
//! lines, Python tuples), [`map`] maps `[retriever]`, `[destination]` and `[options]`. Pure.

pub mod ini;
pub mod map;

pub use map::import;
