//! The vendored jpeg-decoder (`vendor/jpeg-decoder`, s3gate's speed patches,
//! see its S3GATE.md) against upstream jpeg-decoder 0.3.2 from crates.io: for
//! every JPEG and every IDCT scale, the same pixels and frame info, or the
//! same error. The inputs cover what the patches touch: the bit reader's
//! 8-byte refill (stuffed 0xFF bytes, restart markers, the end of the data),
//! the 10-bit lookup tables (short and long codes) and the IDCT writing
//! straight into the component rows (every sampling factor, every scale,
//! edges that are not a multiple of the block size).

use std::path::Path;

use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use proptest::prelude::*;

type Decoded = Result<(Vec<u8>, u16, u16, String), String>;

/// 8 is the full image; 1, 2 and 4 are the scaled IDCTs s3gate's
/// shrink-on-load uses.
const SCALES: [u16; 4] = [1, 2, 4, 8];

/// `fn $name(bytes, k) -> Decoded`: one decode at `k`/8 with one of the two
/// jpeg-decoders (the same API, but two different crates).
macro_rules! decode_with {
    ($name:ident, $krate:ident) => {
        fn $name(bytes: &[u8], k: u16) -> Decoded {
            let mut dec = $krate::Decoder::new(bytes);
            let data = (|| -> Result<Vec<u8>, $krate::Error> {
                dec.read_info()?;
                if k < 8 {
                    // Exactly k/8: jpeg-decoder picks the smallest scale
                    // that covers the request.
                    let info = dec.info().expect("read_info succeeded");
                    let at = |n: u16| (u32::from(n) * u32::from(k)).div_ceil(8) as u16;
                    dec.scale(at(info.width), at(info.height))?;
                }
                dec.decode()
            })()
            .map_err(|e| e.to_string())?;
            let info = dec.info().expect("decoded");
            Ok((
                data,
                info.width,
                info.height,
                format!("{:?}", info.pixel_format),
            ))
        }
    };
}

decode_with!(fork, jpeg_decoder);
decode_with!(upstream, jpeg_decoder_upstream);

/// Panics (with the case named) unless both decoders agree at every scale.
/// Returns how many scales decoded without error.
fn assert_same(name: &str, bytes: &[u8]) -> usize {
    let mut decoded = 0;
    for k in SCALES {
        let (ours, theirs) = (fork(bytes, k), upstream(bytes, k));
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    (a.1, a.2, &a.3),
                    (b.1, b.2, &b.3),
                    "{name} at {k}/8: frame info differs"
                );
                assert!(a.0 == b.0, "{name} at {k}/8: pixels differ");
                decoded += 1;
            }
            _ => assert_eq!(ours, theirs, "{name} at {k}/8: outcomes differ"),
        }
    }
    decoded
}

/// Deterministic pixels: `noise` makes large coefficients, long Huffman
/// codes and many 0xFF bytes in the entropy data; a gradient makes short
/// blocks ending early (end-of-block codes).
fn pixels(w: u16, h: u16, channels: usize, noise: u8, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(usize::from(w) * usize::from(h) * channels);
    for y in 0..h {
        for x in 0..w {
            for c in 0..channels {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let base = (u32::from(x) * 255 / u32::from(w.max(1))
                    + u32::from(y) * 128 / u32::from(h.max(1))
                    + c as u32 * 40) as u8;
                let jitter = if noise == 0 {
                    0
                } else {
                    (state % u64::from(noise)) as u8
                };
                out.push(base.wrapping_add(jitter));
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
struct Params {
    w: u16,
    h: u16,
    grey: bool,
    sampling: usize,
    quality: u8,
    progressive: bool,
    restart: u16,
    optimized: bool,
    noise: u8,
    seed: u64,
}

const SAMPLINGS: [SamplingFactor; 8] = [
    SamplingFactor::R_4_4_4,
    SamplingFactor::R_4_4_0,
    SamplingFactor::R_4_4_1,
    SamplingFactor::R_4_2_2,
    SamplingFactor::R_4_2_0,
    SamplingFactor::R_4_2_1,
    SamplingFactor::R_4_1_1,
    SamplingFactor::R_4_1_0,
];

fn encode(p: Params) -> Vec<u8> {
    let (channels, color) = if p.grey {
        (1, ColorType::Luma)
    } else {
        (3, ColorType::Rgb)
    };
    let px = pixels(p.w, p.h, channels, p.noise, p.seed);
    // jpeg-encoder 0.7.1 asserts (debug) or writes a code it never
    // assigned (release) in two corners, so the inputs avoid them: its
    // standard tables have no code for the largest coefficients (above
    // about q50), and its computed tables miss the DC differences a restart
    // interval creates. Restart intervals therefore use the standard tables
    // at q50 or below. (s3gate's own JPEGs use computed tables, no restarts.)
    let optimized = p.restart == 0 && (p.optimized || p.quality > 50);
    let quality = if optimized {
        p.quality
    } else {
        p.quality.min(50)
    };
    let mut out = Vec::new();
    let mut enc = Encoder::new(&mut out, quality);
    enc.set_sampling_factor(SAMPLINGS[p.sampling % SAMPLINGS.len()]);
    enc.set_progressive(p.progressive);
    enc.set_restart_interval(p.restart);
    enc.set_optimized_huffman_tables(optimized);
    enc.encode(&px, p.w, p.h, color).expect("jpeg-encoder");
    out
}

/// Where the entropy-coded data of the first scan starts (after SOS).
fn scan_start(jpeg: &[u8]) -> usize {
    let sos = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xDA])
        .expect("a scan");
    let len = usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
    sos + 2 + len
}

#[test]
fn upstreams_own_sample_files_decode_the_same() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jpeg");
    for name in ["tower.jpg", "tower_grayscale.jpg", "tower_progressive.jpg"] {
        let bytes = std::fs::read(dir.join(name)).expect(name);
        assert_eq!(assert_same(name, &bytes), SCALES.len(), "{name} decodes");
    }
}

#[test]
fn every_sampling_scale_and_coding_mode_decodes_the_same() {
    let mut stuffed = 0;
    let mut restarts = 0;
    for (i, &sampling) in SAMPLINGS.iter().enumerate() {
        for &(progressive, restart, noise) in &[
            (false, 0, 0),
            (false, 0, 255),
            (false, 3, 255),
            (true, 0, 255),
            (true, 1, 40),
        ] {
            // jpeg-decoder hands rows to its rayon worker (where the
            // IDCT-into-rows patch is) when the output's width squared
            // exceeds 128 x 128, so at 1/8 scale above 1024 pixels wide;
            // narrower images take its immediate worker.
            let wide = progressive == (i % 2 == 0);
            let p = Params {
                w: if wide {
                    1031 + i as u16 * 7
                } else {
                    61 + i as u16 * 7
                },
                h: if wide {
                    19 + i as u16 * 3
                } else {
                    45 + i as u16 * 3
                },
                grey: false,
                sampling: i,
                quality: if noise == 0 { 40 } else { 98 },
                progressive,
                restart,
                optimized: i % 2 == 0,
                noise,
                seed: 0x5eed + i as u64,
            };
            let jpeg = encode(p);
            let data = &jpeg[scan_start(&jpeg)..];
            stuffed += data.windows(2).filter(|w| w == &[0xFF, 0x00]).count();
            restarts += data
                .windows(2)
                .filter(|w| w[0] == 0xFF && (0xD0..=0xD7).contains(&w[1]))
                .count();
            let name = format!("{sampling:?} {p:?}");
            assert_eq!(assert_same(&name, &jpeg), SCALES.len(), "{name} decodes");
        }
    }
    // The inputs reach the bit reader's slow paths, not only its fast one.
    assert!(stuffed > 100, "only {stuffed} stuffed 0xFF bytes");
    assert!(restarts > 100, "only {restarts} restart markers");
}

fn corrupt(jpeg: &[u8], round: u64, state: &mut u64) -> Vec<u8> {
    let start = scan_start(jpeg);
    let mut bad = jpeg.to_vec();
    for _ in 0..1 + round % 4 {
        *state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        let at = start + (*state >> 33) as usize % (jpeg.len() - start - 2);
        bad[at] = (*state >> 8) as u8;
    }
    bad
}

fn noisy(restart: u16, progressive: bool) -> Vec<u8> {
    encode(Params {
        w: 1060,
        h: 24,
        grey: false,
        sampling: 4,
        quality: 95,
        progressive,
        restart,
        optimized: true,
        noise: 200,
        seed: 7,
    })
}

#[test]
fn truncated_files_fail_or_decode_the_same() {
    for (restart, progressive) in [(0, false), (2, false), (0, true)] {
        let jpeg = noisy(restart, progressive);
        let start = scan_start(&jpeg);
        for cut in [
            start,
            start + 1,
            start + 7,
            start + 8,
            start + 9,
            jpeg.len() / 2,
            jpeg.len() - 3,
            jpeg.len() - 1,
        ] {
            assert_same(
                &format!("restart {restart}, progressive {progressive}, cut at {cut}"),
                &jpeg[..cut],
            );
        }
    }
}

/// Corrupt entropy data is where the two may part, for a reason upstream
/// itself already has: its fast AC table consumes a coefficient's extra
/// bits before checking that the zero run stays inside the block, while its
/// slow path checks first and consumes nothing. A valid file never
/// overruns a block; a corrupt one can, and the 10-bit table sends more
/// codes down the fast path, so the two then read the rest of the data
/// from different bit positions. (Where the reader stands when it looks for
/// a marker does not depend on when it refilled: every refill tops up to
/// more than 56 bits.) So for corrupt files the check is: no panic, the
/// same frame whenever both decode, and most answers identical.
#[test]
fn corrupted_files_never_panic_and_mostly_decode_the_same() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let (mut same, mut differ) = (0, 0);
    for (restart, progressive) in [(0, false), (2, false), (0, true)] {
        let jpeg = noisy(restart, progressive);
        for round in 0..48 {
            let bad = corrupt(&jpeg, round, &mut state);
            for k in SCALES {
                let (ours, theirs) = (fork(&bad, k), upstream(&bad, k));
                if ours == theirs {
                    same += 1;
                    continue;
                }
                differ += 1;
                if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                    assert_eq!(
                        (a.1, a.2, &a.3, a.0.len()),
                        (b.1, b.2, &b.3, b.0.len()),
                        "restart {restart}, progressive {progressive}, round {round} at {k}/8"
                    );
                }
            }
        }
    }
    assert!(same > 4 * differ, "{same} same, {differ} differ");
}

/// A progressive file that ends (EOI) before its last scans: jpeg-decoder
/// then hands the unfinished components' coefficients to its rayon worker
/// all at once (`append_rows`), the other way into the in-place IDCT.
#[test]
fn progressive_files_cut_before_their_last_scans_decode_the_same() {
    let mut cuts = 0;
    for sampling in [0, 4, 6] {
        let jpeg = encode(Params {
            w: 1040,
            h: 40,
            grey: false,
            sampling,
            quality: 90,
            progressive: true,
            restart: 0,
            optimized: true,
            noise: 60,
            seed: 11,
        });
        let scans: Vec<usize> = (0..jpeg.len() - 1)
            .filter(|&i| jpeg[i] == 0xFF && jpeg[i + 1] == 0xDA)
            .collect();
        assert!(scans.len() > 3, "{} scans", scans.len());
        for &cut in &scans[1..] {
            let mut part = jpeg[..cut].to_vec();
            part.extend([0xFF, 0xD9]);
            let name = format!("sampling {sampling}, cut before the scan at {cut}");
            assert_eq!(assert_same(&name, &part), SCALES.len(), "{name} decodes");
            cuts += 1;
        }
    }
    assert!(cuts > 9);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn any_encoded_jpeg_decodes_the_same(
        (w, h) in prop_oneof![(1u16..150, 1u16..120), (1025u16..1100, 1u16..40)],
        grey in any::<bool>(),
        sampling in 0usize..8,
        quality in 1u8..=100,
        progressive in any::<bool>(),
        restart in prop_oneof![Just(0u16), 1u16..6],
        optimized in any::<bool>(),
        noise in prop_oneof![Just(0u8), any::<u8>()],
        seed in any::<u64>(),
    ) {
        let p = Params { w, h, grey, sampling, quality, progressive, restart, optimized, noise, seed };
        let jpeg = encode(p);
        prop_assert_eq!(assert_same(&format!("{p:?}"), &jpeg), SCALES.len());
    }
}
