//! On-the-fly image transforms: the query API (`w`, `h`, `fit`, `gravity`,
//! `format`, `q`, `dpr`), the geometry, format negotiation and the variant
//! identity. Everything here is plain data and arithmetic; the codecs are in
//! [`pipeline`], the signatures in [`sign`].
//!
//! The order of work (in `handler.rs`): parameters (400) → signature (403)
//! → the source's first 64 KiB, whose header gives type and pixel count
//! (422 before any decoding) → the variant's ETag (304 without
//! transforming) → the variant cache → the whole source → decode, resize,
//! encode on a blocking thread under the request's deadline.

pub mod pipeline;
pub mod sign;
pub mod webp;

use std::collections::HashMap;

use sha2::{Digest, Sha256};

/// The transform parameters. Any of them on a GET (or HEAD) makes it a
/// transform; without them the object is served byte for byte.
pub const PARAMS: &[&str] = &["w", "h", "fit", "gravity", "format", "q", "dpr"];
/// Taken with the transform parameters when signing is on.
pub const SIGNING_PARAMS: &[&str] = &["sig", "expires"];
/// Largest output side, in pixels (after `dpr`).
pub const MAX_SIDE: u32 = 4096;
/// Largest AVIF output: its encoder cannot be interrupted, so its work is
/// bounded before it starts (about 1.5 s of one core at 2 MP).
pub const MAX_AVIF_PIXELS: u64 = 2_000_000;
/// Largest source object a transform reads.
pub const MAX_SOURCE_BYTES: u64 = 32 * 1024 * 1024;
/// How much of the source is read first for its header.
pub const PROBE_BYTES: u64 = 64 * 1024;
/// Part of every variant's identity: a new pipeline (codec versions,
/// defaults) makes new ETags and new cache keys.
pub const PIPELINE_VERSION: &str = "s3gate-transform-2";
/// `q` when the request does not give one.
pub const DEFAULT_QUALITY: u8 = 80;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    Cover,
    Contain,
    Fill,
    Inside,
    Outside,
}

impl Fit {
    pub fn as_str(self) -> &'static str {
        match self {
            Fit::Cover => "cover",
            Fit::Contain => "contain",
            Fit::Fill => "fill",
            Fit::Inside => "inside",
            Fit::Outside => "outside",
        }
    }
}

/// Where a crop (cover) or the image in its box (contain) sits: fractions
/// of the free space, 0 = left/top, 1 = right/bottom.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gravity {
    pub name: &'static str,
    pub x: f64,
    pub y: f64,
}

const GRAVITIES: &[Gravity] = &[
    Gravity {
        name: "center",
        x: 0.5,
        y: 0.5,
    },
    Gravity {
        name: "north",
        x: 0.5,
        y: 0.0,
    },
    Gravity {
        name: "northeast",
        x: 1.0,
        y: 0.0,
    },
    Gravity {
        name: "east",
        x: 1.0,
        y: 0.5,
    },
    Gravity {
        name: "southeast",
        x: 1.0,
        y: 1.0,
    },
    Gravity {
        name: "south",
        x: 0.5,
        y: 1.0,
    },
    Gravity {
        name: "southwest",
        x: 0.0,
        y: 1.0,
    },
    Gravity {
        name: "west",
        x: 0.0,
        y: 0.5,
    },
    Gravity {
        name: "northwest",
        x: 0.0,
        y: 0.0,
    },
];

/// Output formats s3gate encodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    Webp,
    Avif,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Jpeg => "jpeg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::Webp => "image/webp",
            Format::Avif => "image/avif",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::Webp => "webp",
            Format::Avif => "avif",
        }
    }

    /// Whether the format keeps transparency.
    pub fn has_alpha(self) -> bool {
        !matches!(self, Format::Jpeg)
    }
}

/// What `format=` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatChoice {
    /// The source's own format.
    Keep,
    /// AVIF, then WebP, then the source's format, from `Accept`.
    Auto,
    Fixed(Format),
}

/// A validated transform request. `w` and `h` already include `dpr`.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub w: Option<u32>,
    pub h: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    pub format: FormatChoice,
    pub q: u8,
    pub dpr: f64,
}

/// A parameter the caller got wrong; becomes a 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    pub name: String,
    pub why: String,
}

impl ParamError {
    fn new(name: &str, why: impl Into<String>) -> ParamError {
        ParamError {
            name: name.to_string(),
            why: why.into(),
        }
    }
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.why)
    }
}

/// How many transforms run at once: one per core the process may use
/// (the handler's semaphore, and the JPEG decoder's threads).
pub fn concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether a query asks for a transform at all.
pub fn is_transform(query: &HashMap<String, Vec<String>>) -> bool {
    PARAMS.iter().any(|p| query.contains_key(*p))
}

impl Spec {
    /// `None` when the query has no transform parameter (the original is
    /// served, other parameters ignored as before). With one, every
    /// parameter must be known, given once and in range.
    pub fn from_query(query: &HashMap<String, Vec<String>>) -> Result<Option<Spec>, ParamError> {
        if !is_transform(query) {
            return Ok(None);
        }
        let mut names: Vec<&String> = query.keys().collect();
        names.sort();
        for name in names {
            if !PARAMS.contains(&name.as_str()) && !SIGNING_PARAMS.contains(&name.as_str()) {
                return Err(ParamError::new(
                    name,
                    "unknown parameter; transforms take w, h, fit, gravity, format, q and dpr (and sig, expires when signed)",
                ));
            }
            if query[name].len() > 1 {
                return Err(ParamError::new(name, "given more than once"));
            }
        }
        let one = |name: &str| query.get(name).and_then(|v| v.first()).map(String::as_str);
        let side = |name: &str| -> Result<Option<u32>, ParamError> {
            match one(name) {
                None => Ok(None),
                Some(v) => match whole(v) {
                    Some(n) if (1..=MAX_SIDE as u64).contains(&n) => Ok(Some(n as u32)),
                    _ => Err(ParamError::new(
                        name,
                        format!("{v:?}: expected a whole number of pixels from 1 to {MAX_SIDE}"),
                    )),
                },
            }
        };
        let w = side("w")?;
        let h = side("h")?;
        let fit = match one("fit") {
            None | Some("cover") => Fit::Cover,
            Some("contain") => Fit::Contain,
            Some("fill") => Fit::Fill,
            Some("inside") => Fit::Inside,
            Some("outside") => Fit::Outside,
            Some(v) => {
                return Err(ParamError::new(
                    "fit",
                    format!("{v:?}: expected cover, contain, fill, inside or outside"),
                ));
            }
        };
        let gravity = match one("gravity") {
            None => GRAVITIES[0],
            Some("centre") => GRAVITIES[0],
            Some(v) => *GRAVITIES.iter().find(|g| g.name == v).ok_or_else(|| {
                ParamError::new(
                    "gravity",
                    format!(
                        "{v:?}: expected center, north, northeast, east, southeast, south, southwest, west or northwest"
                    ),
                )
            })?,
        };
        let format = match one("format") {
            None => FormatChoice::Keep,
            Some("auto") => FormatChoice::Auto,
            Some("jpeg" | "jpg") => FormatChoice::Fixed(Format::Jpeg),
            Some("png") => FormatChoice::Fixed(Format::Png),
            Some("webp") => FormatChoice::Fixed(Format::Webp),
            Some("avif") => FormatChoice::Fixed(Format::Avif),
            Some(v) => {
                return Err(ParamError::new(
                    "format",
                    format!("{v:?}: expected jpeg, png, webp, avif or auto"),
                ));
            }
        };
        let q = match one("q") {
            None => DEFAULT_QUALITY,
            Some(v) => match whole(v) {
                Some(n) if (1..=100).contains(&n) => n as u8,
                _ => {
                    return Err(ParamError::new(
                        "q",
                        format!("{v:?}: expected a whole number from 1 to 100"),
                    ));
                }
            },
        };
        let dpr = match one("dpr") {
            None => 1.0,
            Some(v) => match decimal(v) {
                Some(d) if (1.0..=4.0).contains(&d) => d,
                _ => {
                    return Err(ParamError::new(
                        "dpr",
                        format!("{v:?}: expected a number from 1 to 4 (e.g. 2 or 1.5)"),
                    ));
                }
            },
        };
        if dpr != 1.0 && w.is_none() && h.is_none() {
            return Err(ParamError::new("dpr", "needs w or h to multiply"));
        }
        let times = |name: &str, side: Option<u32>| -> Result<Option<u32>, ParamError> {
            match side {
                None => Ok(None),
                Some(s) => {
                    let scaled = (f64::from(s) * dpr).round();
                    if scaled > f64::from(MAX_SIDE) {
                        Err(ParamError::new(
                            "dpr",
                            format!(
                                "{name} × dpr = {scaled} pixels, over the {MAX_SIDE}-pixel cap"
                            ),
                        ))
                    } else {
                        Ok(Some(scaled as u32))
                    }
                }
            }
        };
        let w = times("w", w)?;
        let h = times("h", h)?;
        Ok(Some(Spec {
            w,
            h,
            fit,
            gravity,
            format,
            q,
            dpr,
        }))
    }

    /// The parameters as they take effect, in one fixed order: part of the
    /// variant's identity (`w=800` and `w=400&dpr=2` are the same image).
    pub fn canonical(&self) -> String {
        let side = |s: Option<u32>| s.map_or_else(|| "-".to_string(), |n| n.to_string());
        format!(
            "w={}&h={}&fit={}&gravity={}&q={}",
            side(self.w),
            side(self.h),
            self.fit.as_str(),
            self.gravity.name,
            self.q
        )
    }
}

/// Digits only (no sign, no spaces), at most 9 of them.
fn whole(v: &str) -> Option<u64> {
    (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

/// `2`, `1.5`, `1.25`: digits with at most one point and two decimals.
fn decimal(v: &str) -> Option<f64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let ok = !int.is_empty()
        && int.len() <= 3
        && frac.len() <= 2
        && !(v.contains('.') && frac.is_empty())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    ok.then(|| v.parse().ok()).flatten()
}

/// The source formats s3gate decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Jpeg,
    Png,
    Webp,
}

impl SourceKind {
    pub fn format(self) -> Format {
        match self {
            SourceKind::Jpeg => Format::Jpeg,
            SourceKind::Png => Format::Png,
            SourceKind::Webp => Format::Webp,
        }
    }
}

/// The output format and whether it came from `Accept` (then the answer
/// carries `Vary: Accept`).
pub fn choose_format(
    choice: FormatChoice,
    source: SourceKind,
    accept: Option<&str>,
    out_pixels: u64,
) -> Result<(Format, bool), String> {
    choose_format_within(choice, source, accept, out_pixels, MAX_AVIF_PIXELS)
}

/// As [`choose_format`], with AVIF allowed up to `avif_max` pixels (see
/// [`avif_max_pixels`]).
pub fn choose_format_within(
    choice: FormatChoice,
    source: SourceKind,
    accept: Option<&str>,
    out_pixels: u64,
    avif_max: u64,
) -> Result<(Format, bool), String> {
    match choice {
        FormatChoice::Keep => Ok((source.format(), false)),
        FormatChoice::Fixed(Format::Avif) if out_pixels > avif_max => Err(format!(
            "AVIF output is limited to {avif_max} pixels here and this one would be {out_pixels}; ask for a smaller w/h, or WebP"
        )),
        FormatChoice::Fixed(f) => Ok((f, false)),
        FormatChoice::Auto => {
            let accept = accept.unwrap_or("");
            let f = if accepts(accept, "image/avif") && out_pixels <= avif_max {
                Format::Avif
            } else if accepts(accept, "image/webp") {
                Format::Webp
            } else {
                source.format()
            };
            Ok((f, true))
        }
    }
}

/// Whether `Accept` names `mime` with a quality above 0. Only the exact
/// type counts: `image/*` and `*/*` are sent by clients that cannot decode
/// AVIF.
pub fn accepts(accept: &str, mime: &str) -> bool {
    accept.split(',').any(|range| {
        let mut parts = range.split(';');
        let kind = parts.next().unwrap_or("").trim();
        if !kind.eq_ignore_ascii_case(mime) {
            return false;
        }
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map(|(_, v)| v.trim().parse::<f64>().unwrap_or(0.0));
        q.is_none_or(|q| q > 0.0)
    })
}

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

/// The variant's ETag and the hash naming it in the cache: the source's
/// version, the parameters as they take effect and the output format.
pub fn variant_id(source_etag: &str, spec: &Spec, format: Format) -> String {
    let mut h = Sha256::new();
    for part in [
        PIPELINE_VERSION,
        source_etag,
        &spec.canonical(),
        format.as_str(),
    ] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The variant cache's key for a source key: `{prefix}{key}/{id}.{ext}`
/// (relative to the configured key prefix, like every key).
pub fn variant_key(prefix: &str, key: &str, id: &str, format: Format) -> String {
    format!("{prefix}{key}/{id}.{}", format.extension())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query as API Gateway hands it over (a name given twice has two
    /// values); shared with the signing tests.
    pub(super) fn q(pairs: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
        let mut m: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in pairs {
            m.entry(k.to_string()).or_default().push(v.to_string());
        }
        m
    }

    fn spec(pairs: &[(&str, &str)]) -> Spec {
        Spec::from_query(&q(pairs))
            .expect("valid")
            .expect("a transform")
    }

    #[test]
    fn no_transform_parameters_means_no_transform() {
        assert_eq!(Spec::from_query(&q(&[("v", "3")])), Ok(None));
        assert_eq!(Spec::from_query(&q(&[])), Ok(None));
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, name) in [
            (&[("w", "0")][..], "w"),
            (&[("w", "4097")], "w"),
            (&[("w", "-5")], "w"),
            (&[("w", "12.5")], "w"),
            (&[("h", "x")], "h"),
            (&[("w", "10"), ("fit", "stretch")], "fit"),
            (&[("w", "10"), ("gravity", "up")], "gravity"),
            (&[("format", "gif")], "format"),
            (&[("w", "10"), ("q", "0")], "q"),
            (&[("w", "10"), ("q", "101")], "q"),
            (&[("w", "10"), ("dpr", "5")], "dpr"),
            (&[("w", "10"), ("dpr", "0.5")], "dpr"),
            (&[("w", "10"), ("dpr", "1.")], "dpr"),
            (&[("w", "10"), ("dpr", "NaN")], "dpr"),
            (&[("dpr", "2")], "dpr"),
            (&[("w", "3000"), ("dpr", "2")], "dpr"),
            (&[("w", "10"), ("width", "5")], "width"),
            (&[("w", "10"), ("w", "20")], "w"),
        ] {
            let err = Spec::from_query(&q(pairs)).expect_err("refused");
            assert_eq!(err.name, name, "{pairs:?}: {err}");
        }
    }

    #[test]
    fn dpr_multiplies_and_equal_results_share_an_identity() {
        let a = spec(&[("w", "400"), ("dpr", "2")]);
        let b = spec(&[("w", "800")]);
        assert_eq!(a.w, Some(800));
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(
            variant_id("\"e\"", &a, Format::Webp),
            variant_id("\"e\"", &b, Format::Webp)
        );
        assert_ne!(
            variant_id("\"e\"", &a, Format::Webp),
            variant_id("\"e\"", &a, Format::Avif)
        );
        assert_ne!(
            variant_id("\"e\"", &a, Format::Webp),
            variant_id("\"f\"", &a, Format::Webp)
        );
    }

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

    #[test]
    fn auto_negotiates_from_accept() {
        let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";
        let safari_old = "image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5";
        let curl = "*/*";
        let k = SourceKind::Jpeg;
        let auto = FormatChoice::Auto;
        assert_eq!(
            choose_format(auto, k, Some(chrome), 1000),
            Ok((Format::Avif, true))
        );
        assert_eq!(
            choose_format(auto, k, Some(safari_old), 1000),
            Ok((Format::Webp, true))
        );
        assert_eq!(
            choose_format(auto, k, Some(curl), 1000),
            Ok((Format::Jpeg, true))
        );
        assert_eq!(choose_format(auto, k, None, 1000), Ok((Format::Jpeg, true)));
        assert_eq!(
            choose_format(auto, k, Some("image/avif;q=0, image/webp"), 1000),
            Ok((Format::Webp, true))
        );
        // Too big for AVIF: WebP instead, and an explicit AVIF is refused.
        assert_eq!(
            choose_format(auto, k, Some(chrome), 4_000_000),
            Ok((Format::Webp, true))
        );
        assert!(choose_format(FormatChoice::Fixed(Format::Avif), k, None, 4_000_000).is_err());
        assert_eq!(
            choose_format(FormatChoice::Keep, SourceKind::Png, Some(chrome), 10),
            Ok((Format::Png, false))
        );
    }
}
