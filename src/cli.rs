//! Command line (lead: being wired).
pub fn run() -> anyhow::Result<()> {
    Ok(())
}
