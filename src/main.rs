//! The `pmflow` binary: parses the command line and hands over to [`cli`].

mod cli;

/// mimalloc keeps freed memory for reuse, where glibc malloc returns the large column
/// buffers of every parsed part to the kernel and pays page faults to get them back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // No transparent huge pages: mimalloc asks for them, and every thread's first
    // touch of its heap then zeroes 2 MiB (a third of the CPU of ingesting small
    // files). Failing is harmless: it is only slower.
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and changes no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
    cli::main()
}
