//! The `kirim` binary: everything lives in the library (`kirim::cli`).
fn main() -> std::process::ExitCode {
    kirim::cli::main()
}
