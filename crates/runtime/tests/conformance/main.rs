//! The runtime conformance suite: the same scenarios on berth-runtime and on
//! the reference runtimes runc and crun, asserting the same observable
//! results (exit codes, `state` JSON, what the container sees).
//!
//! Every scenario is a module with one test per runtime, so the output says
//! which runtime passes what: `lifecycle::create_blocks_until_start::runc`.
//! `BERTH_TEST_RUNTIMES=runc,crun` selects runtimes (default: all three); a
//! test of an unselected runtime passes at once, printing `SKIP`. Features a
//! reference runtime lacks are declared with [`support::lacks`], which also
//! prints `SKIP` with the reason; the list is in README.md beside this file.
//!
//! Needs root, a real kernel, busybox-static, runc and crun (scripts/setup).

#[macro_use]
mod support;

mod bad_input;
mod capabilities;
mod cgroups;
mod cli;
mod devices;
mod exec;
mod hooks;
mod lifecycle;
mod mounts;
mod namespaces;
mod process;
mod resources;
mod seccomp;
mod security;
mod userns;
mod view;
