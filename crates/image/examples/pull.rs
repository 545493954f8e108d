//! `cargo run -p berth-image --example pull -- --root DIR [--platform os/arch]
//! [--insecure HOST] [--ca HOST=FILE] [--user U:P] [-q] REFERENCE`

mod common;

fn main() {
    if let Err(e) = run() {
        common::report(&e);
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = common::parse("pull --root DIR [--platform os/arch] [--insecure HOST] [--ca HOST=FILE] [--user U:P] [-q] REFERENCE")?;
    let [reference] = args.positional.as_slice() else { anyhow::bail!("expected exactly one REFERENCE") };
    let store = args.store()?;
    let platform = args.platform.as_deref().map(berth_image::Platform::parse).transpose()?;
    let start = std::time::Instant::now();
    let img = common::runtime()?.block_on(store.pull(reference, platform.as_ref(), &args.auth(), &args.progress()))?;
    println!("{} {} {:.3}s", img.record.manifest_digest, img.id, start.elapsed().as_secs_f64());
    Ok(())
}
