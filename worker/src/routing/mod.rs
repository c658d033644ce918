//! Routing: which local mailboxes a message goes to (multi-drop), as pure functions.
//!
//! A catch-all mailbox at the ISP holds mail for many local users. [`decide()`] reads a raw
//! message and the [`Rules`] and returns a [`Decision`]: the exact RCPT TO addresses, the header
//! each came from, whether the fallback was used, and a reason in plain words. No I/O.
//!
//! - [`rules`]: the configuration ([`Rules`], defaults, [`Rules::validate`]).
//! - [`parse`]: header splitting and Received headers (`for` clauses, loop marker).
//! - [`address`]: address-list parsing and normalisation (case, IDN, `+tag`, quoting).
//! - [`decide`](mod@decide): the evaluator ([`decide()`], [`Router`], [`loop_marker`]).
//! - [`profile`]: a profile's [`Rules`] and [`Route`] (single-drop or the router), from its
//!   checked configuration.
//!
//! Matching is case-insensitive: domains compare in lowercase ASCII (punycode) form and local
//! parts are lowercased, so recipients always have a lowercase local part.

pub mod address;
pub mod decide;
pub mod parse;
pub mod profile;
pub mod rules;

pub use decide::{Decision, FALLBACK_SOURCE, Recipient, Router, decide, loop_marker};
pub use profile::{Route, rules_for};
pub use rules::{DEFAULT_ENVELOPE_HEADERS, DEFAULT_VISIBLE_HEADERS, Rules, RulesError};
