//! berth-engine: containers, execs, events, restart policies, volumes and
//! live restore, on top of berth-image (images, snapshots), berth-shim (one
//! monitor process per container) and any OCI runtime with runc's command line.
//!
//! What it owns: the container records (one redb database plus plain files
//! under `<data_root>/containers/<id>/`), the one place that turns image config
//! plus user options into an OCI `config.json` ([`oci::generate`]), spawning
//! and re-attaching shims, restart policies, the event bus, named volumes.
//! What it must not touch: HTTP or Docker's JSON (the API crates convert
//! [`spec`] and [`model`] types), layer extraction (berth-snapshots), registry
//! protocols (berth-image), a container's processes other than through the
//! runtime and the shim.
//!
//! # Use
//!
//! ```no_run
//! # async fn f() -> berth_engine::Result<()> {
//! use berth_engine::{Engine, EngineConfig, spec::ContainerSpec, model::StopOptions};
//! let engine = Engine::open(EngineConfig::default()).await?;
//! let spec = ContainerSpec { image: "busybox".into(), cmd: Some(vec!["sleep".into(), "60".into()]), ..Default::default() };
//! let created = engine.create(spec).await?;
//! engine.start(&created.id).await?;
//! engine.stop(&created.id, StopOptions::default()).await?;
//! engine.remove(&created.id, Default::default()).await?;
//! # Ok(()) }
//! ```
//!
//! Containers are named in every call by full id, unique id prefix, or name
//! (with or without a leading `/`), as docker resolves them.
//!
//! # Live restore
//!
//! Always on: [`Engine::open`] reads every record, finds each container's
//! shim (`<exec_root>/shims/<id>/`) and re-attaches; containers whose shim
//! is gone are marked exited with the code the shim recorded; leftovers of a
//! daemon killed mid-create are removed. [`Engine::shutdown`] stops the
//! engine's tasks and leaves every container running.
//!
//! # API stability (for berth-api-docker)
//!
//! The method signatures below are the contract. Changes are announced in
//! the doc comment of the method that changes.

pub mod config;
pub mod error;
pub mod model;
pub mod oci;
pub mod spec;
pub mod time;

mod archive;
mod container;
mod engine;
mod events;
mod exec;
mod images;
mod logs;
mod names;
pub mod network;
mod restart;
mod restore;
mod runtime;
mod shim;
mod stats;
mod store;
mod volumes;

pub use config::{EngineConfig, LogDefaults, NetworkDefaults, RuntimeHandler};
pub use engine::{AttachIo, Created, Duplex, Engine, ExecStarted, WaitResult};
pub use error::{Error, ErrorKind, Result, StartFailure};
pub use events::EventStream;
pub use berth_image::{Auth, Image, ImageConfigFile, Platform, Progress};
pub use network::{NetworkInfo, NetworkOptions};
