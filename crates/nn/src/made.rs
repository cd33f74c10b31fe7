//! MADE masks for autoregressive networks (Germain, Gregor, Murray &
//! Larochelle 2015, arXiv:1502.03509).
//!
//! Each input $x_i$ gets a degree $m(i) \in \{1,\dots,D\}$: its position in
//! the autoregressive ordering. Each hidden unit $k$ gets a degree
//! $m^l(k) \in \{0,\dots,D-1\}$, the number of leading inputs it may see.
//! Connections are kept where
//! $$M^l_{kj} = [\,m^l(k) \ge m^{l-1}(j)\,]\quad\text{(hidden layers)},\qquad
//!   M^\text{out}_{kj} = [\,m^\text{out}(k) > m^L(j)\,]\quad\text{(output layer)},$$
//! with output degrees equal to the degrees of the inputs they predict. Then
//! output $k$ depends only on inputs $j$ with $m(j) < m^\text{out}(k)$, so the
//! Jacobian of the outputs with respect to the inputs, in the ordering, is
//! strictly triangular — the property masked autoregressive flows need.
//!
//! ```
//! use darkprobe_nn::made::{made_network, natural_order, HiddenDegrees};
//! use darkprobe_nn::{Activation, Init, Matrix, Par};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(3);
//! let order = natural_order(3);
//! let mut net = made_network::<f64, _>(&order, &[16, 16], 2, HiddenDegrees::Sequential,
//!     Activation::Tanh, darkprobe_nn::Init::Default, &mut rng).unwrap();
//! assert_eq!(net.output_dim(), 6); // (shift, log-scale) for each of 3 inputs
//! // Output 0 (predicting x_1) depends on no input at all.
//! let x = Matrix::from_vec(1, 3, vec![0.3, -0.2, 0.9]).unwrap();
//! let mut dy = Matrix::zeros(1, 6);
//! dy.set(0, 0, 1.0);
//! let g = net.input_gradient(&x, &dy, Par::Seq).unwrap();
//! assert_eq!(g.as_slice(), &[0.0, 0.0, 0.0]);
//! ```

use crate::error::{invalid, shape, Result};
use crate::float::Float;
use crate::layers::{Activation, Init, MaskedDense};
use crate::sequential::Sequential;
use rand::seq::SliceRandom;
use rand::Rng;

/// Input degrees $1, 2, \dots, D$ (the identity ordering).
pub fn natural_order(d: usize) -> Vec<usize> {
    (1..=d).collect()
}

/// Input degrees $D, D-1, \dots, 1$ (the reversed ordering, alternated between
/// the layers of a flow).
pub fn reversed_order(d: usize) -> Vec<usize> {
    (1..=d).rev().collect()
}

/// A uniformly random ordering of $D$ inputs.
pub fn random_order<R: Rng + ?Sized>(d: usize, rng: &mut R) -> Vec<usize> {
    let mut v = natural_order(d);
    v.shuffle(rng);
    v
}

/// How hidden units get their degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HiddenDegrees {
    /// $m(k) = (k \bmod (D-1)) + 1$: every degree equally represented
    /// (the deterministic rule of the MAF reference code; degree 0 when
    /// $D = 1$).
    Sequential,
    /// Uniform on $\{\min_j m^{l-1}(j), \dots, D-1\}$, as in Germain et al.
    Random,
}

/// Degrees of a hidden layer of `width` units following a layer whose
/// smallest degree is `prev_min`, for $D$ = `d` inputs.
pub fn hidden_degrees<R: Rng + ?Sized>(
    d: usize,
    width: usize,
    prev_min: usize,
    rule: HiddenDegrees,
    rng: &mut R,
) -> Vec<usize> {
    if d <= 1 {
        return vec![0; width];
    }
    match rule {
        HiddenDegrees::Sequential => (0..width).map(|k| k % (d - 1) + 1).collect(),
        HiddenDegrees::Random => {
            let lo = prev_min.clamp(1, d - 1);
            (0..width).map(|_| rng.random_range(lo..=d - 1)).collect()
        }
    }
}

/// Hidden-layer mask (`out_deg.len() × in_deg.len()`, row-major):
/// connected where $m_\text{out}(k) \ge m_\text{in}(j)$.
pub fn hidden_mask(in_deg: &[usize], out_deg: &[usize]) -> Vec<bool> {
    out_deg
        .iter()
        .flat_map(|&k| in_deg.iter().map(move |&j| k >= j))
        .collect()
}

/// Output-layer mask: connected where $m_\text{out}(k) > m_\text{in}(j)$.
pub fn output_mask(in_deg: &[usize], out_deg: &[usize]) -> Vec<bool> {
    out_deg
        .iter()
        .flat_map(|&k| in_deg.iter().map(move |&j| k > j))
        .collect()
}

/// Checks that `degrees` is a permutation of $1..=D$.
///
/// # Errors
/// An invalid-parameter error naming the first bad entry.
pub fn check_order(degrees: &[usize]) -> Result<()> {
    let d = degrees.len();
    if d == 0 {
        return Err(invalid(
            "MADE input degrees",
            "[]",
            "a permutation of 1..=D with D >= 1",
        ));
    }
    let mut seen = vec![false; d + 1];
    for (i, &m) in degrees.iter().enumerate() {
        if m == 0 || m > d || seen[m] {
            return Err(invalid(
                &format!("MADE input degree {i}"),
                m,
                &format!("a permutation of 1..={d} (each value once)"),
            ));
        }
        seen[m] = true;
    }
    Ok(())
}

/// The masks of a MADE network: one per affine layer, `outputs × inputs`
/// row-major, with each layer's input and output widths.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeMasks {
    /// `(inputs, outputs, mask)` per layer, input layer first.
    pub layers: Vec<(usize, usize, Vec<bool>)>,
    /// Degrees of the network outputs (output `o*D + i` predicts input `i`).
    pub output_degrees: Vec<usize>,
}

impl MadeMasks {
    /// Builds the masks for inputs of the given degrees, hidden layers of
    /// widths `hidden`, and `outputs_per_input` outputs per input (laid out as
    /// `outputs_per_input` blocks of $D$: output `o*D + i` belongs to input `i`).
    ///
    /// # Errors
    /// Invalid-parameter errors for a degree list that is not a permutation,
    /// a zero hidden width or zero outputs per input.
    pub fn new<R: Rng + ?Sized>(
        input_degrees: &[usize],
        hidden: &[usize],
        outputs_per_input: usize,
        rule: HiddenDegrees,
        rng: &mut R,
    ) -> Result<Self> {
        check_order(input_degrees)?;
        if outputs_per_input == 0 {
            return Err(invalid("MADE outputs per input", 0, "at least 1"));
        }
        if let Some(i) = hidden.iter().position(|&w| w == 0) {
            return Err(invalid(&format!("MADE hidden width {i}"), 0, "at least 1"));
        }
        let d = input_degrees.len();
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut prev = input_degrees.to_vec();
        for &w in hidden {
            let prev_min = prev.iter().copied().min().unwrap_or(1);
            let deg = hidden_degrees(d, w, prev_min, rule, rng);
            layers.push((prev.len(), w, hidden_mask(&prev, &deg)));
            prev = deg;
        }
        let output_degrees: Vec<usize> = (0..outputs_per_input)
            .flat_map(|_| input_degrees.iter().copied())
            .collect();
        layers.push((
            prev.len(),
            output_degrees.len(),
            output_mask(&prev, &output_degrees),
        ));
        Ok(Self {
            layers,
            output_degrees,
        })
    }

    /// Which outputs can be reached from which inputs through the masks
    /// (`outputs × inputs`, row-major): the boolean product of all masks.
    pub fn connectivity(&self) -> Vec<bool> {
        let Some(&(d_in, _, _)) = self.layers.first() else {
            return Vec::new();
        };
        // reach[k][j]: unit k of the current layer is reachable from input j.
        let mut reach: Vec<bool> = (0..d_in)
            .flat_map(|k| (0..d_in).map(move |j| k == j))
            .collect();
        for (inp, out, mask) in &self.layers {
            let mut next = vec![false; out * d_in];
            for k in 0..*out {
                for u in 0..*inp {
                    if mask[k * inp + u] {
                        for j in 0..d_in {
                            next[k * d_in + j] |= reach[u * d_in + j];
                        }
                    }
                }
            }
            reach = next;
        }
        reach
    }

    /// True when output `o*D + i` is connected only to inputs of smaller
    /// degree than input `i`.
    pub fn is_autoregressive(&self, input_degrees: &[usize]) -> bool {
        let d = input_degrees.len();
        let c = self.connectivity();
        self.output_degrees
            .iter()
            .enumerate()
            .all(|(k, &mk)| (0..d).all(|j| !c[k * d + j] || input_degrees[j] < mk))
    }
}

/// A MADE network: masked affine layers with `activation` between them
/// (fused into the layers, except PReLU).
/// Output `o*D + i` (for `o < outputs_per_input`) depends only on inputs that
/// precede input `i` in the ordering `input_degrees`.
///
/// # Errors
/// As [`MadeMasks::new`].
pub fn made_network<T: Float, R: Rng + ?Sized>(
    input_degrees: &[usize],
    hidden: &[usize],
    outputs_per_input: usize,
    rule: HiddenDegrees,
    activation: Activation,
    init: Init,
    rng: &mut R,
) -> Result<Sequential<T>> {
    let masks = MadeMasks::new(input_degrees, hidden, outputs_per_input, rule, rng)?;
    let mut net = Sequential::new(input_degrees.len());
    let nl = masks.layers.len();
    for (l, (inp, out, mask)) in masks.layers.into_iter().enumerate() {
        if mask.len() != inp * out {
            return Err(shape("MADE mask", inp * out, mask.len()));
        }
        let layer = MaskedDense::new(inp, out, mask, init, rng)?;
        match activation {
            _ if l + 1 == nl => net.push(layer)?,
            Activation::PRelu => {
                net.push(layer)?;
                net.push_boxed(activation.layer(out)?)?
            }
            a => net.push(layer.with_activation(a)?)?,
        };
    }
    Ok(net)
}
