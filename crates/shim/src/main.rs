//! `berth-shim`: see the `berth_shim` crate documentation for the command
//! line, the state directory and the control-socket protocol.

use berth_shim::config::{Config, Parsed, USAGE};
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    // Before anything is opened: nothing the spawner leaked may reach the
    // runtime or the container.
    berth_shim::sys::close_inherited_fds();
    match Config::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(cfg)) => berth_shim::daemon::run(*cfg),
        Ok(Parsed::Help) => {
            let _ = std::io::stdout().write_all(USAGE.as_bytes());
            ExitCode::SUCCESS
        }
        Ok(Parsed::Version) => {
            let _ = writeln!(std::io::stdout(), "berth-shim {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let v = serde_json::json!({"ok": false, "error": e.to_string(), "stage": "shim"});
            let _ = writeln!(std::io::stdout(), "{v}");
            let _ = writeln!(std::io::stderr(), "berth-shim: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
