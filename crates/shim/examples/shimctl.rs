//! `shimctl STATE_DIR REQUEST_JSON`: sends one request to a shim and prints
//! the response line; for `attach` and `exec` with `attach:true` it then
//! copies the stream to stdout (stdcopy frames demultiplexed to stdout and
//! stderr without a terminal) and this process's stdin to the stream.
//!
//! ```sh
//! cargo run -p berth-shim --example shimctl -- /run/berth/shims/ID '{"op":"state"}'
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, req] = args.as_slice() else {
        eprintln!("usage: shimctl STATE_DIR REQUEST_JSON");
        return ExitCode::from(2);
    };
    let req: serde_json::Value = match serde_json::from_str(req) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("shimctl: request is not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let client = berth_shim::client::Client::new(std::path::Path::new(dir)).with_timeout(None);
    let streaming = req["op"] == "attach" || (req["op"] == "exec" && req["attach"] == true);
    if !streaming {
        return match client.request(&req) {
            Ok(v) => {
                println!("{v}");
                if v["ok"] == true { ExitCode::SUCCESS } else { ExitCode::from(1) }
            }
            Err(e) => {
                eprintln!("shimctl: {}", berth_shim::error_chain(&e));
                ExitCode::from(1)
            }
        };
    }
    let (v, mut stream) = match client.stream(&req) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("shimctl: {}", berth_shim::error_chain(&e));
            return ExitCode::from(1);
        }
    };
    eprintln!("{v}");
    if let Ok(mut w) = stream.try_clone() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut stdin = std::io::stdin();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = w.shutdown(std::net::Shutdown::Write);
        });
    }
    let terminal = v["terminal"] == true || req["terminal"] == true;
    if terminal {
        let _ = std::io::copy(&mut stream, &mut std::io::stdout());
    } else {
        while let Ok(Some((s, data))) = berth_shim::stdcopy::read_frame(&mut stream) {
            let _ = match s {
                berth_shim::Stream::Stdout => std::io::stdout().write_all(&data),
                berth_shim::Stream::Stderr => std::io::stderr().write_all(&data),
            };
        }
    }
    ExitCode::SUCCESS
}
