#!/usr/bin/env python3
"""Lambda cost per million requests, computed from the shared harness's
measurements (the JSON that ../shared/bench/compare.sh writes).

The harness runs the function on a full core. In Lambda the CPU share is
memory / 1769 MB of one vCPU (AWS: 1,769 MB = one vCPU), so a warm invoke is
modelled as

    duration(M) = (warm p50 - CPU per invoke) + CPU per invoke * 1769 / M

(the waiting part unchanged, the CPU part stretched), billed per 1 ms,
priced per GB-second (Lambda, us-east-1, first pricing tier) plus the
per-request charge. A model from local figures, not a bill from AWS.

    scripts/lambda-cost.py RESULT.json [RESULT.json ...] [--memory 128,256,512]
"""

import argparse
import json
import math

FULL_VCPU_MB = 1769
PRICE_GB_S = {"arm64": 0.0000133334, "x86_64": 0.0000166667}
PRICE_REQUEST = 0.20 / 1e6


def duration_ms(p50, cpu, memory):
    share = min(1.0, memory / FULL_VCPU_MB)
    return max(p50 - cpu, 0.0) + cpu / share


def compute_per_million(ms, memory, arch):
    """The duration charge alone, billed per started ms."""
    billed_s = math.ceil(ms) / 1000.0
    return 1e6 * billed_s * memory / 1024.0 * PRICE_GB_S[arch]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--memory", default="128,256,512")
    ap.add_argument("--arch", default="arm64", choices=sorted(PRICE_GB_S))
    args = ap.parse_args()
    sizes = [int(m) for m in args.memory.split(",")]
    head = "| object | function | warm p50 ms | CPU ms | " + " | ".join(
        f"{m} MB: ms, $/M (duration part)" for m in sizes
    )
    print(f"{args.arch}, ${PRICE_GB_S[args.arch]}/GB-s + $0.20/M requests")
    print(head + " |")
    print("|" + "---|" * (4 + len(sizes)))
    for path in args.results:
        data = json.load(open(path))
        event = data["meta"]["event"].rsplit("/", 1)[-1]
        for f in data["functions"]:
            s = f["summary"]
            p50, cpu = s["warm_p50_ms"], s["warm_cpu_ms"]
            cells = []
            for m in sizes:
                ms = duration_ms(p50, cpu, m)
                compute = compute_per_million(ms, m, args.arch)
                total = compute + PRICE_REQUEST * 1e6
                cells.append(f"{ms:.1f}, ${total:.3f} (${compute:.3f})")
            print(f"| {event} | {f['label']} | {p50:.2f} | {cpu:.2f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
