//! Which copy of a vectorised kernel runs: the one place that reads the CPU's features.
//!
//! Every kernel compiled for extra CPU features is declared with [`target_fn!`], which writes
//! its `#[target_feature]` attributes and a [`Features`] constant from the same list, and every
//! dispatch passes those constants to [`choose`]. So a dispatch checks exactly the features its
//! callee is compiled with, and [`features`] (detected once) is the only input that differs
//! between machines: tests ask what a CPU with other features would run by passing a synthetic
//! set to `choose`.
//!
//! `SYCO_NO_AVX512` (any value) makes the process behave as on a CPU without AVX-512 (which has
//! no AMX either): the portable or AVX2 copies run, so they can be tested on a machine that has
//! AVX-512. `SYCO_NO_AMX` turns off only the AMX tiles.

use std::sync::OnceLock;

/// A set of x86 features, named as `#[target_feature(enable = ...)]` names them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features(u32);

/// Every feature a kernel is compiled for or chosen by, with the features rustc enables along
/// with it (its implications: `#[target_feature(enable = "avx512f")]` also compiles for FMA,
/// F16C and AVX2, so a CPU must have those too).
const KNOWN: [(&str, &[&str]); 10] = [
    ("avx", &[]),
    ("avx2", &["avx"]),
    ("fma", &["avx"]),
    ("f16c", &["avx"]),
    ("avx512f", &["avx2", "fma", "f16c"]),
    ("avx512bw", &["avx512f"]),
    ("avx512dq", &["avx512f"]),
    ("avx512bf16", &["avx512bw"]),
    ("amx-tile", &[]),
    ("amx-bf16", &["amx-tile"]),
];

/// The AVX-512 and AMX features: what `SYCO_NO_AVX512` takes away (only these: not what they
/// imply, which a CPU without AVX-512 has).
const AVX512_AND_AMX: Features = Features::exactly(&["avx512f", "avx512bw", "avx512dq", "avx512bf16", "amx-tile", "amx-bf16"]);
const AMX: Features = Features::exactly(&["amx-tile", "amx-bf16"]);

const fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

const fn bit(name: &str) -> u32 {
    let mut i = 0;
    while i < KNOWN.len() {
        if same(KNOWN[i].0, name) {
            return 1 << i;
        }
        i += 1;
    }
    panic!("a target feature missing from simd::KNOWN")
}

impl Features {
    /// The features named and, transitively, those rustc enables with them. Used in constants,
    /// where a name missing from `KNOWN` stops the build.
    pub(crate) const fn named(names: &[&str]) -> Features {
        let mut bits = Features::exactly(names).0;
        // Implications close in as many rounds as the longest chain (avx512bf16 → bw → f → avx2 → avx).
        let mut changed = true;
        while changed {
            changed = false;
            let mut k = 0;
            while k < KNOWN.len() {
                if bits & (1 << k) != 0 {
                    let mut j = 0;
                    while j < KNOWN[k].1.len() {
                        let b = bit(KNOWN[k].1[j]);
                        if bits & b == 0 {
                            bits |= b;
                            changed = true;
                        }
                        j += 1;
                    }
                }
                k += 1;
            }
        }
        Features(bits)
    }

    /// The features named, without those they imply (what detection reports of a CPU).
    const fn exactly(names: &[&str]) -> Features {
        let mut bits = 0;
        let mut i = 0;
        while i < names.len() {
            bits |= bit(names[i]);
            i += 1;
        }
        Features(bits)
    }

    /// Whether every feature of `needs` is in `self`.
    pub(crate) const fn has(self, needs: Features) -> bool {
        self.0 & needs.0 == needs.0
    }

    /// Whether `self` and `other` are the same set (`==` in constants).
    pub(crate) const fn is(self, other: Features) -> bool {
        self.0 == other.0
    }

    const fn without(self, other: Features) -> Features {
        Features(self.0 & !other.0)
    }

    /// What the kernels may use on a CPU with `self`, given the two switches of the environment.
    pub(crate) const fn allowed(self, no_avx512: bool, no_amx: bool) -> Features {
        let f = if no_avx512 { self.without(AVX512_AND_AMX) } else { self };
        if no_amx {
            f.without(AMX)
        } else {
            f
        }
    }

    /// The features of this CPU (with the operating system's support for their registers).
    fn detect() -> Features {
        let mut bits = 0;
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let detected = [
                ("avx", has!("avx")),
                ("avx2", has!("avx2")),
                ("fma", has!("fma")),
                ("f16c", has!("f16c")),
                ("avx512f", has!("avx512f")),
                ("avx512bw", has!("avx512bw")),
                ("avx512dq", has!("avx512dq")),
                ("avx512bf16", has!("avx512bf16")),
            ];
            for (name, on) in detected {
                if on {
                    bits |= bit(name);
                }
            }
            // AMX detection is unstable in `is_x86_feature_detected!`: CPUID leaf 7, EDX bits 22
            // (AMX-BF16) and 24 (AMX-TILE). Linux must still grant the tile state per process
            // (`bf16mm::amx_available`).
            let leaf = std::arch::x86_64::__cpuid_count(7, 0);
            if leaf.edx & (1 << 24) != 0 {
                bits |= bit("amx-tile");
                if leaf.edx & (1 << 22) != 0 {
                    bits |= bit("amx-bf16");
                }
            }
        }
        Features(bits)
    }
}

/// The features the kernels of this process may use: this CPU's, less what the environment
/// turns off. Detected on first use.
pub(crate) fn features() -> Features {
    static FEATURES: OnceLock<Features> = OnceLock::new();
    *FEATURES
        .get_or_init(|| Features::detect().allowed(std::env::var_os("SYCO_NO_AVX512").is_some(), std::env::var_os("SYCO_NO_AMX").is_some()))
}

/// The kernel to run on a CPU with `features`: the first candidate whose features it has (list
/// the fastest first), else `portable`. Every dispatch in the crate goes through here.
pub(crate) fn choose<K: Copy>(features: Features, candidates: &[(Features, K)], portable: K) -> K {
    candidates.iter().find(|(needs, _)| features.has(*needs)).map_or(portable, |&(_, k)| k)
}

/// Declares a function compiled for extra CPU features and a constant holding those features,
/// from one list, so that a dispatch checks exactly what the function is compiled with:
///
/// ```text
/// target_fn! {
///     const BLOCK_AVX2 = ["avx2", "fma"];
///     fn block_avx2(x: &[f32]) -> f32 { ... }
/// }
/// // then: choose(features(), &[(BLOCK_AVX2, block_avx2 as Kernel)], block_portable)
/// ```
///
/// The function may be safe (calling it from code without the features still takes `unsafe`);
/// a call from a function compiled for a superset of its features needs none, which rustc checks.
macro_rules! target_fn {
    ($(#[$const_meta:meta])* $vis:vis const $needs:ident = [$($feature:literal),+ $(,)?]; $item:item) => {
        $(#[$const_meta])*
        $vis const $needs: $crate::simd::Features = $crate::simd::Features::named(&[$($feature),+]);
        $(#[target_feature(enable = $feature)])+
        $item
    };
}
pub(crate) use target_fn;

#[cfg(test)]
mod tests {
    use super::*;

    /// What each dispatch site of the crate runs on a CPU with `f`, by name: the sites' own
    /// feature constants passed to the one `choose`.
    #[cfg(target_arch = "x86_64")]
    fn chosen(f: Features) -> Vec<(&'static str, &'static str)> {
        vec![
            ("training kernels", choose(f, &[(crate::cpu_train::KERNELS_AVX512, "avx512")], "portable")),
            ("narrow rows", choose(f, &[(crate::cpu_train::ROWS_TIMES_AVX512, "avx512")], "portable")),
            ("narrow transposed", choose(f, &[(crate::cpu_train::TRANSPOSED_TIMES_AVX512, "avx512")], "portable")),
            ("dropout mask", choose(f, &[(crate::rng::MASK_BLOCK_AVX512, "avx512")], "portable")),
            ("log-softmax", choose(f, &[(crate::generate::LOG_SOFTMAX_AT_AVX512, "avx512")], "portable")),
            ("bf16 rounding", choose(f, &[(crate::bf16mm::ROUND_ROW_AVX512, "avx512")], "portable")),
            ("gemv", choose(f, &[(crate::gemv::BLOCK_AVX512, "avx512"), (crate::gemv::BLOCK_AVX2, "avx2")], "portable")),
            ("qgemv", choose(f, &[(crate::qgemv::BLOCK_AVX512, "avx512"), (crate::qgemv::BLOCK_AVX2, "avx2")], "portable")),
            ("amx tiles", choose(f, &[(crate::bf16mm::AMX_TILES, "amx")], "rounded f32")),
        ]
    }

    /// A CPU reporting exactly `names`.
    #[cfg(target_arch = "x86_64")]
    fn cpu(names: &[&str]) -> Features {
        Features::exactly(names)
    }

    #[cfg(target_arch = "x86_64")]
    fn expect(f: Features, want: &[&str]) {
        let got: Vec<&str> = chosen(f).into_iter().map(|(_, k)| k).collect();
        assert_eq!(got, want, "{:?}", chosen(f));
    }

    #[cfg(target_arch = "x86_64")]
    const HASWELL: &[&str] = &["avx", "avx2", "fma", "f16c"];
    #[cfg(target_arch = "x86_64")]
    const SKYLAKE_X: &[&str] = &["avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq"];

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn every_site_chooses_by_exactly_its_callees_features() {
        let all = ["avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "rounded f32"];
        expect(cpu(SKYLAKE_X), &all);
        // Zen 4/5: AVX-512 with BF16, no AMX. No kernel is compiled for avx512bf16, so it
        // changes nothing.
        expect(cpu(&[SKYLAKE_X, &["avx512bf16"]].concat()), &all);
        // Sapphire Rapids: the tiles as well.
        let spr = cpu(&[SKYLAKE_X, &["avx512bf16", "amx-tile", "amx-bf16"]].concat());
        expect(spr, &["avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "avx512", "amx"]);
        // AMX-TILE alone is not enough for the bf16 products.
        expect(cpu(&[SKYLAKE_X, &["amx-tile"]].concat()), &all);
        // AVX-512F without BW (Knights Landing): the rounding, compiled for BW, stays portable;
        // without DQ the dropout mask (64-bit lane multiplies) does too.
        let knl = cpu(&["avx", "avx2", "fma", "f16c", "avx512f"]);
        expect(knl, &["avx512", "avx512", "avx512", "portable", "avx512", "portable", "avx512", "avx512", "rounded f32"]);
        // AVX-512F reported without FMA (a hypervisor's odd mask): the copies compiled for F also
        // use FMA and F16C, so none runs; nor does the AVX2 + FMA copy.
        let none = ["portable", "portable", "portable", "portable", "portable", "portable", "portable", "portable", "rounded f32"];
        expect(cpu(&["avx", "avx2", "avx512f", "avx512bw", "avx512dq"]), &none);
        let avx2 = ["portable", "portable", "portable", "portable", "portable", "portable", "avx2", "avx2", "rounded f32"];
        expect(cpu(HASWELL), &avx2);
        // AVX2 without F16C: qgemv's AVX2 copy reads f16 scales with F16C.
        expect(
            cpu(&["avx", "avx2", "fma"]),
            &["portable", "portable", "portable", "portable", "portable", "portable", "avx2", "portable", "rounded f32"],
        );
        expect(Features::default(), &none);
        // SYCO_NO_AVX512 on Sapphire Rapids behaves as Haswell; SYCO_NO_AMX keeps AVX-512.
        expect(spr.allowed(true, false), &avx2);
        expect(spr.allowed(false, true), &all);
        assert_eq!(spr.allowed(true, true), cpu(HASWELL));
    }

    #[test]
    fn named_sets_include_what_rustc_enables_with_them() {
        assert_eq!(Features::named(&["avx512bf16"]), Features::named(&["avx512bf16", "avx512bw", "avx512f", "avx2", "fma", "f16c", "avx"]));
        assert_eq!(Features::named(&["amx-bf16"]), Features::named(&["amx-bf16", "amx-tile"]));
        assert!(Features::named(&["avx512f"]).has(Features::named(&["fma"])));
        assert!(!Features::named(&["avx512f"]).has(Features::named(&["avx512bw"])));
        assert!(Features::default().has(Features::default()));
    }

    #[test]
    fn choose_takes_the_first_candidate_the_cpu_has() {
        let (a, b) = (Features::named(&["avx512f"]), Features::named(&["avx2"]));
        assert_eq!(choose(Features::named(&["avx512f"]), &[(a, 1), (b, 2)], 0), 1);
        assert_eq!(choose(Features::named(&["avx2", "fma"]), &[(a, 1), (b, 2)], 0), 2);
        assert_eq!(choose(Features::default(), &[(a, 1), (b, 2)], 0), 0);
        assert_eq!(choose(Features::named(&["avx512f"]), &[], 0), 0);
    }

    /// The detected set honours `SYCO_NO_AVX512` the way CI runs it (the whole test binary with
    /// the variable set), and agrees with the standard library's detection otherwise.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn detection_agrees_with_std_and_the_environment() {
        let f = features();
        let off = std::env::var_os("SYCO_NO_AVX512").is_some();
        assert_eq!(f.has(Features::named(&["avx512f"])), !off && is_x86_feature_detected!("avx512f"));
        assert_eq!(f.has(Features::named(&["avx2"])), is_x86_feature_detected!("avx2"));
        if off {
            assert!(!f.has(Features::named(&["amx-tile"])));
        }
    }
}
