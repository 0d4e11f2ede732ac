#!/usr/bin/env python3
"""Draws the load test's latency over time (docs/benchmarks-load.png) from the CSV `make bench`
writes: every request as a dot at its intended send time, coloured by step, with the p50 and p99
of each 5-second window over it.

Usage: plot_load.py <load.csv> <out.png>
"""

import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

WINDOW_S = 5.0


def quantile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round((len(ordered) - 1) * q)))]


def main(source, target):
    with open(source, newline="") as f:
        rows = [(float(r["intended_s"]), float(r["latency_ms"]), r["step"], r["status"]) for r in csv.DictReader(f)]
    figure, axes = plt.subplots(figsize=(10, 4.5), dpi=110)
    for step in sorted({step for _, _, step, _ in rows}):
        points = [(t, ms) for t, ms, s, _ in rows if s == step]
        axes.scatter([t for t, _ in points], [ms for _, ms in points], s=6, alpha=0.6, label=step)
    windows = {}
    for t, ms, _, _ in rows:
        windows.setdefault(int(t // WINDOW_S), []).append(ms)
    starts = sorted(windows)
    middles = [(w + 0.5) * WINDOW_S for w in starts]
    axes.plot(middles, [quantile(windows[w], 0.5) for w in starts], color="black", label="p50 (5 s)")
    axes.plot(middles, [quantile(windows[w], 0.99) for w in starts], color="red", label="p99 (5 s)")
    axes.set_yscale("log")
    axes.set_xlabel("intended send time, s")
    axes.set_ylabel("latency from intended send, ms")
    axes.set_title("make bench: open-loop load on the local stack")
    axes.legend(loc="upper left", fontsize="small", ncol=3)
    axes.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(target)
    print(f"wrote {target} ({len(rows)} requests)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
