//! The `onecard` binary: parse the command line and hand over to the library.

/// mimalloc instead of the system allocator: the callback path allocates many small,
/// short-lived buffers (XML, base64, JSON), and glibc's malloc was ~17% of a profile under
/// load (benches/load). The library does not choose an allocator; only the binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    onecard::cli::run()
}
