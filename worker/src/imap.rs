//! TODO(skeleton): imap
