//! Extracts e-mail addresses from header values (RFC 5322 address lists, tolerant of what real
//! mailers write) and normalises them for matching and for use as an SMTP RCPT TO address.
//!
//! Understood: display names (plain, quoted, RFC 2047 encoded words, raw 8-bit), angle
//! brackets, groups (`undisclosed-recipients:;`, `team: a@x, b@y;`), comments `(…)` anywhere,
//! quoted local parts (`"john doe"@x`), obsolete routes (`<@relay:a@x>`), domain literals, and
//! sloppy input: bare addresses, space-separated lists, missing commas, unclosed quotes,
//! brackets or comments. Nothing here panics on any bytes.
//!
//! Normalisation: domains are lowercased and converted to ASCII (punycode) with IDNA; local parts
//! are lowercased (so matching and aliases are case-insensitive, and the RCPT TO address has a
//! lowercase local part) and lose a `+tag` when a recipient delimiter is set.
//!
//! - [`list`]: the tokenizer and [`parse_address_list`] ([`Mailbox`]).
//! - [`normalize`]: [`NormalAddress`], domain and local-part normalisation, configured addresses.

pub mod list;
pub mod normalize;

pub use list::{Mailbox, parse_address_list};
pub use normalize::{
    MAX_LOCAL_PART, NormalAddress, normalize_domain, normalize_local, normalize_mailbox,
    parse_configured_address,
};

#[cfg(test)]
mod tests;
