//! TODO(skeleton): poll
