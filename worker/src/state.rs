//! TODO(skeleton): state
