"""scikit-learn side of the exact GP comparison (optional).

Run `cargo bench --bench peers -- gp` first: it writes the seeded 9-D strip
inputs (`X_<n>.csv`, `y_<n>.csv`, the generator of benches/gasmap_gp.rs) and
darkprobe's standardisation (per-feature means `x_mean_<n>.csv`, one shared
input scale, target mean and scale) to target/peers/gp/, with darkprobe's
times and log marginal likelihoods (LML).

Both sides fit the same standardised data (x - mean) / s_x, (y - mean) / s_y
with the same kernel, start, bounds and number of restarts:
  A * Matern(nu=1.5, isotropic l) + white noise nu2,
  sklearn: ConstantKernel(A) * Matern(l, nu=1.5) + WhiteKernel(nu2),
  start A = 1, l = 3, nu2 = 0.1; bounds A in [1e-3, 1e3], l in [1e-2, 1e3],
  nu2 in [1e-6, 10]; n_restarts_optimizer = darkprobe's extra starts.
First the two LMLs at the start are compared (same definition:
-1/2 y^T K^-1 y - 1/2 ln|K| - n/2 ln 2 pi; sklearn adds alpha = 1e-10 to
the diagonal). Then the time of one LML evaluation with gradient (every n),
and of the full fit with the LML reached (n <= PEERS_GP_FIT_MAX_N on the
darkprobe side, default 2000).
"""
import os

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

from _common import darkprobe_report, load, median_time, row_dir, summary


def main():
    d = row_dir("gp")
    rep = darkprobe_report("gp")
    restarts = int(rep["restarts"])
    sizes = [int(k[1:].split("_")[0]) for k in rep if k.endswith("_start_ln_ml")]
    for n in sizes:
        x = load(os.path.join(d, f"X_{n}.csv"))
        y = load(os.path.join(d, f"y_{n}.csv"))[:, 0]
        x_mean = load(os.path.join(d, f"x_mean_{n}.csv"))[:, 0]
        xt = (x - x_mean) / float(rep[f"n{n}_x_scale"])
        yt = (y - float(rep[f"n{n}_y_mean"])) / float(rep[f"n{n}_y_scale"])
        a0 = float(rep[f"n{n}_start_amplitude"])
        l0 = float(rep[f"n{n}_start_length_scale"])
        s0 = float(rep[f"n{n}_start_noise"])
        kernel = (ConstantKernel(a0, (1e-3, 1e3))
                  * Matern(length_scale=l0, length_scale_bounds=(1e-2, 1e3), nu=1.5)
                  + WhiteKernel(s0, (1e-6, 1e1)))
        gp0 = GaussianProcessRegressor(kernel, optimizer=None).fit(xt, yt)
        lml0 = gp0.log_marginal_likelihood_value_
        ref0 = float(rep[f"n{n}_start_ln_ml"])
        print(f"n = {n}: LML at the start: sklearn {lml0:.6f}, darkprobe {ref0:.6f} "
              f"(diff {lml0 - ref0:.2e})")
        theta = gp0.kernel_.theta
        t, (v, g) = median_time(lambda: gp0.log_marginal_likelihood(theta, eval_gradient=True),
                                1 if n > 4000 else 3)
        summary("sklearn GaussianProcessRegressor",
                f"one LML + gradient, n = {n}, 9-D", t, float(rep[f"n{n}_lml_grad_time_s"]),
                f"LML diff {v - float(rep[f'n{n}_lml_grad_check']):.1e}")
        if f"n{n}_fit_time_s" not in rep:
            continue

        def fit():
            return GaussianProcessRegressor(kernel, n_restarts_optimizer=restarts,
                                            random_state=0).fit(xt, yt)

        t, gp = median_time(fit, int(os.environ.get("PEERS_GP_FIT_REPS", "1")))
        lml = gp.log_marginal_likelihood_value_
        ref = float(rep[f"n{n}_fit_ln_ml"])
        k = gp.kernel_
        print(f"    sklearn kernel {k}; darkprobe A {float(rep[f'n{n}_fit_amplitude']):.4g}, "
              f"l {float(rep[f'n{n}_fit_length_scale']):.4g}, "
              f"noise {float(rep[f'n{n}_fit_noise']):.4g}, "
              f"{rep[f'n{n}_fit_n_eval']} LML evaluations")
        summary("sklearn GaussianProcessRegressor",
                f"fit, n = {n}, 9-D, {restarts} restarts", t, float(rep[f"n{n}_fit_time_s"]),
                f"LML reached: sklearn {lml:.3f}, darkprobe {ref:.3f} ({ref - lml:+.3f})")


if __name__ == "__main__":
    main()
