//! TODO(skeleton): scheduler
