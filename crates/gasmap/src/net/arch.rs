//! The layer stack of the patch network.
//!
//! With $K$ filters of the full patch size applied once per patch without
//! padding, the convolution of the paper is an affine map of the flattened
//! $D_1 D_2$ patch to $K$ features. The stack is
//!
//! | block | layers |
//! | --- | --- |
//! | "convolution" | `Dense(D1·D2 [+ n_bins] → K)`, `PReLU`, `BatchNorm(K)`, `Dropout(p)` |
//! | hidden 1 | `Dense(K → h1)`, `PReLU`, `BatchNorm(h1)`, `Dropout(p)` |
//! | hidden 2 | `Dense(h1 → h2)`, `PReLU`, `BatchNorm(h2)`, `Dropout(p)` |
//! | output | `Dense(h2 → 1)` |
//!
//! with PyTorch's defaults everywhere so the network can be rebuilt there:
//! `nn.Linear` initialisation (uniform on $\pm 1/\sqrt{\text{fan-in}}$),
//! `nn.PReLU()` (one shared slope, initial value 0.25), `nn.BatchNorm1d`
//! ($\epsilon = 10^{-5}$, momentum 0.1), `nn.Dropout(p)` (inverted dropout).
//! Dropout layers are left out when $p = 0$.

use darkprobe_nn::{BatchNorm, Dense, Dropout, Float, Init, PRelu, Sequential};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::Result;

/// Sizes of the patch network (see the module docs for the layer stack).
///
/// ```
/// use darkprobe_gasmap::net::NetArchitecture;
/// use darkprobe_nn::Parameters;
/// use rand::SeedableRng;
/// let arch = NetArchitecture::default();
/// let net = arch.build::<f32, _>(49, &mut rand::rngs::StdRng::seed_from_u64(0)).unwrap();
/// // 49·128+128 + 128·64+64 + 64·64+64 + 64+1 weights and biases,
/// // 3 PReLU slopes, 2·(128+64+64) batch-norm scales and shifts.
/// assert_eq!(net.num_params(), 6400 + 8256 + 4160 + 65 + 3 + 512);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetArchitecture {
    /// Number $K$ of patch filters (the paper: 128).
    pub filters: usize,
    /// Widths of the two fully connected hidden layers.
    pub hidden: [usize; 2],
    /// Dropout probability after each block, in $[0, 1)$.
    pub dropout: f64,
    /// Initial PReLU slope.
    pub prelu_init: f64,
}

impl Default for NetArchitecture {
    fn default() -> Self {
        Self {
            filters: 128,
            hidden: [64, 64],
            dropout: 0.1,
            prelu_init: 0.25,
        }
    }
}

impl NetArchitecture {
    /// Checks the sizes.
    ///
    /// # Errors
    /// An invalid-parameter error naming a zero width, a dropout outside
    /// $[0,1)$ or a non-finite PReLU slope.
    pub fn check(&self) -> Result<()> {
        if self.filters == 0 {
            return Err(darkprobe_core::Error::invalid_param(
                "filters",
                0,
                "at least 1",
            ));
        }
        for (i, &h) in self.hidden.iter().enumerate() {
            if h == 0 {
                return Err(darkprobe_core::Error::invalid_param(
                    format!("hidden[{i}]"),
                    0,
                    "at least 1",
                ));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(darkprobe_core::Error::invalid_param(
                "dropout",
                self.dropout,
                "in [0, 1)",
            ));
        }
        if !self.prelu_init.is_finite() {
            return Err(darkprobe_core::Error::invalid_param(
                "prelu_init",
                self.prelu_init,
                "a finite slope",
            ));
        }
        Ok(())
    }

    /// A freshly initialised network reading `input_dim` features.
    ///
    /// # Errors
    /// As [`NetArchitecture::check`], and for `input_dim == 0`.
    pub fn build<T: Float, R: Rng + ?Sized>(
        &self,
        input_dim: usize,
        rng: &mut R,
    ) -> Result<Sequential<T>> {
        self.build_with_output_bias(input_dim, 0.0, rng)
    }

    /// As [`NetArchitecture::build`], with the output layer's bias set to
    /// `output_bias` (its weights drawn as usual). The last hidden block ends
    /// in batch normalisation, so at initialisation the output is
    /// `output_bias` plus a zero-mean term: starting it at the best constant
    /// prediction (the median target for the MAE, the log of the mean rate
    /// for the Poisson loss) spares the optimiser the walk of the bias from
    /// 0 to there, which took most of a short training run.
    ///
    /// # Errors
    /// As [`NetArchitecture::build`], and for a non-finite `output_bias`.
    pub fn build_with_output_bias<T: Float, R: Rng + ?Sized>(
        &self,
        input_dim: usize,
        output_bias: f64,
        rng: &mut R,
    ) -> Result<Sequential<T>> {
        if !output_bias.is_finite() {
            return Err(darkprobe_core::Error::invalid_param(
                "output_bias",
                output_bias,
                "a finite value",
            ));
        }
        self.check()?;
        if input_dim == 0 {
            return Err(darkprobe_core::Error::invalid_param(
                "network inputs",
                0,
                "at least 1",
            ));
        }
        let widths = [self.filters, self.hidden[0], self.hidden[1]];
        let mut net = Sequential::<T>::new(input_dim);
        let mut d_in = input_dim;
        for (block, &w) in widths.iter().enumerate() {
            net.push(Dense::<T>::new(d_in, w, Init::Default, rng)?)?;
            net.push(PRelu::<T>::new(1, self.prelu_init)?)?;
            net.push(BatchNorm::<T>::new(w)?)?;
            if self.dropout > 0.0 {
                net.push(Dropout::new(self.dropout, block as u64 + 1)?)?;
            }
            d_in = w;
        }
        let out = Dense::<T>::new(d_in, 1, Init::Default, rng)?;
        let bias = T::from_f64(output_bias);
        net.push(Dense::<T>::from_params(
            d_in,
            1,
            out.weight().to_vec(),
            vec![bias],
        )?)?;
        Ok(net)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use darkprobe_core::rng::rng_from_seed;
    use darkprobe_nn::gradcheck::check_layer;
    use darkprobe_nn::{Ctx, LayerSpec, Matrix, Parameters};

    fn small() -> NetArchitecture {
        NetArchitecture {
            filters: 6,
            hidden: [5, 4],
            dropout: 0.0,
            prelu_init: 0.25,
        }
    }

    fn inputs(rows: usize, cols: usize, seed: u64) -> Matrix<f64> {
        let mut rng = rng_from_seed(seed);
        Matrix::from_fn(rows, cols, |_, _| rng.random_range(-1.5..1.5))
    }

    #[test]
    fn layer_stack_is_the_documented_one() {
        let arch = NetArchitecture {
            dropout: 0.2,
            ..NetArchitecture::default()
        };
        let net = arch.build::<f64, _>(49, &mut rng_from_seed(0)).unwrap();
        let kinds: Vec<String> = net
            .specs()
            .iter()
            .map(|s| match s {
                LayerSpec::Dense {
                    inputs, outputs, ..
                } => format!("dense{inputs}x{outputs}"),
                LayerSpec::PRelu { channels } => format!("prelu{channels}"),
                LayerSpec::BatchNorm { features, .. } => format!("bn{features}"),
                LayerSpec::Dropout { p, .. } => format!("drop{p}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "dense49x128",
                "prelu1",
                "bn128",
                "drop0.2",
                "dense128x64",
                "prelu1",
                "bn64",
                "drop0.2",
                "dense64x64",
                "prelu1",
                "bn64",
                "drop0.2",
                "dense64x1"
            ]
        );
        // Without dropout the dropout layers are left out.
        let net = small().build::<f64, _>(9, &mut rng_from_seed(0)).unwrap();
        assert_eq!(net.len(), 10);
    }

    #[test]
    fn network_gradients_match_finite_differences_in_training_mode() {
        // Training mode: batch-norm uses (and differentiates through) the
        // batch statistics; dropout is off (p = 0).
        let mut net = small().build::<f64, _>(9, &mut rng_from_seed(3)).unwrap();
        let x = inputs(12, 9, 4);
        let report = check_layer(&mut net, &x, &Ctx::train(5), 1e-5, 6).unwrap();
        assert!(report.n_params > 100);
        assert!(report.max_param_error < 1e-6, "{report:?}");
        assert!(report.max_input_error < 1e-6, "{report:?}");
    }

    #[test]
    fn network_gradients_match_finite_differences_in_eval_mode() {
        let mut net = small().build::<f64, _>(9, &mut rng_from_seed(7)).unwrap();
        // Give the batch norms non-trivial running statistics first.
        let warm = inputs(40, 9, 8);
        for step in 0..3 {
            net.forward(&warm, &Ctx::train(step)).unwrap();
        }
        let x = inputs(10, 9, 9);
        let report = check_layer(&mut net, &x, &Ctx::eval(), 1e-5, 10).unwrap();
        assert!(report.max_param_error < 1e-6, "{report:?}");
        assert!(report.max_input_error < 1e-6, "{report:?}");
    }

    #[test]
    fn dropout_is_active_in_training_and_off_in_evaluation() {
        let arch = NetArchitecture {
            dropout: 0.5,
            ..small()
        };
        let mut net = arch.build::<f64, _>(9, &mut rng_from_seed(1)).unwrap();
        let x = inputs(16, 9, 2);
        let a = net.forward(&x, &Ctx::train(1)).unwrap().clone();
        let b = net.forward(&x, &Ctx::train(2)).unwrap().clone();
        assert_ne!(a, b, "different dropout masks must change the output");
        let e1 = net.forward(&x, &Ctx::eval()).unwrap().clone();
        let e2 = net.forward(&x, &Ctx::eval()).unwrap().clone();
        assert_eq!(e1, e2);
        assert!(net.num_params() > 0);
    }

    #[test]
    fn output_bias_shifts_every_output_by_exactly_that_amount() {
        let arch = small();
        let x = inputs(7, 9, 11);
        let mut a = arch.build::<f64, _>(9, &mut rng_from_seed(5)).unwrap();
        let mut b = arch
            .build_with_output_bias::<f64, _>(9, 2.5, &mut rng_from_seed(5))
            .unwrap();
        for ctx in [Ctx::train(1), Ctx::eval()] {
            let ya = a.forward(&x, &ctx).unwrap().clone();
            let yb = b.forward(&x, &ctx).unwrap().clone();
            for i in 0..x.rows() {
                assert!((yb.get(i, 0) - ya.get(i, 0) - 2.5).abs() < 1e-12);
            }
        }
        assert!(arch
            .build_with_output_bias::<f64, _>(9, f64::NAN, &mut rng_from_seed(5))
            .is_err());
    }

    #[test]
    fn bad_sizes_are_rejected() {
        let mut rng = rng_from_seed(0);
        for bad in [
            NetArchitecture {
                filters: 0,
                ..small()
            },
            NetArchitecture {
                hidden: [3, 0],
                ..small()
            },
            NetArchitecture {
                dropout: 1.0,
                ..small()
            },
            NetArchitecture {
                prelu_init: f64::NAN,
                ..small()
            },
        ] {
            assert!(bad.build::<f64, _>(9, &mut rng).is_err(), "{bad:?}");
        }
        let e = small().build::<f64, _>(0, &mut rng).unwrap_err();
        assert!(e.to_string().contains("network inputs"), "{e}");
    }
}
