//! HEALPix pixelisation (Górski et al. 2005, ApJ 622, 759): pixel index $\leftrightarrow$
//! direction in the RING and NESTED schemes.
//!
//! The sphere is cut into 12 base pixels, each divided into $N_{\rm side}^2$ pixels of
//! equal area $4\pi / (12 N_{\rm side}^2)$. With $z = \cos\theta$ and $t = \phi / (\pi/2)$:
//!
//! - in the **equatorial belt** $|z| \le 2/3$ the pixel boundaries are the lines
//!   $j_\pm = N_{\rm side}(\tfrac12 + t \mp \tfrac34 z)$, and the ring index and the index
//!   within the ring follow from $\lfloor j_+\rfloor$ and $\lfloor j_-\rfloor$; rings there have
//!   $4N_{\rm side}$ pixels at $z = \tfrac43 - \tfrac{2i}{3N_{\rm side}}$;
//! - in the **polar caps** the boundaries are $j_\pm$ with $\sqrt{3(1-|z|)}\,N_{\rm side}$ times
//!   $t'$ or $1 - t'$ ($t' = t \bmod 1$), and ring $i$ has $4i$ pixels at
//!   $z = \pm(1 - i^2 / 3N_{\rm side}^2)$.
//!
//! RING numbers pixels ring by ring from the north pole, in increasing $\phi$; the
//! pixel centres of a ring sit at $\phi = (k - \tfrac12)\frac{\pi}{2i}$ (caps) or
//! $(k - f)\frac{\pi}{2N_{\rm side}}$ (belt, $f = 1$ or $\tfrac12$ alternating). NESTED
//! numbers pixels within each base pixel $f$ by interleaving the bits of the
//! coordinates $(x, y)$ in that base pixel: $p = f N_{\rm side}^2 + \sum_k (x_k 4^k + y_k 2\cdot 4^k)$;
//! it needs $N_{\rm side}$ to be a power of 2.
//!
//! Directions are Galactic $(l, b)$ in degrees here: $\theta = 90^\circ - b$, $\phi = l$.
//! $1 - |z|$ is computed as $2\sin^2(\theta'/2)$ ($\theta'$ the polar distance) so that pixels
//! near the poles are found accurately.
//!
//! ```
//! use darkprobe_dwarfs::healpix::{Healpix, Ordering};
//! let h = Healpix::new(1, Ordering::Ring).unwrap();
//! // Base pixel 4 is centred on the equator at phi = 0.
//! let (l, b) = h.pix_to_lb(4).unwrap();
//! assert!(l.abs() < 1e-12 && b.abs() < 1e-12);
//! // Pixel 0 of Nside = 1: z = 2/3, phi = 45 deg.
//! let (l, b) = h.pix_to_lb(0).unwrap();
//! assert!((l - 45.0).abs() < 1e-12 && (b - (2.0f64 / 3.0).asin().to_degrees()).abs() < 1e-12);
//! // The northernmost pixel of base pixel 0 at Nside = 2 is RING 0 and NESTED 3.
//! let (l, b) = Healpix::new(2, Ordering::Ring).unwrap().pix_to_lb(0).unwrap();
//! let n = Healpix::new(2, Ordering::Nested).unwrap();
//! assert_eq!(n.lb_to_pix(l, b).unwrap(), 3);
//! assert_eq!(Healpix::nest_to_ring(2, 3).unwrap(), 0);
//! ```

use crate::error::Result;
use darkprobe_core::Error;
use std::f64::consts::{FRAC_PI_2, PI};

/// The pixel numbering scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ordering {
    /// Ring by ring from the north pole.
    Ring,
    /// Hierarchical, within the 12 base pixels.
    Nested,
}

/// A HEALPix grid of a given $N_{\rm side}$ and ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Healpix {
    nside: u64,
    ordering: Ordering,
}

/// The largest supported $N_{\rm side}$ ($2^{29}$, so that pixel indices fit in 64 bits).
pub const MAX_NSIDE: u64 = 1 << 29;

const JRLL: [i64; 12] = [2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4];
const JPLL: [i64; 12] = [1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7];

/// Spreads the low 32 bits of `v` to the even bit positions.
fn spread_bits(v: u64) -> u64 {
    let mut x = v & 0xFFFF_FFFF;
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    (x | (x << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `v` into the low 32 bits.
fn compress_bits(v: u64) -> u64 {
    let mut x = v & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF
}

fn isqrt(v: u64) -> u64 {
    let mut r = (v as f64).sqrt() as u64;
    while r * r > v {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= v {
        r += 1;
    }
    r
}

impl Healpix {
    /// A grid with `nside` (a power of 2 for NESTED, any value in $[1, 2^{29}]$ for RING).
    ///
    /// # Errors
    /// `nside` out of range, or not a power of 2 with [`Ordering::Nested`].
    pub fn new(nside: u64, ordering: Ordering) -> Result<Self> {
        if nside == 0 || nside > MAX_NSIDE {
            return Err(Error::invalid_param(
                "HEALPix nside",
                nside,
                format!("in [1, {MAX_NSIDE}]"),
            )
            .into());
        }
        if ordering == Ordering::Nested && !nside.is_power_of_two() {
            return Err(Error::invalid_param(
                "HEALPix nside",
                nside,
                "a power of 2 for NESTED ordering",
            )
            .into());
        }
        Ok(Self { nside, ordering })
    }
    /// $N_{\rm side}$.
    pub fn nside(&self) -> u64 {
        self.nside
    }
    /// The ordering.
    pub fn ordering(&self) -> Ordering {
        self.ordering
    }
    /// Number of pixels, $12 N_{\rm side}^2$.
    pub fn n_pix(&self) -> u64 {
        12 * self.nside * self.nside
    }
    /// Solid angle of every pixel, sr.
    pub fn pixel_solid_angle_sr(&self) -> f64 {
        4.0 * PI / self.n_pix() as f64
    }
    /// Approximate pixel size $\sqrt{\Omega}$, degrees.
    pub fn pixel_size_deg(&self) -> f64 {
        self.pixel_solid_angle_sr().sqrt().to_degrees()
    }

    fn ncap(&self) -> u64 {
        2 * self.nside * (self.nside - 1)
    }

    /// The pixel containing Galactic $(l, b)$ (degrees).
    ///
    /// # Errors
    /// A non-finite longitude or a latitude outside $[-90, 90]$.
    pub fn lb_to_pix(&self, l_deg: f64, b_deg: f64) -> Result<u64> {
        if !(l_deg.is_finite() && b_deg.abs() <= 90.0) {
            return Err(Error::invalid_param(
                "direction (l, b)",
                format!("({l_deg}, {b_deg})"),
                "finite, with |b| <= 90 deg",
            )
            .into());
        }
        let z = b_deg.to_radians().sin();
        // 1 - |z| = 2 sin^2(theta'/2) with theta' the distance to the nearer pole.
        let half = (0.5 * (90.0 - b_deg.abs())).to_radians().sin();
        let one_minus_za = 2.0 * half * half;
        let tt = (l_deg.to_radians() / FRAC_PI_2).rem_euclid(4.0);
        let tt = if tt >= 4.0 { 0.0 } else { tt };
        Ok(match self.ordering {
            Ordering::Ring => self.ring_pix(z, one_minus_za, tt),
            Ordering::Nested => self.nest_pix(z, one_minus_za, tt),
        })
    }

    fn ring_pix(&self, z: f64, one_minus_za: f64, tt: f64) -> u64 {
        let ns = self.nside as i64;
        let za = z.abs();
        if za <= 2.0 / 3.0 {
            let t1 = ns as f64 * (0.5 + tt);
            let t2 = ns as f64 * z * 0.75;
            let jp = (t1 - t2).floor() as i64;
            let jm = (t1 + t2).floor() as i64;
            let ir = ns + 1 + jp - jm; // 1 ..= 2 nside + 1
            let kshift = 1 - (ir & 1);
            let ip = (jp + jm - ns + kshift + 1) / 2;
            let ip = ip.rem_euclid(4 * ns);
            (self.ncap() as i64 + (ir - 1) * 4 * ns + ip) as u64
        } else {
            let tp = tt - tt.floor();
            let tmp = ns as f64 * (3.0 * one_minus_za).sqrt();
            let jp = ((tp * tmp).floor() as i64).min(ns - 1);
            let jm = (((1.0 - tp) * tmp).floor() as i64).min(ns - 1);
            let ir = jp + jm + 1;
            let ip = ((tt * ir as f64).floor() as i64).rem_euclid(4 * ir);
            if z > 0.0 {
                (2 * ir * (ir - 1) + ip) as u64
            } else {
                (self.n_pix() as i64 - 2 * ir * (ir + 1) + ip) as u64
            }
        }
    }

    fn nest_pix(&self, z: f64, one_minus_za: f64, tt: f64) -> u64 {
        let ns = self.nside as i64;
        let za = z.abs();
        let (face, ix, iy) = if za <= 2.0 / 3.0 {
            let t1 = ns as f64 * (0.5 + tt);
            let t2 = ns as f64 * z * 0.75;
            let jp = (t1 - t2).floor() as i64;
            let jm = (t1 + t2).floor() as i64;
            let ifp = jp / ns;
            let ifm = jm / ns;
            let face = if ifp == ifm {
                ifp | 4
            } else if ifp < ifm {
                ifp
            } else {
                ifm + 8
            };
            (face, jm & (ns - 1), ns - (jp & (ns - 1)) - 1)
        } else {
            let ntt = (tt.floor() as i64).min(3);
            let tp = tt - ntt as f64;
            let tmp = ns as f64 * (3.0 * one_minus_za).sqrt();
            let jp = ((tp * tmp).floor() as i64).min(ns - 1);
            let jm = (((1.0 - tp) * tmp).floor() as i64).min(ns - 1);
            if z >= 0.0 {
                (ntt, ns - jm - 1, ns - jp - 1)
            } else {
                (ntt + 8, jp, jm)
            }
        };
        face as u64 * self.nside * self.nside
            + spread_bits(ix as u64)
            + (spread_bits(iy as u64) << 1)
    }

    /// The centre of pixel `pix` as Galactic $(l, b)$ in degrees, $l \in [0, 360)$.
    ///
    /// # Errors
    /// `pix >= n_pix()`.
    pub fn pix_to_lb(&self, pix: u64) -> Result<(f64, f64)> {
        if pix >= self.n_pix() {
            return Err(Error::invalid_param(
                "HEALPix pixel",
                pix,
                format!("< {} (nside {})", self.n_pix(), self.nside),
            )
            .into());
        }
        let (z, phi) = match self.ordering {
            Ordering::Ring => self.ring_centre(pix),
            Ordering::Nested => self.nest_centre(pix),
        };
        let l = phi.to_degrees().rem_euclid(360.0);
        Ok((
            if l >= 360.0 { 0.0 } else { l },
            z.clamp(-1.0, 1.0).asin().to_degrees(),
        ))
    }

    /// (z, phi) of a RING pixel centre.
    fn ring_centre(&self, pix: u64) -> (f64, f64) {
        let ns = self.nside;
        let npix = self.n_pix();
        let ncap = self.ncap();
        let fact2 = 3.0 * (ns * ns) as f64;
        if pix < ncap {
            let iring = (1 + isqrt(1 + 2 * pix)) >> 1;
            let iphi = pix + 1 - 2 * iring * (iring - 1);
            let z = 1.0 - (iring * iring) as f64 / fact2;
            (z, (iphi as f64 - 0.5) * FRAC_PI_2 / iring as f64)
        } else if pix < npix - ncap {
            let ip = pix - ncap;
            let iring = ip / (4 * ns) + ns;
            let iphi = ip % (4 * ns) + 1;
            let fodd = if (iring + ns) & 1 == 1 { 1.0 } else { 0.5 };
            let z = (2 * ns) as f64 - iring as f64;
            (
                z * 2.0 / (3.0 * ns as f64),
                (iphi as f64 - fodd) * FRAC_PI_2 / ns as f64,
            )
        } else {
            let ip = npix - pix;
            let iring = (1 + isqrt(2 * ip - 1)) >> 1;
            let iphi = 4 * iring + 1 - (ip - 2 * iring * (iring - 1));
            let z = -1.0 + (iring * iring) as f64 / fact2;
            (z, (iphi as f64 - 0.5) * FRAC_PI_2 / iring as f64)
        }
    }

    /// (z, phi) of a NESTED pixel centre, from its base pixel and (x, y).
    fn nest_centre(&self, pix: u64) -> (f64, f64) {
        let ns = self.nside as i64;
        let npface = self.nside * self.nside;
        let face = (pix / npface) as usize;
        let ipf = pix % npface;
        let ix = compress_bits(ipf) as i64;
        let iy = compress_bits(ipf >> 1) as i64;
        let jr = JRLL[face] * ns - ix - iy - 1;
        let fact2 = 3.0 * (ns * ns) as f64;
        let (nr, z, kshift) = if jr < ns {
            (jr, 1.0 - (jr * jr) as f64 / fact2, 0)
        } else if jr > 3 * ns {
            let nr = 4 * ns - jr;
            (nr, -1.0 + (nr * nr) as f64 / fact2, 0)
        } else {
            (
                ns,
                (2 * ns - jr) as f64 * 2.0 / (3.0 * ns as f64),
                (jr - ns) & 1,
            )
        };
        let mut jp = (JPLL[face] * nr + ix - iy + 1 + kshift) / 2;
        if jp > 4 * ns {
            jp -= 4 * ns;
        }
        if jp < 1 {
            jp += 4 * ns;
        }
        (
            z,
            (jp as f64 - (kshift + 1) as f64 * 0.5) * FRAC_PI_2 / nr as f64,
        )
    }

    /// The RING index of NESTED pixel `pix` (same $N_{\rm side}$).
    ///
    /// # Errors
    /// `pix` out of range, or an $N_{\rm side}$ that is not a power of 2.
    pub fn nest_to_ring(nside: u64, pix: u64) -> Result<u64> {
        let n = Self::new(nside, Ordering::Nested)?;
        let (l, b) = n.pix_to_lb(pix)?;
        Self::new(nside, Ordering::Ring)?.lb_to_pix(l, b)
    }

    /// The NESTED index of RING pixel `pix` (same $N_{\rm side}$).
    ///
    /// # Errors
    /// `pix` out of range, or an $N_{\rm side}$ that is not a power of 2.
    pub fn ring_to_nest(nside: u64, pix: u64) -> Result<u64> {
        let n = Self::new(nside, Ordering::Nested)?;
        let (l, b) = Self::new(nside, Ordering::Ring)?.pix_to_lb(pix)?;
        n.lb_to_pix(l, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use darkprobe_core::sky::{angular_separation_deg, sample_sphere};
    use rand::SeedableRng;

    #[test]
    fn bit_interleaving_round_trips() {
        for v in [0u64, 1, 2, 3, 0xABCD, 0xFFFF_FFFF] {
            assert_eq!(compress_bits(spread_bits(v)), v);
        }
        assert_eq!(spread_bits(0b111), 0b10101);
        assert_eq!(isqrt(24), 4);
        assert_eq!(isqrt(25), 5);
    }

    #[test]
    fn known_pixel_centres() {
        // Nside = 1: pixels 0-3 at z = 2/3, 4-7 at z = 0, 8-11 at z = -2/3.
        let h = Healpix::new(1, Ordering::Ring).unwrap();
        let zb = (2.0f64 / 3.0).asin().to_degrees();
        let expect = [
            (45.0, zb),
            (135.0, zb),
            (225.0, zb),
            (315.0, zb),
            (0.0, 0.0),
            (90.0, 0.0),
            (180.0, 0.0),
            (270.0, 0.0),
            (45.0, -zb),
            (135.0, -zb),
            (225.0, -zb),
            (315.0, -zb),
        ];
        for (p, (l, b)) in expect.iter().enumerate() {
            let (gl, gb) = h.pix_to_lb(p as u64).unwrap();
            assert_abs_diff_eq!(gl, *l, epsilon = 1e-12);
            assert_abs_diff_eq!(gb, *b, epsilon = 1e-12);
        }
        // For Nside = 1 RING and NESTED coincide.
        for p in 0..12 {
            assert_eq!(Healpix::nest_to_ring(1, p).unwrap(), p);
        }
        // Nside = 2, RING: ring 1 at z = 1 - 1/12 with phi = 45, 135, ...; ring 2
        // (z = 2/3) with phi = 22.5 + 45 k; ring 3 (z = 1/3) with phi = 45 k.
        let h2 = Healpix::new(2, Ordering::Ring).unwrap();
        let (l, b) = h2.pix_to_lb(0).unwrap();
        assert_abs_diff_eq!(l, 45.0, epsilon = 1e-12);
        assert_abs_diff_eq!(b, (11.0f64 / 12.0).asin().to_degrees(), epsilon = 1e-12);
        let (l, b) = h2.pix_to_lb(4).unwrap();
        assert_abs_diff_eq!(l, 22.5, epsilon = 1e-12);
        assert_abs_diff_eq!(b, zb, epsilon = 1e-12);
        let (l, b) = h2.pix_to_lb(12).unwrap();
        assert_abs_diff_eq!(l, 0.0, epsilon = 1e-12);
        assert_abs_diff_eq!(b, (1.0f64 / 3.0).asin().to_degrees(), epsilon = 1e-12);
        let (l, b) = h2.pix_to_lb(47).unwrap();
        assert_abs_diff_eq!(l, 315.0, epsilon = 1e-12);
        assert_abs_diff_eq!(b, -(11.0f64 / 12.0).asin().to_degrees(), epsilon = 1e-12);
        // The four NESTED pixels of base pixel 0 at Nside = 2 (south, east, west,
        // north corner of the face) are RING pixels 13, 5, 4, 0.
        let n2r: Vec<u64> = (0..4)
            .map(|p| Healpix::nest_to_ring(2, p).unwrap())
            .collect();
        assert_eq!(n2r, vec![13, 5, 4, 0]);
    }

    #[test]
    fn matches_published_reference_pixels_at_nside_256() {
        // Reference pixels (0-based) of the HEALPix test suite of Healpix.jl
        // (ang2pixNest / ang2pixRing at Nside = 256, theta in rows, phi in
        // columns 0, 2pi/5, 4pi/5, 6pi/5, 8pi/5).
        let thetas: [f64; 4] = [
            0.6283185307179586,
            1.2566370614359172,
            1.8849555921538759,
            2.5132741228718345,
        ];
        let phis: [f64; 5] = [
            0.0,
            1.2566370614359172,
            2.5132741228718345,
            3.7699111843077517,
            5.026548245743669,
        ];
        let nest: [[u64; 5]; 4] = [
            [45054, 31073, 116110, 182861, 243346],
            [315343, 387304, 71954, 140833, 513236],
            [274480, 338731, 645598, 714477, 464663],
            [565250, 543085, 603570, 670321, 755358],
        ];
        let ring: [[u64; 5]; 4] = [
            [74884, 75039, 75194, 75349, 75504],
            [270848, 271053, 272281, 272486, 271667],
            [514560, 514765, 513945, 514150, 515379],
            [710772, 710927, 711082, 711237, 711392],
        ];
        let hn = Healpix::new(256, Ordering::Nested).unwrap();
        let hr = Healpix::new(256, Ordering::Ring).unwrap();
        for (i, th) in thetas.iter().enumerate() {
            for (j, ph) in phis.iter().enumerate() {
                let (l, b) = (ph.to_degrees(), 90.0 - th.to_degrees());
                assert_eq!(
                    hn.lb_to_pix(l, b).unwrap(),
                    nest[i][j],
                    "nest theta {th} phi {ph}"
                );
                assert_eq!(
                    hr.lb_to_pix(l, b).unwrap(),
                    ring[i][j],
                    "ring theta {th} phi {ph}"
                );
            }
        }
        // The poles.
        assert_eq!(hr.lb_to_pix(0.0, 90.0).unwrap(), 0);
        assert_eq!(hr.lb_to_pix(216.0, -90.0).unwrap(), 786430);
        assert_eq!(hn.lb_to_pix(144.0, 90.0).unwrap(), 131071);
        assert_eq!(hn.lb_to_pix(216.0, -90.0).unwrap(), 655360);
    }

    #[test]
    fn round_trips_and_bijection() {
        for nside in [1u64, 2, 4, 8, 16, 32] {
            for ord in [Ordering::Ring, Ordering::Nested] {
                let h = Healpix::new(nside, ord).unwrap();
                for p in 0..h.n_pix() {
                    let (l, b) = h.pix_to_lb(p).unwrap();
                    assert_eq!(
                        h.lb_to_pix(l, b).unwrap(),
                        p,
                        "nside {nside} {ord:?} pixel {p}"
                    );
                }
            }
            let mut seen = vec![false; (12 * nside * nside) as usize];
            for p in 0..12 * nside * nside {
                let r = Healpix::nest_to_ring(nside, p).unwrap();
                assert!(!seen[r as usize]);
                seen[r as usize] = true;
                assert_eq!(Healpix::ring_to_nest(nside, r).unwrap(), p);
            }
        }
        // Odd Nside works in RING.
        let h = Healpix::new(3, Ordering::Ring).unwrap();
        for p in 0..h.n_pix() {
            let (l, b) = h.pix_to_lb(p).unwrap();
            assert_eq!(h.lb_to_pix(l, b).unwrap(), p);
        }
        assert!(Healpix::new(3, Ordering::Nested).is_err());
        assert!(Healpix::new(0, Ordering::Ring).is_err());
        assert!(h.pix_to_lb(h.n_pix()).is_err());
        assert!(h.lb_to_pix(0.0, 90.5).is_err());
    }

    #[test]
    fn pixels_have_equal_area_and_contain_their_points() {
        // Monte Carlo: uniform directions fall equally into the pixels, and every
        // point is closer to its pixel centre than the largest pixel radius.
        let nside = 4u64;
        for ord in [Ordering::Ring, Ordering::Nested] {
            let h = Healpix::new(nside, ord).unwrap();
            let mut rng = rand::rngs::StdRng::seed_from_u64(11);
            let n_draw = 192_000usize;
            let mut counts = vec![0usize; h.n_pix() as usize];
            let mut max_d: f64 = 0.0;
            for _ in 0..n_draw {
                let (l, b) = sample_sphere(&mut rng);
                let p = h.lb_to_pix(l, b).unwrap();
                counts[p as usize] += 1;
                let (cl, cb) = h.pix_to_lb(p).unwrap();
                max_d = max_d.max(angular_separation_deg(l, b, cl, cb));
            }
            let mean = n_draw as f64 / h.n_pix() as f64;
            let chi2: f64 = counts
                .iter()
                .map(|&c| (c as f64 - mean).powi(2) / mean)
                .sum();
            // 191 degrees of freedom: mean 191, sd ~ 19.5.
            assert!(chi2 < 191.0 + 5.0 * 19.6, "chi2 {chi2}");
            // Pixels are about 14.7 deg across; none extends beyond ~1.5 sizes.
            assert!(max_d < 1.5 * h.pixel_size_deg(), "{max_d}");
        }
        // Points right at the poles and on l = 360.
        let h = Healpix::new(8, Ordering::Nested).unwrap();
        assert!(h.lb_to_pix(0.0, 90.0).unwrap() < 4 * 64);
        assert!(h.lb_to_pix(360.0, -90.0).unwrap() >= 8 * 64);
        assert_eq!(
            h.lb_to_pix(360.0, 10.0).unwrap(),
            h.lb_to_pix(0.0, 10.0).unwrap()
        );
    }
}
