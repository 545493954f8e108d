//! The processes that become the container: the init process made by
//! `create` ([`init`]) and the extra processes made by `exec` ([`exec`]),
//! the channel they talk to the runtime over ([`sync`]), and the set-up they
//! share ([`setup`], [`console`]).

pub mod console;
pub mod exec;
pub mod init;
pub mod setup;
pub mod sync;
