//! Decode, resize, encode. Pure CPU work on bytes already read, run on a
//! blocking thread by the handler; every step is bounded before it starts
//! (pixel counts from the header, decoder memory limits, output caps) and
//! the deadline is checked between steps and inside the WebP encoder.
//!
//! Codecs: `jpeg-decoder` (the one pure-Rust decoder that decodes at 1/2,
//! 1/4 or 1/8 scale: a 12 MP photo for an 800 px answer is decoded at
//! 1000×750), `png`, `image-webp` (decode), `fast_image_resize` (SIMD
//! Lanczos3), `jpeg-encoder`, `webpx` (libwebp, built from source and linked
//! statically), `ravif` (rav1e).

use std::time::Instant;

use super::decode::{decode_jpeg, decode_png, decode_webp};
use super::encode::encode;
use super::failure::{Failure, bad};
use super::ops::{drop_opaque_alpha, orient, place, resize};
use super::params::{Format, SourceKind, Spec};
use super::probe::{Probe, upright_plan};

/// A finished transform.
#[derive(Debug, Clone)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
    pub format: Format,
}

/// The whole transform of one source.
pub fn run(
    bytes: &[u8],
    probe: Probe,
    spec: &Spec,
    format: Format,
    deadline: Instant,
) -> Result<Output, Failure> {
    let check = || {
        if Instant::now() >= deadline {
            Err(Failure::TimedOut)
        } else {
            Ok(())
        }
    };
    let up = upright_plan(bytes, probe, spec).map_err(bad)?;
    let (plan, dw, dh) = (up.plan, up.width, up.height);
    let pixels = match probe.kind {
        SourceKind::Jpeg => decode_jpeg(bytes, probe, &plan, up.turned())?,
        SourceKind::Png => decode_png(bytes, probe)?,
        SourceKind::Webp => decode_webp(bytes, probe)?,
    };
    check()?;
    let pixels = orient(pixels, up.orientation);
    let pixels = drop_opaque_alpha(pixels);
    // The crop, in the decoded pixels (a JPEG may be decoded smaller).
    let (fx, fy) = (
        f64::from(pixels.width) / f64::from(dw),
        f64::from(pixels.height) / f64::from(dh),
    );
    // Clamped: scaling by fx, fy can round a hair past the edge.
    let (pw, ph) = (f64::from(pixels.width), f64::from(pixels.height));
    let left = (plan.crop.0 * fx).clamp(0.0, pw - 1.0);
    let top = (plan.crop.1 * fy).clamp(0.0, ph - 1.0);
    let crop = (
        left,
        top,
        (plan.crop.2 * fx).clamp(1.0, pw - left),
        (plan.crop.3 * fy).clamp(1.0, ph - top),
    );
    let image = resize(&pixels, crop, plan.image)?;
    drop(pixels);
    check()?;
    let canvas = place(image, &plan, format);
    let bytes = encode(&canvas, format, spec.q, deadline)?;
    Ok(Output {
        bytes,
        width: canvas.width,
        height: canvas.height,
        format,
    })
}
