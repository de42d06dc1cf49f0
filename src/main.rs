//! The `onecard` binary: parse the command line and hand over to the library.

fn main() -> anyhow::Result<()> {
    onecard::cli::run()
}
