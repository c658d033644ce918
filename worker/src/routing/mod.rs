//! Routing: which local mailboxes a message goes to.
