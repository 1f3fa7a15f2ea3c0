//! Bytes to pixels: JPEG (scaled while decoding, on s3gate's own thread
//! pool), PNG and WebP, each bounded by what the header said.

use std::io::Cursor;

use super::failure::{Failure, bad, damaged};
use super::geometry::Plan;
use super::probe::{Probe, animated, jpeg_scale};

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
pub fn decode_jpeg(
    bytes: &[u8],
    probe: Probe,
    plan: &Plan,
    turned: bool,
) -> Result<Pixels, Failure> {
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

pub fn decode_png(bytes: &[u8], probe: Probe) -> Result<Pixels, Failure> {
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

pub fn decode_webp(bytes: &[u8], probe: Probe) -> Result<Pixels, Failure> {
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
