//! Integration tests of the worker.

mod import;
mod routing;
