//! Time in Unix seconds, the unit of every stored time and token claim. Sessions, lockouts
//! and account times read it from the `Clock` the app was built with, so tests move time
//! forward (or hold it still) instead of sleeping. Socket keepalive measures silence with
//! the same clock's monotonic `instant`, and hears when a test moves it.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

/// The wall clock. Only for times no test needs to move (log and notification stamps);
/// everything the rules depend on asks the app's `Clock`.
pub fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// The app's time: the wall clock, or one that tests advance and freeze.
#[derive(Clone, Default)]
pub struct Clock {
    adjust: Option<Arc<Adjust>>,
}

struct Adjust {
    /// Seconds added to the wall clock.
    offset: AtomicI64,
    /// While not 0, the time it stands still at.
    frozen: AtomicI64,
    /// Milliseconds added to the monotonic clock (`instant`); freezing does not stop it.
    ahead_ms: AtomicU64,
    /// Counts the moves, so timers that read `instant` look again.
    advances: watch::Sender<u64>,
}

impl Default for Adjust {
    fn default() -> Self {
        Adjust {
            offset: AtomicI64::new(0),
            frozen: AtomicI64::new(0),
            ahead_ms: AtomicU64::new(0),
            advances: watch::channel(0).0,
        }
    }
}

impl Clock {
    pub fn system() -> Clock {
        Clock { adjust: None }
    }

    /// The wall clock until a test advances or freezes it.
    pub fn adjustable() -> Clock {
        Clock { adjust: Some(Arc::default()) }
    }

    pub fn now(&self) -> i64 {
        match &self.adjust {
            None => unix_now(),
            Some(a) => match a.frozen.load(Ordering::SeqCst) {
                0 => unix_now() + a.offset.load(Ordering::SeqCst),
                frozen => frozen,
            },
        }
    }

    /// Moves time forward by `secs` (a frozen clock stays frozen, later), and `instant`
    /// with it. No effect on the system clock.
    pub fn advance(&self, secs: i64) {
        if let Some(a) = &self.adjust {
            a.offset.fetch_add(secs, Ordering::SeqCst);
            let _ = a.frozen.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |f| (f != 0).then_some(f + secs));
            a.ahead_ms.fetch_add(secs.max(0) as u64 * 1000, Ordering::SeqCst);
            a.advances.send_modify(|n| *n += 1);
        }
    }

    /// The monotonic time timers measure with: `Instant::now()`, plus what tests advanced.
    pub fn instant(&self) -> Instant {
        match &self.adjust {
            None => Instant::now(),
            Some(a) => Instant::now() + Duration::from_millis(a.ahead_ms.load(Ordering::SeqCst)),
        }
    }

    /// Changes on every `advance`; `None` for the system clock, which only real time moves.
    pub fn advances(&self) -> Option<watch::Receiver<u64>> {
        self.adjust.as_ref().map(|a| a.advances.subscribe())
    }

    /// Holds time at the current second until `advance` or `resume`.
    pub fn freeze(&self) {
        if let Some(a) = &self.adjust {
            a.frozen.store(self.now(), Ordering::SeqCst);
        }
    }

    /// Lets a frozen clock run again from where it stood.
    pub fn resume(&self) {
        if let Some(a) = &self.adjust {
            let frozen = a.frozen.swap(0, Ordering::SeqCst);
            if frozen != 0 {
                a.offset.store(frozen - unix_now(), Ordering::SeqCst);
            }
        }
    }
}

/// RFC 3339 in UTC with whole seconds, as Nakama writes timestamps: `2026-11-24T18:48:10Z`.
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Civil-from-days (H. Hinnant), proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", y, m, d, secs / 3600, secs % 3600 / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::{rfc3339, unix_now, Clock};

    #[test]
    fn an_adjustable_clock_advances_and_freezes() {
        let clock = Clock::adjustable();
        let start = clock.now();
        assert!((start - unix_now()).abs() <= 1);
        clock.advance(3600);
        assert!((clock.now() - unix_now() - 3600).abs() <= 1);
        clock.freeze();
        let frozen = clock.now();
        clock.advance(5);
        assert_eq!(clock.now(), frozen + 5);
        clock.resume();
        assert!((clock.now() - frozen - 5).abs() <= 1);
        let system = Clock::system();
        system.advance(100);
        assert!((system.now() - unix_now()).abs() <= 1);
        assert!(system.advances().is_none());
    }

    #[test]
    fn instants_move_with_advance_and_not_with_freeze() {
        let clock = Clock::adjustable();
        let mut advances = clock.advances().unwrap();
        let start = clock.instant();
        clock.freeze();
        clock.advance(15);
        let moved = clock.instant().duration_since(start);
        assert!(moved >= std::time::Duration::from_secs(15) && moved < std::time::Duration::from_secs(16));
        assert!(advances.has_changed().unwrap());
        assert_eq!(*advances.borrow_and_update(), 1);
        let system = Clock::system();
        assert!(system.instant().duration_since(std::time::Instant::now()) < std::time::Duration::from_millis(5));
    }

    #[test]
    fn formats_like_nakama() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_547_144), "2026-11-24T19:05:44Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
