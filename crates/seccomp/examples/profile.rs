//! Prints Docker's default profile resolved for a capability set as the OCI
//! `linux.seccomp` object, ready to paste into a config.json:
//! `cargo run -p berth-seccomp --example profile -- CAP_CHOWN CAP_KILL ...`

fn main() {
    let caps: Vec<String> = std::env::args().skip(1).collect();
    let profile = berth_seccomp::default_profile(&caps);
    match serde_json::to_string_pretty(&profile) {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("profile: cannot serialise: {e}");
            std::process::exit(1);
        }
    }
}
