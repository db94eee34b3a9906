//! A global allocator that counts the live bytes of each thread, so a property can assert the
//! peak memory one decode call takes while other tests allocate in parallel threads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct CountingAllocator;

thread_local! {
    // Const-initialised cells without a destructor: reading them never allocates, so the
    // allocator can use them. Signed because a thread may free what another allocated.
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grow(bytes: usize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + bytes as isize;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrink(bytes: usize) {
    let _ = LIVE.try_with(|live| live.set(live.get() - bytes as isize));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grow(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrink(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // Counted as live bytes after the move: a copying realloc briefly holds both
            // blocks, which the bounds leave to their slack rather than to this count.
            if new_size >= layout.size() {
                grow(new_size - layout.size());
            } else {
                shrink(layout.size() - new_size);
            }
        }
        new
    }
}

/// Runs `f` and returns its result with the most bytes this thread held at once during the
/// call beyond what it held before (the result's own allocations included).
pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    let value = f();
    let peak = PEAK.with(Cell::get);
    (value, (peak - base).max(0) as usize)
}

#[test]
fn counting_allocator_sees_a_known_allocation() {
    let (v, peak) = peak_during(|| Vec::<u8>::with_capacity(100_000));
    assert_eq!(v.capacity(), 100_000);
    assert_eq!(peak, 100_000);
    drop(v);
    let ((), peak) = peak_during(|| {
        let a = vec![0u8; 10_000];
        drop(a);
        let b = vec![0u8; 4_000];
        drop(b);
    });
    assert_eq!(peak, 10_000, "the peak, not the sum");
}

#[test]
fn counting_allocator_ignores_other_threads() {
    let ((), peak) = peak_during(|| {
        std::thread::scope(|s| {
            s.spawn(|| drop(vec![0u8; 1 << 20]));
        })
    });
    // Spawning a scoped thread allocates a little here (its handle, name, result slot).
    assert!(peak < 4096, "another thread's megabyte leaked into this thread's count: {peak}");
}
