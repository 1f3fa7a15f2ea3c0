//! The output format: the one asked for, the source's own, or (`format=auto`)
//! the best the client's `Accept` names, AVIF only while it encodes in time.

use super::MAX_AVIF_PIXELS;
use super::params::{Format, FormatChoice, SourceKind};

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

#[cfg(test)]
mod tests {
    use super::*;

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
