//! `berth login` / `berth logout`: registry credentials, checked by the
//! daemon (`POST /auth`) and kept in docker's `config.json` (shared with
//! the docker CLI; credential helpers honoured).

use std::io::{BufRead, Read, Write};

use berth_docker_types::system::{AuthConfig, AuthResponse};

use crate::app::Ctx;
use crate::error::StatusError;
use crate::flags::{Args, Flag, Matches, Spec, b, vs};
use crate::reference::INDEX_SERVER;

static FLAGS: &[Flag] = &[
    vs(
        'p',
        "password",
        "string",
        "Password or Personal Access Token (PAT)",
    ),
    b(
        "password-stdin",
        "Take the Password or Personal Access Token (PAT) from stdin",
    ),
    vs('u', "username", "string", "Username"),
];

pub static SPEC: Spec = Spec::new(
    "login",
    "[OPTIONS] [SERVER]",
    "Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.",
    FLAGS,
    Args::Max(1),
);
pub static LOGOUT_SPEC: Spec = Spec::new(
    "logout",
    "[SERVER]",
    "Log out from a registry.\nIf no server is specified, the default is defined by the daemon.",
    &[],
    Args::Max(1),
);

/// The key docker uses for a server argument.
fn server_key(arg: Option<&String>) -> String {
    match arg.map(|s| s.trim()) {
        None | Some("") => INDEX_SERVER.to_owned(),
        Some(s) => {
            let bare = s
                .trim_start_matches("https://")
                .trim_start_matches("http://")
                .trim_end_matches('/');
            let host = bare.split('/').next().unwrap_or(bare);
            if matches!(
                host,
                "docker.io" | "index.docker.io" | "registry-1.docker.io"
            ) {
                INDEX_SERVER.to_owned()
            } else {
                host.to_owned()
            }
        }
    }
}

fn read_password_no_echo() -> anyhow::Result<String> {
    let raw = crate::term::is_tty(crate::term::STDIN);
    let guard = if raw { Some(NoEcho::enter()?) } else { None };
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    drop(guard);
    if raw {
        crate::commands::eprintln("");
    }
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// Turns echo off while a password is typed.
struct NoEcho(nix::sys::termios::Termios);

impl NoEcho {
    fn enter() -> anyhow::Result<NoEcho> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        let fd = std::io::stdin();
        let saved = tcgetattr(&fd)?;
        let mut t = saved.clone();
        t.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(fd, SetArg::TCSANOW, &t)?;
        Ok(NoEcho(saved))
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.0,
        );
    }
}

pub fn run(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let server = server_key(m.args.first());
    let mut user = m.str("username").trim().to_owned();
    let mut password = m.str("password").to_owned();
    if !password.is_empty() {
        crate::commands::eprintln(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.",
        );
        if m.bool("password-stdin") {
            return Err(StatusError::new(
                1,
                "--password and --password-stdin are mutually exclusive",
            ));
        }
    }
    if m.bool("password-stdin") {
        if user.is_empty() {
            return Err(StatusError::new(
                1,
                "Must provide --username with --password-stdin",
            ));
        }
        let mut s = String::new();
        std::io::stdin().lock().read_to_string(&mut s)?;
        password = s.trim_end_matches(['\n', '\r']).to_owned();
    }
    let mut cfg = ctx.config();
    let stored = cfg.get_auth(&server).ok().flatten();
    let interactive = crate::term::is_tty(crate::term::STDIN);
    if user.is_empty() || password.is_empty() {
        if !interactive {
            if user.is_empty()
                && password.is_empty()
                && let Some(a) = &stored
            {
                // credentials already stored: check them
                user = a.username.clone();
                password = a.password.clone();
            } else {
                return Err(StatusError::new(
                    1,
                    "Cannot perform an interactive login from a non TTY device",
                ));
            }
        } else {
            if user.is_empty() {
                let default = stored
                    .as_ref()
                    .map(|a| a.username.clone())
                    .unwrap_or_default();
                let mut out = std::io::stdout().lock();
                if default.is_empty() {
                    write!(out, "Username: ")?
                } else {
                    write!(out, "Username ({default}): ")?
                }
                out.flush()?;
                let mut l = String::new();
                std::io::stdin().lock().read_line(&mut l)?;
                user = l.trim().to_owned();
                if user.is_empty() {
                    user = default;
                }
                if user.is_empty() {
                    return Err(StatusError::new(1, "Error: Non-null Username Required"));
                }
            }
            if password.is_empty() {
                let mut out = std::io::stdout().lock();
                write!(out, "Password: ")?;
                out.flush()?;
                drop(out);
                password = read_password_no_echo()?;
                if password.is_empty() {
                    return Err(StatusError::new(1, "Error: Password Required"));
                }
            }
        }
    }
    let req = AuthConfig {
        username: user.clone(),
        password: password.clone(),
        serveraddress: server.clone(),
        ..Default::default()
    };
    let resp: AuthResponse = ctx.client()?.post_json("/auth", &req)?;
    if resp.identity_token.is_empty() {
        cfg.store_auth(&server, &user, &password)?;
    } else {
        cfg.store_auth(&server, "<token>", &resp.identity_token)?;
    }
    crate::commands::println(if resp.status.is_empty() {
        "Login Succeeded"
    } else {
        &resp.status
    })?;
    Ok(())
}

pub fn logout(ctx: &Ctx, m: &Matches) -> anyhow::Result<()> {
    let server = server_key(m.args.first());
    let mut cfg = ctx.config();
    if cfg.get_auth(&server).ok().flatten().is_none() {
        crate::commands::println(&format!("Not logged in to {server}"))?;
        return Ok(());
    }
    crate::commands::println(&format!("Removing login credentials for {server}"))?;
    cfg.remove_auth(&server)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_keys() {
        assert_eq!(server_key(None), INDEX_SERVER);
        assert_eq!(server_key(Some(&"docker.io".to_owned())), INDEX_SERVER);
        assert_eq!(
            server_key(Some(&"127.0.0.1:5000".to_owned())),
            "127.0.0.1:5000"
        );
        assert_eq!(
            server_key(Some(&"https://reg.example/v2/".to_owned())),
            "reg.example"
        );
    }
}
