//! The answer's geometry (crop, size, canvas) for each `fit`, sharp's
//! semantics without enlarging; and the budgets a Lambda function's memory
//! and CPU share set for a transform.

use super::params::{Fit, Spec};
use super::{MAX_AVIF_PIXELS, MAX_SIDE};

/// The answer's geometry in the source's (display-oriented) pixels: crop
/// `crop` out of the source, resize it to `image`, place it at `offset` on
/// a `canvas` (bigger than `image` only for `contain`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub crop: (f64, f64, f64, f64),
    pub image: (u32, u32),
    pub canvas: (u32, u32),
    pub offset: (u32, u32),
}

/// Sharp's fit semantics, except that images are never enlarged: a box
/// bigger than the source shrinks (keeping its aspect) until the image fits
/// it at its own size.
pub fn plan(spec: &Spec, src_w: u32, src_h: u32) -> Result<Plan, String> {
    let (sw, sh) = (f64::from(src_w), f64::from(src_h));
    let px = |v: f64| (v.round() as u32).max(1);
    let full = (0.0, 0.0, sw, sh);
    let simple = |iw: u32, ih: u32| Plan {
        crop: full,
        image: (iw, ih),
        canvas: (iw, ih),
        offset: (0, 0),
    };
    let plan = match (spec.w, spec.h) {
        (None, None) => simple(src_w, src_h),
        (Some(w), None) => {
            let s = (f64::from(w) / sw).min(1.0);
            simple(px(sw * s).min(src_w), px(sh * s).min(src_h))
        }
        (None, Some(h)) => {
            let s = (f64::from(h) / sh).min(1.0);
            simple(px(sw * s).min(src_w), px(sh * s).min(src_h))
        }
        (Some(w), Some(h)) => {
            let (bw, bh) = (f64::from(w), f64::from(h));
            // A box that would enlarge the source shrinks, aspect kept,
            // until the source fits it at its own size.
            let unenlarged = |s: f64| {
                if s > 1.0 {
                    (bw / s, bh / s, 1.0)
                } else {
                    (bw, bh, s)
                }
            };
            match spec.fit {
                Fit::Fill => simple(w.min(src_w), h.min(src_h)),
                Fit::Inside => {
                    let s = (bw / sw).min(bh / sh).min(1.0);
                    simple(px(sw * s).min(src_w), px(sh * s).min(src_h))
                }
                Fit::Outside => {
                    let s = (bw / sw).max(bh / sh).min(1.0);
                    simple(px(sw * s).min(src_w), px(sh * s).min(src_h))
                }
                Fit::Cover => {
                    let (bw, bh, s) = unenlarged((bw / sw).max(bh / sh));
                    let (iw, ih) = (px(bw).min(src_w), px(bh).min(src_h));
                    let (cw, ch) = ((f64::from(iw) / s).min(sw), (f64::from(ih) / s).min(sh));
                    let g = spec.gravity;
                    Plan {
                        crop: ((sw - cw) * g.x, (sh - ch) * g.y, cw, ch),
                        image: (iw, ih),
                        canvas: (iw, ih),
                        offset: (0, 0),
                    }
                }
                Fit::Contain => {
                    let (bw, bh, s) = unenlarged((bw / sw).min(bh / sh));
                    let (cw, ch) = (px(bw), px(bh));
                    let (iw, ih) = (px(sw * s).min(cw), px(sh * s).min(ch));
                    let g = spec.gravity;
                    Plan {
                        crop: full,
                        image: (iw, ih),
                        canvas: (cw, ch),
                        offset: (
                            (f64::from(cw - iw) * g.x).round() as u32,
                            (f64::from(ch - ih) * g.y).round() as u32,
                        ),
                    }
                }
            }
        }
    };
    if plan.canvas.0 > MAX_SIDE || plan.canvas.1 > MAX_SIDE {
        // Say what would bring it under the cap for the request as given.
        let hint = match (spec.w, spec.h) {
            (None, None) => "give w or h",
            (Some(_), None) => "the height follows the aspect: give h as well",
            (None, Some(_)) => "the width follows the aspect: give w as well",
            (Some(_), Some(_)) => "use fit=cover, contain, inside or fill",
        };
        return Err(format!(
            "the output would be {}×{} pixels, over the {MAX_SIDE}-pixel cap per side (images keep their aspect and are never enlarged); {hint}",
            plan.canvas.0, plan.canvas.1
        ));
    }
    Ok(plan)
}

/// CPU time rav1e takes per output pixel, twice what the benchmark measured
/// on one x86-64 core for slower cores and margin: 409 ms for 800×600 with
/// its assembly (always on arm64), 1,215 ms without (x86-64 without the
/// `avif-x86-asm` feature).
#[cfg(any(target_arch = "aarch64", feature = "avif-x86-asm"))]
const AVIF_SECONDS_PER_PIXEL: f64 = 1.7e-6;
#[cfg(not(any(target_arch = "aarch64", feature = "avif-x86-asm")))]
const AVIF_SECONDS_PER_PIXEL: f64 = 5.1e-6;

/// The largest AVIF output that encodes within `timeout` on the CPU share of
/// a Lambda function of `memory_mb` (a full vCPU at 1,769 MB): rav1e cannot
/// be interrupted, so its work is bounded before it starts. At most
/// [`MAX_AVIF_PIXELS`]; `None` (not in Lambda): that cap.
pub fn avif_max_pixels(timeout: std::time::Duration, memory_mb: Option<u64>) -> u64 {
    match memory_mb {
        None => MAX_AVIF_PIXELS,
        Some(mb) => {
            let share = (mb as f64 / 1769.0).min(1.0);
            let px = timeout.as_secs_f64() * share / AVIF_SECONDS_PER_PIXEL;
            (px as u64).min(MAX_AVIF_PIXELS)
        }
    }
}

/// What a transform's pixels may take in a Lambda function of `memory_mb`:
/// three quarters of it, less 48 MB for the runtime, the source bytes and
/// the encoded output.
pub fn memory_budget(memory_mb: u64) -> u64 {
    (memory_mb.saturating_mul(1 << 20) / 4 * 3).saturating_sub(48 << 20)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::negotiate::choose_format_within;
    use crate::transform::params::{Format, FormatChoice, SourceKind};
    use crate::transform::tests::spec;

    #[test]
    fn fit_modes_follow_sharp_without_enlarging() {
        let p = |pairs: &[(&str, &str)], w, h| plan(&spec(pairs), w, h).expect("plan");
        // cover: fills the box, crops the overflow at the gravity.
        let c = p(&[("w", "400"), ("h", "400")], 4000, 3000);
        assert_eq!((c.image, c.canvas), ((400, 400), (400, 400)));
        assert_eq!(c.crop, (500.0, 0.0, 3000.0, 3000.0));
        let c = p(
            &[("w", "400"), ("h", "400"), ("gravity", "west")],
            4000,
            3000,
        );
        assert_eq!(c.crop.0, 0.0);
        // contain: fits inside, pads to the box.
        let c = p(
            &[("w", "400"), ("h", "400"), ("fit", "contain")],
            4000,
            3000,
        );
        assert_eq!(
            (c.image, c.canvas, c.offset),
            ((400, 300), (400, 400), (0, 50))
        );
        // fill: exact size, aspect ignored.
        let c = p(&[("w", "400"), ("h", "100"), ("fit", "fill")], 4000, 3000);
        assert_eq!(c.image, (400, 100));
        // inside / outside: aspect kept, no crop, no pad.
        let c = p(&[("w", "400"), ("h", "400"), ("fit", "inside")], 4000, 3000);
        assert_eq!(c.image, (400, 300));
        let c = p(
            &[("w", "400"), ("h", "400"), ("fit", "outside")],
            4000,
            3000,
        );
        assert_eq!(c.image, (533, 400));
        // One side: the other follows the aspect.
        assert_eq!(p(&[("w", "800")], 4000, 3000).image, (800, 600));
        assert_eq!(p(&[("h", "300")], 4000, 3000).image, (400, 300));
        // Never enlarged: the box shrinks to the source, aspect kept.
        assert_eq!(p(&[("w", "3000")], 400, 300).image, (400, 300));
        let c = p(&[("w", "1000"), ("h", "1000")], 400, 300);
        assert_eq!((c.image, c.crop), ((300, 300), (50.0, 0.0, 300.0, 300.0)));
        // A format-only conversion keeps the size, within the cap.
        assert_eq!(p(&[("format", "webp")], 640, 480).image, (640, 480));
        assert!(plan(&spec(&[("format", "webp")]), 6000, 4000).is_err());
    }

    #[test]
    fn avif_size_follows_the_cpu_share() {
        let t = std::time::Duration::from_secs(12);
        assert_eq!(avif_max_pixels(t, None), MAX_AVIF_PIXELS);
        assert_eq!(avif_max_pixels(t, Some(1769)), MAX_AVIF_PIXELS);
        let at_256 = avif_max_pixels(t, Some(256));
        let expected = 12.0 * 256.0 / 1769.0 / AVIF_SECONDS_PER_PIXEL;
        assert!((at_256 as f64 - expected).abs() < 2.0, "{at_256}");
        assert!(avif_max_pixels(t, Some(128)) < at_256);
        // Too big for AVIF here: auto falls back to WebP.
        let chrome = "image/avif,image/webp";
        assert_eq!(
            choose_format_within(
                FormatChoice::Auto,
                SourceKind::Jpeg,
                Some(chrome),
                1_500_000,
                at_256
            ),
            Ok((Format::Webp, true))
        );
    }

    #[test]
    fn memory_budget_leaves_room_for_the_runtime() {
        assert_eq!(memory_budget(256), 144 << 20);
        assert_eq!(memory_budget(1024), 720 << 20);
        assert_eq!(memory_budget(32), 0);
        assert!(memory_budget(u64::MAX) > 0);
    }
}
