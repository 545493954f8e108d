//! Container lifecycle.
