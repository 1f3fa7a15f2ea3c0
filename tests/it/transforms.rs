//! Image transforms through the real handler and the in-process store:
//! output sizes and formats checked by decoding the answers, every `fit`
//! mode, `format=auto` against real browsers' `Accept` headers, the pixel
//! bomb, bad parameters, signatures and the variant cache.

use std::collections::HashMap;

use serde_json::Value;

use crate::support::{Fixture, Wire, event};

// ---- test images, made here with the same codec crates ----

/// A photo-like RGB picture: gradients and a pattern.
pub fn rgb_pixels(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let r = (x * 255 / w.max(1)) as u8;
            let g = (y * 255 / h.max(1)) as u8;
            let b = (((x / 8 + y / 8) % 2) * 120 + 60) as u8;
            px.extend_from_slice(&[r, g, b]);
        }
    }
    px
}

pub fn jpeg(w: u32, h: u32, orientation: Option<u16>) -> Vec<u8> {
    jpeg_of(&rgb_pixels(w, h), w, h, orientation)
}

fn jpeg_of(px: &[u8], w: u32, h: u32, orientation: Option<u16>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut out, 90);
    if let Some(o) = orientation {
        // Big-endian TIFF, one IFD entry: 0x0112 SHORT 1 = o.
        let mut tiff = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        tiff.extend_from_slice(&o.to_be_bytes());
        tiff.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        enc.add_exif_metadata(&tiff).expect("exif");
    }
    enc.encode(px, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
        .expect("jpeg");
    out
}

/// A noisy photo-like JPEG: its scan data is long, so it can be cut.
pub fn noisy_jpeg(w: u32, h: u32) -> Vec<u8> {
    let mut px = rgb_pixels(w, h);
    let mut s = 0x9e37_79b9_u32;
    for v in &mut px {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        *v = v.wrapping_add((s & 0x1f) as u8);
    }
    jpeg_of(&px, w, h, None)
}

/// An RGB PNG of the photo-like picture.
pub fn png_rgb(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().expect("png header");
    wr.write_image_data(&rgb_pixels(w, h)).expect("png data");
    wr.finish().expect("png");
    out
}

/// Left half red, right half blue.
fn halves(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::new();
    for _ in 0..h {
        for x in 0..w {
            px.extend_from_slice(if x < w / 2 {
                &[230, 20, 20]
            } else {
                &[20, 20, 230]
            });
        }
    }
    jpeg_of(&px, w, h, None)
}

fn png_rgba(w: u32, h: u32) -> Vec<u8> {
    let mut px = Vec::new();
    for y in 0..h {
        for x in 0..w {
            let a = if x < w / 2 { 0 } else { 220 };
            px.extend_from_slice(&[(x % 256) as u8, (y % 256) as u8, 90, a]);
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().expect("png header");
    wr.write_image_data(&px).expect("png data");
    wr.finish().expect("png");
    out
}

fn apng(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_animated(2, 0).expect("animated");
    let mut wr = enc.write_header().expect("png header");
    let px = rgb_pixels(w, h);
    wr.write_image_data(&px).expect("frame 1");
    wr.write_image_data(&px).expect("frame 2");
    wr.finish().expect("apng");
    out
}

/// 10000×10000 one-bit grey: 100 MP in a few hundred KB.
fn pixel_bomb() -> Vec<u8> {
    grey_png(10_000, 10_000)
}

/// A one-bit grey PNG of any size, small on disk.
fn grey_png(w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::One);
        enc.set_compression(png::Compression::Fast);
        let mut wr = enc.write_header().expect("header");
        let mut stream = wr.stream_writer().expect("stream");
        let row = vec![0u8; (w as usize).div_ceil(8)];
        for _ in 0..h {
            std::io::Write::write_all(&mut stream, &row).expect("row");
        }
        stream.finish().expect("finish");
    }
    out
}

fn webp(w: u32, h: u32) -> Vec<u8> {
    webpx::Encoder::new_rgb(&rgb_pixels(w, h), w, h)
        .quality(85.0)
        .encode(webpx::Unstoppable)
        .expect("webp")
}

/// A VP8X header with the animation flag: what an animated WebP starts with.
fn animated_webp_header() -> Vec<u8> {
    let mut chunk = vec![0x02, 0, 0, 0];
    chunk.extend_from_slice(&[99, 0, 0, 49, 0, 0]); // 100×50
    let mut body = b"WEBPVP8X".to_vec();
    body.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"ANIM\x06\0\0\0\0\0\0\0\0\0");
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

// ---- decoding the answers ----

/// Type and size of an answer's image, read by a decoder (AVIF: its `ispe`
/// box, as there is no AVIF decoder here; its `ftyp` is checked too).
pub fn decoded(bytes: &[u8]) -> (&'static str, u32, u32) {
    match imagesize::image_type(bytes).expect("an image") {
        imagesize::ImageType::Jpeg => {
            let mut d = jpeg_decoder::Decoder::new(bytes);
            let px = d.decode().expect("JPEG decodes");
            let i = d.info().expect("info");
            assert_eq!(px.len(), i.width as usize * i.height as usize * 3);
            ("jpeg", u32::from(i.width), u32::from(i.height))
        }
        imagesize::ImageType::Png => {
            let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("PNG header");
            let mut buf = vec![0; r.output_buffer_size().expect("size")];
            let f = r.next_frame(&mut buf).expect("PNG decodes");
            ("png", f.width, f.height)
        }
        imagesize::ImageType::Webp => {
            let mut d = image_webp::WebPDecoder::new(std::io::Cursor::new(bytes)).expect("WebP");
            let mut buf = vec![0; d.output_buffer_size().expect("size")];
            d.read_image(&mut buf).expect("WebP decodes");
            let (w, h) = d.dimensions();
            ("webp", w, h)
        }
        imagesize::ImageType::Heif(_) => {
            assert_eq!(&bytes[4..12], b"ftypavif", "an AVIF file");
            let s = imagesize::blob_size(bytes).expect("ispe");
            ("avif", s.width as u32, s.height as u32)
        }
        other => panic!("unexpected image type {other:?}"),
    }
}

/// RGB(A) pixels of a PNG or WebP answer, with its channel count.
fn pixels(bytes: &[u8]) -> (Vec<u8>, usize, u32) {
    if bytes.starts_with(b"\x89PNG") {
        let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
            .read_info()
            .expect("PNG");
        let mut buf = vec![0; r.output_buffer_size().expect("size")];
        let f = r.next_frame(&mut buf).expect("PNG decodes");
        let c = if f.color_type == png::ColorType::Rgba {
            4
        } else {
            3
        };
        (buf, c, f.width)
    } else {
        let mut d = jpeg_decoder::Decoder::new(bytes);
        let px = d.decode().expect("JPEG");
        let w = u32::from(d.info().expect("info").width);
        (px, 3, w)
    }
}

// ---- requests ----

pub fn with_query(key: &str, query: &[(&str, &str)]) -> Value {
    let mut ev = event("GET", key);
    let mut single = serde_json::Map::new();
    let mut multi: HashMap<String, Vec<String>> = HashMap::new();
    for (k, v) in query {
        single.insert(k.to_string(), Value::from(*v));
        multi.entry(k.to_string()).or_default().push(v.to_string());
    }
    ev["queryStringParameters"] = Value::Object(single);
    ev["multiValueQueryStringParameters"] = serde_json::to_value(multi).expect("json");
    ev
}

fn set_header(ev: &mut Value, name: &str, value: &str) {
    ev["headers"][name] = Value::from(value);
    ev["multiValueHeaders"][name] = Value::from(vec![value]);
}

async fn transform(fx: &Fixture, key: &str, query: &[(&str, &str)]) -> Wire {
    fx.run(with_query(key, query)).await
}

async fn fixture_with(settings: &[(&str, &str)]) -> Fixture {
    let fx = Fixture::with(settings).await;
    fx.put("t/photo.jpg", jpeg(1200, 900, None), Some("image/jpeg"))
        .await;
    fx.put("t/alpha.png", png_rgba(640, 480), Some("image/png"))
        .await;
    fx.put("t/photo.webp", webp(640, 480), Some("image/webp"))
        .await;
    fx
}

#[tokio::test]
async fn every_output_format_decodes_at_the_asked_size() {
    let fx = fixture_with(&[]).await;
    for (key, format, want) in [
        ("t/photo.jpg", "jpeg", ("jpeg", 200, 150)),
        ("t/photo.jpg", "png", ("png", 200, 150)),
        ("t/photo.jpg", "webp", ("webp", 200, 150)),
        ("t/photo.jpg", "avif", ("avif", 200, 150)),
        ("t/alpha.png", "webp", ("webp", 200, 150)),
        ("t/alpha.png", "avif", ("avif", 200, 150)),
        ("t/alpha.png", "jpeg", ("jpeg", 200, 150)),
        ("t/photo.webp", "png", ("png", 200, 150)),
    ] {
        let r = transform(&fx, key, &[("w", "200"), ("format", format)]).await;
        let ctx = format!("{key} -> {format}");
        assert_eq!(r.status, 200, "{ctx}: {r:?}");
        assert!(r.base64, "{ctx}");
        assert_eq!(decoded(&r.body), want, "{ctx}");
        assert_eq!(
            r.header("content-type"),
            Some(format!("image/{}", want.0).as_str()),
            "{ctx}"
        );
        assert_eq!(
            r.header("content-length"),
            Some(r.body.len().to_string().as_str())
        );
        let etag = r.header("etag").expect("an ETag");
        assert!(etag.starts_with('"') && etag.len() == 34, "{ctx}: {etag}");
        assert_eq!(r.header("accept-ranges"), None, "{ctx}");
        assert_eq!(r.header("vary"), None, "{ctx}: no Vary without format=auto");
        assert!(r.header("cache-control").is_some(), "{ctx}");
    }
    // No format: the source's own; dpr multiplies.
    let r = transform(&fx, "t/alpha.png", &[("w", "100"), ("dpr", "2")]).await;
    assert_eq!(decoded(&r.body), ("png", 200, 150));
    // Transparency survives where the format keeps it.
    let (px, c, _) = pixels(&r.body);
    assert_eq!(c, 4);
    assert!(px.chunks(4).any(|p| p[3] < 128) && px.chunks(4).any(|p| p[3] > 128));
    // Without parameters: the stored bytes, untouched.
    let r = fx.get("t/photo.jpg").await;
    assert_eq!(r.body, jpeg(1200, 900, None));
    assert_eq!(r.header("accept-ranges"), Some("bytes"));
}

#[tokio::test]
async fn every_fit_mode_and_gravity() {
    let fx = fixture_with(&[]).await;
    for (fit, want) in [
        ("cover", (300, 300)),
        ("contain", (300, 300)),
        ("fill", (300, 300)),
        ("inside", (300, 225)),
        ("outside", (400, 300)),
    ] {
        let q = [("w", "300"), ("h", "300"), ("fit", fit), ("format", "png")];
        let r = transform(&fx, "t/photo.jpg", &q).await;
        assert_eq!(r.status, 200, "{fit}: {r:?}");
        let (kind, w, h) = decoded(&r.body);
        assert_eq!((kind, w, h), ("png", want.0, want.1), "{fit}");
        let (px, c, _) = pixels(&r.body);
        let corner_alpha = if c == 4 { px[3] } else { 255 };
        // contain pads (transparent in PNG); the others fill the picture.
        assert_eq!(
            corner_alpha == 0,
            fit == "contain",
            "{fit}: corner alpha {corner_alpha}"
        );
    }
    // contain into JPEG pads with white.
    let q = [
        ("w", "300"),
        ("h", "300"),
        ("fit", "contain"),
        ("format", "jpeg"),
    ];
    let r = transform(&fx, "t/photo.jpg", &q).await;
    let (px, _, _) = pixels(&r.body);
    assert!(
        px[..3].iter().all(|&v| v > 240),
        "white padding: {:?}",
        &px[..3]
    );
    // Gravity picks the part a cover crop keeps: west keeps the red half,
    // east the blue one.
    fx.put("t/halves.jpg", halves(800, 200), Some("image/jpeg"))
        .await;
    for (gravity, red) in [("west", true), ("east", false)] {
        let q = [
            ("w", "100"),
            ("h", "100"),
            ("gravity", gravity),
            ("format", "png"),
        ];
        let r = transform(&fx, "t/halves.jpg", &q).await;
        let (px, c, _) = pixels(&r.body);
        let reds = px.chunks(c).filter(|p| p[0] > p[2]).count();
        let share = reds as f64 / (px.len() / c) as f64;
        assert_eq!(share > 0.9, red, "{gravity}: {share}");
    }
    // Never enlarged.
    let r = transform(&fx, "t/photo.jpg", &[("w", "4000"), ("format", "png")]).await;
    assert_eq!(decoded(&r.body), ("png", 1200, 900));
}

#[tokio::test]
async fn exif_orientation_is_applied() {
    let fx = fixture_with(&[]).await;
    // Stored 400×200, shown rotated: 200×400.
    fx.put("t/turned.jpg", jpeg(400, 200, Some(6)), Some("image/jpeg"))
        .await;
    let r = transform(&fx, "t/turned.jpg", &[("w", "100")]).await;
    assert_eq!(decoded(&r.body), ("jpeg", 100, 200));
}

#[tokio::test]
async fn auto_follows_the_accept_header() {
    let fx = fixture_with(&[]).await;
    for (accept, want) in [
        (
            Some("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"),
            "avif",
        ),
        (Some("image/webp,*/*"), "webp"),
        (Some("image/avif;q=0,image/webp;q=0.9"), "webp"),
        (Some("*/*"), "jpeg"),
        (Some("image/png,image/*;q=0.8"), "jpeg"),
        (None, "jpeg"),
    ] {
        let mut ev = with_query("t/photo.jpg", &[("w", "160"), ("format", "auto")]);
        match accept {
            Some(a) => set_header(&mut ev, "Accept", a),
            None => {
                let h = ev["headers"].as_object_mut().expect("headers");
                h.retain(|k, _| !k.eq_ignore_ascii_case("accept"));
                let m = ev["multiValueHeaders"].as_object_mut().expect("headers");
                m.retain(|k, _| !k.eq_ignore_ascii_case("accept"));
            }
        }
        let r = fx.run(ev).await;
        assert_eq!(r.status, 200, "{accept:?}: {r:?}");
        assert_eq!(decoded(&r.body).0, want, "{accept:?}");
        assert_eq!(r.header("vary"), Some("Accept"), "{accept:?}");
    }
}

#[tokio::test]
async fn revalidation_answers_304_without_transforming() {
    let fx = fixture_with(&[]).await;
    let q = [("w", "160"), ("format", "auto")];
    let mut ev = with_query("t/photo.jpg", &q);
    set_header(&mut ev, "Accept", "image/webp");
    let first = fx.run(ev.clone()).await;
    let etag = first.header("etag").expect("etag").to_string();
    // Same request again: same bytes, same ETag (deterministic).
    let again = fx.run(ev.clone()).await;
    assert_eq!(
        (again.header("etag"), &again.body),
        (Some(etag.as_str()), &first.body)
    );
    set_header(&mut ev, "If-None-Match", &etag);
    let r = fx.run(ev.clone()).await;
    assert_eq!(r.status, 304, "{r:?}");
    assert_eq!(r.header("vary"), Some("Accept"));
    assert_eq!(r.header("etag"), Some(etag.as_str()));
    // Another negotiated format is another variant: no 304 for it.
    set_header(&mut ev, "Accept", "image/avif");
    let r = fx.run(ev.clone()).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    // A new version of the source makes new variants.
    fx.put("t/photo.jpg", jpeg(1000, 750, None), Some("image/jpeg"))
        .await;
    set_header(&mut ev, "Accept", "image/webp");
    let r = fx.run(ev).await;
    assert_eq!(r.status, 200);
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    // HEAD answers what GET would, without a body.
    let mut head = with_query("t/photo.jpg", &[("w", "160"), ("format", "webp")]);
    head["httpMethod"] = Value::from("HEAD");
    head["requestContext"]["httpMethod"] = Value::from("HEAD");
    let h = fx.run(head).await;
    let g = transform(&fx, "t/photo.jpg", &[("w", "160"), ("format", "webp")]).await;
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    assert_eq!(h.header("content-length"), g.header("content-length"));
    assert_eq!(h.header("etag"), g.header("etag"));
}

#[tokio::test]
async fn limits_refuse_before_work() {
    let fx = fixture_with(&[]).await;
    let bomb = pixel_bomb();
    assert!(
        bomb.len() < 2_000_000,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    fx.put("t/bomb.png", bomb, Some("image/png")).await;
    let r = transform(&fx, "t/bomb.png", &[("w", "100")]).await;
    r.assert_error(422, "UnprocessableImage", "pixel bomb");
    let msg = r.message();
    assert!(msg.contains("100000000 pixels"), "{msg}");
    // The limit is a setting.
    let small = fixture_with(&[("max-pixels", "100000")]).await;
    let r = transform(&small, "t/photo.jpg", &[("w", "100")]).await;
    r.assert_error(422, "UnprocessableImage", "over max-pixels");
    // Animated and undecodable inputs are refused clearly.
    fx.put("t/anim.png", apng(64, 48), Some("image/png")).await;
    fx.put("t/anim.webp", animated_webp_header(), Some("image/webp"))
        .await;
    for (key, needle) in [
        ("t/anim.png", "animated PNG"),
        ("t/anim.webp", "animated WebP"),
        ("icons/spinner.gif", "GIF"),
        ("photos/sunset.avif", "AVIF"),
        ("icons/logo.svg", "not a JPEG, PNG or WebP"),
    ] {
        let r = transform(&fx, key, &[("w", "32")]).await;
        r.assert_error(422, "UnprocessableImage", key);
        let msg = r.message();
        assert!(msg.contains(needle), "{key}: {msg}");
        // The original is still served.
        assert_eq!(fx.get(key).await.status, 200, "{key}");
    }
    // A damaged image: a valid header, then garbage.
    let mut broken = jpeg(300, 200, None);
    broken.truncate(400);
    fx.put("t/broken.jpg", broken, Some("image/jpeg")).await;
    let r = transform(&fx, "t/broken.jpg", &[("w", "32")]).await;
    r.assert_error(422, "UnprocessableImage", "truncated JPEG");
    // No source: 404 as for any GET.
    let r = transform(&fx, "nope/missing.jpg", &[("w", "32")]).await;
    r.assert_error(404, "NotFound", "missing source");
    // An AVIF over 2 MP is refused (auto would fall back to WebP).
    fx.put("t/big.jpg", jpeg(2000, 1500, None), Some("image/jpeg"))
        .await;
    let r = transform(&fx, "t/big.jpg", &[("format", "avif")]).await;
    r.assert_error(422, "UnprocessableImage", "AVIF over 2 MP");
    let mut ev = with_query("t/big.jpg", &[("format", "auto")]);
    set_header(&mut ev, "Accept", "image/avif,image/webp");
    let r = fx.run(ev).await;
    assert_eq!(decoded(&r.body), ("webp", 2000, 1500));
}

/// In Lambda the decode must fit the function's memory: a source that
/// would not is a 422 naming MemorySize, not an out-of-memory crash.
#[tokio::test]
async fn sources_too_big_for_the_functions_memory_are_refused() {
    let mut fx = fixture_with(&[]).await;
    fx.app.memory_budget = Some(s3gate::transform::geometry::memory_budget(128));
    fx.put("t/wide.png", grey_png(6000, 4000), Some("image/png"))
        .await;
    let r = transform(&fx, "t/wide.png", &[("w", "100")]).await;
    r.assert_error(422, "UnprocessableImage", "24 MP PNG in 128 MB");
    let msg = r.message();
    assert!(msg.contains("MemorySize"), "{msg}");
    // A photo decoded at 1/4 scale fits easily.
    let r = transform(&fx, "t/photo.jpg", &[("w", "200")]).await;
    assert_eq!(r.status, 200, "{r:?}");
    // With 1 GB the PNG fits.
    fx.app.memory_budget = Some(s3gate::transform::geometry::memory_budget(1024));
    let r = transform(&fx, "t/wide.png", &[("w", "100")]).await;
    assert_eq!(decoded(&r.body), ("png", 100, 67));
    // WebP's encoder holds more per output pixel than the decode: a
    // 1700×1700 picture fits 128 MB as a JPEG, not as a WebP.
    fx.app.memory_budget = Some(s3gate::transform::geometry::memory_budget(128));
    fx.put("t/square.png", grey_png(1700, 1700), Some("image/png"))
        .await;
    let r = transform(&fx, "t/square.png", &[("format", "jpeg")]).await;
    assert_eq!(decoded(&r.body), ("jpeg", 1700, 1700));
    let r = transform(&fx, "t/square.png", &[("format", "webp")]).await;
    r.assert_error(422, "UnprocessableImage", "1700×1700 WebP in 128 MB");
    assert!(r.message().contains("MemorySize"), "{}", r.message());
}

/// AVIF's size follows the function's CPU share (its encoder cannot be
/// stopped): over it, `format=avif` is a 422 and `auto` picks WebP.
#[tokio::test]
async fn avif_is_bounded_by_the_cpu_share() {
    let mut fx = fixture_with(&[]).await;
    fx.app.avif_max_pixels = s3gate::transform::geometry::avif_max_pixels(
        std::time::Duration::from_millis(500),
        Some(128),
    );
    assert!(
        fx.app.avif_max_pixels < 200 * 150,
        "{}",
        fx.app.avif_max_pixels
    );
    let r = transform(&fx, "t/photo.jpg", &[("w", "200"), ("format", "avif")]).await;
    r.assert_error(422, "UnprocessableImage", "AVIF over the share");
    let mut ev = with_query("t/photo.jpg", &[("w", "200"), ("format", "auto")]);
    set_header(&mut ev, "Accept", "image/avif,image/webp");
    assert_eq!(decoded(&fx.run(ev).await.body), ("webp", 200, 150));
    let r = transform(&fx, "t/photo.jpg", &[("w", "80"), ("format", "avif")]).await;
    assert_eq!(decoded(&r.body), ("avif", 80, 60));
}

#[tokio::test]
async fn bad_parameters_name_the_parameter() {
    let fx = fixture_with(&[]).await;
    for (query, name) in [
        (&[("w", "0")][..], "w"),
        (&[("w", "abc")], "w"),
        (&[("w", "5000")], "w"),
        (&[("h", "-1")], "h"),
        (&[("w", "10"), ("fit", "crop")], "fit"),
        (&[("w", "10"), ("gravity", "top")], "gravity"),
        (&[("format", "tiff")], "format"),
        (&[("w", "10"), ("q", "0")], "q"),
        (&[("w", "10"), ("q", "100.5")], "q"),
        (&[("w", "10"), ("dpr", "8")], "dpr"),
        (&[("w", "2048"), ("dpr", "3")], "dpr"),
        (&[("w", "10"), ("quality", "80")], "quality"),
    ] {
        let r = transform(&fx, "t/photo.jpg", query).await;
        r.assert_error(400, "BadRequest", &format!("{query:?}"));
        let msg = r.message();
        assert!(msg.starts_with(&format!("{name}: ")), "{query:?}: {msg}");
    }
    // A parameter given twice.
    let mut ev = with_query("t/photo.jpg", &[("w", "10")]);
    ev["multiValueQueryStringParameters"]["w"] = serde_json::json!(["10", "20"]);
    fx.run(ev).await.assert_error(400, "BadRequest", "w twice");
    // Other parameters alone (a cache buster) leave the original alone.
    let r = transform(&fx, "t/photo.jpg", &[("v", "3")]).await;
    assert_eq!(r.body, jpeg(1200, 900, None));
    // A folder (a listing) takes no transform parameters.
    let lister = fixture_with(&[("allow-list", "true")]).await;
    let r = transform(&lister, "t/", &[("h", "10")]).await;
    r.assert_error(400, "BadRequest", "transform of a folder");
    assert!(r.message().starts_with("h: "));
    // Transforms off: the parameters are refused, not ignored.
    let off = fixture_with(&[("transforms", "false")]).await;
    transform(&off, "t/photo.jpg", &[("w", "10")])
        .await
        .assert_error(400, "BadRequest", "transforms off");
}

const SECRET: &str = "test-signing-secret-of-at-least-32-bytes";

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[tokio::test]
async fn signed_urls_valid_tampered_expired() {
    use s3gate::transform::sign;
    let fx = fixture_with(&[("signing-secret", SECRET)]).await;
    let key = "t/photo.jpg";
    let signed = |params: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut p: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        p.push((
            "sig".into(),
            sign::sign(SECRET.as_bytes(), key, params.iter().copied()),
        ));
        p
    };
    let run = |p: Vec<(String, String)>| {
        let q: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        with_query(key, &q)
    };
    let ok = signed(&[("w", "120"), ("format", "webp")]);
    let r = fx.run(run(ok.clone())).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(decoded(&r.body), ("webp", 120, 90));
    // Unsigned, tampered, stripped, expired: 403.
    transform(&fx, key, &[("w", "120"), ("format", "webp")])
        .await
        .assert_error(403, "InvalidSignature", "unsigned");
    let mut tampered = ok.clone();
    tampered[0].1 = "1200".into();
    fx.run(run(tampered))
        .await
        .assert_error(403, "InvalidSignature", "tampered");
    let mut other_key = run(ok.clone());
    other_key["pathParameters"]["proxy"] = Value::from("t/alpha.png");
    fx.run(other_key)
        .await
        .assert_error(403, "InvalidSignature", "signature for another key");
    let past = (unix_now() - 10).to_string();
    let expired = signed(&[("w", "120"), ("expires", &past)]);
    let r = fx.run(run(expired)).await;
    r.assert_error(403, "InvalidSignature", "expired");
    assert!(r.message().contains("expired"));
    let future = (unix_now() + 600).to_string();
    assert_eq!(
        fx.run(run(signed(&[("w", "120"), ("expires", &future)])))
            .await
            .status,
        200
    );
    // Originals are not transforms: served as before.
    assert_eq!(fx.get(key).await.status, 200);
}

#[tokio::test]
async fn variant_cache_serves_what_it_stored() {
    let fx = fixture_with(&[("variant-cache", "true"), ("allow-write", "true")]).await;
    let q = [("w", "150"), ("format", "webp")];
    let first = transform(&fx, "t/photo.jpg", &q).await;
    assert_eq!(first.status, 200);
    // The variant is now an object in the store, under the reserved folder.
    let dir = fx.dir.path().join("images/_variants/t/photo.jpg");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let stored = &files[0];
    assert!(stored.to_string_lossy().ends_with(".webp"));
    assert_eq!(std::fs::read(stored).expect("variant"), first.body);
    // Next time it is served from there: replace the stored variant behind
    // s3gate's back and the answer follows it (no transform ran).
    let marker = webp(150, 112);
    assert_ne!(marker, first.body);
    std::fs::write(stored, &marker).expect("overwrite");
    let second = transform(&fx, "t/photo.jpg", &q).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.body, marker);
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(second.header("content-type"), Some("image/webp"));
    // 304 on the cached variant.
    let mut ev = with_query("t/photo.jpg", &q);
    set_header(
        &mut ev,
        "If-None-Match",
        first.header("etag").expect("etag"),
    );
    assert_eq!(fx.run(ev).await.status, 304);
    // The folder is s3gate's: not served, not writable through the API.
    let key = format!(
        "_variants/t/photo.jpg/{}",
        stored.file_name().expect("name").to_string_lossy()
    );
    fx.get(&key)
        .await
        .assert_error(403, "Forbidden", "GET of a variant");
    fx.run(event("PUT", &key))
        .await
        .assert_error(403, "Forbidden", "PUT of a variant");
}

#[tokio::test]
async fn large_outputs_redirect_to_the_cached_variant_or_get_413() {
    // An inline limit below the output size.
    let q = [("w", "600"), ("format", "png")];
    let off = fixture_with(&[("inline-limit", "1000")]).await;
    transform(&off, "t/photo.jpg", &q)
        .await
        .assert_error(413, "PayloadTooLarge", "no cache");
    let on = fixture_with(&[("inline-limit", "1000"), ("variant-cache", "true")]).await;
    for round in ["miss", "hit"] {
        let r = transform(&on, "t/photo.jpg", &q).await;
        assert_eq!(r.status, 307, "{round}: {r:?}");
        let location = r.header("location").expect("Location").to_string();
        assert!(location.contains("_variants/t/photo.jpg/"), "{location}");
        let got = crate::support::client()
            .get(&location)
            .send()
            .await
            .expect("presigned GET");
        assert_eq!(got.status(), 200, "{round}");
        let body = got.bytes().await.expect("body");
        assert_eq!(decoded(&body), ("png", 600, 450), "{round}");
    }
}

// ---- properties: any parameters on any small picture, and damaged files ----

mod properties {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use proptest::prelude::*;
    use s3gate::transform::geometry::plan;
    use s3gate::transform::negotiate::choose_format;
    use s3gate::transform::{FormatChoice, Spec, pipeline, probe};

    fn source(kind: u8, w: u32, h: u32) -> Vec<u8> {
        match kind {
            0 => super::jpeg(w, h, None),
            1 => super::png_rgba(w, h),
            2 => super::webp(w, h),
            _ => super::jpeg(w, h, Some(u16::from(kind % 8) + 1)),
        }
    }

    fn query() -> impl Strategy<Value = HashMap<String, Vec<String>>> {
        let side = prop_oneof![Just(None), (1u32..300).prop_map(Some)];
        let fit = prop_oneof![
            Just("cover"),
            Just("contain"),
            Just("fill"),
            Just("inside"),
            Just("outside")
        ];
        let gravity = prop_oneof![
            Just("center"),
            Just("north"),
            Just("southeast"),
            Just("west")
        ];
        let format = prop_oneof![Just("jpeg"), Just("png"), Just("webp"), Just("avif")];
        (
            side.clone(),
            side,
            fit,
            gravity,
            format,
            1u8..=100,
            prop_oneof![Just("1"), Just("1.5"), Just("3")],
        )
            .prop_map(|(w, h, fit, gravity, format, q, dpr)| {
                let mut m: HashMap<String, Vec<String>> = HashMap::new();
                let mut put = |k: &str, v: String| {
                    m.insert(k.to_string(), vec![v]);
                };
                if let Some(w) = w {
                    put("w", w.to_string());
                }
                if let Some(h) = h {
                    put("h", h.to_string());
                }
                if w.is_some() || h.is_some() {
                    put("dpr", dpr.to_string());
                }
                put("fit", fit.to_string());
                put("gravity", gravity.to_string());
                put("format", format.to_string());
                put("q", q.to_string());
                m
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(160))]

        /// Every accepted request on any small picture gives a picture of
        /// exactly the planned size in the asked format, never a panic.
        #[test]
        fn outputs_have_the_planned_size(kind in 0u8..6, w in 1u32..90, h in 1u32..90, q in query()) {
            let bytes = source(kind, w, h);
            let spec = Spec::from_query(&q).expect("valid").expect("transform");
            let probe = probe::probe(&bytes, true).expect("probe").expect("header");
            let turned = kind >= 3 && (u16::from(kind % 8) + 1) >= 5;
            let (dw, dh) = if turned { (h, w) } else { (w, h) };
            let planned = plan(&spec, dw, dh).expect("plan");
            let (format, _) = choose_format(spec.format, probe.kind, None, 1).expect("format");
            let out = pipeline::run(&bytes, probe, &spec, format, Instant::now() + Duration::from_secs(30))
                .expect("transform");
            prop_assert_eq!((out.width, out.height), planned.canvas);
            let (kind_out, ow, oh) = super::decoded(&out.bytes);
            prop_assert_eq!(kind_out, format.as_str());
            prop_assert_eq!((ow, oh), planned.canvas);
            prop_assert!(!matches!(spec.format, FormatChoice::Auto));
        }

        /// Damaged files (bytes flipped, cut short) are refused or decoded,
        /// never a panic.
        #[test]
        fn damaged_sources_never_panic(
            kind in 0u8..3,
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
            cut in any::<prop::sample::Index>(),
            truncate in any::<bool>(),
        ) {
            let mut bytes = source(kind, 40, 30);
            for (at, v) in flips {
                let i = at.index(bytes.len());
                bytes[i] = v;
            }
            if truncate {
                bytes.truncate(cut.index(bytes.len()).max(1));
            }
            let mut q = HashMap::new();
            q.insert("w".to_string(), vec!["16".to_string()]);
            let spec = Spec::from_query(&q).expect("valid").expect("transform");
            if let Ok(Some(probe)) = probe::probe(&bytes, true)
                && u64::from(probe.width) * u64::from(probe.height) <= 4_000_000
            {
                let format = probe.kind.format();
                let _ = pipeline::run(&bytes, probe, &spec, format, Instant::now() + Duration::from_secs(30));
            }
        }
    }
}

/// The README's flow end to end: `s3gate sign` as a real process, its query
/// string on a real HTTP request through the local API Gateway.
#[tokio::test]
async fn cli_signed_url_works_over_http() {
    let fx = fixture_with(&[("signing-secret", SECRET)]).await;
    let (_gw, base) = crate::presign::gateway(&fx).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args([
            "sign",
            "t/photo.jpg",
            "w=240&format=webp",
            "--expires",
            "600",
        ])
        .env("S3GATE_SIGNING_SECRET", SECRET)
        .output()
        .await
        .expect("s3gate sign runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let query = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert!(query.starts_with("w=240&format=webp&expires="), "{query}");
    let get = |q: String| {
        let url = format!("{base}/t/photo.jpg?{q}");
        async move {
            crate::support::client()
                .get(url)
                .header("x-api-key", crate::presign::KEY)
                .send()
                .await
                .expect("GET")
        }
    };
    let ok = get(query.clone()).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("image/webp")
    );
    let body = ok.bytes().await.expect("body");
    assert_eq!(decoded(&body), ("webp", 240, 180));
    // Tampered: another width with the same signature.
    let tampered = query.replacen("w=240", "w=241", 1);
    assert_eq!(get(tampered).await.status(), 403);
    // No secret: the CLI refuses clearly.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_s3gate"))
        .args(["sign", "t/photo.jpg", "w=240"])
        .env_remove("S3GATE_SIGNING_SECRET")
        .output()
        .await
        .expect("s3gate sign runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("S3GATE_SIGNING_SECRET"));
}

#[tokio::test]
async fn a_signature_without_a_transform_is_a_400() {
    let fx = Fixture::new().await;
    for query in [&[("sig", "0000")][..], &[("expires", "1999999999")][..]] {
        let got = transform(&fx, "partnerimages/67/28/67286576.jpeg", query).await;
        got.assert_error(400, "BadRequest", &format!("{query:?}"));
        let name = query[0].0;
        assert!(
            got.message()
                .starts_with(&format!("{name}: signs a transform")),
            "{}",
            got.message()
        );
    }
}
