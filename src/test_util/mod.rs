//! Helpers for the crate's own tests: in-memory parts for testing the pipeline's
//! semantics without servers (every real source and sink is tested against its real
//! server in `tests/`).

pub mod mock;
