//! Lossy WebP with an alpha channel, assembled by s3gate from two libwebp
//! encodes: the colour as a `VP8 ` bitstream and the alpha plane as a
//! lossless (`VP8L`) bitstream inside an `ALPH` chunk, which is what libwebp
//! itself writes. The difference is how the alpha plane's prediction
//! filter (WebP container spec, "Alpha") is chosen: libwebp's default
//! ("fast") guesses one from a count of distinct differences and also tries
//! none; on the benchmark's vignette the guess is the gradient filter, and
//! both it and no filter lose to the horizontal one by a third of the alpha
//! bytes, while trying every filter ("best") costs four full lossless
//! encodes. Here each filter is tried with a quick encode and the smallest
//! is encoded once at full effort ([`code_alpha`]): on the benchmark's
//! 400×225 vignette the alpha takes 6.5 KB instead of 10.8 KB, and the
//! whole encode 21.8 ms instead of libwebp's default 19.9 ms.

use super::failure::{Failure, encode_failed as failed};

/// The four prediction filters of the `ALPH` chunk, in their header order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlphaFilter {
    None = 0,
    Horizontal = 1,
    Vertical = 2,
    Gradient = 3,
}

/// The residual of each pixel after prediction, as the WebP spec defines
/// it (and as libwebp's `filters.c` computes it): `(alpha - predictor) mod
/// 256`; the top-left pixel is predicted by 0, the rest of the top row by
/// its left neighbour, the left column by the pixel above (the vertical
/// filter predicts every later row from above).
pub fn residuals(alpha: &[u8], width: usize, filter: AlphaFilter) -> Vec<u8> {
    let mut out = vec![0u8; alpha.len()];
    if width == 0 {
        return out;
    }
    for (y, (row, res)) in alpha
        .chunks_exact(width)
        .zip(out.chunks_exact_mut(width))
        .enumerate()
    {
        let above = y.checked_sub(1).map(|y| &alpha[y * width..(y + 1) * width]);
        for x in 0..width {
            let pred = match (filter, above, x) {
                (AlphaFilter::None, _, _) => 0,
                (_, None, 0) => 0,
                (_, None, _) => row[x - 1],
                (AlphaFilter::Vertical, Some(up), _) | (_, Some(up), 0) => up[x],
                (AlphaFilter::Horizontal, Some(_), _) => row[x - 1],
                (AlphaFilter::Gradient, Some(up), _) => {
                    let g = i16::from(row[x - 1]) + i16::from(up[x]) - i16::from(up[x - 1]);
                    g.clamp(0, 255) as u8
                }
            };
            res[x] = row[x].wrapping_sub(pred);
        }
    }
    out
}

/// The inverse of [`residuals`] (what a decoder does); for the tests.
#[cfg(test)]
pub fn unfilter(res: &[u8], width: usize, filter: AlphaFilter) -> Vec<u8> {
    let mut out = vec![0u8; res.len()];
    for y in 0..res.len() / width {
        for x in 0..width {
            let at = |xx: usize, yy: usize| out[yy * width + xx];
            let pred = match (filter, y, x) {
                (AlphaFilter::None, _, _) | (_, 0, 0) => 0,
                (_, 0, _) => at(x - 1, 0),
                (AlphaFilter::Vertical, _, _) | (_, _, 0) => at(x, y - 1),
                (AlphaFilter::Horizontal, _, _) => at(x - 1, y),
                (AlphaFilter::Gradient, _, _) => {
                    let g = i16::from(at(x - 1, y)) + i16::from(at(x, y - 1))
                        - i16::from(at(x - 1, y - 1));
                    g.clamp(0, 255) as u8
                }
            };
            out[y * width + x] = res[y * width + x].wrapping_add(pred);
        }
    }
    out
}

/// The residuals in the green channel of an opaque RGBA image, as
/// libwebp's own alpha encoder lays them out for its lossless coder.
fn green(res: &[u8]) -> Vec<u8> {
    res.iter().flat_map(|&g| [0, g, 0, 255]).collect()
}

/// The lossless bitstream of residuals laid out by [`green`], at libwebp's
/// effort `method` and `quality`: the payload of the `VP8L` chunk after its
/// 5-byte header.
fn lossless_stream<S: webpx::Stop>(
    green: &[u8],
    width: u32,
    height: u32,
    method: u8,
    quality: f32,
    stop: S,
) -> Result<Vec<u8>, Failure> {
    let file = webpx::Encoder::new_rgba(green, width, height)
        .config(
            webpx::EncoderConfig::new()
                .lossless(true)
                .exact(true)
                .method(method)
                .quality(quality),
        )
        .encode(stop)
        .map_err(stopped)?;
    let vp8l = chunk(&file, b"VP8L").map_err(|e| failed(&e))?;
    // A VP8L chunk starts with its signature (0x2f) and 32 bits of width,
    // height, alpha hint and version; the ALPH chunk holds the bitstream
    // that follows, its size implied by the image's.
    match vp8l.split_first() {
        Some((0x2f, rest)) if rest.len() >= 4 => Ok(rest[4..].to_vec()),
        _ => Err(failed(&"libwebp's lossless output has no VP8L header")),
    }
}

/// The filter for this alpha plane and its coded residuals. Planes of at
/// most 16 levels are coded unfiltered (libwebp's rule: the lossless
/// coder's palette does better). Otherwise each of the three filters is
/// coded at effort 0 (about 30 ns a pixel) and the smallest is coded again
/// at [`METHOD`]. On the planes measured the quick sizes rank the filters
/// as the full-effort ones do, which neither libwebp's guess nor the
/// residuals' entropy did (on the vignette the gradient filter has the
/// lowest entropy and the horizontal one codes a third smaller).
pub fn code_alpha<S: webpx::Stop + Copy>(
    alpha: &[u8],
    width: u32,
    height: u32,
    stop: S,
) -> Result<(AlphaFilter, Vec<u8>), Failure> {
    let final_quality = 8.0 * f32::from(METHOD);
    let mut seen = [false; 256];
    for &a in alpha {
        seen[usize::from(a)] = true;
    }
    if seen.iter().filter(|&&s| s).count() <= 16 {
        let stream = lossless_stream(&green(alpha), width, height, METHOD, final_quality, stop)?;
        return Ok((AlphaFilter::None, stream));
    }
    let quick = |filter| -> Result<(usize, AlphaFilter, Vec<u8>), Failure> {
        let px = green(&residuals(alpha, width as usize, filter));
        let size = lossless_stream(&px, width, height, 0, 0.0, stop)?.len();
        Ok((size, filter, px))
    };
    let mut best = quick(AlphaFilter::Horizontal)?;
    for filter in [AlphaFilter::Vertical, AlphaFilter::Gradient] {
        let next = quick(filter)?;
        if next.0 < best.0 {
            best = next;
        }
    }
    let (_, filter, px) = best;
    let stream = lossless_stream(&px, width, height, METHOD, final_quality, stop)?;
    Ok((filter, stream))
}

fn stopped(e: webpx::At<webpx::Error>) -> Failure {
    match e.error() {
        webpx::Error::Stopped(_) => Failure::TimedOut,
        _ => failed(&e),
    }
}

/// A chunk: its four-character code and its payload.
type Chunk<'a> = ([u8; 4], &'a [u8]);

/// The chunks of a RIFF WebP file.
fn chunks(file: &[u8]) -> Result<Vec<Chunk<'_>>, String> {
    if file.len() < 12 || &file[..4] != b"RIFF" || &file[8..12] != b"WEBP" {
        return Err("libwebp's output is not a WebP file".to_string());
    }
    let mut out = Vec::new();
    let mut rest = &file[12..];
    while rest.len() >= 8 {
        let fourcc: [u8; 4] = [rest[0], rest[1], rest[2], rest[3]];
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        let after = &rest[8..];
        let payload = after
            .get(..len)
            .ok_or("libwebp's output has a truncated chunk")?;
        out.push((fourcc, payload));
        // Odd payloads are padded to an even length.
        rest = after.get(len..).unwrap_or(&[]);
        if len % 2 == 1 {
            rest = rest.get(1..).unwrap_or(&[]);
        }
    }
    Ok(out)
}

fn chunk<'a>(file: &'a [u8], fourcc: &[u8; 4]) -> Result<&'a [u8], String> {
    chunks(file)?
        .into_iter()
        .find(|(c, _)| c == fourcc)
        .map(|(_, p)| p)
        .ok_or_else(|| {
            format!(
                "libwebp's output has no {} chunk",
                String::from_utf8_lossy(fourcc)
            )
        })
}

fn push_chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], payload: &[u8]) {
    out.extend_from_slice(fourcc);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
}

/// Lossy WebP of RGB pixels at `q` (libwebp alone, a `VP8 ` file). `stop`
/// is checked inside the encoder.
pub fn encode_rgb<S: webpx::Stop>(
    rgb: &[u8],
    width: u32,
    height: u32,
    q: u8,
    stop: S,
) -> Result<Vec<u8>, Failure> {
    webpx::Encoder::new_rgb(rgb, width, height)
        .quality(f32::from(q))
        .method(METHOD)
        .encode(stop)
        .map_err(stopped)
}

/// Lossy WebP of RGBA pixels at `q` (libwebp method 4, as sharp's default
/// effort), the alpha lossless. `stop` is checked inside both encodes.
pub fn encode_rgba<S: webpx::Stop + Copy>(
    rgba: &[u8],
    width: u32,
    height: u32,
    q: u8,
    stop: S,
) -> Result<Vec<u8>, Failure> {
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || w.checked_mul(h).and_then(|n| n.checked_mul(4)) != Some(rgba.len()) {
        return Err(failed(&"the pixel buffer does not match its size"));
    }
    let rgb: Vec<u8> = rgba
        .chunks_exact(4)
        .flat_map(|p| [p[0], p[1], p[2]])
        .collect();
    let alpha: Vec<u8> = rgba.chunks_exact(4).map(|p| p[3]).collect();

    let colour = encode_rgb(&rgb, width, height, q, stop)?;
    let vp8 = chunk(&colour, b"VP8 ").map_err(|e| failed(&e))?;

    let (filter, stream) = code_alpha(&alpha, width, height, stop)?;
    let mut alph = Vec::with_capacity(1 + stream.len().min(alpha.len()));
    if stream.len() < alpha.len() {
        // Compression 1 (lossless), the filter in bits 2-3, no level
        // reduction.
        alph.push(1 | (filter as u8) << 2);
        alph.extend_from_slice(&stream);
    } else {
        // Raw is smaller (noise): compression 0, unfiltered.
        alph.push(0);
        alph.extend_from_slice(&alpha);
    }

    let mut vp8x = [0u8; 10];
    vp8x[0] = 0x10; // the alpha flag
    vp8x[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
    vp8x[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);
    let body = 4 + (8 + 10) + (8 + alph.len() + alph.len() % 2) + (8 + vp8.len() + vp8.len() % 2);
    let mut out = Vec::with_capacity(8 + body);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(body as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    push_chunk(&mut out, b"VP8X", &vp8x);
    push_chunk(&mut out, b"ALPH", &alph);
    push_chunk(&mut out, b"VP8 ", vp8);
    Ok(out)
}

/// libwebp's effort for both encodes: 4, its default and sharp's.
pub const METHOD: u8 = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    struct Never;
    impl webpx::Stop for Never {
        fn check(&self) -> Result<(), webpx::StopReason> {
            Ok(())
        }
    }

    fn planes() -> Vec<(&'static str, usize, usize, Vec<u8>)> {
        let radial = |w: usize, h: usize| {
            (0..w * h)
                .map(|i| {
                    let (x, y) = (
                        (i % w) as f64 / w as f64 - 0.5,
                        (i / w) as f64 / h as f64 - 0.5,
                    );
                    (255.0 * (1.6 - 3.0 * (x * x + y * y).sqrt())).clamp(0.0, 255.0) as u8
                })
                .collect::<Vec<u8>>()
        };
        let mut seed = 7u32;
        let noise = (0..61 * 37)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        let mask = (0..50 * 30)
            .map(|i| if (i % 50) < 20 { 0 } else { 255 })
            .collect();
        vec![
            ("radial", 160, 90, radial(160, 90)),
            ("noise", 61, 37, noise),
            ("mask", 50, 30, mask),
            ("one pixel", 1, 1, vec![77]),
            ("one row", 9, 1, (0..9).map(|i| i * 20).collect()),
            ("one column", 1, 9, (0..9).map(|i| 255 - i * 20).collect()),
        ]
    }

    #[test]
    fn every_filter_inverts_as_the_spec_says() {
        for (name, w, _, alpha) in planes() {
            for f in [
                AlphaFilter::None,
                AlphaFilter::Horizontal,
                AlphaFilter::Vertical,
                AlphaFilter::Gradient,
            ] {
                let r = residuals(&alpha, w, f);
                assert_eq!(unfilter(&r, w, f), alpha, "{name} {f:?}");
            }
        }
    }

    #[test]
    fn chunks_read_what_push_chunk_writes() {
        let mut file = b"RIFF\0\0\0\0WEBP".to_vec();
        push_chunk(&mut file, b"ALPH", &[1, 2, 3]);
        push_chunk(&mut file, b"VP8 ", &[4, 5]);
        let got = chunks(&file).expect("chunks");
        assert_eq!(
            got,
            vec![(*b"ALPH", &[1u8, 2, 3][..]), (*b"VP8 ", &[4u8, 5][..])]
        );
        assert_eq!(chunk(&file, b"VP8 "), Ok(&[4u8, 5][..]));
        assert!(chunk(&file, b"VP8L").is_err());
        // A length past the end, and not a WebP at all.
        assert!(chunks(&file[..file.len() - 1]).is_err());
        assert!(chunks(b"RIFF\0\0\0\0AVI LIST").is_err());
    }

    /// Masks are coded unfiltered; on smooth alpha the quick trial picks
    /// the filter whose full-effort code is the smallest of the three.
    #[test]
    fn the_chosen_filter_codes_smallest() {
        let all = planes();
        let (_, w, h, mask) = &all[2];
        let (f, _) = code_alpha(mask, *w as u32, *h as u32, Never).expect("mask");
        assert_eq!(f, AlphaFilter::None, "mask");
        let (_, w, h, radial) = &all[0];
        let (w, h) = (*w as u32, *h as u32);
        let (chosen, stream) = code_alpha(radial, w, h, Never).expect("radial");
        assert_ne!(chosen, AlphaFilter::None, "radial");
        for f in [
            AlphaFilter::Horizontal,
            AlphaFilter::Vertical,
            AlphaFilter::Gradient,
        ] {
            let res = residuals(radial, w as usize, f);
            let other = lossless_stream(&green(&res), w, h, METHOD, 8.0 * f32::from(METHOD), Never)
                .expect("other filter");
            assert!(
                stream.len() <= other.len(),
                "{chosen:?} gave {} bytes, {f:?} {}",
                stream.len(),
                other.len()
            );
        }
    }

    /// Both decoders (libwebp and image-webp) give back exactly the alpha
    /// that went in, and the colour within lossy error.
    #[test]
    fn alpha_survives_exactly_in_both_decoders() {
        for (name, w, h, alpha) in planes() {
            let rgba: Vec<u8> = alpha
                .iter()
                .enumerate()
                .flat_map(|(i, &a)| {
                    let (x, y) = (i % w, i / w);
                    [(x * 255 / w) as u8, 128, (y * 255 / h) as u8, a]
                })
                .collect();
            let file = encode_rgba(&rgba, w as u32, h as u32, 80, Never).expect("other filter");
            let alph = chunk(&file, b"ALPH").expect("an ALPH chunk");
            // White noise does not compress: stored raw, unfiltered; the
            // smooth plane and the mask are coded.
            match name {
                "noise" => assert_eq!(alph[0], 0, "{name}"),
                "radial" | "mask" => assert_eq!(alph[0] & 3, 1, "{name}"),
                _ => {}
            }

            let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(&file))
                .expect("image-webp reads it");
            assert!(d.has_alpha(), "{name}");
            assert_eq!(d.dimensions(), (w as u32, h as u32), "{name}");
            let mut out = vec![0u8; d.output_buffer_size().expect("a size")];
            d.read_image(&mut out).expect("image-webp decodes it");
            let got: Vec<u8> = out.chunks_exact(4).map(|p| p[3]).collect();
            assert_eq!(got, alpha, "{name}: image-webp");

            let (px, dw, dh) = webpx::decode_rgba(&file).expect("libwebp decodes it");
            assert_eq!((dw, dh), (w as u32, h as u32), "{name}");
            let got: Vec<u8> = px.chunks_exact(4).map(|p| p[3]).collect();
            assert_eq!(got, alpha, "{name}: libwebp");
            let off = px
                .chunks_exact(4)
                .zip(rgba.chunks_exact(4))
                .filter(|(a, b)| b[3] == 255 && (0..3).any(|c| a[c].abs_diff(b[c]) > 16))
                .count();
            assert_eq!(off, 0, "{name}: the colour is far from the source");
        }
    }
}
