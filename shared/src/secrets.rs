//! Password sources.
