//! OCI seccomp profiles compiled to BPF and installed in the calling thread.
