//! The `berth` binary: everything is in the `berth_cli` library.

fn main() {
    std::process::exit(berth_cli::main_with_args());
}
