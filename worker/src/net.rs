//! TODO(skeleton): net
