//! TODO(skeleton): deliver
