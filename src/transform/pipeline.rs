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

use std::io::Cursor;
use std::time::Instant;

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};

use super::{Format, Plan, SourceKind, Spec, plan};

/// Why a transform did not produce an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The image cannot be transformed (422): `public` says why in
    /// s3gate's own words; `detail` (a codec's own text) is for the log
    /// only, never for the caller.
    Unprocessable {
        public: String,
        detail: Option<String>,
    },
    /// The deadline passed.
    TimedOut,
}

fn bad(why: impl Into<String>) -> Failure {
    Failure::Unprocessable {
        public: why.into(),
        detail: None,
    }
}

/// A codec refused the data: the caller learns which kind of image was
/// damaged, the log learns the codec's words.
fn damaged(kind: &str, e: &dyn std::fmt::Display) -> Failure {
    Failure::Unprocessable {
        public: format!("the {kind} is damaged or incomplete, so it cannot be transformed"),
        detail: Some(format!("{kind} decoder: {e}")),
    }
}

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

fn animated(kind: &str) -> Failure {
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
fn jpeg_scale(probe: Probe, plan: &Plan, turned: bool) -> u32 {
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

/// Pixels: 3 (RGB) or 4 (RGBA) 8-bit channels, rows packed.
#[derive(Debug, Clone)]
pub struct Pixels {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

impl Pixels {
    /// Decoded pixels whose length matches their size, or a 422.
    fn checked(
        width: u32,
        height: u32,
        channels: u8,
        data: Vec<u8>,
        kind: &str,
    ) -> Result<Pixels, Failure> {
        if data.len() != width as usize * height as usize * usize::from(channels) {
            return Err(bad(format!(
                "the {kind} decoded to another number of pixels than its header says"
            )));
        }
        Ok(Pixels {
            width,
            height,
            channels,
            data,
        })
    }
}

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

/// The threads JPEGs are decoded on, one per transform that may run at
/// once. jpeg-decoder is built with its `rayon` feature and run inside this
/// pool, so a baseline JPEG is decoded start to end on one thread: without
/// rayon it starts a thread per colour component for every image and hands
/// each row of blocks over a channel, which on a one-core Lambda is a
/// context switch per row (17 % of the CPU time in the kernel for the 12 MP
/// benchmark, 1 % with the pool). Rayon's global pool is never used: the
/// decoder's parallel steps run in the pool that calls them.
fn jpeg_pool() -> Result<&'static rayon::ThreadPool, Failure> {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    if let Some(pool) = POOL.get() {
        return Ok(pool);
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(super::concurrency())
        .thread_name(|i| format!("s3gate-jpeg-{i}"))
        .build()
        .map_err(|e| Failure::Unprocessable {
            public: "the JPEG decoder could not start".to_string(),
            detail: Some(format!("rayon pool: {e}")),
        })?;
    // Two first requests may both build one; the loser's pool is dropped.
    Ok(POOL.get_or_init(|| pool))
}

/// Decodes a JPEG at the smallest of 1/8, 1/4, 1/2, 1 whose crop still
/// covers the target on both axes (what libjpeg's scaled IDCT, and sharp's
/// shrink-on-load, do).
///
/// A file that does not end in an EOI marker is either whole but for that
/// marker (browsers show it) or cut short. jpeg-decoder reads up to eight
/// bytes ahead of the bits it needs, so it fails the first kind; given an
/// EOI it decodes both, filling a cut scan's missing blocks with zeros. So
/// such a file is decoded twice, once with an EOI appended and once with
/// filler bytes before it: a whole scan never reads past its end, so the
/// two agree; a cut one reads the filler as image data, and the two differ
/// (a 422, "ends early"). Only files without an EOI pay for the second
/// decode.
fn decode_jpeg(bytes: &[u8], probe: Probe, plan: &Plan, turned: bool) -> Result<Pixels, Failure> {
    if has_eoi(bytes) {
        return decode_jpeg_once(bytes, probe, plan, turned);
    }
    let mut with_eoi = Vec::with_capacity(bytes.len() + 2);
    with_eoi.extend_from_slice(bytes);
    with_eoi.extend_from_slice(&[0xFF, 0xD9]);
    let first = decode_jpeg_once(&with_eoi, probe, plan, turned)?;
    let mut with_filler = Vec::with_capacity(bytes.len() + 66);
    with_filler.extend_from_slice(bytes);
    with_filler.extend_from_slice(&[0x5A; 64]);
    with_filler.extend_from_slice(&[0xFF, 0xD9]);
    match decode_jpeg_once(&with_filler, probe, plan, turned) {
        Ok(second) if second.data == first.data => Ok(first),
        _ => Err(Failure::Unprocessable {
            public: "the JPEG ends before its last row, so it cannot be transformed".to_string(),
            detail: Some("JPEG scan data cut short (no EOI; decodes differ with filler)".into()),
        }),
    }
}

/// Whether an EOI marker (FF D9) follows the first scan: then the file is
/// decoded as it is (bytes after the EOI, which some cameras add, are
/// ignored by the decoder). The scan is found by walking the segments, so
/// an EXIF thumbnail's own EOI, inside APP1, does not count. Inside scan
/// data an FF is always followed by 00 or a restart marker.
fn has_eoi(bytes: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        if bytes[at + 1] == 0xDA {
            return bytes[at..].windows(2).any(|w| w == [0xFF, 0xD9]);
        }
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        at += 2 + len;
    }
    // No scan found: the decoder will say what is wrong.
    true
}

fn decode_jpeg_once(
    bytes: &[u8],
    probe: Probe,
    plan: &Plan,
    turned: bool,
) -> Result<Pixels, Failure> {
    let mut dec = jpeg_decoder::Decoder::new(bytes);
    // Room for the largest allowed source at full scale (the caller checked
    // the pixel count); progressive files keep all coefficients.
    dec.set_max_decoding_buffer_size(usize::MAX);
    dec.read_info().map_err(|e| damaged("JPEG", &e))?;
    let info = dec
        .info()
        .ok_or_else(|| bad("the JPEG has no frame header"))?;
    if (u32::from(info.width), u32::from(info.height)) != (probe.width, probe.height) {
        return Err(bad("the JPEG's frame header contradicts its first one"));
    }
    let k = jpeg_scale(probe, plan, turned);
    if k < 8 {
        let sw = (u32::from(info.width) * k).div_ceil(8);
        let sh = (u32::from(info.height) * k).div_ceil(8);
        dec.scale(sw as u16, sh as u16)
            .map_err(|e| damaged("JPEG", &e))?;
    }
    let data = jpeg_pool()?
        .install(|| dec.decode())
        .map_err(|e| damaged("JPEG", &e))?;
    let info = dec
        .info()
        .ok_or_else(|| bad("the JPEG has no frame header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let data = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data,
        jpeg_decoder::PixelFormat::L8 => data.iter().flat_map(|&v| [v, v, v]).collect(),
        jpeg_decoder::PixelFormat::L16 => {
            return Err(bad("16-bit (lossless) JPEGs are not transformed"));
        }
        jpeg_decoder::PixelFormat::CMYK32 => {
            return Err(bad("CMYK JPEGs are not transformed"));
        }
    };
    Pixels::checked(width, height, 3, data, "JPEG")
}

fn decode_png(bytes: &[u8], probe: Probe) -> Result<Pixels, Failure> {
    let limits = png::Limits {
        // RGBA at 16 bits before it is brought to 8: the caller checked
        // the pixel count, this bounds what a lying header can cost.
        bytes: (probe.width as usize)
            .saturating_mul(probe.height as usize)
            .saturating_mul(8)
            .saturating_add(1 << 20),
    };
    let mut d = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    d.set_transformations(png::Transformations::normalize_to_color8());
    let mut r = d.read_info().map_err(|e| damaged("PNG", &e))?;
    if r.info().animation_control.is_some() {
        return Err(animated("PNG"));
    }
    if (r.info().width, r.info().height) != (probe.width, probe.height) {
        return Err(bad("the PNG's header contradicts itself"));
    }
    let size = r
        .output_buffer_size()
        .ok_or_else(|| bad("the PNG is too large to decode"))?;
    let mut buf = vec![0; size];
    let frame = r.next_frame(&mut buf).map_err(|e| damaged("PNG", &e))?;
    buf.truncate(frame.buffer_size());
    let (channels, data) = match frame.color_type {
        png::ColorType::Rgb => (3, buf),
        png::ColorType::Rgba => (4, buf),
        png::ColorType::Grayscale => (3, buf.iter().flat_map(|&v| [v, v, v]).collect()),
        png::ColorType::GrayscaleAlpha => (
            4,
            buf.chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0], p[1]])
                .collect(),
        ),
        png::ColorType::Indexed => return Err(bad("the PNG's palette could not be expanded")),
    };
    Pixels::checked(frame.width, frame.height, channels, data, "PNG")
}

fn decode_webp(bytes: &[u8], probe: Probe) -> Result<Pixels, Failure> {
    let mut d =
        image_webp::WebPDecoder::new(Cursor::new(bytes)).map_err(|e| damaged("WebP", &e))?;
    if d.is_animated() {
        return Err(animated("WebP"));
    }
    if d.dimensions() != (probe.width, probe.height) {
        return Err(bad("the WebP's header contradicts itself"));
    }
    d.set_memory_limit(
        (probe.width as usize)
            .saturating_mul(probe.height as usize)
            .saturating_mul(4)
            .saturating_add(1 << 20),
    );
    let size = d
        .output_buffer_size()
        .ok_or_else(|| bad("the WebP is too large to decode"))?;
    let mut data = vec![0; size];
    d.read_image(&mut data).map_err(|e| damaged("WebP", &e))?;
    let channels = if d.has_alpha() { 4 } else { 3 };
    Pixels::checked(probe.width, probe.height, channels, data, "WebP")
}

/// Turns stored pixels upright (EXIF orientation 2-8).
fn orient(p: Pixels, orientation: u8) -> Pixels {
    if !(2..=8).contains(&orientation) {
        return p;
    }
    let (w, h, c) = (p.width as usize, p.height as usize, p.channels as usize);
    let (ow, oh) = if orientation >= 5 { (h, w) } else { (w, h) };
    let mut out = vec![0u8; p.data.len()];
    for dy in 0..oh {
        for dx in 0..ow {
            let (sx, sy) = match orientation {
                2 => (w - 1 - dx, dy),
                3 => (w - 1 - dx, h - 1 - dy),
                4 => (dx, h - 1 - dy),
                5 => (dy, dx),
                6 => (dy, h - 1 - dx),
                7 => (w - 1 - dy, h - 1 - dx),
                _ => (w - 1 - dy, dx),
            };
            let s = (sy * w + sx) * c;
            let d = (dy * ow + dx) * c;
            out[d..d + c].copy_from_slice(&p.data[s..s + c]);
        }
    }
    Pixels {
        width: ow as u32,
        height: oh as u32,
        channels: p.channels,
        data: out,
    }
}

/// RGBA whose every pixel is opaque becomes RGB: less to resize and encode.
fn drop_opaque_alpha(p: Pixels) -> Pixels {
    if p.channels != 4 || p.data.chunks_exact(4).any(|px| px[3] != 255) {
        return p;
    }
    let data = p
        .data
        .chunks_exact(4)
        .flat_map(|px| [px[0], px[1], px[2]])
        .collect();
    Pixels {
        channels: 3,
        data,
        ..p
    }
}

fn resize(p: &Pixels, crop: (f64, f64, f64, f64), to: (u32, u32)) -> Result<Pixels, Failure> {
    let whole = crop == (0.0, 0.0, f64::from(p.width), f64::from(p.height));
    if whole && to == (p.width, p.height) {
        return Ok(p.clone());
    }
    let c = usize::from(p.channels);
    let mut data = vec![0u8; to.0 as usize * to.1 as usize * c];
    let opts = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(crop.0, crop.1, crop.2, crop.3);
    let failed = |e: &dyn std::fmt::Display| Failure::Unprocessable {
        public: "the image could not be resized".to_string(),
        detail: Some(format!("resizer: {e}")),
    };
    let mut resizer = Resizer::new();
    if c == 4 {
        let src = TypedImageRef::<U8x4>::from_buffer(p.width, p.height, &p.data)
            .map_err(|e| failed(&e))?;
        let mut dst =
            TypedImage::<U8x4>::from_buffer(to.0, to.1, &mut data).map_err(|e| failed(&e))?;
        resizer
            .resize_typed(&src, &mut dst, &opts)
            .map_err(|e| failed(&e))?;
    } else {
        let src = TypedImageRef::<U8x3>::from_buffer(p.width, p.height, &p.data)
            .map_err(|e| failed(&e))?;
        let mut dst =
            TypedImage::<U8x3>::from_buffer(to.0, to.1, &mut data).map_err(|e| failed(&e))?;
        resizer
            .resize_typed(&src, &mut dst, &opts)
            .map_err(|e| failed(&e))?;
    }
    Ok(Pixels {
        width: to.0,
        height: to.1,
        channels: p.channels,
        data,
    })
}

/// The image on its canvas (`contain` pads: transparent where the format
/// keeps alpha, white for JPEG), and alpha flattened onto white for JPEG.
fn place(image: Pixels, plan: &Plan, format: Format) -> Pixels {
    let image = if !format.has_alpha() && image.channels == 4 {
        flatten(image)
    } else {
        image
    };
    if plan.canvas == (image.width, image.height) {
        return image;
    }
    let c = if format.has_alpha() { 4 } else { 3 };
    let (cw, ch) = (plan.canvas.0 as usize, plan.canvas.1 as usize);
    let bg: &[u8] = if c == 4 {
        &[0, 0, 0, 0]
    } else {
        &[255, 255, 255]
    };
    let mut data: Vec<u8> = bg.iter().copied().cycle().take(cw * ch * c).collect();
    let (ox, oy) = (plan.offset.0 as usize, plan.offset.1 as usize);
    let (ic, iw) = (usize::from(image.channels), image.width as usize);
    for (y, src) in image.data.chunks_exact(iw * ic).enumerate() {
        let at = ((oy + y) * cw + ox) * c;
        // The plan keeps the picture inside its canvas; a row that were not
        // would be left as background rather than panic.
        let Some(dst) = data.get_mut(at..at + iw * c) else {
            continue;
        };
        if ic == c {
            dst.copy_from_slice(src);
        } else {
            // RGB onto an RGBA canvas: opaque.
            for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(3)) {
                d.copy_from_slice(&[s[0], s[1], s[2], 255]);
            }
        }
    }
    Pixels {
        width: plan.canvas.0,
        height: plan.canvas.1,
        channels: c as u8,
        data,
    }
}

fn flatten(p: Pixels) -> Pixels {
    let data = p
        .data
        .chunks_exact(4)
        .flat_map(|px| {
            let a = u32::from(px[3]);
            let mix = |v: u8| ((u32::from(v) * a + 255 * (255 - a) + 127) / 255) as u8;
            [mix(px[0]), mix(px[1]), mix(px[2])]
        })
        .collect();
    Pixels {
        channels: 3,
        data,
        ..p
    }
}

/// An encoder's refusal (422), for every output format.
pub(super) fn encode_failed(e: &dyn std::fmt::Display) -> Failure {
    Failure::Unprocessable {
        public: "the image could not be encoded".to_string(),
        detail: Some(format!("encoder: {e}")),
    }
}

/// Stops libwebp's encoder when the request's deadline passes.
#[derive(Clone, Copy)]
struct Deadline(Instant);

impl webpx::Stop for Deadline {
    fn check(&self) -> Result<(), webpx::StopReason> {
        if Instant::now() >= self.0 {
            Err(webpx::StopReason::TimedOut)
        } else {
            Ok(())
        }
    }
}

/// ravif's quality for s3gate's `q`: `q=80` gives about what sharp's AVIF
/// default (quality 50) gives, and about the PSNR of JPEG at `q=80`, at a
/// third of JPEG's size (calibrated with `scripts/bench-transform.sh`).
pub fn avif_quality(q: u8) -> f32 {
    let q = f32::from(q);
    if q <= 80.0 {
        20.0 + (q - 1.0) * 50.0 / 79.0
    } else {
        70.0 + (q - 80.0) * 30.0 / 20.0
    }
}

fn encode(p: &Pixels, format: Format, q: u8, deadline: Instant) -> Result<Vec<u8>, Failure> {
    let failed = encode_failed;
    let (w, h) = (p.width, p.height);
    match format {
        Format::Jpeg => {
            let mut out = Vec::with_capacity(64 << 10);
            let mut enc = jpeg_encoder::Encoder::new(&mut out, q);
            enc.set_optimized_huffman_tables(true);
            enc.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
            let (ww, hh) = (
                u16::try_from(w).map_err(|e| failed(&e))?,
                u16::try_from(h).map_err(|e| failed(&e))?,
            );
            enc.encode(&p.data, ww, hh, jpeg_encoder::ColorType::Rgb)
                .map_err(|e| failed(&e))?;
            Ok(out)
        }
        Format::Png => {
            let mut out = Vec::with_capacity(256 << 10);
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(if p.channels == 4 {
                png::ColorType::Rgba
            } else {
                png::ColorType::Rgb
            });
            enc.set_depth(png::BitDepth::Eight);
            let mut writer = enc.write_header().map_err(|e| failed(&e))?;
            writer.write_image_data(&p.data).map_err(|e| failed(&e))?;
            writer.finish().map_err(|e| failed(&e))?;
            Ok(out)
        }
        Format::Webp if p.channels == 4 => {
            super::webp::encode_rgba(&p.data, w, h, q, Deadline(deadline))
        }
        Format::Webp => super::webp::encode_rgb(&p.data, w, h, q, Deadline(deadline)),
        Format::Avif => {
            use rgb::FromSlice;
            let enc = ravif::Encoder::new()
                .with_quality(avif_quality(q))
                .with_alpha_quality(avif_quality(q))
                .with_speed(6)
                .with_bit_depth(ravif::BitDepth::Eight)
                .with_num_threads(Some(1));
            let (w, h) = (w as usize, h as usize);
            let encoded = if p.channels == 4 {
                enc.encode_rgba(imgref::Img::new(p.data.as_rgba(), w, h))
            } else {
                enc.encode_rgb(imgref::Img::new(p.data.as_rgb(), w, h))
            };
            encoded.map(|e| e.avif_file).map_err(|e| failed(&e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_moves_pixels_where_exif_says() {
        // 2×1: a red pixel then a blue one.
        let p = Pixels {
            width: 2,
            height: 1,
            channels: 3,
            data: vec![255, 0, 0, 0, 0, 255],
        };
        let six = orient(p.clone(), 6);
        assert_eq!((six.width, six.height), (1, 2));
        assert_eq!(six.data, vec![255, 0, 0, 0, 0, 255]);
        let eight = orient(p.clone(), 8);
        assert_eq!(eight.data, vec![0, 0, 255, 255, 0, 0]);
        let three = orient(p.clone(), 3);
        assert_eq!(three.data, vec![0, 0, 255, 255, 0, 0]);
        assert_eq!(orient(p.clone(), 1).data, p.data);
    }

    #[test]
    fn avif_quality_stays_in_ravif_range() {
        for q in 1..=100u8 {
            let a = avif_quality(q);
            assert!((1.0..=100.0).contains(&a), "{q} -> {a}");
        }
        assert_eq!(avif_quality(80), 70.0);
        assert_eq!(avif_quality(100), 100.0);
    }

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
