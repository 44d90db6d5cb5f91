//! The simulated Defender (placeholder, being written).
