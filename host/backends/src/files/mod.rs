//! Rooted file directories (placeholder, being written).
