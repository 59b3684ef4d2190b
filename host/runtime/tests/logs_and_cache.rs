//! Log capping, stdout/stderr capture and the disk cache.

mod common;

use common::{event, hostile, runtime};
use krog_runtime::{FailureKind, Outcome, Runtime, RuntimeConfig};
use krog_test_components as test_plugins;

#[test]
fn a_log_flood_is_capped_with_a_dropped_lines_marker_and_still_delivers() {
    let runtime = runtime();
    let execution = runtime
        .transform(&hostile(runtime), &event(), "log-flood")
        .expect("a log flood is not an error");
    let limits = runtime.limits();
    assert_eq!(execution.logs.len(), limits.max_log_lines + 1);
    assert_eq!(execution.logs[0].message, "line 0");
    assert_eq!(execution.logs[0].level, "info");
    let last = execution.logs.last().unwrap();
    assert_eq!(
        last.message,
        format!("… {} lines dropped", 10_000 - limits.max_log_lines)
    );
    assert!(matches!(execution.outcome, Outcome::Deliver { .. }));
}

#[test]
fn stdout_and_stderr_are_captured_into_the_log() {
    let runtime = runtime();
    let execution = runtime
        .transform(&hostile(runtime), &event(), "print")
        .unwrap();
    let lines: Vec<(&str, &str)> = execution
        .logs
        .iter()
        .map(|l| (l.level.as_str(), l.message.as_str()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("stdout", "hello from stdout"),
            ("stderr", "hello from stderr")
        ]
    );
}

fn cached_runtime(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Default::default(),
        cache_dir: Some(dir.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("krog-runtime-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn a_second_runtime_with_the_same_cache_dir_loads_without_compiling() {
    let dir = temp_dir("cache");
    let first = cached_runtime(&dir);
    let module = first.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(first.stats().compiled, 1);
    assert!(dir.join(format!("{}.cwasm", module.sha256())).is_file());
    drop(first);

    let second = cached_runtime(&dir);
    let module = second.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(second.stats().compiled, 0);
    assert_eq!(second.stats().loaded_from_disk, 1);
    assert!(second.transform(&module, &event(), "ok").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupted_cached_artifact_is_recompiled() {
    let dir = temp_dir("corrupt");
    let first = cached_runtime(&dir);
    let sha = first
        .load(test_plugins::HOSTILE)
        .unwrap()
        .sha256()
        .to_string();
    drop(first);
    let path = dir.join(format!("{sha}.cwasm"));
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();

    let second = cached_runtime(&dir);
    let module = second.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(second.stats().artifacts_rejected, 1);
    assert_eq!(second.stats().compiled, 1);
    assert!(second.transform(&module, &event(), "ok").is_ok());

    // The rewritten artifact is good again.
    std::fs::write(&path, b"garbage").unwrap();
    let third = cached_runtime(&dir);
    third.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(third.stats().artifacts_rejected, 1);
    let fourth = cached_runtime(&dir);
    fourth.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(fourth.stats().loaded_from_disk, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same component with a custom section appended: same behaviour, other bytes and sha256.
fn variant(wasm: &[u8], n: u8) -> Vec<u8> {
    let mut out = wasm.to_vec();
    // Section id 0 (custom), 3 bytes: a 1-byte name "v", then the payload `n`.
    out.extend_from_slice(&[0, 3, 1, b'v', n]);
    out
}

#[test]
fn the_module_cache_keeps_the_most_recently_used_and_reloads_the_rest_from_disk() {
    let dir = temp_dir("lru");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.clone()),
        max_cached_modules: 2,
        ..Default::default()
    })
    .unwrap();
    let wasm: Vec<Vec<u8>> = (0..3).map(|n| variant(test_plugins::HOSTILE, n)).collect();
    let first = runtime.load(&wasm[0]).unwrap();
    let second = runtime.load(&wasm[1]).unwrap();
    runtime.load(&wasm[0]).unwrap(); // used again: now the most recent
    let third = runtime.load(&wasm[2]).unwrap(); // evicts the least recently used, wasm[1]
    assert_eq!(runtime.cached_modules(), 2);
    assert_eq!(runtime.stats().compiled, 3);
    assert!(runtime.get(second.sha256()).is_none());
    assert!(runtime.get(first.sha256()).is_some()); // (a use: wasm[2] is now the oldest)

    // An evicted module comes back from its artifact on disk, without compiling.
    let again = runtime.load(&wasm[1]).unwrap();
    assert_eq!(runtime.stats().compiled, 3);
    assert_eq!(runtime.stats().loaded_from_disk, 1);
    assert_eq!(runtime.cached_modules(), 2);
    assert!(runtime.transform(&again, &event(), "ok").is_ok());
    // A handle held across its eviction keeps working.
    assert!(runtime.get(third.sha256()).is_none());
    assert!(runtime.transform(&third, &event(), "ok").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

fn runtime_compiling_with(dir: &std::path::Path, compiler: &str) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        compiler: Some(compiler.into()),
        ..Default::default()
    })
    .unwrap()
}

/// A shell script at `path`, written by another process: an executable this process had open
/// for writing could be busy (ETXTBSY) when a child forked meanwhile by another test runs it.
#[cfg(unix)]
fn script(path: &std::path::Path, body: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '#!/bin/sh\\n{body}\\n' > '{0}' && chmod +x '{0}'",
            path.display()
        ))
        .status()
        .unwrap();
    assert!(status.success());
    path.to_path_buf()
}

#[cfg(unix)]
#[test]
fn a_compiler_child_that_cannot_do_its_work_leaves_the_compile_to_this_process() {
    // One that does not exist, one that answers nothing, one that fails by itself.
    for (n, compiler) in ["/nonexistent/krog", "true", "false"]
        .into_iter()
        .enumerate()
    {
        let dir = temp_dir(&format!("child-{n}"));
        let runtime = runtime_compiling_with(&dir, compiler);
        let module = runtime.load(test_plugins::HOSTILE).expect(compiler);
        assert_eq!(runtime.stats().compiled, 1, "{compiler}");
        assert_eq!(runtime.stats().compiled_in_child, 0, "{compiler}");
        assert!(
            runtime.transform(&module, &event(), "ok").is_ok(),
            "{compiler}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(unix)]
#[test]
fn a_compiler_child_that_is_killed_refuses_the_module_and_says_how_it_ended() {
    let dir = temp_dir("child-killed");
    let compiler = script(&dir.join("killed-compiler"), "kill -9 $$");
    let runtime = runtime_compiling_with(&dir.join("cache"), compiler.to_str().unwrap());
    let failure = runtime
        .load(test_plugins::HOSTILE)
        .expect_err("a compiler that is killed refuses the module");
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert_eq!(
        failure.message,
        "compiling the module failed: the compiler was killed by signal 9"
    );
    assert_eq!(runtime.stats().compiled, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_compile_that_runs_away_is_stopped_and_the_module_refused() {
    let dir = temp_dir("child-hangs");
    let compiler = script(&dir.join("hanging-compiler"), "exec sleep 30");
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.join("cache")),
        compiler: Some(compiler),
        compile_timeout: std::time::Duration::from_millis(300),
        ..Default::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    let failure = runtime
        .load(test_plugins::HOSTILE)
        .expect_err("a compile past its time refuses the module");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "the compiler was not stopped: {:?}",
        started.elapsed()
    );
    assert_eq!(failure.kind, FailureKind::InvalidModule);
    assert!(
        failure.message.contains("took longer than 0.3 s"),
        "{}",
        failure.message
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_cache_dir_that_other_users_may_write_to_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("open-cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let runtime = cached_runtime(&dir);
    let module = runtime.load(test_plugins::HOSTILE).unwrap();
    assert!(runtime.transform(&module, &event(), "ok").is_ok());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was cached where others could have planted code"
    );
    drop(runtime);

    // The same dir made private again is used.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let runtime = cached_runtime(&dir);
    let module = runtime.load(test_plugins::HOSTILE).unwrap();
    assert!(dir.join(format!("{}.cwasm", module.sha256())).is_file());
    let _ = std::fs::remove_dir_all(&dir);
}

fn runtime_with_key(dir: &std::path::Path, key: [u8; 32]) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_path_buf()),
        cache_key: Some(key),
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn an_artifact_written_under_another_cache_key_is_rejected_and_recompiled() {
    let dir = temp_dir("other-key");
    let first = runtime_with_key(&dir, [1; 32]);
    first.load(test_plugins::HOSTILE).unwrap();
    drop(first);

    // The same key, in a runtime that does not share the first one's memory: from disk.
    let same = runtime_with_key(&dir, [1; 32]);
    same.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(same.stats().loaded_from_disk, 1);
    assert_eq!(same.stats().compiled, 0);

    let other = runtime_with_key(&dir, [2; 32]);
    let module = other.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(other.stats().artifacts_rejected, 1);
    assert_eq!(other.stats().loaded_from_disk, 0);
    assert_eq!(other.stats().compiled, 1);
    assert!(other.transform(&module, &event(), "ok").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_artifact_with_a_bare_sha256_trailer_is_rejected_and_recompiled() {
    use sha2::Digest;
    let dir = temp_dir("bare-sha256");
    let first = cached_runtime(&dir);
    let sha = first
        .load(test_plugins::HOSTILE)
        .unwrap()
        .sha256()
        .to_string();
    drop(first);
    // What anyone who may write to the dir can produce: an artifact with its checksum.
    let path = dir.join(format!("{sha}.cwasm"));
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 32);
    let checksum = sha2::Sha256::digest(&bytes);
    bytes.extend_from_slice(&checksum);
    std::fs::write(&path, &bytes).unwrap();

    let second = cached_runtime(&dir);
    let module = second.load(test_plugins::HOSTILE).unwrap();
    assert_eq!(second.stats().artifacts_rejected, 1);
    assert_eq!(second.stats().loaded_from_disk, 0);
    assert_eq!(second.stats().compiled, 1);
    assert!(second.transform(&module, &event(), "ok").is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_artifact_filed_under_another_modules_sha256_is_rejected() {
    let dir = temp_dir("swapped");
    let first = cached_runtime(&dir);
    let a = first.load(test_plugins::HOSTILE).unwrap();
    let b = first.load(&variant(test_plugins::HOSTILE, 7)).unwrap();
    drop(first);
    std::fs::copy(
        dir.join(format!("{}.cwasm", a.sha256())),
        dir.join(format!("{}.cwasm", b.sha256())),
    )
    .unwrap();

    let second = cached_runtime(&dir);
    second.load(&variant(test_plugins::HOSTILE, 7)).unwrap();
    assert_eq!(second.stats().artifacts_rejected, 1);
    assert_eq!(second.stats().compiled, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_cache_dir_that_its_group_may_write_to_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("group-cache");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o770)).unwrap();
    let runtime = cached_runtime(&dir);
    let module = runtime.load(test_plugins::HOSTILE).unwrap();
    assert!(runtime.transform(&module, &event(), "ok").is_ok());
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was cached where the group could have planted code"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_at_the_ownership_probes_path_is_not_followed() {
    let dir = temp_dir("probe-symlink");
    std::fs::create_dir_all(&dir).unwrap();
    let victim = temp_dir("probe-victim");
    std::fs::create_dir_all(&victim).unwrap();
    let target = victim.join("precious");
    std::fs::write(&target, b"not to be truncated").unwrap();
    // The name the probe had when it was predictable.
    let planted = dir.join(format!(".krog-owner-probe.{}", std::process::id()));
    std::os::unix::fs::symlink(&target, &planted).unwrap();

    let runtime = cached_runtime(&dir);
    assert_eq!(std::fs::read(&target).unwrap(), b"not to be truncated");
    assert!(
        std::fs::symlink_metadata(&planted).is_ok(),
        "the planted link was touched"
    );
    // The dir itself is still ours and used.
    let module = runtime.load(test_plugins::HOSTILE).unwrap();
    assert!(dir.join(format!("{}.cwasm", module.sha256())).is_file());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&victim);
}
