//! `berth system ...` and the top-level system verbs.

pub mod df;
pub mod events;
pub mod info;
pub mod login;
pub mod prune;
pub mod version;
