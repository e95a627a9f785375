//! Serves the emulated Image Factory on 127.0.0.1 until killed, for manual measurements
//! (`talos-hcloud sim` serves it with the whole emulator): prints the base URL on the
//! first line of stdout.
//!
//! Usage: `factory_serve [IMAGE_SIZE_BYTES] [CACHE_DIR]` (default 1246 MiB, a temp dir).

use talos_hcloud::sim::factory::{Factory, FactoryConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut config = FactoryConfig::default();
    if let Some(size) = args.next() {
        config.image_size = size.parse()?;
    }
    config.cache_dir = args.next().map(Into::into);
    let factory = Factory::start(config).await?;
    println!("{}", factory.url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
