//! The Docker Engine API on top of berth-engine (work in progress).
