//! TODO(skeleton): source
