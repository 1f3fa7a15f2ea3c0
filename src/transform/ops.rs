//! Pixel work between decoding and encoding: upright, opaque alpha dropped,
//! resized (SIMD Lanczos3), placed on its canvas, flattened for JPEG.

use fast_image_resize::images::{TypedImage, TypedImageRef};
use fast_image_resize::pixels::{U8x3, U8x4};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};

use super::decode::Pixels;
use super::failure::Failure;
use super::geometry::Plan;
use super::params::Format;

/// Turns stored pixels upright (EXIF orientation 2-8).
pub fn orient(p: Pixels, orientation: u8) -> Pixels {
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
pub fn drop_opaque_alpha(p: Pixels) -> Pixels {
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

pub fn resize(p: &Pixels, crop: (f64, f64, f64, f64), to: (u32, u32)) -> Result<Pixels, Failure> {
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
pub fn place(image: Pixels, plan: &Plan, format: Format) -> Pixels {
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
}
