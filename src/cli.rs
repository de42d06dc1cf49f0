//! Command line (being written).
pub fn run() -> anyhow::Result<()> {
    Ok(())
}
