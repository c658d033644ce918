//! The retry policy of a poll, as pure functions: whether a failure belongs to one message
//! (skip it, go on with the rest) or to the server as a whole (stop the poll).

use crate::deliver::DeliveryError;

/// Messages deferred (4xx) one after the other by the local server that make the deferral
/// the server's, not a message's: the poll stops there.
pub const DEFERRED_IN_A_ROW_STOP: usize = 3;

/// Whether a deferral belongs to the message in hand (skip it, go on with the rest) rather than
/// to the local server as a whole (stop the poll): only a 4xx reply to this transaction, and
/// fewer than [`DEFERRED_IN_A_ROW_STOP`] of them in a row. An unreachable server, TLS trouble
/// or a run of 4xx replies stop the poll.
pub fn skips_one_message(err: &DeliveryError, deferred_in_a_row: usize) -> bool {
    // 421: the server is closing the channel, not judging the message.
    let one_message =
        matches!(err, DeliveryError::Transient { reply, .. } if !reply.contains("(421)"));
    one_message && deferred_in_a_row < DEFERRED_IN_A_ROW_STOP
}
