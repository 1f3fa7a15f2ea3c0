//! s3gate's side of `scripts/bench-transform.sh`: one transform of one file,
//! repeated in this process (the work the function does after S3 has
//! answered), timed in CPU and wall time.
//!
//! ```text
//! transform_bench <input-file> <query> <iterations> <output-file>
//! transform_bench src12mp.jpg 'w=800&format=jpeg&q=80' 15 out.jpg
//! ```
//! Prints one JSON line: medians and minimum, output size and format.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use cpu_time::ProcessTime;
use s3gate::transform::negotiate::choose_format;
use s3gate::transform::{FormatChoice, Spec, pipeline, probe};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: transform_bench <input> <query> <iterations> <output>".into());
    }
    let input = std::fs::read(&args[1])?;
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    for pair in args[2].split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        query.entry(k.to_string()).or_default().push(v.to_string());
    }
    let iterations: usize = args[3].parse()?;
    let spec = Spec::from_query(&query)
        .map_err(|e| e.to_string())?
        .ok_or("the query has no transform parameter")?;
    let probe = probe::probe(&input, true)
        .map_err(|e| format!("{e:?}"))?
        .ok_or("no header")?;
    let planned = probe::upright_plan(&input, probe, &spec)?.plan;
    let pixels = u64::from(planned.canvas.0) * u64::from(planned.canvas.1);
    let (format, _) = choose_format(
        spec.format,
        probe.kind,
        Some("image/avif,image/webp"),
        pixels,
    )?;
    let once = || {
        let deadline = Instant::now() + Duration::from_secs(60);
        pipeline::run(&input, probe, &spec, format, deadline).map_err(|e| format!("{e:?}"))
    };
    let mut out = once()?;
    // One transform per sample, as the sharp side times them.
    let mut cpu = Vec::with_capacity(iterations);
    let mut wall = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let (c0, w0) = (ProcessTime::now(), Instant::now());
        out = once()?;
        cpu.push(c0.elapsed().as_secs_f64() * 1e3);
        wall.push(w0.elapsed().as_secs_f64() * 1e3);
    }
    std::fs::write(&args[4], &out.bytes)?;
    let cpu_min = cpu.iter().copied().fold(f64::INFINITY, f64::min);
    let line = serde_json::json!({
        "tool": "s3gate",
        "query": args[2],
        "iterations": iterations,
        "cpu_ms_median": (median(&mut cpu) * 100.0).round() / 100.0,
        "cpu_ms_min": (cpu_min * 100.0).round() / 100.0,
        "wall_ms_median": (median(&mut wall) * 100.0).round() / 100.0,
        "bytes": out.bytes.len(),
        "width": out.width,
        "height": out.height,
        "format": out.format.as_str(),
        "keep": matches!(spec.format, FormatChoice::Keep),
    });
    println!("{line}");
    Ok(())
}
