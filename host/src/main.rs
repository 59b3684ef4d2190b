//! The `krog` binary; everything lives in the library (`krog::cli`).

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    krog::cli::main()
}

/// glibc gives threads that allocate at once arenas of their own (up to 8 per core) and keeps
/// what they freed: plugin compiles on blocking threads left ~40 MB resident for good, and
/// under load the process held ~17 MB more than with one arena per core, for no speed
/// (BENCHMARKS.md, third session). `MALLOC_ARENA_MAX` in the environment still decides.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
    // SAFETY: runs first in `main`, before any other thread exists; mallopt only changes a
    // setting of the allocator.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, arenas);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
