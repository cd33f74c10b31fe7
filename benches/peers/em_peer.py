"""scikit-learn GaussianMixture as a sanity reference for the EM fit (optional).

Run `cargo bench --bench peers -- em` first. darkprobe fits the subhalo
quantification mixture (prior + covariate shift model:
two fixed KDE class densities with 466 and 31 kernels, weights and a 6-
parameter sigmoid shift fitted by EM) to 227 3-D points. This is a different
model from scikit-learn's `GaussianMixture` (2 full-covariance Gaussians,
means and covariances fitted): the row is a sanity reference for the cost of
an EM fit of the same data size, not a like-for-like comparison.
"""
import os

import numpy as np
from sklearn.mixture import GaussianMixture

from _common import darkprobe_report, load, median_time, row_dir, summary


def main():
    d = row_dir("em")
    rep = darkprobe_report("em")
    x = load(os.path.join(d, "points.csv"))
    reps = int(os.environ.get("PEERS_REPS", "5"))
    for n_init, key in [(1, "single_start"), (10, "multistart")]:
        def run():
            return GaussianMixture(n_components=2, covariance_type="full", tol=1e-6,
                                   max_iter=1000, n_init=n_init, random_state=0).fit(x)

        t, gm = median_time(run, reps)
        summary(f"sklearn GaussianMixture(2, full, n_init={n_init})",
                f"EM on the 227 x 3-D points (different model; darkprobe {key})",
                t, float(rep[f"{key}_time_s"]),
                f"different models: ln L/pt sklearn {gm.score(x):.3f}, "
                f"darkprobe {float(rep[f'{key}_ln_l']) / len(x):.3f}")


if __name__ == "__main__":
    main()
