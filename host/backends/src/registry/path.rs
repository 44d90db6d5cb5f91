//! Canonical registry key paths (placeholder, being written).
