//! cgroups v1, v2 and the hybrid layout behind one interface.
//!
//! Owns everything under the cgroup filesystems for one container: creating the
//! group, applying `linux.resources`, freezing, stats, listing and removing.
//! It must not touch namespaces, mounts or processes beyond writing pids into
//! `cgroup.procs`.
