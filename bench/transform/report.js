// Builds the markdown table and the results JSON of scripts/bench-transform.sh.
//
//   node report.js bench     <runs.jsonl> <quality.jsonl> <meta.json> <results.json>
//   node report.js calibrate <runs.jsonl> <quality.jsonl> <meta.json> <results.json>
//
// runs.jsonl: one line per process, written by the script:
//   {"case":..,"tool":"sharp"|"s3gate","q":..,"spec":..,"input":..,"output":..,"rss_kb":..,"result":<the tool's JSON line>}
// quality.jsonl: quality.js lines (matched to runs by output file).
// Prints markdown on stdout; writes everything to <results.json>.
'use strict';
const fs = require('fs');

const GOALS = { // s3gate CPU time / sharp CPU time
  jpeg: { ratio: 1.0, label: '12 MP JPEG → 800 px JPEG q80' },
  webp: { ratio: 1.0, label: '12 MP JPEG → 800 px WebP q80' },
  'png-webp': { ratio: 0.7, label: '2 MP RGBA PNG → 400 px WebP q80' },
  avif: { ratio: 0.7, label: '12 MP JPEG → 800 px AVIF' },
};
const RSS_GOAL_MB = 40;     // s3gate peak RSS for the 12 MP cases
const PSNR_TOLERANCE = 0.5; // dB below sharp's

function die(msg) { console.error(`report: ${msg}`); process.exit(1); }
function readJsonl(file, what) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l, i) => {
    try { return JSON.parse(l); } catch (e) { return die(`${what} line ${i + 1} is not JSON (${e.message}): ${l.slice(0, 200)}`); }
  });
}
const f1 = (x) => (x == null ? '–' : Number(x).toFixed(1));
const f2 = (x) => (x == null ? '–' : Number(x).toFixed(2));
const mb = (kb) => (kb == null ? '–' : (kb / 1024).toFixed(1));
const mark = (ok) => (ok == null ? '' : ok ? ' ✓' : ' ✗');

const [mode, runsFile, qualityFile, metaFile, resultsFile] = process.argv.slice(2);
if (!['bench', 'calibrate'].includes(mode) || !resultsFile) die('usage: node report.js bench|calibrate <runs.jsonl> <quality.jsonl> <meta.json> <results.json>');
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const n = s.length; return n % 2 ? s[n >> 1] : (s[n / 2 - 1] + s[n / 2]) / 2; };
const quality = new Map(readJsonl(qualityFile, 'quality').map((q) => [q.file, q]));
const meta = JSON.parse(fs.readFileSync(metaFile, 'utf8'));
// One entry per case, tool and q, aggregating its rounds (one process each):
// cpu/wall = median over rounds of each process's median, cpu min = min of mins, RSS = max.
const groups = new Map();
for (const r of readJsonl(runsFile, 'runs')) {
  for (const k of ['cpu_ms_median', 'cpu_ms_min', 'wall_ms_median', 'bytes']) {
    if (!r.result || typeof r.result[k] !== 'number') die(`${r.tool} ${r.case}: no numeric "${k}" in its output line: ${JSON.stringify(r.result)}`);
  }
  const key = `${r.case}|${r.tool}|${r.q}`;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push(r);
}
const runs = [...groups.values()].map((rs) => {
  const last = rs[rs.length - 1];
  const agg = {
    case: last.case, tool: last.tool, q: last.q, spec: last.spec, input: last.input, output: last.output,
    rss_kb: Math.max(...rs.map((r) => r.rss_kb)),
    result: {
      ...last.result,
      cpu_ms_median: median(rs.map((r) => r.result.cpu_ms_median)),
      cpu_ms_min: Math.min(...rs.map((r) => r.result.cpu_ms_min)),
      wall_ms_median: median(rs.map((r) => r.result.wall_ms_median)),
    },
    rounds: rs.map((r) => ({ round: r.round, rss_kb: r.rss_kb, ...r.result })),
    quality: quality.get(last.output) || null,
  };
  if (!agg.quality) die(`no quality figure for ${last.output}`);
  for (const r of rs) {
    if (r.result.bytes !== agg.quality.bytes) console.error(`report: warning: ${r.tool} ${r.case} round ${r.round}: reported ${r.result.bytes} bytes, the final file has ${agg.quality.bytes}`);
  }
  return agg;
});
const lines = [];
const out = { ...meta, mode };

if (mode === 'bench') {
  const cases = [];
  for (const kase of Object.keys(GOALS)) {
    const sh = runs.find((r) => r.case === kase && r.tool === 'sharp');
    const s3 = runs.find((r) => r.case === kase && r.tool === 's3gate');
    if (!sh && !s3) continue;
    const c = { case: kase, description: GOALS[kase].label, sharp: sh || null, s3gate: s3 || null };
    if (sh && s3) {
      // Rounds run back to back (sharp, s3gate / s3gate, sharp ...): per-round ratios show the spread.
      c.cpu_ratio_per_round = sh.rounds.map((r, i) => (s3.rounds[i] ? s3.rounds[i].cpu_ms_median / r.cpu_ms_median : null));
      c.cpu_ratio = s3.result.cpu_ms_median / sh.result.cpu_ms_median;
      c.cpu_min_ratio = s3.result.cpu_ms_min / sh.result.cpu_ms_min;
      c.wall_ratio = s3.result.wall_ms_median / sh.result.wall_ms_median;
      c.bytes_ratio = s3.quality.bytes / sh.quality.bytes;
      c.psnr_delta = s3.quality.psnr_rgb - sh.quality.psnr_rgb;
      c.same_size = s3.quality.width === sh.quality.width && s3.quality.height === sh.quality.height;
      if (!c.same_size) console.error(`report: warning: ${kase}: s3gate output is ${s3.quality.width}x${s3.quality.height}, sharp's ${sh.quality.width}x${sh.quality.height}`);
      c.goals = {
        cpu_ratio_max: GOALS[kase].ratio, cpu_ratio_ok: c.cpu_ratio <= GOALS[kase].ratio,
        psnr_ok: c.psnr_delta >= -PSNR_TOLERANCE,
        rss_ok: kase === 'png-webp' ? null : s3.rss_kb / 1024 < RSS_GOAL_MB,
      };
    }
    cases.push(c);
  }
  out.cases = cases;
  lines.push(`CPU time per transform (user+sys, ms), pinned to one core: the median over ${meta.rounds} alternating processes per tool of each one's median `
    + `of ${meta.iterations} iterations after a warm-up; ratio = s3gate / sharp.`);
  lines.push('');
  lines.push('| case | sharp CPU ms | s3gate CPU ms | ratio | goal | wall ratio | sharp RSS MB | s3gate RSS MB | sharp bytes | s3gate bytes | sharp PSNR dB | s3gate PSNR dB |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    const sh = c.sharp, s3 = c.s3gate;
    const psnr = (r) => (r ? f2(r.quality.psnr_rgb) + (r.quality.psnr_alpha != null ? ` (α ${f1(r.quality.psnr_alpha)})` : '') : '–');
    const name = c.case === 'avif' && s3 ? `avif (s3gate q${s3.q}, sharp q50)` : c.case;
    lines.push(`| ${name} | ${sh ? f1(sh.result.cpu_ms_median) : '–'} | ${s3 ? f1(s3.result.cpu_ms_median) : '–'} | `
      + `${c.cpu_ratio != null ? f2(c.cpu_ratio) + '×' : '–'} | ≤${GOALS[c.case].ratio.toFixed(1)}×${c.goals ? mark(c.goals.cpu_ratio_ok) : ''} | `
      + `${c.wall_ratio != null ? f2(c.wall_ratio) + '×' : '–'} | ${mb(sh && sh.rss_kb)} | ${mb(s3 && s3.rss_kb)}${c.goals ? mark(c.goals.rss_ok) : ''} | `
      + `${sh ? sh.quality.bytes : '–'} | ${s3 ? s3.quality.bytes : '–'} | ${psnr(sh)} | ${psnr(s3)}${c.goals ? mark(c.goals.psnr_ok) : ''} |`);
  }
  lines.push('');
  lines.push(`Goals: CPU ratio as in "goal"; s3gate peak RSS < ${RSS_GOAL_MB} MB for the 12 MP cases; s3gate PSNR within ${PSNR_TOLERANCE} dB of sharp's`
    + ' at a similar size (compare the bytes columns).');
  lines.push(`PSNR: RGB against the full-resolution source area-averaged to the output size (RGBA: over mid-grey; α = alpha PSNR). `
    + `Peak RSS is the whole process (node + sharp alone: ${mb(meta.node_sharp_baseline_rss_kb)} MB).`);
  const detail = cases.filter((c) => c.sharp && c.s3gate).map((c) => `${c.case}: per-round ratios ${c.cpu_ratio_per_round.map(f2).join('/')}, min-vs-min ${f2(c.cpu_min_ratio)}×, wall ${f1(c.sharp.result.wall_ms_median)}/${f1(c.s3gate.result.wall_ms_median)} ms, `
    + `bytes ${f2(c.bytes_ratio)}×, ΔPSNR ${c.psnr_delta >= 0 ? '+' : ''}${f2(c.psnr_delta)} dB (Y ${f2(c.sharp.quality.psnr_y)}/${f2(c.s3gate.quality.psnr_y)}, lanczos3-ref ${f2(c.sharp.quality.psnr_rgb_lanczos3)}/${f2(c.s3gate.quality.psnr_rgb_lanczos3)})`);
  if (detail.length) { lines.push(''); lines.push('Details (sharp/s3gate): ' + detail.join('; ') + '.'); }
} else {
  const sh = runs.find((r) => r.tool === 'sharp');
  const s3 = runs.filter((r) => r.tool === 's3gate').sort((a, b) => a.q - b.q);
  if (!sh || s3.length === 0) die('calibration needs one sharp run and at least one s3gate run');
  out.sharp = sh; out.s3gate = s3;
  lines.push(`AVIF calibration: 12 MP JPEG → 800 px (CPU ms: median of ${meta.iterations} after a warm-up, one core).`);
  lines.push('');
  lines.push('| tool | q | bytes | bytes vs sharp | PSNR RGB dB | ΔPSNR | PSNR Y dB | CPU ms | CPU ratio |');
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  lines.push(`| sharp | 50 | ${sh.quality.bytes} | 1.00× | ${f2(sh.quality.psnr_rgb)} | – | ${f2(sh.quality.psnr_y)} | ${f1(sh.result.cpu_ms_median)} | – |`);
  for (const r of s3) {
    const d = r.quality.psnr_rgb - sh.quality.psnr_rgb;
    lines.push(`| s3gate | ${r.q} | ${r.quality.bytes} | ${f2(r.quality.bytes / sh.quality.bytes)}× | ${f2(r.quality.psnr_rgb)} | ${d >= 0 ? '+' : ''}${f2(d)} | `
      + `${f2(r.quality.psnr_y)} | ${f1(r.result.cpu_ms_median)} | ${f2(r.result.cpu_ms_median / sh.result.cpu_ms_median)}× |`);
  }
  const closest = s3.reduce((a, b) => (Math.abs(b.quality.psnr_rgb - sh.quality.psnr_rgb) < Math.abs(a.quality.psnr_rgb - sh.quality.psnr_rgb) ? b : a));
  const atLeast = s3.find((r) => r.quality.psnr_rgb >= sh.quality.psnr_rgb);
  const sized = s3.reduce((a, b) => (Math.abs(Math.log(b.quality.bytes / sh.quality.bytes)) < Math.abs(Math.log(a.quality.bytes / sh.quality.bytes)) ? b : a));
  out.suggestion = { closest_psnr_q: closest.q, closest_bytes_q: sized.q, lowest_q_at_least_sharp_psnr: atLeast ? atLeast.q : null };
  const dp = (r) => { const d = r.quality.psnr_rgb - sh.quality.psnr_rgb; return `${d >= 0 ? '+' : ''}${f2(d)} dB`; };
  lines.push('');
  lines.push(`Closest size to sharp's: q${sized.q} (${f2(sized.quality.bytes / sh.quality.bytes)}× the bytes, ${dp(sized)}). `
    + `Closest PSNR: q${closest.q} (${f2(closest.quality.bytes / sh.quality.bytes)}× the bytes, ${dp(closest)}). `
    + (atLeast ? `Lowest q at or above sharp's PSNR: q${atLeast.q} (${f2(atLeast.quality.bytes / sh.quality.bytes)}× the bytes).` : 'No q reached sharp\'s PSNR.')
    + ' Run the benchmark with AVIF_Q=<q>.');
}
fs.writeFileSync(resultsFile, JSON.stringify(out, null, 2) + '\n');
console.log(lines.join('\n'));
