//! The query API of transforms: `w`, `h`, `fit`, `gravity`, `format`, `q`,
//! `dpr`, each checked and given at most once, into a [`Spec`]; and the
//! formats s3gate reads and writes.

use std::collections::HashMap;

use super::{DEFAULT_QUALITY, MAX_SIDE, PARAMS, SIGNING_PARAMS, is_transform};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::tests::{q, spec};
    use crate::transform::variant_id;

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
}
