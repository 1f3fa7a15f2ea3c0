//! The patched jpeg-decoder in `vendor/` against upstream 0.3.2, in one
//! process, alternating, inside a one-thread rayon pool (as s3gate decodes
//! on a one-core Lambda, where its pool has one thread per core): CPU time
//! of a scaled decode, and a check that both give the same pixels.
//!
//! ```text
//! jpeg_fork_bench <file.jpg> [rounds=30] [scale=2]    scale: 1, 2, 4 or 8 (eighths)
//! taskset -c 0 target/release/examples/jpeg_fork_bench ~/.cache/s3gate/bench-transform/src12mp.jpg
//! ```

use cpu_time::ProcessTime;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: jpeg_fork_bench <file.jpg> [rounds=30] [scale=2 (eighths: 1, 2, 4, 8)]";
    let path = args.get(1).ok_or(usage)?;
    let rounds: usize = args.get(2).map_or(Ok(30), |s| s.parse())?;
    let k: u16 = args.get(3).map_or(Ok(2), |s| s.parse())?;
    if rounds == 0 || ![1, 2, 4, 8].contains(&k) {
        return Err(usage.into());
    }
    let bytes = std::fs::read(path)?;
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;

    // The two crates have the same API but different types.
    macro_rules! decode_with {
        ($krate:ident) => {
            || -> Result<Vec<u8>, $krate::Error> {
                let mut dec = $krate::Decoder::new(&bytes[..]);
                dec.read_info()?;
                let info = dec
                    .info()
                    .ok_or_else(|| $krate::Error::Format("no frame header".into()))?;
                // Exactly k/8 (the smallest scale covering the request).
                let at = |n: u16| (u32::from(n) * u32::from(k)).div_ceil(8) as u16;
                dec.scale(at(info.width), at(info.height))?;
                dec.decode()
            }
        };
    }
    let fork = decode_with!(jpeg_decoder);
    let upstream = decode_with!(jpeg_decoder_upstream);

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut last_ours, mut last_theirs) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = ProcessTime::now();
        last_theirs = pool.install(upstream)?;
        theirs.push(t.elapsed().as_secs_f64() * 1e3);
        let t = ProcessTime::now();
        last_ours = pool.install(fork)?;
        ours.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if last_ours != last_theirs {
        return Err("the patched and the upstream decoder gave different pixels".into());
    }
    for (name, v) in [
        ("upstream 0.3.2", &mut theirs),
        ("vendor (patched)", &mut ours),
    ] {
        v.sort_by(f64::total_cmp);
        println!(
            "{name:17} CPU ms at {k}/8: best {:.2}, p25 {:.2}, median {:.2}",
            v[0],
            v[v.len() / 4],
            v[v.len() / 2]
        );
    }
    println!("same pixels: {} bytes", last_ours.len());
    Ok(())
}
