//! Criterion benches of the spectrum code in darkprobe-limits, on a generated
//! table with the size of PPPC4DMID's `AtProduction_gammas.dat` (62 masses x
//! 179 values of log10 x x 28 channels, smooth made-up yields):
//! parsing the table, evaluating dN/dE, and integrating into the six
//! MLFermiLATDwarfs macro bins with the default Gauss-Legendre rule and with
//! the package's 500-point trapezoid.
//!
//! `cargo bench --bench spectra`.

use criterion::{criterion_group, criterion_main, Criterion};
use darkprobe::limits::spectrum::{
    photon_yields, BinIntegration, ChannelTable, Spectrum, TableFormat, MLFERMILATDWARFS_EDGES_GEV,
};
use std::hint::black_box;

const MASSES: [f64; 62] = [
    5.0, 6.0, 8.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0,
    120.0, 130.0, 140.0, 150.0, 160.0, 180.0, 200.0, 220.0, 240.0, 260.0, 280.0, 300.0, 330.0,
    360.0, 400.0, 450.0, 500.0, 550.0, 600.0, 650.0, 700.0, 750.0, 800.0, 900.0, 1000.0, 1100.0,
    1200.0, 1300.0, 1500.0, 1700.0, 2000.0, 2500.0, 3000.0, 4000.0, 5000.0, 6000.0, 7000.0, 8000.0,
    9000.0, 10000.0, 12000.0, 15000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];

/// A PPPC-shaped table: dN/dlog10x = c m^0.1 x^0.8 exp(-6x) per channel c.
fn pppc_like_text() -> String {
    let channels = 28;
    let mut s = String::from("#   mDM      Log[10,x]");
    for c in 0..channels {
        s += &format!(" ch{c}");
    }
    s.push('\n');
    for &m in &MASSES {
        for k in 0..179 {
            let u = -8.9 + 0.05 * k as f64;
            let x = 10f64.powf(u);
            s += &format!("{m} {u:.2}");
            for c in 0..channels {
                let v = (1.0 + c as f64) * m.powf(0.1) * x.powf(0.8) * (-6.0 * x).exp();
                s += &format!(" {v:.6e}");
            }
            s.push('\n');
        }
    }
    s
}

fn bench_spectra(c: &mut Criterion) {
    let text = pppc_like_text();
    let mut g = c.benchmark_group("spectra");
    g.sample_size(20);
    g.bench_function("parse_pppc_sized_table", |b| {
        b.iter(|| {
            ChannelTable::parse_str(black_box(&text), "bench.dat", TableFormat::Pppc).unwrap()
        })
    });
    let table = ChannelTable::parse_str(&text, "bench.dat", TableFormat::Pppc).unwrap();
    let spec = table.spectrum("ch13").unwrap();
    let pkg = table
        .spectrum("ch13")
        .unwrap()
        .with_mlfermilatdwarfs_convention();
    let energies: Vec<f64> = (0..1000)
        .map(|i| 0.5 * 1000f64.powf(i as f64 / 999.0))
        .collect();
    g.bench_function("dn_de_1000_energies_tabulated_mass", |b| {
        let at = spec.at_mass(1000.0).unwrap();
        b.iter(|| {
            energies
                .iter()
                .map(|&e| at.dn_de(black_box(e)))
                .sum::<f64>()
        })
    });
    g.bench_function("dn_de_1000_energies_interpolated_mass", |b| {
        let at = spec.at_mass(1234.5).unwrap();
        b.iter(|| {
            energies
                .iter()
                .map(|&e| at.dn_de(black_box(e)))
                .sum::<f64>()
        })
    });
    for &m in &[10.0, 1000.0] {
        g.bench_function(format!("macro_bins_default_m{m}"), |b| {
            b.iter(|| {
                photon_yields(
                    &spec,
                    black_box(m),
                    &MLFERMILATDWARFS_EDGES_GEV,
                    BinIntegration::default(),
                )
                .unwrap()
            })
        });
        g.bench_function(format!("macro_bins_mlfermilatdwarfs_m{m}"), |b| {
            b.iter(|| {
                photon_yields(
                    &pkg,
                    black_box(m),
                    &MLFERMILATDWARFS_EDGES_GEV,
                    BinIntegration::MLFERMILATDWARFS,
                )
                .unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench_spectra);
criterion_main!(benches);
