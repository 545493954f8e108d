//! `cargo run -p berth-image --example import -- --root DIR [--change 'CMD ["sh"]']...
//! FILE|- [REFERENCE]`: docker import of a rootfs tarball (plain, gzip or zstd).

mod common;

fn main() {
    if let Err(e) = run() {
        common::report(&e);
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = common::parse("import --root DIR [--change INSTRUCTION]... FILE|- [REFERENCE]")?;
    let (file, reference) = match args.positional.as_slice() {
        [f] => (f.clone(), None),
        [f, r] => (f.clone(), Some(r.clone())),
        _ => anyhow::bail!("expected FILE [REFERENCE]"),
    };
    let mut changes = Vec::new();
    for c in &args.changes {
        changes.extend(berth_image::Change::parse(c)?);
    }
    let store = args.store()?;
    let input: Box<dyn std::io::Read + Send> = if file == "-" { Box::new(std::io::stdin()) } else { Box::new(std::fs::File::open(&file)?) };
    let img = common::runtime()?.block_on(store.import(input, reference.as_deref(), &changes))?;
    println!("{}", img.id);
    Ok(())
}
