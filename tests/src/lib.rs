//! Test servers for Mailpull.
