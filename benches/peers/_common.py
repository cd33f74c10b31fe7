"""Helpers shared by the peer scripts: paths, CSV loading, darkprobe's
reported numbers, medians of repeated timings, one summary line per row."""
import os
import subprocess
import time

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "target", "peers"))


def row_dir(row):
    d = os.path.join(ROOT, row)
    if not os.path.isdir(d):
        raise SystemExit(f"{d} is missing: run `cargo bench --bench peers -- {row}` first")
    return d


def load(path, ndmin=2):
    """A headed CSV as a float array (header skipped)."""
    return np.loadtxt(path, delimiter=",", skiprows=1, ndmin=ndmin)


def darkprobe_report(row):
    """darkprobe's `key,value` report of a row as a dict of strings."""
    out = {}
    with open(os.path.join(row_dir(row), "darkprobe.csv")) as f:
        next(f)
        for line in f:
            k, v = line.rstrip("\n").split(",", 1)
            out[k] = v
    return out


def median_time(f, reps=5):
    """Median wall time (s) of `reps` calls of `f`, and the last result."""
    ts, out = [], None
    for _ in range(max(1, reps)):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def load_avg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def summary(peer, workload, t_peer, t_dp, agreement):
    """One result line: peer time, darkprobe time, ratio, agreement, load."""
    ratio = t_peer / t_dp if t_dp > 0 else float("nan")
    print(f"ROW | {peer} | {workload} | peer {fmt_t(t_peer)} | darkprobe {fmt_t(t_dp)} | "
          f"ratio {ratio:.3g}x | {agreement} | load {load_avg()}", flush=True)


def fmt_t(t):
    if t >= 1.0:
        return f"{t:.3g} s"
    if t >= 1e-3:
        return f"{t * 1e3:.3g} ms"
    return f"{t * 1e6:.3g} us"


def threads_note():
    return os.environ.get("OMP_NUM_THREADS", "default")
