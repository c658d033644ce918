//! TODO(skeleton): tls
