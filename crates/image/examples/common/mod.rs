// Shared argument handling of the examples (included with `#[path]`).
#![allow(dead_code)]

use std::path::PathBuf;

pub struct Args {
    pub root: PathBuf,
    pub platform: Option<String>,
    pub insecure: Vec<String>,
    pub ca: Vec<(String, PathBuf)>,
    pub quiet: bool,
    pub changes: Vec<String>,
    pub user: Option<(String, String)>,
    pub positional: Vec<String>,
}

pub fn parse(usage: &str) -> anyhow::Result<Args> {
    let mut a = Args { root: PathBuf::new(), platform: None, insecure: vec![], ca: vec![], quiet: false, changes: vec![], user: None, positional: vec![] };
    let mut root = None;
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| anyhow::anyhow!("{name} needs a value\nusage: {usage}"));
        match arg.as_str() {
            "--root" => root = Some(PathBuf::from(val("--root")?)),
            "--platform" => a.platform = Some(val("--platform")?),
            "--insecure" => a.insecure.push(val("--insecure")?),
            "--ca" => {
                let v = val("--ca")?;
                let (host, file) = v.split_once('=').ok_or_else(|| anyhow::anyhow!("--ca takes HOST=FILE"))?;
                a.ca.push((host.to_owned(), file.into()));
            }
            "--change" | "-c" => a.changes.push(val("--change")?),
            "--user" | "-u" => {
                let v = val("--user")?;
                let (u, p) = v.split_once(':').ok_or_else(|| anyhow::anyhow!("--user takes USER:PASSWORD"))?;
                a.user = Some((u.to_owned(), p.to_owned()));
            }
            "--quiet" | "-q" => a.quiet = true,
            "-h" | "--help" => {
                println!("usage: {usage}");
                std::process::exit(0);
            }
            s if s.starts_with("--") => anyhow::bail!("unknown option {s}\nusage: {usage}"),
            _ => a.positional.push(arg),
        }
    }
    a.root = root.ok_or_else(|| anyhow::anyhow!("--root is required\nusage: {usage}"))?;
    Ok(a)
}

impl Args {
    pub fn store(&self) -> anyhow::Result<berth_image::ImageStore> {
        let mut registries = berth_image::RegistryConfig { insecure: self.insecure.clone(), ..Default::default() };
        for (h, f) in &self.ca {
            registries.ca_files.entry(h.clone()).or_default().push(f.clone());
        }
        Ok(berth_image::ImageStore::open(&self.root, berth_image::StoreConfig { registries })?)
    }

    pub fn auth(&self) -> berth_image::Auth {
        match &self.user {
            Some((u, p)) => berth_image::Auth::Basic { username: u.clone(), password: p.clone() },
            None => berth_image::Auth::Default,
        }
    }

    pub fn progress(&self) -> berth_image::Progress {
        if self.quiet {
            return berth_image::Progress::none();
        }
        berth_image::Progress::new(|e| {
            use berth_image::Event::*;
            match e {
                Downloading { .. } | Extracting { .. } | Pushing { .. } => {}
                other => eprintln!("{other:?}"),
            }
        })
    }
}

pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

/// Prints the error chain as a person wants to read it.
pub fn report(e: &anyhow::Error) {
    eprint!("error: {e}");
    for cause in e.chain().skip(1) {
        eprint!(": {cause}");
    }
    eprintln!();
}
