//! The `kirim` binary: everything lives in the library (`kirim::cli`).

/// `--features mimalloc`: mimalloc instead of the system allocator (BENCHMARKS.md,
/// "Allocator", has the measurement behind keeping it optional).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kirim::cli::main()
}
