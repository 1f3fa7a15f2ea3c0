//! What a source's first bytes say, before any decoding: its type and size,
//! whether it is animated, its EXIF orientation and so its upright
//! geometry, and the memory its decoding will take.

use super::failure::{Failure, bad};
use super::geometry::{Plan, plan};
use super::params::{Format, SourceKind, Spec};

/// What a source's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: SourceKind,
    pub width: u32,
    pub height: u32,
}

/// Reads type and size from the first bytes of a source. `Ok(None)`: the
/// header is not in `head` (a JPEG with a large EXIF/ICC block before its
/// frame header); read more and ask again. `complete` says `head` is the
/// whole object.
pub fn probe(head: &[u8], complete: bool) -> Result<Option<Probe>, Failure> {
    use imagesize::ImageType;
    let kind = match imagesize::image_type(head) {
        Ok(ImageType::Jpeg) => SourceKind::Jpeg,
        Ok(ImageType::Png) => SourceKind::Png,
        Ok(ImageType::Webp) => SourceKind::Webp,
        Ok(ImageType::Gif) => {
            return Err(bad(
                "GIFs are not transformed (animations are not resized); fetch the original without transform parameters",
            ));
        }
        Ok(ImageType::Heif(_)) => {
            return Err(bad(
                "AVIF/HEIF sources are not transformed (no decoder in this build); fetch the original without transform parameters",
            ));
        }
        Ok(_) | Err(_) if !complete && head.len() < 32 => return Ok(None),
        Ok(_) | Err(_) => {
            return Err(bad(
                "the object is not a JPEG, PNG or WebP image, so it cannot be transformed",
            ));
        }
    };
    let size = match imagesize::blob_size(head) {
        Ok(s) => s,
        Err(_) if !complete => return Ok(None),
        Err(_) => return Err(bad("the image header is damaged or incomplete")),
    };
    let (width, height) = (
        u32::try_from(size.width).unwrap_or(u32::MAX),
        u32::try_from(size.height).unwrap_or(u32::MAX),
    );
    if width == 0 || height == 0 {
        return Err(bad("the image header gives a width or height of 0"));
    }
    if kind == SourceKind::Png && png_is_animated(head) {
        return Err(animated("PNG"));
    }
    if kind == SourceKind::Webp && webp_is_animated(head) {
        return Err(animated("WebP"));
    }
    Ok(Some(Probe {
        kind,
        width,
        height,
    }))
}

pub fn animated(kind: &str) -> Failure {
    bad(format!(
        "animated {kind}s are not transformed; fetch the original without transform parameters"
    ))
}

/// An `acTL` chunk before the first `IDAT` (APNG).
fn png_is_animated(bytes: &[u8]) -> bool {
    let mut at = 8;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let kind = &bytes[at + 4..at + 8];
        if kind == b"acTL" {
            return true;
        }
        if kind == b"IDAT" {
            return false;
        }
        at = at.saturating_add(12).saturating_add(len as usize);
    }
    false
}

/// The animation flag of a `VP8X` header.
fn webp_is_animated(bytes: &[u8]) -> bool {
    bytes.len() > 20 && &bytes[12..16] == b"VP8X" && bytes[20] & 0x02 != 0
}

/// EXIF orientation (1-8) of a JPEG, from its APP1 segment; 1 when absent.
pub fn jpeg_orientation(bytes: &[u8]) -> u8 {
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if marker == 0xDA || marker == 0xD9 {
            break;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let body = bytes.get(at + 4..at + 2 + len).unwrap_or(&[]);
        if marker == 0xE1
            && let Some(tiff) = body.strip_prefix(b"Exif\0\0")
        {
            return exif_orientation(tiff).unwrap_or(1);
        }
        at += 2 + len;
    }
    1
}

fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let le = match tiff.get(..2)? {
        b"II" => true,
        b"MM" => false,
        _ => return None,
    };
    let u16_at = |i: usize| -> Option<u16> {
        let b = tiff.get(i..i + 2)?;
        Some(if le {
            u16::from_le_bytes([b[0], b[1]])
        } else {
            u16::from_be_bytes([b[0], b[1]])
        })
    };
    let u32_at = |i: usize| -> Option<u32> {
        let b = tiff.get(i..i + 4)?;
        Some(if le {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        } else {
            u32::from_be_bytes([b[0], b[1], b[2], b[3]])
        })
    };
    let ifd = u32_at(4)? as usize;
    let count = usize::from(u16_at(ifd)?);
    (0..count.min(512)).find_map(|i| {
        let e = ifd + 2 + i * 12;
        (u16_at(e)? == 0x0112)
            .then(|| u16_at(e + 8))
            .flatten()
            .and_then(|o| u8::try_from(o).ok())
            .filter(|o| (1..=8).contains(o))
    })
}

/// A source's geometry as shown: its EXIF orientation (JPEG; 1 for the
/// others), its upright size (orientations 5-8 swap the sides) and the plan
/// for it. The handler decides on it before reading the whole source; the
/// pipeline works from the same.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Upright {
    pub orientation: u8,
    pub width: u32,
    pub height: u32,
    pub plan: Plan,
}

impl Upright {
    /// Whether the stored picture lies on its side.
    pub fn turned(&self) -> bool {
        self.orientation >= 5
    }
}

/// The upright geometry from the source's first bytes (the JPEG's APP1
/// segment precedes its frame header, so the probed head holds it).
pub fn upright_plan(head: &[u8], probe: Probe, spec: &Spec) -> Result<Upright, String> {
    let orientation = if probe.kind == SourceKind::Jpeg {
        jpeg_orientation(head)
    } else {
        1
    };
    let (width, height) = if orientation >= 5 {
        (probe.height, probe.width)
    } else {
        (probe.width, probe.height)
    };
    Ok(Upright {
        orientation,
        width,
        height,
        plan: plan(spec, width, height)?,
    })
}

/// Peak bytes a transform of this source holds, from its header: decoded
/// pixels (and one copy: orientation, alpha dropped), a progressive JPEG's
/// coefficients (kept for the whole image whatever the scale), the resized
/// picture and its canvas; or, if larger, the WebP encoder's peak after the
/// decoded pixels are freed: 28 bytes a canvas pixel with alpha (the
/// canvas, its colour and alpha planes, the residuals for libwebp's
/// lossless coder and libwebp's own buffers; a 4096×4096 RGBA PNG to WebP
/// peaked at 453 MB, 27 a pixel). Counted for any WebP output: whether the
/// canvas keeps an alpha channel is known only after decoding.
pub fn decode_memory(head: &[u8], probe: Probe, up: &Upright, format: Format) -> u64 {
    let px = u64::from(probe.width).saturating_mul(u64::from(probe.height));
    let canvas = u64::from(up.plan.canvas.0) * u64::from(up.plan.canvas.1);
    let out = canvas.saturating_mul(4 * 2);
    let encode = if format == Format::Webp {
        canvas.saturating_mul(28)
    } else {
        0
    };
    let decoded = match probe.kind {
        SourceKind::Jpeg => {
            let k = jpeg_scale(probe, &up.plan, up.turned());
            let scaled = px.saturating_mul(u64::from(k * k)) / 64;
            let coefficients = if jpeg_is_progressive(head) {
                px.saturating_mul(3)
            } else {
                0
            };
            scaled.saturating_mul(3 * 2).saturating_add(coefficients)
        }
        SourceKind::Png | SourceKind::Webp => px.saturating_mul(4 * 2),
    };
    decoded.saturating_add(out).max(encode)
}

/// A progressive frame header (SOF2, SOF6, SOF10, SOF14) before the scan.
fn jpeg_is_progressive(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let marker = bytes[at + 1];
        if matches!(marker, 0xC2 | 0xC6 | 0xCA | 0xCE) {
            return true;
        }
        if marker == 0xDA || matches!(marker, 0xC0 | 0xC1 | 0xC3) {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
    false
}

/// Eighths of the JPEG's size to decode at: the smallest of 1, 2, 4, 8
/// whose crop (in stored orientation) still covers the target on both axes.
pub fn jpeg_scale(probe: Probe, plan: &Plan, turned: bool) -> u32 {
    let (tw, th, cw, ch) = if turned {
        (plan.image.1, plan.image.0, plan.crop.3, plan.crop.2)
    } else {
        (plan.image.0, plan.image.1, plan.crop.2, plan.crop.3)
    };
    let (w, h) = (f64::from(probe.width), f64::from(probe.height));
    [1u32, 2, 4]
        .into_iter()
        .find(|&k| {
            let (sw, sh) = (
                (w * f64::from(k) / 8.0).ceil(),
                (h * f64::from(k) / 8.0).ceil(),
            );
            cw * sw / w >= f64::from(tw) && ch * sh / h >= f64::from(th)
        })
        .unwrap_or(8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_orientation_is_read_from_app1() {
        // SOI, APP1 "Exif\0\0" + big-endian TIFF with one IFD entry 0x0112 = 6.
        let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec();
        tiff.extend_from_slice(&[0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0]);
        let mut app1 = b"Exif\0\0".to_vec();
        app1.extend_from_slice(&tiff);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE1];
        jpeg.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
        jpeg.extend_from_slice(&app1);
        jpeg.extend_from_slice(&[0xFF, 0xDA]);
        assert_eq!(jpeg_orientation(&jpeg), 6);
        assert_eq!(jpeg_orientation(&[0xFF, 0xD8, 0xFF, 0xDA]), 1);
        assert_eq!(jpeg_orientation(&jpeg[..12]), 1);
    }
}
