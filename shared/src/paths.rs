//! Default locations per OS.
