// Quality figures for scripts/bench-transform.sh: PSNR of resized outputs against a
// kernel-neutral reference made from the full-resolution source.
//
//   node quality.js <source-file> <output-file>...
//
// Prints one JSON line per output:
//   {"file":...,"format":...,"width":...,"height":...,"bytes":...,"alpha":bool,
//    "psnr_rgb":dB,"psnr_y":dB,"psnr_alpha":dB|null,"psnr_rgb_lanczos3":dB}
//
// Method (the same for every tool and format, so decoder differences don't bias it):
// - Every output is decoded by sharp/libvips (JPEG, PNG, WebP, AVIF).
// - Reference: the source decoded at FULL resolution (a plain raw decode, so no JPEG
//   shrink-on-load), then area-averaged to the output's size in floating point (each output
//   pixel is the exact mean of the source area it covers: an exact 5x5 box for 4000->800,
//   fractional pixel-mixing for 1920->400). No resampling kernel is favoured. The
//   reference is not rounded to 8 bits.
// - psnr_rgb = 10*log10(255^2 / MSE) over R, G and B; psnr_y over BT.601 luma.
// - RGBA (source or output has alpha): both reference and output are composited over
//   mid-grey (128) before the RGB/Y figures (area-averaging the composited source equals
//   premultiplied averaging, the correct way to resample alpha), and psnr_alpha compares
//   the alpha channels separately. An output that dropped the alpha is compared as opaque.
// - psnr_rgb_lanczos3: secondary figure against libvips' own Lanczos3 resize of the
//   full-resolution (composited) source; it slightly favours libvips' kernel.
'use strict';
const sharp = require('sharp');
const fs = require('fs');

const GREY = 128;
const r3 = (x) => (Number.isFinite(x) ? Math.round(x * 1000) / 1000 : x === Infinity ? 'inf' : null);

async function decode(file) {
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  return { data, w: info.width, h: info.height, ch: info.channels };
}

// RGB (float, composited over grey when there is alpha) and alpha (float or null) planes.
function planes(img) {
  const n = img.w * img.h, rgb = new Float32Array(n * 3); // exact enough for 8-bit data
  const hasA = img.ch === 4 || img.ch === 2, grey = img.ch <= 2;
  const alpha = hasA ? new Float32Array(n) : null;
  for (let p = 0; p < n; p++) {
    const o = p * img.ch;
    const a = hasA ? img.data[o + img.ch - 1] / 255 : 1;
    if (hasA) alpha[p] = img.data[o + img.ch - 1];
    for (let c = 0; c < 3; c++) {
      const v = img.data[o + (grey ? 0 : c)];
      rgb[p * 3 + c] = v * a + GREY * (1 - a);
    }
  }
  return { rgb, alpha, w: img.w, h: img.h };
}

// Exact area average of a (w x h x ch) float plane to (W x H x ch); separable.
function weights(src, dst) {
  const scale = src / dst, out = [];
  for (let i = 0; i < dst; i++) {
    const a = i * scale, b = (i + 1) * scale, ws = [];
    for (let s = Math.floor(a); s < Math.min(src, Math.ceil(b)); s++) {
      const wgt = Math.min(b, s + 1) - Math.max(a, s);
      if (wgt > 1e-12) ws.push([s, wgt / scale]);
    }
    out.push(ws);
  }
  return out;
}
function areaAverage(buf, w, h, ch, W, H) {
  const wx = weights(w, W), wy = weights(h, H);
  const tmp = new Float64Array(W * h * ch);
  for (let y = 0; y < h; y++) for (let X = 0; X < W; X++) {
    for (const [s, k] of wx[X]) { const si = (y * w + s) * ch, di = (y * W + X) * ch; for (let c = 0; c < ch; c++) tmp[di + c] += buf[si + c] * k; }
  }
  const out = new Float64Array(W * H * ch);
  for (let Y = 0; Y < H; Y++) for (const [s, k] of wy[Y]) {
    for (let X = 0; X < W; X++) { const si = (s * W + X) * ch, di = (Y * W + X) * ch; for (let c = 0; c < ch; c++) out[di + c] += tmp[si + c] * k; }
  }
  return out;
}

function psnr(a, b) {
  let se = 0; for (let i = 0; i < a.length; i++) { const d = a[i] - b[i]; se += d * d; }
  return se === 0 ? Infinity : 10 * Math.log10(255 * 255 / (se / a.length));
}
function luma(rgb) {
  const y = new Float64Array(rgb.length / 3);
  for (let p = 0; p < y.length; p++) y[p] = 0.299 * rgb[p * 3] + 0.587 * rgb[p * 3 + 1] + 0.114 * rgb[p * 3 + 2];
  return y;
}

(async () => {
  const [source, ...outputs] = process.argv.slice(2);
  if (!source || outputs.length === 0) { console.error('usage: node quality.js <source-file> <output-file>...'); process.exit(2); }
  sharp.concurrency(1); sharp.cache(false);
  const src = planes(await decode(source));
  const refs = new Map(); // "WxH" -> reference planes
  const reference = async (W, H) => {
    const key = `${W}x${H}`;
    if (!refs.has(key)) {
      const rgb = areaAverage(src.rgb, src.w, src.h, 3, W, H);
      const alpha = src.alpha ? areaAverage(src.alpha, src.w, src.h, 1, W, H) : null;
      // Lanczos3 by libvips from the full-resolution composited (8-bit) source.
      const u8 = Buffer.alloc(src.rgb.length);
      for (let i = 0; i < u8.length; i++) u8[i] = Math.round(src.rgb[i]);
      const lz = await sharp(u8, { raw: { width: src.w, height: src.h, channels: 3 } })
        .resize({ width: W, height: H, fit: 'fill', kernel: 'lanczos3' }).raw().toBuffer();
      refs.set(key, { rgb, alpha, lanczos: lz });
    }
    return refs.get(key);
  };
  for (const file of outputs) {
    const meta = await sharp(file).metadata();
    const out = planes(await decode(file));
    const ref = await reference(out.w, out.h);
    const alphaRef = ref.alpha, alphaOut = out.alpha || (alphaRef ? new Float64Array(out.w * out.h).fill(255) : null);
    console.log(JSON.stringify({
      file, format: meta.format === 'heif' ? `heif/${meta.compression}` : meta.format,
      width: out.w, height: out.h, bytes: fs.statSync(file).size, alpha: !!out.alpha,
      psnr_rgb: r3(psnr(out.rgb, ref.rgb)),
      psnr_y: r3(psnr(luma(out.rgb), luma(ref.rgb))),
      psnr_alpha: alphaRef ? r3(psnr(alphaOut, alphaRef)) : null,
      psnr_rgb_lanczos3: r3(psnr(out.rgb, ref.lanczos)),
    }));
  }
})().catch((e) => { console.error('quality:', e); process.exit(1); });
