// The sharp (libvips) side of scripts/bench-transform.sh: one case per process.
//
//   node sharp-bench.js <case> <input-file> <iterations> <output-file>
//
// Cases (sharp's defaults otherwise: lanczos3 with JPEG shrink-on-load; mozjpeg baseline 4:2:0
// with optimised Huffman; WebP effort 4; AVIF effort 4, 4:4:4, 8-bit):
//   jpeg      resize({width:800}).jpeg({quality:80})
//   webp      resize({width:800}).webp({quality:80})
//   png-webp  resize({width:400}).webp({quality:80})
//   avif      resize({width:800}).avif({quality:50})     (50 is sharp's default AVIF quality)
//
// The input file is read into memory once; each iteration is decode + resize + encode from that
// buffer to a buffer, like s3gate's transform_bench. One warm-up, then N timed iterations.
// CPU time is process.cpuUsage() (user+system, all threads) around each iteration.
// Prints ONE JSON line on stdout and writes the last output to <output-file>.
'use strict';
const sharp = require('sharp');
const fs = require('fs');
const { performance } = require('perf_hooks');

const CASES = {
  jpeg: (s) => s.resize({ width: 800 }).jpeg({ quality: 80 }),
  webp: (s) => s.resize({ width: 800 }).webp({ quality: 80 }),
  'png-webp': (s) => s.resize({ width: 400 }).webp({ quality: 80 }),
  avif: (s) => s.resize({ width: 800 }).avif({ quality: 50 }),
};

function die(msg) { console.error(`sharp-bench: ${msg}`); process.exit(2); }
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const r2 = (x) => Math.round(x * 100) / 100;

(async () => {
  const [kase, input, itersArg, output] = process.argv.slice(2);
  if (!kase || !input || !itersArg || !output) die('usage: node sharp-bench.js <case> <input-file> <iterations> <output-file>');
  const pipeline = CASES[kase];
  if (!pipeline) die(`unknown case "${kase}" (one of ${Object.keys(CASES).join(', ')})`);
  const iterations = Number(itersArg);
  if (!Number.isInteger(iterations) || iterations < 1) die(`iterations must be a positive integer, got "${itersArg}"`);
  sharp.concurrency(1);
  sharp.cache(false);
  if (sharp.concurrency() !== 1) die(`sharp.concurrency() is ${sharp.concurrency()} after setting 1`);
  const src = fs.readFileSync(input);
  const run = () => pipeline(sharp(src)).toBuffer({ resolveWithObject: true });

  let out = await run(); // warm-up
  const cpu = [], wall = [];
  for (let i = 0; i < iterations; i++) {
    const c0 = process.cpuUsage(), w0 = performance.now();
    out = await run();
    const w = performance.now() - w0, c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000); wall.push(w);
  }
  fs.writeFileSync(output, out.data);
  console.log(JSON.stringify({
    tool: 'sharp', case: kase, iterations,
    cpu_ms_median: r2(median(cpu)), cpu_ms_min: r2(Math.min(...cpu)),
    wall_ms_median: r2(median(wall)),
    bytes: out.data.length, width: out.info.width, height: out.info.height, format: out.info.format,
    sharp: sharp.versions.sharp, vips: sharp.versions.vips,
  }));
})().catch((e) => { console.error('sharp-bench:', e); process.exit(1); });
