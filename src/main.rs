use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: under load, glibc spent about a
/// seventh of a point read's CPU in malloc and free, and its per-thread
/// arenas grew RSS (BENCHMARKS.md, "Where a point read's time goes").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> ExitCode {
    climate_tracker::cli::run().await
}
