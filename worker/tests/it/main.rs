//! Integration tests of the worker.

mod routing;
