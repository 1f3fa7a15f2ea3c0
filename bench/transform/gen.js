// Deterministic, photo-like benchmark inputs for scripts/bench-transform.sh.
//
//   node gen.js <out-dir>        (needs `sharp` resolvable, e.g. NODE_PATH=<tmp>/node_modules)
//
// Writes, byte-identical on every run with the same sharp/libvips version:
//   src12mp.jpg  4000x3000 RGB, baseline JPEG q90 4:2:0 (sharp/mozjpeg defaults), about 2.8 MB
//                (~1.9 bits/pixel, i.e. camera-like entropy). Content: a landscape made of
//                multi-octave value noise (fBm): a sky with clouds, a ridge line, 9-octave
//                textured "grass", hard-edged "buildings" with windows, and sensor-like grain
//                (a luma component plus weaker per-channel chroma noise).
//   src2mp.png   1920x1080 RGBA PNG (sharp defaults), the same kind of scene with its own seed
//                and a radial alpha (opaque centre fading to fully transparent corners).
// Pure noise would be unrealistic (it neither compresses nor resizes like a photo), so the
// entropy comes from textured content plus moderate grain. Everything is driven by a seeded
// xorshift32 RNG; no Math.random.
'use strict';
const sharp = require('sharp');
const path = require('path');

// Grain strength (standard deviations in 8-bit levels); these set the JPEG size
// (5 and 2 give 2.8 MB for the 12 MP JPEG). Changing them changes the benchmark input.
const LUMA_GRAIN = 5;
const CHROMA_GRAIN = 2;

function rng(seed) {
  let s = seed >>> 0;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s / 4294967296; };
}
// Approximately normal, unit variance (sum of 3 uniforms: variance 3/12).
function gauss(r) { return (r() + r() + r() - 1.5) * 2; }
function makeNoise(seed, n) {
  const r = rng(seed); const g = new Float32Array(n * n);
  for (let i = 0; i < g.length; i++) g[i] = r();
  const m = n - 1;
  return (x, y) => {
    const xi = Math.floor(x), yi = Math.floor(y); const fx = x - xi, fy = y - yi;
    const sx = fx * fx * (3 - 2 * fx), sy = fy * fy * (3 - 2 * fy);
    const a = g[(yi & m) * n + (xi & m)], b = g[(yi & m) * n + ((xi + 1) & m)];
    const c = g[((yi + 1) & m) * n + (xi & m)], d = g[((yi + 1) & m) * n + ((xi + 1) & m)];
    return a + (b - a) * sx + (c - a) * sy + (a - b - c + d) * sx * sy;
  };
}
function fbm(noise, x, y, oct) {
  let v = 0, amp = 0.5, f = 1;
  for (let o = 0; o < oct; o++) { v += amp * noise(x * f, y * f); f *= 2.03; amp *= 0.5; }
  return v;
}
const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

function image(W, H, seed, alpha) {
  const n1 = makeNoise(seed, 256), n2 = makeNoise(seed + 1, 256), n3 = makeNoise(seed + 2, 256);
  const gr = rng(seed + 3);
  const ch = alpha ? 4 : 3, buf = Buffer.alloc(W * H * ch); const s = 1 / (W / 8);
  for (let y = 0; y < H; y++) {
    const yy = y / H;
    for (let x = 0; x < W; x++) {
      const u = x * s, v = y * s; const hgt = 0.45 + 0.35 * fbm(n1, u * 0.5, 0.3, 5);
      let r, g, b;
      if (yy < hgt) { // sky and clouds
        const c = fbm(n2, u * 2, v * 2, 4); r = 90 + 100 * c + 60 * (1 - yy); g = 140 + 80 * c + 50 * (1 - yy); b = 220 + 30 * c;
      } else { // textured ground
        const t = fbm(n3, u * 4, v * 4, 9); const d = fbm(n2, u * 16, v * 16, 4);
        r = 60 + 120 * t + 40 * d; g = 80 + 110 * t + 30 * d; b = 40 + 60 * t;
      }
      // buildings: hard edges and a window grid
      const bx = Math.floor(u * 1.5); const bh = 0.55 + 0.2 * n1(bx * 7.3, 3.1);
      if ((u * 1.5 - bx) < 0.6 && yy > bh && yy < hgt + 0.25 && (bx % 3 === 1)) {
        const win = ((x >> 4) & 1) & ((y >> 5) & 1); r = g = b = win ? 230 : 70 + 40 * n3(u * 30, v * 30);
      }
      // grain: a shared luma part plus per-channel chroma noise
      const gl = gauss(gr) * LUMA_GRAIN;
      const i = (y * W + x) * ch;
      buf[i] = clamp(r + gl + gauss(gr) * CHROMA_GRAIN);
      buf[i + 1] = clamp(g + gl + gauss(gr) * CHROMA_GRAIN);
      buf[i + 2] = clamp(b + gl + gauss(gr) * CHROMA_GRAIN);
      if (alpha) { const dx = x / W - 0.5, dy = y / H - 0.5; buf[i + 3] = clamp(255 * (1.6 - 3 * Math.sqrt(dx * dx + dy * dy))); }
    }
  }
  return { buf, W, H, ch };
}

(async () => {
  const out = process.argv[2];
  if (!out) { console.error('usage: node gen.js <out-dir>'); process.exit(2); }
  sharp.concurrency(1); sharp.cache(false);
  const t = Date.now();
  const a = image(4000, 3000, 42, false);
  const jpg = path.join(out, 'src12mp.jpg');
  await sharp(a.buf, { raw: { width: a.W, height: a.H, channels: a.ch } }).jpeg({ quality: 90 }).toFile(jpg);
  const b = image(1920, 1080, 7, true);
  const png = path.join(out, 'src2mp.png');
  await sharp(b.buf, { raw: { width: b.W, height: b.H, channels: b.ch } }).png().toFile(png);
  const fs = require('fs');
  console.error(`gen: ${jpg} ${fs.statSync(jpg).size} B, ${png} ${fs.statSync(png).size} B, ${Date.now() - t} ms`);
})().catch((e) => { console.error('gen:', e); process.exit(1); });
