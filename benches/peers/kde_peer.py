"""scikit-learn / SciPy side of the KDE comparison (optional; not run by CI).

Run `cargo bench --bench kde_peers` first: it writes the seeded data and
darkprobe's answers to target/peers/ and prints darkprobe's times. This script
times the peers on the same files, checks agreement with darkprobe's exact log
densities, and prints medians of 5 repetitions.
"""
import os
import sys
import time

import numpy as np

from _common import summary

root = os.path.join(os.path.dirname(__file__), "..", "..", "target", "peers")
BW = 0.2


def load(name):
    return np.loadtxt(os.path.join(root, name), delimiter=",", skiprows=1, ndmin=2)


def median_time(f, reps=5):
    ts = []
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def main():
    from sklearn.neighbors import KernelDensity
    from scipy.stats import gaussian_kde

    q = load("kde_query.csv")
    dp = {}
    times_path = os.path.join(root, "kde_darkprobe_times.csv")
    if os.path.exists(times_path):
        with open(times_path) as f:
            next(f)
            dp = dict(line.strip().split(",", 1) for line in f if line.strip())
    for tag in sys.argv[1:] or ["1e4", "1e5"]:
        path = os.path.join(root, f"kde_train_{tag}.csv")
        if not os.path.exists(path):
            continue
        x = load(f"kde_train_{tag}.csv")
        ref = load(f"kde_darkprobe_lnpdf_{tag}.csv")[:, 0]
        reps = 5 if tag == "1e4" else 3

        def sk():
            kde = KernelDensity(kernel="gaussian", bandwidth=BW, rtol=1e-6).fit(x)
            return kde.score_samples(q)

        t_sk, y_sk = median_time(sk, reps)
        print(f"sklearn KernelDensity rtol=1e-6 train {tag}: {t_sk:.3f} s, "
              f"max |d ln p| vs darkprobe exact {np.max(np.abs(y_sk - ref)):.2e}")
        if f"tree_{tag}_time_s" in dp:
            summary("sklearn KernelDensity (kd-tree, rtol 1e-6, incl. fit)",
                    f"KDE 3-D, {tag} train x 1e4 queries, bw {BW}; darkprobe tree rtol 1e-6 "
                    "incl. build", t_sk, float(dp[f"tree_{tag}_time_s"]),
                    f"max |d ln p| {np.max(np.abs(y_sk - ref)):.1e}")

        def sp():
            kde = gaussian_kde(x.T)
            # Make the kernel covariance BW^2 * I: unit data covariance, factor BW.
            kde._data_covariance = np.eye(3)
            kde._data_cho_cov = np.eye(3)
            kde.set_bandwidth(bw_method=BW)
            return kde.logpdf(q.T)

        try:
            t_sp, y_sp = median_time(sp, reps)
            print(f"scipy gaussian_kde train {tag}: {t_sp:.3f} s, "
                  f"max |d ln p| vs darkprobe exact {np.max(np.abs(y_sp - ref)):.2e}")
            if f"exact_{tag}_time_s" in dp:
                summary("scipy gaussian_kde (exact)",
                        f"KDE 3-D, {tag} train x 1e4 queries, bw {BW}; darkprobe exact",
                        t_sp, float(dp[f"exact_{tag}_time_s"]),
                        f"max |d ln p| {np.max(np.abs(y_sp - ref)):.1e}")
        except Exception as e:  # private attributes differ across SciPy versions
            print(f"scipy gaussian_kde skipped: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
