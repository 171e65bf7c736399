//! Weight arithmetic of nanny: the slow start after a real server comes up, and the load
//! monitor's adjustment.

use crate::time::Duration;

/// Interval between weight-ramp doublings and between load fetches (nanny's "about 20 s").
pub const ADJUST_INTERVAL: Duration = Duration::from_secs(20);

/// Largest factor the load monitor may raise a weight by (nanny's `--scale`, default 10).
pub const LOAD_SCALE: u32 = 10;

/// First weight after a real server comes up: `weight >> 5`, at least 1, as Piranha's nanny
/// computes it. So a real server configured with weight 0 serves at weight 1 (Piranha did),
/// until a load monitor reporting a load below 1 lowers it to 0 (its cap, `LOAD_SCALE · 0`).
pub const fn ramp_start(weight: u32) -> u32 {
    if weight >> 5 == 0 {
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

/// The load monitor's new weight for 1-minute load `load`, or `None` when nothing changes:
/// nanny's `adjustWeight`, its arithmetic included.
///
/// Load below 1 raises the weight by `(weight/2)·(1−L)^(1/3)`, capped at `LOAD_SCALE·weight`;
/// load above 1 lowers it by `(weight/2)·(L−1)^(1/3)`, floored at `weight`. The sum is computed
/// in double precision and truncated toward zero into an int (C's assignment), the load having
/// been read as a `float`; the change is applied only if it is at least `weight/4`. So a real
/// server of weight 1 never moves (+0.5 truncates away). A load of exactly 1, or one that is
/// not a finite non-negative number, changes nothing.
pub fn load_adjusted(current: u32, weight: u32, load: f64) -> Option<u32> {
    #[allow(clippy::cast_possible_truncation)] // nanny's `float load`
    let load = load as f32;
    if !load.is_finite() || load < 0.0 || load == 1.0 {
        return None;
    }
    let last = i64::from(current);
    let base = i64::from(weight);
    let scale_factor = f64::from(weight) / 2.0;
    let threshold = weight as f32 / 4.0;
    let l = f64::from(load);
    let third = 1.0_f64 / 3.0;
    // `as i64` truncates toward zero, as C's double-to-int conversion.
    #[allow(clippy::cast_possible_truncation)]
    let next = if l < 1.0 {
        ((last as f64 + scale_factor * (1.0 - l).powf(third)) as i64)
            .min(i64::from(LOAD_SCALE) * base)
    } else {
        ((last as f64 - scale_factor * (l - 1.0).powf(third)) as i64).max(base)
    };
    #[allow(clippy::cast_precision_loss)]
    if (((next - last).abs()) as f32) < threshold {
        return None;
    }
    let next = u32::try_from(next).ok()?;
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
        // nanny: `newWeight = weight >> 5; if (newWeight <= 0) newWeight = 1;`
        assert_eq!(ramp_start(0), 1);
        let mut w = ramp_start(100);
        let mut steps = vec![w];
        while w < 100 {
            w = ramp_next(w, 100);
            steps.push(w);
        }
        assert_eq!(steps, [3, 6, 12, 24, 48, 96, 100]);
    }

    #[test]
    fn load_math_is_nannys_integer_arithmetic() {
        // Idle server (L = 0): + weight/2 · 1.
        assert_eq!(load_adjusted(100, 100, 0.0), Some(150));
        // L = 0.5: + 50 · 0.7937 = 39.685 -> 139.685 truncated to 139 (not rounded to 140).
        assert_eq!(load_adjusted(100, 100, 0.5), Some(139));
        // Small change below weight/4 = 25: L = 0.9 -> + 50 · 0.464 = 23.2: ignored.
        assert_eq!(load_adjusted(100, 100, 0.9), None);
        // Capped at 10 · weight.
        assert_eq!(load_adjusted(990, 100, 0.0), None);
        assert_eq!(load_adjusted(960, 100, 0.0), Some(1000));
        // L = 9: − 50 · 2 = −100, floored at weight.
        assert_eq!(load_adjusted(400, 100, 9.0), Some(300));
        assert_eq!(load_adjusted(150, 100, 9.0), Some(100));
        assert_eq!(load_adjusted(100, 100, 9.0), None);
        // L = 1.5: − 50 · 0.7937 = −39.685 -> 260.315 -> 260.
        assert_eq!(load_adjusted(300, 100, 1.5), Some(260));
        // Odd weights: weight/2 is exact (7 / 2 = 3.5), the threshold a float (1.75).
        // 7 + 3.5 · 1 = 10.5 -> 10: +3 >= 1.75.
        assert_eq!(load_adjusted(7, 7, 0.0), Some(10));
        // L = 1 exactly: no change.
        assert_eq!(load_adjusted(300, 100, 1.0), None);
        // Garbage loads change nothing.
        assert_eq!(load_adjusted(100, 100, f64::NAN), None);
        assert_eq!(load_adjusted(100, 100, -1.0), None);
        // Weight 1: 1 + 0.5 truncates to 1: never moves.
        assert_eq!(load_adjusted(1, 1, 0.0), None);
        assert_eq!(load_adjusted(3, 1, 9.0), Some(2));
        // Weight 0 (serving at 1): a light load drops it to the cap 10 · 0 = 0; a heavy one
        // keeps it at 1.
        assert_eq!(load_adjusted(1, 0, 0.2), Some(0));
        assert_eq!(load_adjusted(1, 0, 3.0), None);
    }
}
