//! The transform pipeline on arbitrary bytes: the header probe, then (for a
//! header within 1 MP) decode, resize and encode. It must answer Ok or an
//! error, never panic, whatever the file says about itself.
//! The first byte picks the parameters; the rest is the source file.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use s3gate::transform::{Format, Spec, pipeline, probe};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let mut query: HashMap<String, Vec<String>> = HashMap::new();
    let mut put = |k: &str, v: &str| {
        query.insert(k.to_string(), vec![v.to_string()]);
    };
    put("w", ["1", "7", "32", "300"][usize::from(pick & 3)]);
    if pick & 4 != 0 {
        put("h", ["5", "64"][usize::from((pick >> 3) & 1)]);
        put("fit", ["cover", "contain", "fill", "inside"][usize::from((pick >> 4) & 3)]);
    }
    let Ok(Some(spec)) = Spec::from_query(&query) else {
        return;
    };
    let Ok(Some(probe)) = probe::probe(file, true) else {
        return;
    };
    if u64::from(probe.width) * u64::from(probe.height) > 1 << 20 {
        return;
    }
    // AVIF is left out: slow per run, and it encodes pixels the other paths
    // already produced.
    let format = [Format::Jpeg, Format::Png, Format::Webp, Format::Jpeg][usize::from(pick >> 6)];
    let _ = pipeline::run(file, probe, &spec, format, Instant::now() + Duration::from_secs(5));
});
