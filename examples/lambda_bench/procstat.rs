//! CPU time and peak memory of a function, read from /proc. A function runs
//! in its own process group (its `/bin/sh -c` wrapper and whatever that
//! starts), so every figure is summed over the group's processes.
//!
//! CPU time comes from `/proc/PID/task/TID/schedstat` (nanoseconds on CPU,
//! per thread) where the kernel has schedstats; otherwise from utime + stime
//! in `/proc/PID/stat`, in clock ticks (`getconf CLK_TCK`, usually 100 a
//! second: 10 ms steps, which is why CPU per invoke is taken over all the
//! warm invokes of a cold start). Threads that exit between two readings
//! take their schedstat time with them; the functions measured here keep
//! theirs alive.

use std::fs;
use std::sync::OnceLock;

/// Where the CPU figures come from.
pub fn cpu_source() -> &'static str {
    if fs::metadata("/proc/self/schedstat").is_ok() {
        "schedstat (ns)"
    } else {
        "stat utime+stime (ticks)"
    }
}

/// Fields after the `(comm)` of `/proc/PID/stat`: state is index 0.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// Every process whose process group is `pgid`.
pub fn group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![pgid];
    };
    let mut pids: Vec<u32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            stat_fields(pid)
                .and_then(|f| f.get(2)?.parse::<u32>().ok())
                .is_some_and(|pgrp| pgrp == pgid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

fn clk_tck() -> u64 {
    static TCK: OnceLock<u64> = OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

fn schedstat_ns(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let path = task.ok()?.path().join("schedstat");
        let text = fs::read_to_string(path).ok()?;
        total += text.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

fn ticks_ns(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000_000 / clk_tck())
}

/// CPU time of the whole group, in nanoseconds.
pub fn cpu_ns(pgid: u32) -> u64 {
    group(pgid)
        .into_iter()
        .filter_map(|pid| schedstat_ns(pid).or_else(|| ticks_ns(pid)))
        .sum()
}

/// Σ VmHWM (peak resident set) of the group, in KiB.
pub fn peak_rss_kib(pgid: u32) -> u64 {
    group(pgid)
        .into_iter()
        .filter_map(|pid| {
            let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .sum()
}
