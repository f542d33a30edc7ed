//! Python `repr(float)` formatting, which pandas uses when writing CSVs.
//!
//! Rust's `{:?}` for f64 already prints the shortest round-trip digits and switches to
//! scientific notation at the same thresholds as Python (< 1e-4, >= 1e16); only the exponent
//! spelling differs (`1e-5` vs `1e-05`, `1e16` vs `1e+16`) and NaN/inf.

/// `repr(x)` as CPython prints it.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let s = format!("{x:?}");
    match s.split_once('e') {
        None => s,
        Some((mantissa, exp)) => {
            let (sign, digits) = match exp.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', exp),
            };
            format!("{mantissa}e{sign}{digits:0>2}")
        }
    }
}

/// A CSV cell for a float as pandas writes it: NaN becomes an empty cell.
pub fn csv_float(x: f64) -> String {
    if x.is_nan() {
        String::new()
    } else {
        float_repr(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cpython_repr() {
        assert_eq!(float_repr(0.07), "0.07");
        assert_eq!(float_repr(0.0), "0.0");
        assert_eq!(float_repr(-0.0), "-0.0");
        assert_eq!(float_repr(0.11199999999999999), "0.11199999999999999");
        assert_eq!(float_repr(1e-5), "1e-05");
        assert_eq!(float_repr(1.5e-7), "1.5e-07");
        assert_eq!(float_repr(0.0001), "0.0001");
        assert_eq!(float_repr(1e16), "1e+16");
        assert_eq!(float_repr(1.2345e100), "1.2345e+100");
        assert_eq!(float_repr(300.0), "300.0");
        assert_eq!(float_repr(f64::NAN), "nan");
        assert_eq!(csv_float(f64::NAN), "");
    }
}
