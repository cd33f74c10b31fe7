//! The scalar types a network can use: `f32` and `f64`.
//!
//! [`Float`] is sealed: it gathers the arithmetic the layers need and routes
//! matrix products to faer's GEMM for the concrete type. Training in `f32`
//! is about twice as fast; gradient checks use `f64`.

use std::fmt::{Debug, Display};
use std::iter::Sum;
use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar usable in a network (`f32` or `f64`).
///
/// ```
/// use darkprobe_nn::Float;
/// fn softplus<T: Float>(x: T) -> T { x.max(T::ZERO) + (-x.abs()).exp().ln_1p() }
/// assert!((softplus(0.0f32) - 2f32.ln()).abs() < 1e-7);
/// assert_eq!(<f64 as Float>::DTYPE, "f64");
/// ```
pub trait Float:
    sealed::Sealed
    + Copy
    + Send
    + Sync
    + Default
    + Debug
    + Display
    + PartialOrd
    + PartialEq
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + DivAssign
    + Sum
    + serde::Serialize
    + serde::de::DeserializeOwned
    + 'static
{
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// The type's name as written in checkpoints (`"f32"` or `"f64"`).
    const DTYPE: &'static str;
    /// Size in bytes.
    const BYTES: usize;
    /// The smallest positive normal value; optimiser moments below it are
    /// flushed to zero (subnormal arithmetic is very slow on x86).
    const MIN_POSITIVE: Self;

    /// Converts from `f64` (rounding to nearest for `f32`).
    fn from_f64(x: f64) -> Self;
    /// Converts to `f64` exactly.
    fn to_f64(self) -> f64;
    /// $e^x$.
    fn exp(self) -> Self;
    /// $\ln x$.
    fn ln(self) -> Self;
    /// $\ln(1+x)$, accurate near 0.
    fn ln_1p(self) -> Self;
    /// $e^x - 1$, accurate near 0.
    fn exp_m1(self) -> Self;
    /// $e^x - 1$ for $x \le 0$ (NaN stays NaN), within 1 ulp of the exact
    /// value, in branch-free arithmetic that loops vectorise (the ELU
    /// kernels call it on whole rows). Meaningless for $x > 0$.
    #[doc(hidden)]
    fn exp_m1_nonpos(self) -> Self;
    /// $\tanh x$.
    fn tanh(self) -> Self;
    /// $\sqrt{x}$.
    fn sqrt(self) -> Self;
    /// $|x|$.
    fn abs(self) -> Self;
    /// The larger of two values (NaN-ignoring, as `f64::max`).
    fn max(self, other: Self) -> Self;
    /// The smaller of two values (NaN-ignoring, as `f64::min`).
    fn min(self, other: Self) -> Self;
    /// True unless NaN or infinite.
    fn is_finite(self) -> bool;
    /// Appends the little-endian bytes of `self` to `out`.
    fn write_le(self, out: &mut Vec<u8>);
    /// Reads a value from exactly [`Self::BYTES`] little-endian bytes.
    fn read_le(bytes: &[u8]) -> Self;

    /// `c = a·b` (or `c += a·b` when `accumulate`), all row-major:
    /// `a` is `m × k` (stored `k × m` when `trans_a`), `b` is `k × n` (stored
    /// `n × k` when `trans_b`) and `c` is `m × n`. Sequential and deterministic.
    ///
    /// # Panics
    /// When a slice length disagrees with the dimensions (internal use only).
    #[allow(clippy::too_many_arguments)]
    #[doc(hidden)]
    fn gemm(
        m: usize,
        n: usize,
        k: usize,
        a: &[Self],
        trans_a: bool,
        b: &[Self],
        trans_b: bool,
        c: &mut [Self],
        accumulate: bool,
    );
}

/// $1.5\cdot 2^{52}$: adding and subtracting it rounds a value of magnitude
/// below $2^{51}$ to the nearest integer (ties to even), and the integer sits
/// in the low bits of the sum.
const ROUND_MAGIC: f64 = 6_755_399_441_055_744.0;
/// $\ln 2$ split in two: the high part has 21 trailing zero bits, so
/// $k\cdot$`LN2_HI` is exact for the $|k| \le 58$ used here (Cody & Waite).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// $e^x - 1$ for $x \le 0$ without branches or calls.
///
/// With $k = \mathrm{round}(x/\ln 2)$ and $r = x - k\ln 2$
/// ($|r| \le \ln 2 / 2$): $e^x - 1 = 2^k (e^r - 1) + (2^k - 1)$, where
/// $e^r - 1$ is the Taylor series to $r^{13}$ (truncation below 0.1 ulp),
/// the scaling by $2^k$ is exact and $2^k - 1$ is exact for the $k \ge -53$
/// that matter; the result is within about 1 ulp. Below $x=-40$ the exact
/// value rounds to $-1$, so $x$ is clamped there (which keeps $2^k$
/// normal); $\pm 0$ returns itself and NaN stays NaN.
#[inline(always)]
fn exp_m1_nonpos_f64(x: f64) -> f64 {
    const C: [f64; 12] = [
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5_040.0,
        1.0 / 40_320.0,
        1.0 / 362_880.0,
        1.0 / 3_628_800.0,
        1.0 / 39_916_800.0,
        1.0 / 479_001_600.0,
        1.0 / 6_227_020_800.0,
    ];
    let xc = if x < -40.0 { -40.0 } else { x };
    let t = xc * std::f64::consts::LOG2_E + ROUND_MAGIC;
    let k = t - ROUND_MAGIC;
    let r = (xc - k * LN2_HI) - k * LN2_LO;
    let mut q = C[11];
    for &c in C[..11].iter().rev() {
        q = c + r * q;
    }
    let p = r + (r * r) * q;
    let ki = (t.to_bits() as i64).wrapping_sub(ROUND_MAGIC.to_bits() as i64);
    let two_k = f64::from_bits((ki.wrapping_add(1023) as u64) << 52);
    let y = two_k * p + (two_k - 1.0);
    if x == 0.0 {
        x
    } else {
        y
    }
}

macro_rules! impl_float {
    ($t:ty, $name:literal) => {
        impl Float for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const DTYPE: &'static str = $name;
            const BYTES: usize = std::mem::size_of::<$t>();
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;

            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn ln_1p(self) -> Self {
                <$t>::ln_1p(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline(always)]
            fn exp_m1_nonpos(self) -> Self {
                // f32 goes through the f64 kernel (one extra rounding).
                exp_m1_nonpos_f64(self as f64) as $t
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn min(self, other: Self) -> Self {
                <$t>::min(self, other)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(bytes: &[u8]) -> Self {
                let mut buf = [0u8; std::mem::size_of::<$t>()];
                buf.copy_from_slice(bytes);
                <$t>::from_le_bytes(buf)
            }
            fn gemm(
                m: usize,
                n: usize,
                k: usize,
                a: &[Self],
                trans_a: bool,
                b: &[Self],
                trans_b: bool,
                c: &mut [Self],
                accumulate: bool,
            ) {
                use faer::{Accum, MatMut, MatRef, Par};
                if m == 0 || n == 0 {
                    return;
                }
                if k == 0 {
                    if !accumulate {
                        c.fill(0.0);
                    }
                    return;
                }
                let a = if trans_a {
                    MatRef::from_row_major_slice(a, k, m).transpose()
                } else {
                    MatRef::from_row_major_slice(a, m, k)
                };
                let b = if trans_b {
                    MatRef::from_row_major_slice(b, n, k).transpose()
                } else {
                    MatRef::from_row_major_slice(b, k, n)
                };
                let c = MatMut::from_row_major_slice_mut(c, m, n);
                let beta = if accumulate {
                    Accum::Add
                } else {
                    Accum::Replace
                };
                faer::linalg::matmul::matmul(c, beta, a, b, 1.0, Par::Seq);
            }
        }
    };
}

impl_float!(f32, "f32");
impl_float!(f64, "f64");

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(m: usize, n: usize, k: usize, a: &[f64], ta: bool, b: &[f64], tb: bool) -> Vec<f64> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for l in 0..k {
                    let av = if ta { a[l * m + i] } else { a[i * k + l] };
                    let bv = if tb { b[j * k + l] } else { b[l * n + j] };
                    s += av * bv;
                }
                c[i * n + j] = s;
            }
        }
        c
    }

    #[test]
    fn gemm_matches_naive_product_for_all_transpositions() {
        for &(m, n, k) in &[(1, 1, 1), (3, 5, 7), (17, 2, 33), (40, 19, 1), (2, 64, 70)] {
            let a: Vec<f64> = (0..m * k).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
            let b: Vec<f64> = (0..k * n)
                .map(|i| ((i * 13) % 7) as f64 * 0.5 - 1.0)
                .collect();
            for ta in [false, true] {
                for tb in [false, true] {
                    let want = naive(m, n, k, &a, ta, &b, tb);
                    let mut c = vec![7.0; m * n];
                    f64::gemm(m, n, k, &a, ta, &b, tb, &mut c, false);
                    assert_eq!(c, want, "m={m} n={n} k={k} ta={ta} tb={tb}");
                    f64::gemm(m, n, k, &a, ta, &b, tb, &mut c, true);
                    for (x, w) in c.iter().zip(&want) {
                        assert_eq!(*x, 2.0 * w);
                    }
                }
            }
        }
    }

    #[test]
    fn gemm_with_empty_inner_dimension_zeroes_or_keeps() {
        let mut c = vec![3.0f32; 6];
        f32::gemm(2, 3, 0, &[], false, &[], false, &mut c, true);
        assert_eq!(c, vec![3.0; 6]);
        f32::gemm(2, 3, 0, &[], false, &[], false, &mut c, false);
        assert_eq!(c, vec![0.0; 6]);
    }

    /// Distance in units in the last place between two finite doubles of the
    /// same sign.
    fn ulps(a: f64, b: f64) -> u64 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs()
    }

    #[test]
    fn branch_free_exp_m1_agrees_with_libm_to_one_ulp() {
        // Dense grids over every range the kernel treats differently: the
        // reduction-free core (|x| < ln2/2), each 2^k scale up to the clamp,
        // tiny arguments, and the saturated tail.
        let mut xs: Vec<f64> = (0..=200_000)
            .map(|i| -45.0 * i as f64 / 200_000.0)
            .collect();
        xs.extend((0..=20_000).map(|i| -0.35 * i as f64 / 20_000.0));
        xs.extend((1..300).map(|e| -(2.0f64).powi(-e)));
        xs.extend([
            -f64::MIN_POSITIVE,
            -1e-310,
            -5e-324,
            -40.0,
            -40.000001,
            -700.0,
            -1e300,
        ]);
        let mut same = 0usize;
        for &x in &xs {
            let (got, want) = (x.exp_m1_nonpos(), x.exp_m1());
            let u = ulps(got, want);
            assert!(u <= 1, "x = {x:e}: {got:e} vs libm {want:e} ({u} ulps)");
            same += usize::from(u == 0);
        }
        // Most values are the correctly rounded ones.
        assert!(
            same as f64 > 0.9 * xs.len() as f64,
            "{same} of {}",
            xs.len()
        );
        // Closed forms: e^{-ln 2} - 1 = -1/2, e^{-inf} - 1 = -1, signed zeros.
        assert!((-std::f64::consts::LN_2).exp_m1_nonpos() + 0.5 == 0.0);
        assert_eq!(f64::NEG_INFINITY.exp_m1_nonpos(), -1.0);
        assert_eq!((-0.0f64).exp_m1_nonpos().to_bits(), (-0.0f64).to_bits());
        assert_eq!(0.0f64.exp_m1_nonpos().to_bits(), 0.0f64.to_bits());
        assert!(f64::NAN.exp_m1_nonpos().is_nan());
        // f32 through the f64 kernel: within one f32 ulp of libm's expm1f.
        for i in 0..=20_000 {
            let x = -20.0f32 * i as f32 / 20_000.0;
            let (got, want) = (x.exp_m1_nonpos(), x.exp_m1());
            assert!(
                (got.to_bits() as i32 - want.to_bits() as i32).abs() <= 1,
                "x = {x}"
            );
        }
    }

    #[test]
    fn little_endian_round_trip() {
        let mut buf = Vec::new();
        1.25f32.write_le(&mut buf);
        (-3.5e300f64).write_le(&mut buf);
        assert_eq!(buf.len(), 12);
        assert_eq!(f32::read_le(&buf[..4]), 1.25);
        assert_eq!(f64::read_le(&buf[4..]), -3.5e300);
    }
}
