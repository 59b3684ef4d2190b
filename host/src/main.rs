//! The `krog` binary; everything lives in the library (`krog::cli`).

fn main() -> std::process::ExitCode {
    krog::cli::main()
}
