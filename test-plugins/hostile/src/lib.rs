//! A deliberately misbehaving krog plugin, used by the runtime's tests.
//!
//! It implements the real `transformer` world (bound with wit-bindgen directly, not the SDK), and
//! its behaviour is chosen by the config string: `loop`, `memory`, `recursion`, `panic`, `big`,
//! `reserved-header`, `err`, `err-huge`, `fake-panic`, `log-flood`, `log-huge`, `print`, `sleep`,
//! `sleep-long`, `ok`, and `count` (delivers how many times this instance has been called: state
//! kept between calls, which plugins must not rely on, and which shows whether the host reused an
//! instance). On krog's sample events (ids starting `evt_sample_`, run when a subscription is
//! saved) it skips, as a plugin bent on harm could.

// The bindings wit-bindgen generates for the host target trip this lint; they are not ours.
#![allow(clippy::too_many_arguments)]

wit_bindgen::generate!({
    path: "../../plugin-sdk/wit",
    world: "transformer",
});

// The world's `use types.{…}` already brings Event, Outcome, PluginInfo and LogLevel in scope.
use krog::plugin::types::Request;

struct Hostile;

fn deliver(body: Vec<u8>, headers: Vec<(String, String)>) -> Outcome {
    Outcome::Deliver(Request {
        content_type: "text/plain".to_string(),
        headers,
        body,
    })
}

#[inline(never)]
#[allow(unconditional_recursion)] // endless on purpose: it must overflow the stack
fn recurse(depth: u64, buf: &mut [u8; 64]) -> u64 {
    let mut local = [0u8; 256];
    local[(depth % 256) as usize] = buf[(depth % 64) as usize].wrapping_add(1);
    let next = recurse(depth + 1, &mut [local[0]; 64]);
    std::hint::black_box(&local);
    next + u64::from(local[(depth % 256) as usize])
}

impl Guest for Hostile {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "hostile".to_string(),
            version: "0.1.0".to_string(),
            description: "Misbehaves on purpose, as the config says.".to_string(),
            config_schema: r#"{"type":"string","enum":["loop","memory","recursion","panic","big","reserved-header","err","err-huge","fake-panic","log-flood","log-huge","print","ok","count","sleep","sleep-long"]}"#.to_string(),
        }
    }

    fn transform(event: Event, config: String) -> Result<Outcome, String> {
        // krog tries a subscription's transform on sample events when it is saved; this
        // plugin behaves there, so that a subscription with a misbehaving config can be saved
        // and its deliveries show how krog copes.
        if event.id.starts_with("evt_sample_") {
            return Ok(Outcome::Skip("a sample event".to_string()));
        }
        let behaviour = config.trim().trim_matches('"');
        match behaviour {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    let mut chunk = vec![0u8; 1 << 20];
                    chunk[hoard.len() % (1 << 20)] = 1;
                    hoard.push(std::hint::black_box(chunk));
                }
            }
            "recursion" => {
                let n = recurse(0, &mut [0u8; 64]);
                Ok(Outcome::Skip(format!("recursed {n}")))
            }
            "panic" => panic!("boom: the plugin panicked on purpose"),
            "big" => Ok(deliver(vec![b'x'; 10 << 20], Vec::new())),
            "reserved-header" => Ok(deliver(
                b"signed by me".to_vec(),
                vec![("webhook-signature".to_string(), "v1,forged".to_string())],
            )),
            "err" => Err("the plugin said no".to_string()),
            // 16 MiB of two-byte characters, so that a cut at an arbitrary byte would split one.
            "err-huge" => Err("é".repeat(8 << 20)),
            "count" => {
                static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let calls = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                Ok(deliver(calls.to_string().into_bytes(), Vec::new()))
            }
            "log-flood" => {
                for i in 0..10_000 {
                    log(LogLevel::Info, &format!("line {i}"));
                }
                Ok(deliver(b"flooded".to_vec(), Vec::new()))
            }
            "fake-panic" => {
                // What the host reads as a panic, with a location of 60,000 bytes, then a trap.
                eprint!(
                    "thread '<unnamed>' panicked at {}:\nforged\n",
                    "L".repeat(60_000)
                );
                std::process::abort()
            }
            // Only a wasm32 build has `memory.grow`; `cargo test --workspace` also builds
            // this crate natively, where the behaviour does not exist.
            #[cfg(target_arch = "wasm32")]
            "log-huge" => {
                // 20 MiB of NULs in fresh pages, which are zero already: nearly free in fuel
                // (an allocation would clear them, a loop of millions of instructions), costly
                // for the host to lift and check. The pages are taken behind the allocator's
                // back, which it tolerates: its `sbrk` asks `memory.grow` each time.
                const PAGES: usize = 320;
                let line = match core::arch::wasm32::memory_grow(0, PAGES) {
                    usize::MAX => return Err("no memory for the line".to_string()),
                    // SAFETY: the pages were just added to the memory, are zero (valid UTF-8)
                    // and are used by nothing else.
                    old => unsafe {
                        let start = (old * 65536) as *const u8;
                        std::str::from_utf8_unchecked(std::slice::from_raw_parts(
                            start,
                            PAGES * 65536,
                        ))
                    },
                };
                log(LogLevel::Info, line);
                Ok(deliver(b"logged".to_vec(), Vec::new()))
            }
            "sleep-long" => {
                // Blocks in WASI for far longer than any deadline.
                std::thread::sleep(std::time::Duration::from_secs(2));
                Ok(deliver(b"slept long".to_vec(), Vec::new()))
            }
            "sleep" => {
                // A blocking WASI call (a poll on a monotonic-clock pollable).
                std::thread::sleep(std::time::Duration::from_millis(2));
                Ok(deliver(b"slept".to_vec(), Vec::new()))
            }
            "print" => {
                println!("hello from stdout");
                eprintln!("hello from stderr");
                Ok(deliver(b"printed".to_vec(), Vec::new()))
            }
            "ok" => {
                log(LogLevel::Info, &format!("handling {}", event.id));
                Ok(deliver(
                    format!("ok {} {}", event.event_type, event.tenant).into_bytes(),
                    vec![("x-hostile".to_string(), "ok".to_string())],
                ))
            }
            other => Err(format!("unknown behaviour {other:?}")),
        }
    }
}

export!(Hostile);
