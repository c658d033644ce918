//! Test servers for Mailpull.

pub mod fake_smtp;
pub mod proxy;
