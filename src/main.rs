//! The `pmflow` binary: parses the command line and hands over to [`cli`].

mod cli;

/// jemalloc instead of glibc malloc: every file builds and frees many small Arrow
/// buffers, often on different threads, which glibc's arenas serve slowly (~20 % more
/// CPU on 5,000 small files; see the README's benchmarks).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
