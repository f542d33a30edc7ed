//! Scalar math written so loops over slices vectorise: no libm calls on the hot paths of scoring
//! and training (one `expf` call per element kept those loops scalar).

/// `exp(x)` for `x <= 0` in f32 without a libm call (Cephes' expf: x = n ln 2 + r, |r| <= ln2/2,
/// exp(r) by a degree-7 polynomial, 2^n put into the exponent bits); within 2 ulp of the exact
/// value, 0 below -87.3 (where f32 underflows anyway).
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting it rounds to an integer
    let x = if x < -87.3 { -87.3 } else { x };
    let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_2e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 0.166_666_65) * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from n + 127 in the low mantissa bits of (n + 127 + MAGIC), shifted into the exponent:
    // integer operations only, unlike `n as i32` (a saturating conversion LLVM keeps scalar).
    let scale = f32::from_bits((n + (MAGIC + 127.0)).to_bits() << 23);
    let v = e * scale;
    if x <= -87.3 {
        0.0
    } else {
        v
    }
}

/// The logistic function 1 / (1 + e^-z), through `exp_nonpositive` on both sides of 0.
#[inline(always)]
pub(crate) fn sigmoid(z: f32) -> f32 {
    let e = exp_nonpositive(-z.abs());
    let s = 1.0 / (1.0 + e);
    if z >= 0.0 {
        s
    } else {
        e * s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_nonpositive_is_within_two_ulp_of_exp() {
        let mut worst = 0f64;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let want = (x as f64).exp();
            let got = exp_nonpositive(x) as f64;
            worst = worst.max((got - want).abs() / want);
        }
        assert!(worst < 2.0 * f32::EPSILON as f64, "relative error {worst}");
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(-100.0), 0.0);
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn sigmoid_matches_the_formula_on_both_sides() {
        for i in -2000..=2000 {
            let z = i as f32 / 40.0;
            let want = 1.0 / (1.0 + (-(z as f64)).exp());
            let got = sigmoid(z) as f64;
            assert!((got - want).abs() <= 4.0 * f32::EPSILON as f64 * want, "z {z}: {got} vs {want}");
        }
    }
}
