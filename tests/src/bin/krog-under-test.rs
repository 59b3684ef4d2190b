//! The `krog` program, built as a target of this crate so that cargo builds it (fresh) for
//! the process-level tests and hands them its path in `CARGO_BIN_EXE_krog-under-test`.

fn main() -> std::process::ExitCode {
    krog::cli::main()
}
