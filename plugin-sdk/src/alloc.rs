//! The guest's memory allocator, installed as `#[global_allocator]` on `wasm32` when the
//! `allocator` feature is on (the default).
//!
//! A transform is a short burst of small allocations — the event's strings, a parsed booking,
//! the pieces of the output — most of them freed before the call returns. wasi-libc's
//! `dlmalloc`, the default, spent about a fifth of the Slack formatter's guest time in
//! `malloc`/`free` (BENCHMARKS.md, "What was tried and what it did"); `talc` spent more.
//! This allocator does the
//! least work that still reuses freed memory: Rust hands the size back on `dealloc`, so a block
//! needs no header, and blocks of up to 2 KiB are served from one free list per power-of-two
//! size, refilled from 32 KiB chunks. Larger blocks go to wasi-libc's allocator.
//!
//! The trade: a freed block is only reused for a block of the same size class, so memory freed
//! as small blocks is not available to other sizes. Plugins whose calls churn through many
//! megabytes of differently sized small blocks may prefer the system allocator: depend on
//! `krog-sdk` with `default-features = false`.
//!
//! wasm32-wasip2 components are single-threaded (no shared memory, no threads), which is what
//! makes the unsynchronised state below sound; the module only compiles where that holds.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// The smallest block: room for the free list's next pointer; also the alignment of every block,
/// as with `dlmalloc`.
const SMALLEST_CLASS: usize = 16;
/// Blocks above this go to the system allocator.
const LARGEST_CLASS: usize = 2048;
/// 16, 32, …, 2048.
const CLASSES: usize =
    (LARGEST_CLASS.trailing_zeros() - SMALLEST_CLASS.trailing_zeros() + 1) as usize;
/// What is taken from the system allocator at a time to carve small blocks from.
const CHUNK: usize = 32 * 1024;

/// The global allocator for plugins (see the module docs).
pub(crate) struct SizeClasses {
    state: UnsafeCell<State>,
}

struct State {
    /// The first free block of each class; a free block holds the address of the next.
    free: [*mut u8; CLASSES],
    /// The unused rest of the current chunk.
    next: *mut u8,
    end: *mut u8,
}

// SAFETY: wasm32-wasip2 components run one thread; `SizeClasses` is only compiled for
// targets without threads (see `lib.rs`), so the state is never touched concurrently.
#[allow(unsafe_code)]
unsafe impl Sync for SizeClasses {}

impl SizeClasses {
    /// An allocator with no memory of its own yet.
    pub(crate) const fn new() -> Self {
        SizeClasses {
            state: UnsafeCell::new(State {
                free: [ptr::null_mut(); CLASSES],
                next: ptr::null_mut(),
                end: ptr::null_mut(),
            }),
        }
    }
}

impl Default for SizeClasses {
    fn default() -> Self {
        Self::new()
    }
}

/// The class index of a layout, or `None` for the system allocator.
#[inline]
fn class_of(layout: &Layout) -> Option<usize> {
    // Every block is 16-byte aligned; the rare layout that needs more goes to the system.
    let size = layout.size();
    if size > LARGEST_CLASS || layout.align() > SMALLEST_CLASS {
        return None;
    }
    let size = size.max(SMALLEST_CLASS).next_power_of_two();
    Some((size.trailing_zeros() - SMALLEST_CLASS.trailing_zeros()) as usize)
}

#[inline]
fn class_size(class: usize) -> usize {
    SMALLEST_CLASS << class
}

#[allow(unsafe_code)]
impl State {
    /// A block of `class`, from its free list or the current chunk.
    #[inline]
    unsafe fn take(&mut self, class: usize) -> *mut u8 {
        let head = self.free[class];
        if !head.is_null() {
            // SAFETY: a free block's first word is the next free block (written by `give`).
            self.free[class] = unsafe { head.cast::<*mut u8>().read() };
            return head;
        }
        let size = class_size(class);
        // Sizes are multiples of 16 and chunks 16-aligned, so every block is too.
        if self.end as usize - self.next as usize >= size {
            let block = self.next;
            self.next = block.wrapping_add(size);
            return block;
        }
        unsafe { self.refill(size) }
    }

    /// Starts a new chunk and returns its first block of `size` bytes (or null when the
    /// system is out of memory). What was left of the old chunk (less than `size`) is not used.
    #[cold]
    unsafe fn refill(&mut self, size: usize) -> *mut u8 {
        // SAFETY: the layout has a non-zero size.
        let chunk =
            unsafe { System.alloc(Layout::from_size_align_unchecked(CHUNK, SMALLEST_CLASS)) };
        if chunk.is_null() {
            return chunk;
        }
        self.next = chunk.wrapping_add(size);
        self.end = chunk.wrapping_add(CHUNK);
        chunk
    }

    #[inline]
    unsafe fn give(&mut self, block: *mut u8, class: usize) {
        // SAFETY: the block is at least SMALLEST_CLASS bytes, aligned, and no longer in use.
        unsafe { block.cast::<*mut u8>().write(self.free[class]) };
        self.free[class] = block;
    }
}

#[allow(unsafe_code)]
unsafe impl GlobalAlloc for SizeClasses {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match class_of(&layout) {
            // SAFETY: single-threaded (see the `Sync` impl), and no reference to the state
            // outlives this call.
            Some(class) => unsafe { (*self.state.get()).take(class) },
            None => unsafe { System.alloc(layout) },
        }
    }

    #[inline]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        match class_of(&layout) {
            Some(class) => unsafe { (*self.state.get()).give(block, class) },
            None => unsafe { System.dealloc(block, layout) },
        }
    }

    #[inline]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` makes a valid layout with this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(&layout), class_of(&new_layout)) {
            // Still fits its block: nothing to do.
            (Some(old), Some(new)) if old == new => block,
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                let moved = unsafe { self.alloc(new_layout) };
                if !moved.is_null() {
                    unsafe {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                }
                moved
            }
        }
    }
}

#[cfg(test)]
#[allow(unsafe_code)]
mod tests {
    use super::*;

    fn layout(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    #[test]
    fn a_freed_block_is_handed_out_again_for_the_same_class() {
        let heap = SizeClasses::new();
        unsafe {
            let a = heap.alloc(layout(24));
            let b = heap.alloc(layout(20));
            assert_ne!(a, b);
            heap.dealloc(a, layout(24));
            assert_eq!(
                heap.alloc(layout(30)),
                a,
                "24 and 30 bytes share the 32-byte class"
            );
            assert_ne!(heap.alloc(layout(30)), b);
        }
    }

    #[test]
    fn blocks_are_aligned_distinct_and_hold_what_is_written() {
        let heap = SizeClasses::new();
        let mut blocks = Vec::new();
        // Enough to span several chunks, of every class and the system's sizes.
        for i in 0..4000usize {
            let size = 1 + (i * 37) % 3000;
            let block = unsafe { heap.alloc(layout(size)) };
            assert!(!block.is_null());
            assert_eq!(block as usize % 16, 0, "size {size}");
            unsafe { ptr::write_bytes(block, (i % 251) as u8, size) };
            blocks.push((block, size, (i % 251) as u8));
        }
        for &(block, size, byte) in &blocks {
            let bytes = unsafe { std::slice::from_raw_parts(block, size) };
            assert!(bytes.iter().all(|&b| b == byte), "a block was overwritten");
        }
        for (block, size, _) in blocks {
            unsafe { heap.dealloc(block, layout(size)) };
        }
    }

    #[test]
    fn realloc_keeps_the_contents_within_a_class_and_across_classes() {
        let heap = SizeClasses::new();
        unsafe {
            let block = heap.alloc(layout(17));
            ptr::copy_nonoverlapping(b"seventeen bytes!!".as_ptr(), block, 17);
            let same = heap.realloc(block, layout(17), 32);
            assert_eq!(same, block, "17 and 32 bytes share a class: no move");
            let moved = heap.realloc(same, layout(32), 5000);
            assert_ne!(moved, block);
            assert_eq!(std::slice::from_raw_parts(moved, 17), b"seventeen bytes!!");
            let back = heap.realloc(moved, layout(5000), 40);
            assert_eq!(std::slice::from_raw_parts(back, 17), b"seventeen bytes!!");
            heap.dealloc(back, layout(40));
        }
    }

    #[test]
    fn over_aligned_and_large_layouts_go_to_the_system() {
        assert_eq!(class_of(&Layout::from_size_align(64, 64).unwrap()), None);
        assert_eq!(class_of(&layout(LARGEST_CLASS + 1)), None);
        assert_eq!(class_of(&layout(LARGEST_CLASS)), Some(CLASSES - 1));
        assert_eq!(class_of(&layout(1)), Some(0));
        assert_eq!(class_of(&layout(0)), Some(0));
    }
}
