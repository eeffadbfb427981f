//! The `kirim` binary: everything lives in the library (`kirim::cli`).

/// Feature `mimalloc` (on by default): mimalloc instead of the system allocator
/// (BENCHMARKS.md, "Performance, round four", has the measurement; round two's,
/// with two runtime threads per worker, had found no win).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    kirim::cli::main()
}
