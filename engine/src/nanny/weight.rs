//! Weight arithmetic of nanny: the slow start after a real server comes up, and the load
//! monitor's adjustment.

use crate::time::Duration;

/// Interval between weight-ramp doublings and between load fetches (nanny's "about 20 s").
pub const ADJUST_INTERVAL: Duration = Duration::from_secs(20);

/// First weight after a real server comes up: `weight >> 5`, at least 1 (0 stays 0: a real
/// server configured with weight 0 never receives new connections).
pub const fn ramp_start(weight: u32) -> u32 {
    if weight == 0 {
        0
    } else if weight >> 5 == 0 {
        1
    } else {
        weight >> 5
    }
}

/// The next ramp step: double, capped at `weight`.
pub const fn ramp_next(current: u32, weight: u32) -> u32 {
    let doubled = current.saturating_mul(2);
    if doubled > weight {
        weight
    } else {
        doubled
    }
}

/// The load monitor's new weight for 1-minute load `load`, or `None` when nothing changes.
///
/// Load below 1 raises the weight by `(weight/2)·cbrt(1−L)`, capped at `10·weight`; load above
/// 1 lowers it by `(weight/2)·cbrt(L−1)`, floored at `weight`. The change is applied only if it
/// is at least `weight/4`. Arithmetic in f64 (so weight 1 still moves by halves); the result is
/// rounded to the nearest integer. A load that is not a finite non-negative number changes
/// nothing.
pub fn load_adjusted(current: u32, weight: u32, load: f64) -> Option<u32> {
    if !load.is_finite() || load < 0.0 || weight == 0 {
        return None;
    }
    let w = f64::from(current);
    let base = f64::from(weight);
    let half = base / 2.0;
    let next = if load < 1.0 {
        (w + half * (1.0 - load).cbrt()).min(10.0 * base)
    } else if load > 1.0 {
        (w - half * (load - 1.0).cbrt()).max(base)
    } else {
        w
    };
    if (next - w).abs() < base / 4.0 {
        return None;
    }
    let rounded = next.round();
    debug_assert!((0.0..=10.0 * base).contains(&rounded));
    let next = rounded as u32;
    (next != current).then_some(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ramp_doubles_from_a_32nd() {
        assert_eq!(ramp_start(100), 3);
        assert_eq!(ramp_start(31), 1);
        assert_eq!(ramp_start(1), 1);
        assert_eq!(ramp_start(0), 0);
        let mut w = ramp_start(100);
        let mut steps = vec![w];
        while w < 100 {
            w = ramp_next(w, 100);
            steps.push(w);
        }
        assert_eq!(steps, [3, 6, 12, 24, 48, 96, 100]);
    }

    #[test]
    fn load_math() {
        // Idle server (L = 0): + weight/2 · 1.
        assert_eq!(load_adjusted(100, 100, 0.0), Some(150));
        // L = 0.5: + 50 · cbrt(0.5) = 39.685 -> 139.685 -> 140.
        assert_eq!(load_adjusted(100, 100, 0.5), Some(140));
        // Small change below weight/4 = 25: L = 0.9 -> + 50 · 0.464 = 23.2: ignored.
        assert_eq!(load_adjusted(100, 100, 0.9), None);
        // Capped at 10 · weight.
        assert_eq!(load_adjusted(990, 100, 0.0), None);
        assert_eq!(load_adjusted(960, 100, 0.0), Some(1000));
        // L = 9: − 50 · 2 = −100, floored at weight.
        assert_eq!(load_adjusted(400, 100, 9.0), Some(300));
        assert_eq!(load_adjusted(150, 100, 9.0), Some(100));
        assert_eq!(load_adjusted(100, 100, 9.0), None);
        // L = 1 exactly: no change.
        assert_eq!(load_adjusted(300, 100, 1.0), None);
        // Garbage loads change nothing.
        assert_eq!(load_adjusted(100, 100, f64::NAN), None);
        assert_eq!(load_adjusted(100, 100, -1.0), None);
        // Weight 1: the threshold is 0.25, so an idle server gains 0.5 -> rounds to 2.
        assert_eq!(load_adjusted(1, 1, 0.0), Some(2));
    }
}
