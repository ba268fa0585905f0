//! Per-meter time buckets: a ring of whole hours of 1-minute buckets (for windows up to 24h)
//! in front of a ring of 1-hour buckets (the 13-month history and the long windows).
//!
//! Energy is spread evenly over each interval; covered time is kept in exact milliseconds.
//! A minute leaves the minute ring an hour at a time, summed in f64 and added to its hour once,
//! so the hourly history (kept as f32 to bound memory) is rounded once per hour, not per reading.

use serde::{Deserialize, Serialize};

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;

/// One interval's effect on buckets: `energy` spread evenly over [start, end), and the whole
/// span counted as covered when `covered`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Contribution {
    pub start: i64,
    pub end: i64,
    pub energy: f64,
    pub covered: bool,
    /// The interval's energy is not wholly metered: a reading at either end of it is not
    /// `metered` (CONTRACT §13; see [`super::meter`]). Its energy is also kept apart.
    pub estimated: bool,
}

/// A [`Contribution`] as checkpoints before format 4 hold it (all metered).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContributionV3 {
    pub start: i64,
    pub end: i64,
    pub energy: f64,
    pub covered: bool,
}

impl ContributionV3 {
    pub fn upgrade(self) -> Contribution {
        Contribution {
            start: self.start,
            end: self.end,
            energy: self.energy,
            covered: self.covered,
            estimated: false,
        }
    }

    /// The contribution as format 3 wrote it (tests of the upgrade).
    pub fn downgrade(c: Contribution) -> ContributionV3 {
        ContributionV3 {
            start: c.start,
            end: c.end,
            energy: c.energy,
            covered: c.covered,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Buckets {
    /// Hours of minutes kept (the minute ring holds `min_hours * 60` slots).
    min_hours: i64,
    hour_len: i64,
    /// Absolute hour index (ts / HOUR_MS) of the newest hour; None until the first reading.
    head_hour: Option<i64>,
    min_e: Vec<f64>,
    min_c: Vec<u16>,
    hr_e: Vec<f32>,
    hr_c: Vec<u32>,
    /// The part of `min_e` / `hr_e` from intervals that are not wholly metered (CONTRACT §13).
    /// Empty until the meter's first such interval (a metered meter holds no more than before).
    min_x: Vec<f64>,
    hr_x: Vec<f32>,
}

/// [`Buckets`] as checkpoints before format 4 hold them (every interval metered).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketsV3 {
    min_hours: i64,
    hour_len: i64,
    head_hour: Option<i64>,
    min_e: Vec<f64>,
    min_c: Vec<u16>,
    hr_e: Vec<f32>,
    hr_c: Vec<u32>,
}

impl BucketsV3 {
    pub fn upgrade(self) -> Buckets {
        Buckets {
            min_hours: self.min_hours,
            hour_len: self.hour_len,
            head_hour: self.head_hour,
            min_e: self.min_e,
            min_c: self.min_c,
            hr_e: self.hr_e,
            hr_c: self.hr_c,
            min_x: Vec::new(),
            hr_x: Vec::new(),
        }
    }

    /// The buckets as format 3 wrote them (tests of the upgrade): the non-metered part dropped.
    pub fn downgrade(b: Buckets) -> BucketsV3 {
        BucketsV3 {
            min_hours: b.min_hours,
            hour_len: b.hour_len,
            head_hour: b.head_hour,
            min_e: b.min_e,
            min_c: b.min_c,
            hr_e: b.hr_e,
            hr_c: b.hr_c,
        }
    }
}

fn div_floor(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// The share of `energy` that falls on `part` ms of an interval `len` ms long (the product
/// first, as always; the fraction first where the product would overflow).
fn share(energy: f64, part: i64, len: i64) -> f64 {
    let x = energy * part as f64 / len as f64;
    if x.is_finite() {
        x
    } else {
        energy * (part as f64 / len as f64)
    }
}

/// An hour's energy as stored (f32), saturating instead of becoming infinite.
fn to_hour(x: f64) -> f32 {
    x.clamp(f32::MIN as f64, f32::MAX as f64) as f32
}

impl Buckets {
    /// `min_hours`: hours of minute buckets; `hour_len`: hours of history.
    pub fn new(min_hours: i64, hour_len: i64) -> Buckets {
        Buckets {
            min_hours,
            hour_len,
            head_hour: None,
            min_e: vec![0.0; (min_hours * 60) as usize],
            min_c: vec![0; (min_hours * 60) as usize],
            hr_e: vec![0.0; hour_len as usize],
            hr_c: vec![0; hour_len as usize],
            min_x: Vec::new(),
            hr_x: Vec::new(),
        }
    }

    /// Whether `other` has the same ring sizes (a state can move between them).
    pub fn same_geometry(&self, other: &Buckets) -> bool {
        self.min_hours == other.min_hours && self.hour_len == other.hour_len
    }

    pub fn head_hour(&self) -> Option<i64> {
        self.head_hour
    }

    /// Oldest absolute minute index still held at minute resolution.
    fn min_start(&self) -> Option<i64> {
        self.head_hour.map(|h| (h - self.min_hours + 1) * 60)
    }

    fn hour_start(&self) -> Option<i64> {
        self.head_hour.map(|h| h - self.hour_len + 1)
    }

    fn mslot(&self, minute: i64) -> usize {
        minute.rem_euclid(self.min_hours * 60) as usize
    }

    fn hslot(&self, hour: i64) -> usize {
        hour.rem_euclid(self.hour_len) as usize
    }

    /// Moves the head so that `ts` is inside it; minutes leaving the ring are added to hours.
    pub fn advance_to(&mut self, ts: i64) {
        let h = div_floor(ts, HOUR_MS);
        let Some(old) = self.head_hour else {
            self.head_hour = Some(h);
            return;
        };
        if h <= old {
            return;
        }
        // Flush hours of minutes that leave the minute ring: [old-min_hours+1, h-min_hours].
        let first_leave = old - self.min_hours + 1;
        let last_leave = (h - self.min_hours).min(old);
        for hour in first_leave..=last_leave {
            let (mut e, mut c, mut x) = (0.0f64, 0u64, 0.0f64);
            let has_x = !self.min_x.is_empty();
            for m in hour * 60..hour * 60 + 60 {
                let s = self.mslot(m);
                e += self.min_e[s];
                c += self.min_c[s] as u64;
                self.min_e[s] = 0.0;
                self.min_c[s] = 0;
                if has_x {
                    x += self.min_x[s];
                    self.min_x[s] = 0.0;
                }
            }
            if hour > h - self.hour_len {
                let hs = self.hslot(hour);
                self.hr_e[hs] = to_hour(self.hr_e[hs] as f64 + e);
                self.hr_c[hs] = (self.hr_c[hs] as u64 + c).min(HOUR_MS as u64) as u32;
                if has_x {
                    self.hr_x[hs] = to_hour(self.hr_x[hs] as f64 + x);
                }
            }
        }
        // Hours entering the hour ring start empty (their slot held an hour a ring ago).
        let first_new = (old + 1).max(h - self.hour_len + 1);
        for hour in first_new..=h {
            let hs = self.hslot(hour);
            self.hr_e[hs] = 0.0;
            self.hr_c[hs] = 0;
            if let Some(x) = self.hr_x.get_mut(hs) {
                *x = 0.0;
            }
        }
        // Minutes of hours entering the minute ring start empty.
        let first_new_m = (old + 1).max(h - self.min_hours + 1);
        for hour in first_new_m..=h {
            for m in hour * 60..hour * 60 + 60 {
                let s = self.mslot(m);
                self.min_e[s] = 0.0;
                self.min_c[s] = 0;
                if let Some(x) = self.min_x.get_mut(s) {
                    *x = 0.0;
                }
            }
        }
        self.head_hour = Some(h);
    }

    /// Adds (`sign` = 1) or removes (`sign` = -1) one interval's contribution.
    pub fn apply(&mut self, c: &Contribution, sign: f64) {
        let len = c.end - c.start;
        let (Some(min_start), Some(hour_start), Some(head)) =
            (self.min_start(), self.hour_start(), self.head_hour)
        else {
            return;
        };
        if len <= 0 {
            return;
        }
        if c.estimated && c.energy != 0.0 {
            if self.min_x.is_empty() {
                self.min_x = vec![0.0; self.min_e.len()];
                self.hr_x = vec![0.0; self.hr_e.len()];
            }
            self.spread::<true>(c, sign, len, min_start, hour_start, head);
        } else {
            self.spread::<false>(c, sign, len, min_start, hour_start, head);
        }
    }

    /// [`Buckets::apply`] over the rings; `X`: the energy is also non-metered (a separate copy
    /// of the loop, so that metered intervals, nearly all of them, pay nothing for it).
    #[inline(always)]
    fn spread<const X: bool>(
        &mut self,
        c: &Contribution,
        sign: f64,
        len: i64,
        min_start: i64,
        hour_start: i64,
        head: i64,
    ) {
        let head_end = (head + 1) * HOUR_MS;
        let mut t = c.start;
        let end = c.end.min(head_end);
        while t < end {
            let m = div_floor(t, MINUTE_MS);
            if m >= min_start {
                let next = ((m + 1) * MINUTE_MS).min(end);
                let part = next - t;
                let s = self.mslot(m);
                let sh = share(sign * c.energy, part, len);
                self.min_e[s] += sh;
                if X {
                    self.min_x[s] += sh;
                }
                if c.covered {
                    let v = self.min_c[s] as i64 + sign as i64 * part;
                    self.min_c[s] = v.clamp(0, MINUTE_MS) as u16;
                }
                t = next;
            } else {
                let hour = div_floor(t, HOUR_MS);
                let next = ((hour + 1) * HOUR_MS).min(end).min(min_start * MINUTE_MS);
                let part = next - t;
                if hour >= hour_start {
                    let s = self.hslot(hour);
                    let sh = share(sign * c.energy, part, len);
                    self.hr_e[s] = to_hour(self.hr_e[s] as f64 + sh);
                    if X {
                        self.hr_x[s] = to_hour(self.hr_x[s] as f64 + sh);
                    }
                    if c.covered {
                        let v = self.hr_c[s] as i64 + sign as i64 * part;
                        self.hr_c[s] = v.clamp(0, HOUR_MS) as u32;
                    }
                }
                t = next;
            }
        }
    }

    /// Energy and covered ms of absolute minute `m`. Outside the minute ring but inside the
    /// history, an hour's sixtieth.
    pub fn minute(&self, m: i64) -> (f64, i64) {
        let (Some(min_start), Some(head)) = (self.min_start(), self.head_hour) else {
            return (0.0, 0);
        };
        if m >= (head + 1) * 60 {
            return (0.0, 0);
        }
        if m >= min_start {
            let s = self.mslot(m);
            return (self.min_e[s], self.min_c[s] as i64);
        }
        let (e, c) = self.hour(div_floor(m, 60));
        (e / 60.0, c / 60)
    }

    /// Energy and covered ms of absolute hour `h`.
    pub fn hour(&self, h: i64) -> (f64, i64) {
        let (Some(min_start), Some(hour_start), Some(head)) =
            (self.min_start(), self.hour_start(), self.head_hour)
        else {
            return (0.0, 0);
        };
        if h > head || h < hour_start {
            return (0.0, 0);
        }
        if h * 60 >= min_start {
            let (mut e, mut c) = (0.0, 0i64);
            for m in h * 60..h * 60 + 60 {
                let s = self.mslot(m);
                e += self.min_e[s];
                c += self.min_c[s] as i64;
            }
            return (e, c);
        }
        let s = self.hslot(h);
        (self.hr_e[s] as f64, self.hr_c[s] as i64)
    }

    /// Whether the meter took any interval that is not wholly metered (else every
    /// `*_estimated` is 0).
    pub fn has_estimated(&self) -> bool {
        !self.min_x.is_empty()
    }

    /// The part of [`Buckets::minute`]'s energy from intervals not wholly metered.
    pub fn minute_estimated(&self, m: i64) -> f64 {
        let (Some(min_start), Some(head)) = (self.min_start(), self.head_hour) else {
            return 0.0;
        };
        if self.min_x.is_empty() || m >= (head + 1) * 60 {
            return 0.0;
        }
        if m >= min_start {
            return self.min_x[self.mslot(m)];
        }
        self.hour_estimated(div_floor(m, 60)) / 60.0
    }

    /// The part of [`Buckets::hour`]'s energy from intervals not wholly metered.
    pub fn hour_estimated(&self, h: i64) -> f64 {
        let (Some(min_start), Some(hour_start), Some(head)) =
            (self.min_start(), self.hour_start(), self.head_hour)
        else {
            return 0.0;
        };
        if self.min_x.is_empty() || h > head || h < hour_start {
            return 0.0;
        }
        if h * 60 >= min_start {
            return (h * 60..h * 60 + 60)
                .map(|m| self.min_x[self.mslot(m)])
                .sum();
        }
        self.hr_x[self.hslot(h)] as f64
    }

    /// Whether minute `m` is held at minute resolution.
    pub fn has_minute(&self, m: i64) -> bool {
        match (self.min_start(), self.head_hour) {
            (Some(s), Some(h)) => m >= s && m < (h + 1) * 60,
            _ => false,
        }
    }

    /// Oldest hour of history held.
    pub fn history_start_hour(&self) -> Option<i64> {
        self.hour_start()
    }

    /// Bytes of bucket storage (for the memory benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.min_e.capacity() * 8
            + self.min_c.capacity() * 2
            + self.hr_e.capacity() * 4
            + self.hr_c.capacity() * 4
            + self.min_x.capacity() * 8
            + self.hr_x.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_energy_evenly_and_counts_covered_time_exactly() {
        let mut b = Buckets::new(3, 48);
        b.advance_to(10 * HOUR_MS);
        // 90 s interval from 30 s before minute 600 to 60 s after it.
        let start = 600 * MINUTE_MS - 30_000;
        b.apply(
            &Contribution {
                start,
                end: start + 90_000,
                energy: 9.0,
                covered: true,
                estimated: false,
            },
            1.0,
        );
        assert_eq!(b.minute(599), (3.0, 30_000));
        assert_eq!(b.minute(600), (6.0, 60_000));
        assert_eq!(b.hour(10), (6.0, 60_000));
        assert_eq!(b.hour(9), (3.0, 30_000));
        b.apply(
            &Contribution {
                start,
                end: start + 90_000,
                energy: 9.0,
                covered: true,
                estimated: false,
            },
            -1.0,
        );
        assert_eq!(b.hour(10), (0.0, 0));
    }

    #[test]
    fn minutes_flush_into_hours_and_history_rolls() {
        let mut b = Buckets::new(2, 5);
        b.advance_to(0);
        b.apply(
            &Contribution {
                start: 0,
                end: HOUR_MS,
                energy: 60.0,
                covered: true,
                estimated: false,
            },
            1.0,
        );
        b.advance_to(4 * HOUR_MS);
        assert!(!b.has_minute(0));
        let (e, c) = b.hour(0);
        assert!((e - 60.0).abs() < 1e-9);
        assert_eq!(c, HOUR_MS);
        assert!((b.minute(30).0 - 1.0).abs() < 1e-9);
        b.advance_to(5 * HOUR_MS);
        assert_eq!(b.hour(0), (0.0, 0), "beyond the history");
    }

    #[test]
    fn energy_before_the_minute_ring_lands_in_hours() {
        let mut b = Buckets::new(2, 100);
        b.advance_to(50 * HOUR_MS);
        // Three days of silence spread into hours.
        b.apply(
            &Contribution {
                start: (50 - 72) * HOUR_MS,
                end: 50 * HOUR_MS,
                energy: 72.0,
                covered: false,
                estimated: false,
            },
            1.0,
        );
        assert!((b.hour(0).0 - 1.0).abs() < 1e-6);
        assert_eq!(b.hour(0).1, 0);
        assert!((b.hour(49).0 - 1.0).abs() < 1e-9);
    }
}
