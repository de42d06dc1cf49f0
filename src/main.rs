//! The `onecard` binary: parse the command line and hand over to the library.

/// jemalloc instead of the system allocator. The callback path allocates many small,
/// short-lived buffers (XML, base64, JSON), and glibc's malloc was ~17% of a profile under load
/// (benches/load). Its background thread also returns freed memory to the OS on a timer, even
/// when the worker threads that allocated it have gone idle: a burst of users leaves nothing
/// resident once their dedup and replay entries expire (docs/PERFORMANCE.md, memory). The
/// library does not choose an allocator; only the binary does.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> anyhow::Result<()> {
    onecard::cli::run()
}
