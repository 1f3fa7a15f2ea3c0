//! Pixels to bytes in the output format: jpeg-encoder, png, s3gate's WebP
//! assembly over libwebp, ravif.

use std::time::Instant;

use super::decode::Pixels;
use super::failure::{Failure, encode_failed};
use super::params::Format;

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

pub fn encode(p: &Pixels, format: Format, q: u8, deadline: Instant) -> Result<Vec<u8>, Failure> {
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
    fn avif_quality_stays_in_ravif_range() {
        for q in 1..=100u8 {
            let a = avif_quality(q);
            assert!((1.0..=100.0).contains(&a), "{q} -> {a}");
        }
        assert_eq!(avif_quality(80), 70.0);
        assert_eq!(avif_quality(100), 100.0);
    }
}
