//! Tests of the flows against independent computations: quadrature,
//! finite differences, brute-force moments and known Gaussians.

use super::*;
use crate::flow::maf::Tape;
use darkprobe_core::progress::{CountingProgress, NoProgress};
use darkprobe_nn::{Matrix, Parameters, Sequential};
use rand::{Rng, SeedableRng};
use rand_distr::StandardNormal;

type StdRng = rand::rngs::StdRng;

/// A flow with random (not near-identity) parameters, so that the maps
/// tested are genuinely non-linear.
pub(crate) fn random_flow(dim: usize, cdim: usize, blocks: usize, seed: u64) -> Maf {
    let mut rng = StdRng::seed_from_u64(seed);
    let cfg = MafConfig::new(dim, cdim, blocks, vec![12, 12]);
    let xw = Whitening {
        mean: (0..dim).map(|j| 0.3 * j as f64 - 0.2).collect(),
        std: (0..dim).map(|j| 1.5 + 0.5 * j as f64).collect(),
    };
    let cw = Whitening {
        mean: vec![0.1; cdim],
        std: vec![2.0; cdim],
    };
    let mut flow = Maf::new(cfg, xw, cw, &mut rng).unwrap();
    let nets: &mut Vec<Sequential<f64>> = flow.nets_mut();
    nets.visit_params_mut(&mut |p| {
        for v in p.value.iter_mut() {
            *v = 0.5 * rng.random_range(-1.0..1.0);
        }
    });
    flow
}

pub(crate) fn normals(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| rng.sample(StandardNormal)).collect()
}

#[test]
fn density_integrates_to_one_in_1d() {
    for cdim in [0, 2] {
        let flow = random_flow(1, cdim, 3, 11 + cdim as u64);
        let ctx_one = vec![0.7; cdim];
        // Midpoint rule on a wide grid.
        let (lo, hi, n) = (-40.0, 40.0, 20_000);
        let h = (hi - lo) / n as f64;
        let x: Vec<f64> = (0..n).map(|i| lo + (i as f64 + 0.5) * h).collect();
        let ctx: Vec<f64> = (0..n).flat_map(|_| ctx_one.clone()).collect();
        let lp = flow.ln_prob(&x, &ctx).unwrap();
        let total: f64 = lp.iter().map(|l| l.exp() * h).sum();
        assert!((total - 1.0).abs() < 1e-4, "C = {cdim}: integral {total}");
    }
}

#[test]
fn density_integrates_to_one_in_2d() {
    let flow = random_flow(2, 0, 4, 21);
    let (lo, hi, n) = (-25.0, 25.0, 500);
    let h = (hi - lo) / n as f64;
    let x: Vec<f64> = (0..n * n)
        .flat_map(|k| {
            let (i, j) = (k / n, k % n);
            [lo + (i as f64 + 0.5) * h, lo + (j as f64 + 0.5) * h]
        })
        .collect();
    let lp = flow.ln_prob(&x, &[]).unwrap();
    let total: f64 = lp.iter().map(|l| l.exp() * h * h).sum();
    assert!((total - 1.0).abs() < 2e-3, "integral {total}");
}

#[test]
fn importance_sampling_normalisation_in_3d_with_context() {
    // E_q[p/q] = 1 for a wide Gaussian proposal q.
    let flow = random_flow(3, 2, 3, 31);
    let n = 40_000;
    let s = 6.0;
    let z = normals(3 * n, 5);
    let x: Vec<f64> = z.iter().map(|v| s * v).collect();
    let ctx: Vec<f64> = (0..n).flat_map(|_| [0.4, -1.2]).collect();
    let lp = flow.ln_prob(&x, &ctx).unwrap();
    let ln_q = |r: &[f64]| {
        r.iter()
            .map(|v| -0.5 * (v / s).powi(2) - (s * (2.0 * std::f64::consts::PI).sqrt()).ln())
            .sum::<f64>()
    };
    let w: Vec<f64> = x
        .chunks_exact(3)
        .zip(&lp)
        .map(|(r, l)| (l - ln_q(r)).exp())
        .collect();
    let mean = w.iter().sum::<f64>() / n as f64;
    let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let se = (var / n as f64).sqrt();
    assert!((mean - 1.0).abs() < 4.0 * se + 1e-3, "mean {mean} se {se}");
}

#[test]
fn forward_and_inverse_invert_each_other() {
    let flow = random_flow(3, 2, 5, 41);
    let n = 50;
    let z = normals(3 * n, 6);
    let ctx: Vec<f64> = normals(2 * n, 7);
    let x = flow.from_latent(&z, &ctx).unwrap();
    let (z2, _) = flow.to_latent(&x, &ctx).unwrap();
    for (a, b) in z.iter().zip(&z2) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    let x2 = flow.from_latent(&z2, &ctx).unwrap();
    for (a, b) in x.iter().zip(&x2) {
        assert!((a - b).abs() < 1e-9 * (1.0 + a.abs()));
    }
}

#[test]
fn log_det_matches_finite_difference_jacobian() {
    let flow = random_flow(3, 1, 4, 51);
    let x = [0.3, -1.1, 2.0];
    let ctx = [0.5];
    let (_, ld) = flow.to_latent(&x, &ctx).unwrap();
    let eps = 1e-5;
    let mut jac = [[0.0; 3]; 3];
    for j in 0..3 {
        let mut xp = x;
        let mut xm = x;
        xp[j] += eps;
        xm[j] -= eps;
        let (zp, _) = flow.to_latent(&xp, &ctx).unwrap();
        let (zm, _) = flow.to_latent(&xm, &ctx).unwrap();
        for i in 0..3 {
            jac[i][j] = (zp[i] - zm[i]) / (2.0 * eps);
        }
    }
    let det = jac[0][0] * (jac[1][1] * jac[2][2] - jac[1][2] * jac[2][1])
        - jac[0][1] * (jac[1][0] * jac[2][2] - jac[1][2] * jac[2][0])
        + jac[0][2] * (jac[1][0] * jac[2][1] - jac[1][1] * jac[2][0]);
    assert!(
        (det.abs().ln() - ld[0]).abs() < 1e-6,
        "{} vs {}",
        det.abs().ln(),
        ld[0]
    );
}

#[test]
fn gradients_match_finite_differences() {
    for (dim, cdim) in [(3, 0), (3, 3), (2, 1)] {
        let flow = random_flow(dim, cdim, 4, 61 + dim as u64 + cdim as u64);
        let n = 7;
        let x: Vec<f64> = normals(dim * n, 8).iter().map(|v| 2.0 * v).collect();
        let ctx: Vec<f64> = normals(cdim * n, 9);
        let g = flow.ln_prob_grad(&x, &ctx).unwrap();
        let lp = flow.ln_prob(&x, &ctx).unwrap();
        for (a, b) in g.ln_p.iter().zip(&lp) {
            assert!((a - b).abs() < 1e-12);
        }
        let eps = 1e-6;
        for k in 0..dim * n {
            let (mut xp, mut xm) = (x.clone(), x.clone());
            xp[k] += eps;
            xm[k] -= eps;
            let i = k / dim;
            let fd = (flow.ln_prob(&xp, &ctx).unwrap()[i] - flow.ln_prob(&xm, &ctx).unwrap()[i])
                / (2.0 * eps);
            assert!(
                (fd - g.grad_x[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "x {k}: {fd} vs {}",
                g.grad_x[k]
            );
        }
        for k in 0..cdim * n {
            let (mut cp, mut cm) = (ctx.clone(), ctx.clone());
            cp[k] += eps;
            cm[k] -= eps;
            let i = k / cdim;
            let fd = (flow.ln_prob(&x, &cp).unwrap()[i] - flow.ln_prob(&x, &cm).unwrap()[i])
                / (2.0 * eps);
            assert!(
                (fd - g.grad_context[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "c {k}: {fd} vs {}",
                g.grad_context[k]
            );
        }
    }
}

#[test]
fn samples_match_density_moments() {
    // Moments of the density by quadrature vs moments of samples drawn by the
    // inverse pass.
    let flow = random_flow(2, 0, 3, 71);
    let (lo, hi, n) = (-25.0, 25.0, 400);
    let h = (hi - lo) / n as f64;
    let x: Vec<f64> = (0..n * n)
        .flat_map(|k| {
            [
                lo + ((k / n) as f64 + 0.5) * h,
                lo + ((k % n) as f64 + 0.5) * h,
            ]
        })
        .collect();
    let lp = flow.ln_prob(&x, &[]).unwrap();
    let mut m = [0.0; 2];
    let mut s = [[0.0; 2]; 2];
    for (r, l) in x.chunks_exact(2).zip(&lp) {
        let w = l.exp() * h * h;
        for a in 0..2 {
            m[a] += w * r[a];
            for b in 0..2 {
                s[a][b] += w * r[a] * r[b];
            }
        }
    }
    let ns = 40_000;
    let xs = flow.sample(ns, &[], 3).unwrap();
    let mut ms = [0.0; 2];
    let mut ss = [[0.0; 2]; 2];
    for r in xs.chunks_exact(2) {
        for a in 0..2 {
            ms[a] += r[a] / ns as f64;
            for b in 0..2 {
                ss[a][b] += r[a] * r[b] / ns as f64;
            }
        }
    }
    for a in 0..2 {
        let var = s[a][a] - m[a] * m[a];
        let se = (var / ns as f64).sqrt();
        assert!(
            (ms[a] - m[a]).abs() < 4.0 * se,
            "mean {a}: {} vs {}",
            ms[a],
            m[a]
        );
        for b in 0..2 {
            let c = s[a][b] - m[a] * m[b];
            let cs = ss[a][b] - ms[a] * ms[b];
            let scale = (s[a][a] - m[a] * m[a]).sqrt() * (s[b][b] - m[b] * m[b]).sqrt();
            assert!((c - cs).abs() < 0.05 * scale, "cov {a}{b}: {cs} vs {c}");
        }
    }
}

fn small_opts(epochs: usize) -> TrainOptions {
    TrainOptions {
        max_epochs: epochs,
        batch_size: 256,
        learning_rate: 5e-3,
        patience: 5,
        ..TrainOptions::default()
    }
}

#[test]
fn training_recovers_a_correlated_gaussian() {
    // x ~ N(mu, Sigma) with Sigma = L L^T.
    let mu = [3.0, -2.0];
    let l = [[2.0, 0.0], [1.2, 0.5]];
    let n = 4000;
    let z = normals(2 * n, 12);
    let data: Vec<f64> = z
        .chunks_exact(2)
        .flat_map(|e| {
            [
                mu[0] + l[0][0] * e[0],
                mu[1] + l[1][0] * e[0] + l[1][1] * e[1],
            ]
        })
        .collect();
    let cfg = MafConfig::new(2, 0, 3, vec![16, 16]);
    let progress = CountingProgress::default();
    let (flow, report) = Maf::fit(cfg, &data, &[], &small_opts(40), 4, &progress).unwrap();
    assert_eq!(progress.count() as usize, report.train_loss.len());
    // Moments of model samples.
    let ns = 20_000;
    let xs = flow.sample(ns, &[], 1).unwrap();
    let mut m = [0.0; 2];
    for r in xs.chunks_exact(2) {
        m[0] += r[0] / ns as f64;
        m[1] += r[1] / ns as f64;
    }
    let mut c = [[0.0; 2]; 2];
    for r in xs.chunks_exact(2) {
        for a in 0..2 {
            for b in 0..2 {
                c[a][b] += (r[a] - m[a]) * (r[b] - m[b]) / ns as f64;
            }
        }
    }
    let sigma: [[f64; 2]; 2] = [[4.0, 2.4], [2.4, 1.44 + 0.25]];
    for a in 0..2 {
        assert!(
            (m[a] - mu[a]).abs() < 0.1 * sigma[a][a].sqrt(),
            "mean {a} {}",
            m[a]
        );
        for b in 0..2 {
            assert!(
                (c[a][b] - sigma[a][b]).abs() < 0.1 * (sigma[a][a] * sigma[b][b]).sqrt(),
                "cov {a}{b} {} vs {}",
                c[a][b],
                sigma[a][b]
            );
        }
    }
    // Mean log-density on fresh data close to the true one (-entropy).
    let zt = normals(2 * 2000, 99);
    let test: Vec<f64> = zt
        .chunks_exact(2)
        .flat_map(|e| {
            [
                mu[0] + l[0][0] * e[0],
                mu[1] + l[1][0] * e[0] + l[1][1] * e[1],
            ]
        })
        .collect();
    let lp = flow.ln_prob(&test, &[]).unwrap();
    let mean_lp = lp.iter().sum::<f64>() / lp.len() as f64;
    let det = 4.0 * 1.69 - 2.4 * 2.4;
    let neg_entropy = -(1.0 + (2.0 * std::f64::consts::PI).ln()) - 0.5 * f64::ln(det);
    assert!(
        (mean_lp - neg_entropy).abs() < 0.05,
        "{mean_lp} vs {neg_entropy}"
    );
}

#[test]
fn training_recovers_a_conditional_gaussian() {
    // v | x ~ N(2x, (0.5 + 0.3 x)^2), x ~ U(-1, 1).
    let n = 10_000;
    let mut rng = StdRng::seed_from_u64(13);
    let mut x = Vec::with_capacity(n);
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let xi: f64 = rng.random_range(-1.0..1.0);
        let e: f64 = rng.sample(StandardNormal);
        x.push(xi);
        v.push(2.0 * xi + (0.5 + 0.3 * xi) * e);
    }
    let cfg = MafConfig::new(1, 1, 3, vec![16, 16]);
    let mut opts = small_opts(80);
    opts.learning_rate = 2e-3;
    opts.patience = 10;
    let (flow, _) = Maf::fit(cfg, &v, &x, &opts, 5, &NoProgress).unwrap();
    for xc in [-0.7, 0.0, 0.7] {
        let ns = 5000;
        let ctx = vec![xc; ns];
        let s = flow.sample(ns, &ctx, 2).unwrap();
        let m = s.iter().sum::<f64>() / ns as f64;
        let sd = (s.iter().map(|a| (a - m).powi(2)).sum::<f64>() / ns as f64).sqrt();
        let (mt, st) = (2.0 * xc, 0.5 + 0.3 * xc);
        assert!(
            (m - mt).abs() < 0.1 * st + 0.03,
            "x = {xc}: mean {m} vs {mt}"
        );
        assert!((sd - st).abs() < 0.12 * st, "x = {xc}: sd {sd} vs {st}");
        // The density itself at the true mean.
        let lp = flow.ln_prob(&[mt], &[xc]).unwrap()[0];
        let lt = -(st * (2.0 * std::f64::consts::PI).sqrt()).ln();
        assert!((lp - lt).abs() < 0.12, "x = {xc}: ln p {lp} vs {lt}");
    }
}

#[test]
fn save_load_round_trip_is_bit_identical() {
    let flow = random_flow(3, 2, 3, 81);
    let json = serde_json::to_string(&flow).unwrap();
    let back: Maf = serde_json::from_str(&json).unwrap();
    let x = normals(30, 1);
    let c = normals(20, 2);
    let a = flow.ln_prob_grad(&x, &c).unwrap();
    let b = back.ln_prob_grad(&x, &c).unwrap();
    assert_eq!(a, b);
    // A corrupted record is rejected with an error, not a panic.
    let bad = json.replacen("\"dim\":3", "\"dim\":4", 1);
    assert!(serde_json::from_str::<Maf>(&bad).is_err());
}

#[test]
fn ensemble_is_log_mean_exp_of_members_with_exact_gradients() {
    let members: Vec<Maf> = (0..3).map(|k| random_flow(2, 1, 2, 90 + k)).collect();
    let ens = MafEnsemble::new(members.clone()).unwrap();
    let x = normals(10, 3);
    let c = normals(5, 4);
    let le = ens.ln_prob(&x, &c).unwrap();
    let per: Vec<Vec<f64>> = members.iter().map(|m| m.ln_prob(&x, &c).unwrap()).collect();
    for i in 0..5 {
        let direct = (per.iter().map(|p| p[i].exp()).sum::<f64>() / 3.0).ln();
        assert!((le[i] - direct).abs() < 1e-12);
    }
    let g = ens.ln_prob_grad(&x, &c).unwrap();
    let eps = 1e-6;
    for k in 0..10 {
        let (mut xp, mut xm) = (x.clone(), x.clone());
        xp[k] += eps;
        xm[k] -= eps;
        let fd = (ens.ln_prob(&xp, &c).unwrap()[k / 2] - ens.ln_prob(&xm, &c).unwrap()[k / 2])
            / (2.0 * eps);
        assert!((fd - g.grad_x[k]).abs() < 1e-6 * (1.0 + fd.abs()));
    }
    for k in 0..5 {
        let (mut cp, mut cm) = (c.clone(), c.clone());
        cp[k] += eps;
        cm[k] -= eps;
        let fd =
            (ens.ln_prob(&x, &cp).unwrap()[k] - ens.ln_prob(&x, &cm).unwrap()[k]) / (2.0 * eps);
        assert!((fd - g.grad_context[k]).abs() < 1e-6 * (1.0 + fd.abs()));
    }
    assert!(MafEnsemble::new(vec![]).is_err());
    assert!(MafEnsemble::new(vec![random_flow(2, 0, 1, 1), random_flow(3, 0, 1, 1)]).is_err());
}

#[test]
fn training_is_independent_of_the_thread_count() {
    let data: Vec<f64> = normals(2 * 1500, 17);
    let cfg = MafConfig::new(2, 0, 2, vec![8]);
    let run = |threads: usize| {
        let pool = darkprobe_nn::exec::thread_pool(threads).unwrap();
        pool.install(|| {
            let (ens, _) =
                MafEnsemble::fit(2, &cfg, &data, &[], &small_opts(3), 7, &NoProgress).unwrap();
            ens.members()
                .iter()
                .map(|m| m.nets().flat_params())
                .collect::<Vec<_>>()
        })
    };
    let a = run(1);
    let b = run(2);
    assert_eq!(a, b);
    assert_ne!(a[0], a[1], "members must be seeded differently");
}

#[test]
fn bad_input_gives_errors() {
    let flow = random_flow(2, 1, 1, 3);
    let e = flow.ln_prob(&[0.0, f64::NAN], &[0.0]).unwrap_err();
    assert!(e.to_string().contains("row 0 column 1"), "{e}");
    assert!(flow.ln_prob(&[0.0, 1.0, 2.0], &[0.0]).is_err());
    assert!(flow.ln_prob(&[0.0, 1.0], &[]).is_err());
    assert!(flow.sample(3, &[], 1).is_err());
    let cfg = MafConfig::new(2, 0, 1, vec![4]);
    assert!(Maf::fit(cfg.clone(), &[1.0; 40], &[], &small_opts(1), 0, &NoProgress).is_err());
    assert!(Maf::fit(
        cfg.clone(),
        &[1.0, 2.0],
        &[],
        &small_opts(1),
        0,
        &NoProgress
    )
    .is_err());
    let mut bad = small_opts(1);
    bad.batch_size = 0;
    assert!(Maf::fit(cfg, &normals(40, 1), &[], &bad, 0, &NoProgress).is_err());
    assert!(MafConfig::new(0, 0, 1, vec![4]).check().is_err());
    assert!(MafConfig::new(2, 0, 1, vec![]).check().is_err());
}

/// A flow with rational-quadratic spline blocks and random parameters.
fn random_spline_flow(dim: usize, cdim: usize, blocks: usize, seed: u64) -> Maf {
    let mut rng = StdRng::seed_from_u64(seed);
    let cfg = MafConfig::new(dim, cdim, blocks, vec![12, 12]).with_transform(
        Transform::RationalQuadratic {
            bins: 5,
            bound: 3.0,
        },
    );
    let xw = Whitening {
        mean: (0..dim).map(|j| 0.3 * j as f64 - 0.2).collect(),
        std: (0..dim).map(|j| 1.5 + 0.5 * j as f64).collect(),
    };
    let cw = Whitening {
        mean: vec![0.1; cdim],
        std: vec![2.0; cdim],
    };
    let mut flow = Maf::new(cfg, xw, cw, &mut rng).unwrap();
    flow.nets_mut().visit_params_mut(&mut |p| {
        for v in p.value.iter_mut() {
            *v = 0.3 * rng.random_range(-1.0..1.0);
        }
    });
    flow
}

#[test]
fn spline_flow_density_integrates_to_one_in_2d() {
    for cdim in [0, 1] {
        let flow = random_spline_flow(2, cdim, 3, 71 + cdim as u64);
        let (lo, hi, n) = (-12.0, 12.0, 600);
        let h = (hi - lo) / n as f64;
        let x: Vec<f64> = (0..n * n)
            .flat_map(|k| {
                let (i, j) = (k / n, k % n);
                [lo + (i as f64 + 0.5) * h, lo + (j as f64 + 0.5) * h]
            })
            .collect();
        let ctx = vec![0.6; cdim * n * n];
        let lp = flow.ln_prob(&x, &ctx).unwrap();
        let total: f64 = lp.iter().map(|l| l.exp() * h * h).sum();
        assert!((total - 1.0).abs() < 2e-3, "C = {cdim}: integral {total}");
    }
}

#[test]
fn spline_flow_inverts_and_has_exact_log_det_and_gradients() {
    let flow = random_spline_flow(3, 2, 4, 81);
    let n = 40;
    let z: Vec<f64> = normals(3 * n, 12).iter().map(|v| 1.5 * v).collect();
    let ctx: Vec<f64> = normals(2 * n, 13);
    let x = flow.from_latent(&z, &ctx).unwrap();
    let (z2, ld) = flow.to_latent(&x, &ctx).unwrap();
    for (a, b) in z.iter().zip(&z2) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }
    // log|det| against a finite-difference Jacobian at a few rows.
    let eps = 1e-6;
    for i in 0..5 {
        let xi = [x[3 * i], x[3 * i + 1], x[3 * i + 2]];
        let ci = &ctx[2 * i..2 * i + 2];
        let mut jac = [[0.0; 3]; 3];
        for j in 0..3 {
            let (mut xp, mut xm) = (xi, xi);
            xp[j] += eps;
            xm[j] -= eps;
            let (zp, _) = flow.to_latent(&xp, ci).unwrap();
            let (zm, _) = flow.to_latent(&xm, ci).unwrap();
            for r in 0..3 {
                jac[r][j] = (zp[r] - zm[r]) / (2.0 * eps);
            }
        }
        let det = jac[0][0] * (jac[1][1] * jac[2][2] - jac[1][2] * jac[2][1])
            - jac[0][1] * (jac[1][0] * jac[2][2] - jac[1][2] * jac[2][0])
            + jac[0][2] * (jac[1][0] * jac[2][1] - jac[1][1] * jac[2][0]);
        assert!((det.abs().ln() - ld[i]).abs() < 1e-6, "row {i}");
    }
    // Input and context gradients against finite differences.
    let rows = 6;
    let g = flow.ln_prob_grad(&x[..3 * rows], &ctx[..2 * rows]).unwrap();
    for k in 0..3 * rows {
        let (mut xp, mut xm) = (x[..3 * rows].to_vec(), x[..3 * rows].to_vec());
        xp[k] += eps;
        xm[k] -= eps;
        let i = k / 3;
        let c = &ctx[..2 * rows];
        let fd =
            (flow.ln_prob(&xp, c).unwrap()[i] - flow.ln_prob(&xm, c).unwrap()[i]) / (2.0 * eps);
        assert!(
            (fd - g.grad_x[k]).abs() < 1e-6 * (1.0 + fd.abs()),
            "x {k}: {fd} vs {}",
            g.grad_x[k]
        );
    }
    for k in 0..2 * rows {
        let (mut cp, mut cm) = (ctx[..2 * rows].to_vec(), ctx[..2 * rows].to_vec());
        cp[k] += eps;
        cm[k] -= eps;
        let i = k / 2;
        let xs = &x[..3 * rows];
        let fd =
            (flow.ln_prob(xs, &cp).unwrap()[i] - flow.ln_prob(xs, &cm).unwrap()[i]) / (2.0 * eps);
        assert!(
            (fd - g.grad_context[k]).abs() < 1e-6 * (1.0 + fd.abs()),
            "c {k}: {fd} vs {}",
            g.grad_context[k]
        );
    }
}

/// Mean negative log-likelihood (whitened units) and its parameter gradient
/// by back-propagation.
fn loss_and_param_grad(flow: &mut Maf, u: &Matrix<f64>, c: &Matrix<f64>) -> (f64, Vec<f64>) {
    let ctx = darkprobe_nn::Ctx::eval();
    let mut tape = Tape::default();
    let (nets, cfg) = flow.nets_mut_and_config();
    Maf::pass(nets, cfg, u, c, &ctx, &mut tape).unwrap();
    let n = u.rows();
    let loss = (0..n)
        .map(|i| 0.5 * tape.z.row(i).iter().map(|v| v * v).sum::<f64>() + tape.sum_alpha[i])
        .sum::<f64>()
        / n as f64;
    flow.nets_mut().zero_grad();
    let w = vec![1.0 / n as f64; n];
    let (nets, cfg) = flow.nets_mut_and_config();
    Maf::backprop(nets, cfg, &tape, &w, &ctx, false).unwrap();
    (loss, flow.nets().flat_grads())
}

#[test]
fn parameter_gradients_match_finite_differences_for_both_transforms() {
    for spline in [false, true] {
        let mut flow = if spline {
            random_spline_flow(3, 2, 2, 91)
        } else {
            random_flow(3, 2, 2, 91)
        };
        let n = 9;
        let u = Matrix::from_fn(n, 3, |i, j| normals(3 * n, 14)[3 * i + j] * 1.3);
        let c = Matrix::from_fn(n, 2, |i, j| normals(2 * n, 15)[2 * i + j]);
        let (_, grad) = loss_and_param_grad(&mut flow, &u, &c);
        let p0 = flow.nets().flat_params();
        let eps = 1e-6;
        // Every 7th parameter (all layers and blocks are hit).
        for k in (0..p0.len()).step_by(7) {
            let mut p = p0.clone();
            p[k] = p0[k] + eps;
            flow.nets_mut().set_flat_params(&p).unwrap();
            let (lp, _) = loss_and_param_grad(&mut flow, &u, &c);
            p[k] = p0[k] - eps;
            flow.nets_mut().set_flat_params(&p).unwrap();
            let (lm, _) = loss_and_param_grad(&mut flow, &u, &c);
            let fd = (lp - lm) / (2.0 * eps);
            assert!(
                (fd - grad[k]).abs() < 1e-6 * (1.0 + fd.abs()),
                "spline {spline} parameter {k}: {fd} vs {}",
                grad[k]
            );
        }
        flow.nets_mut().set_flat_params(&p0).unwrap();
    }
}

#[test]
fn spline_training_recovers_a_bimodal_density() {
    // x0 ~ 0.5 N(-2, 0.5^2) + 0.5 N(2, 0.5^2), x1 ~ N(x0, 1): an affine
    // flow cannot split the modes, a spline flow can; compare held-out
    // log-likelihoods with the exact one.
    let n = 4000;
    let g = normals(2 * n + 2000, 16);
    let mut rng = StdRng::seed_from_u64(17);
    let mut make = |k: usize| -> Vec<f64> {
        (0..k)
            .flat_map(|i| {
                let m = if rng.random_bool(0.5) { -2.0 } else { 2.0 };
                let x0 = m + 0.5 * g[2 * i];
                [x0, x0 + g[2 * i + 1]]
            })
            .collect()
    };
    let train = make(n);
    let test = make(1000);
    let exact = |r: &[f64]| {
        let p0 = 0.5
            * ((-0.5 * ((r[0] + 2.0) / 0.5).powi(2)).exp()
                + (-0.5 * ((r[0] - 2.0) / 0.5).powi(2)).exp())
            / (0.5 * (2.0 * std::f64::consts::PI).sqrt());
        p0.ln() - 0.5 * (r[1] - r[0]).powi(2) - 0.5 * (2.0 * std::f64::consts::PI).ln()
    };
    let exact_mean = test.chunks_exact(2).map(exact).sum::<f64>() / 1000.0;
    let cfg = MafConfig::new(2, 0, 2, vec![16, 16]).with_transform(Transform::RationalQuadratic {
        bins: 8,
        bound: 3.0,
    });
    let (flow, _) = Maf::fit(cfg, &train, &[], &small_opts(30), 3, &NoProgress).unwrap();
    let lp = flow.ln_prob(&test, &[]).unwrap();
    let mean = lp.iter().sum::<f64>() / 1000.0;
    assert!(
        (mean - exact_mean).abs() < 0.08,
        "held-out mean ln p {mean} vs exact {exact_mean}"
    );
}
