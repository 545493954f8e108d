//! docker's credential helpers (`credsStore`), through the pull example run
//! with its own `PATH` and `DOCKER_CONFIG`.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use berth_test_support::registry::{self, Options, Registry};

fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let p = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(p.is_file(), "{} not built (cargo test builds examples)", p.display());
    p
}

#[test]
fn creds_store_helper_supplies_basic_credentials() {
    let reg = Registry::with(Options { basic_auth: Some(("berth".into(), "s3cret".into())), ..Default::default() });
    let layout = registry::busybox_layout();
    reg.push_layout(layout.path(), "helper/busybox:latest");
    let home = berth_test_support::temp_dir("docker-home-");
    let bin = home.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-berthtest");
    std::fs::write(
        &helper,
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nurl=$(cat)\ncase \"$url\" in\n  127.0.0.1:*) printf '{\"ServerURL\":\"%s\",\"Username\":\"berth\",\"Secret\":\"s3cret\"}' \"$url\" ;;\n  *) echo 'credentials not found in native keychain'; exit 1 ;;\nesac\n",
    )
    .unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(home.path().join("config.json"), r#"{"auths":{},"credsStore":"berthtest"}"#).unwrap();
    let root = berth_test_support::temp_dir("image-store-");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let reference = format!("{}/helper/busybox:latest", reg.addr());
    let run = |cfg_dir: &std::path::Path| {
        Command::new(example("pull"))
            .arg("--root")
            .arg(root.path())
            .arg("-q")
            .arg(&reference)
            .env("PATH", &path)
            .env("DOCKER_CONFIG", cfg_dir)
            .output()
            .unwrap()
    };
    let out = run(home.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&layout.manifest_digest));

    // a helper that is not installed is named in the error
    let other = berth_test_support::temp_dir("docker-home-");
    std::fs::write(other.path().join("config.json"), r#"{"credsStore":"missing"}"#).unwrap();
    let out = run(other.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("docker-credential-missing"), "{err}");
}
