//! `cargo run -p berth-image --example push -- --root DIR [--insecure HOST]
//! [--ca HOST=FILE] [--user U:P] SOURCE [DESTINATION]`: pushes a local image,
//! tagging it DESTINATION first when given.

mod common;

fn main() {
    if let Err(e) = run() {
        common::report(&e);
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = common::parse("push --root DIR [--insecure HOST] [--ca HOST=FILE] [--user U:P] SOURCE [DESTINATION]")?;
    let (src, dest) = match args.positional.as_slice() {
        [s] => (s.clone(), s.clone()),
        [s, d] => (s.clone(), d.clone()),
        _ => anyhow::bail!("expected SOURCE [DESTINATION]"),
    };
    let store = args.store()?;
    if dest != src {
        store.tag(&src, &dest)?;
    }
    let digest = common::runtime()?.block_on(store.push(&dest, &args.auth(), &args.progress()))?;
    println!("{digest}");
    Ok(())
}
