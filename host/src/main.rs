//! The `krog` binary; everything lives in the library (`krog::cli`).

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    limit_malloc_arenas();
    #[cfg(feature = "mimalloc")]
    tune_mimalloc();
    krog::cli::main()
}

/// mimalloc keeps freed pages for a second before it returns them: with its defaults krog held
/// 177-207 MB under load, against 81-86 MB with glibc. Transparent huge pages off (the
/// `no_thp` build feature) and freed pages returned at once bring that to 96-104 MB
/// (BENCHMARKS.md, "Memory"). A `MIMALLOC_PURGE_DELAY` in the environment wins.
#[cfg(feature = "mimalloc")]
#[allow(unsafe_code)]
fn tune_mimalloc() {
    // The index of `mi_option_purge_delay` in the mimalloc.h that libmimalloc-sys =0.1.49
    // bundles (v3.3); the workspace pins that version exactly.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: setting an option is a plain store in mimalloc's option table, before any
        // thread but this one exists.
        unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
    }
}

/// glibc gives threads that allocate at once arenas of their own (up to 8 per core) and keeps
/// what they freed: plugin compiles on blocking threads left ~40 MB resident for good, and
/// under load the process held ~17 MB more than with one arena per core, for no speed
/// (BENCHMARKS.md, "Memory"). `MALLOC_ARENA_MAX` in the environment still decides.
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
