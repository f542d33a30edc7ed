//! The little dense linear algebra `combine` needs, in f64 on row-major matrices:
//! thin QR (Gram-Schmidt, twice) and SVD of a small square matrix (one-sided Jacobi).

/// Row-major matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub data: Vec<f64>,
}

impl Mat {
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self { rows, cols, data: vec![0.0; rows * cols] }
    }
    pub fn at(&self, r: usize, c: usize) -> f64 {
        self.data[r * self.cols + c]
    }
    fn set(&mut self, r: usize, c: usize, v: f64) {
        self.data[r * self.cols + c] = v;
    }
    pub fn transpose(&self) -> Mat {
        let mut t = Mat::zeros(self.cols, self.rows);
        for r in 0..self.rows {
            for c in 0..self.cols {
                t.set(c, r, self.at(r, c));
            }
        }
        t
    }
    pub fn matmul(&self, other: &Mat) -> Mat {
        assert_eq!(self.cols, other.rows, "matmul shapes");
        let mut out = Mat::zeros(self.rows, other.cols);
        for r in 0..self.rows {
            for k in 0..self.cols {
                let a = self.at(r, k);
                if a == 0.0 {
                    continue;
                }
                let row = &other.data[k * other.cols..(k + 1) * other.cols];
                for (o, b) in out.data[r * other.cols..(r + 1) * other.cols].iter_mut().zip(row) {
                    *o += a * b;
                }
            }
        }
        out
    }
    fn col(&self, c: usize) -> Vec<f64> {
        (0..self.rows).map(|r| self.at(r, c)).collect()
    }
    fn set_col(&mut self, c: usize, v: &[f64]) {
        for (r, x) in v.iter().enumerate() {
            self.set(r, c, *x);
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Thin QR of an m x n matrix (m >= n not required): Q (m x n) with orthonormal or zero
/// columns, R (n x n) upper triangular, Q R = A. Columns dependent on earlier ones get a zero
/// Q column; Gram-Schmidt runs twice per column to stay orthogonal in floating point.
pub fn thin_qr(a: &Mat) -> (Mat, Mat) {
    let (m, n) = (a.rows, a.cols);
    let mut q = Mat::zeros(m, n);
    let mut r = Mat::zeros(n, n);
    let scale = a.data.iter().fold(0f64, |s, x| s.max(x.abs())).max(f64::MIN_POSITIVE);
    for j in 0..n {
        let mut v = a.col(j);
        for _pass in 0..2 {
            for i in 0..j {
                let qi = q.col(i);
                let c = dot(&qi, &v);
                r.set(i, j, r.at(i, j) + c);
                for (x, y) in v.iter_mut().zip(&qi) {
                    *x -= c * y;
                }
            }
        }
        let norm = dot(&v, &v).sqrt();
        if norm > 1e-12 * scale * (m as f64).sqrt() {
            r.set(j, j, norm);
            q.set_col(j, &v.iter().map(|x| x / norm).collect::<Vec<_>>());
        }
    }
    (q, r)
}

/// SVD of a square matrix: (U, s, V) with M = U diag(s) V^T, s sorted descending.
pub fn svd_square(m: &Mat) -> (Mat, Vec<f64>, Mat) {
    let n = m.cols;
    assert_eq!(m.rows, n, "svd_square needs a square matrix");
    let mut w = m.clone();
    let mut v = Mat::zeros(n, n);
    for i in 0..n {
        v.set(i, i, 1.0);
    }
    for _sweep in 0..60 {
        let mut rotated = false;
        for p in 0..n {
            for q in p + 1..n {
                let (wp, wq) = (w.col(p), w.col(q));
                let (alpha, beta, gamma) = (dot(&wp, &wp), dot(&wq, &wq), dot(&wp, &wq));
                if gamma.abs() <= 1e-15 * (alpha * beta).sqrt() || gamma == 0.0 {
                    continue;
                }
                rotated = true;
                let zeta = (beta - alpha) / (2.0 * gamma);
                let t = zeta.signum() / (zeta.abs() + (1.0 + zeta * zeta).sqrt());
                let c = 1.0 / (1.0 + t * t).sqrt();
                let s = c * t;
                for mat in [&mut w, &mut v] {
                    for r in 0..mat.rows {
                        let (x, y) = (mat.at(r, p), mat.at(r, q));
                        mat.set(r, p, c * x - s * y);
                        mat.set(r, q, s * x + c * y);
                    }
                }
            }
        }
        if !rotated {
            break;
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    let norms: Vec<f64> = (0..n).map(|j| dot(&w.col(j), &w.col(j)).sqrt()).collect();
    order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]));
    let mut u = Mat::zeros(n, n);
    let mut vs = Mat::zeros(n, n);
    let mut s = Vec::with_capacity(n);
    for (k, &j) in order.iter().enumerate() {
        s.push(norms[j]);
        if norms[j] > 0.0 {
            u.set_col(k, &w.col(j).iter().map(|x| x / norms[j]).collect::<Vec<_>>());
        }
        vs.set_col(k, &v.col(j));
    }
    (u, s, vs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mat(rows: usize, cols: usize, f: impl Fn(usize, usize) -> f64) -> Mat {
        let mut m = Mat::zeros(rows, cols);
        for r in 0..rows {
            for c in 0..cols {
                m.set(r, c, f(r, c));
            }
        }
        m
    }

    fn max_diff(a: &Mat, b: &Mat) -> f64 {
        a.data.iter().zip(&b.data).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
    }

    #[test]
    fn qr_reconstructs_even_rank_deficient() {
        // Third column = first + second.
        let a = mat(5, 3, |r, c| if c < 2 { ((r * 7 + c * 3) % 5) as f64 - 2.0 } else { 0.0 });
        let mut a = a;
        for r in 0..5 {
            let v = a.at(r, 0) + a.at(r, 1);
            a.set(r, 2, v);
        }
        let (q, r) = thin_qr(&a);
        assert!(max_diff(&q.matmul(&r), &a) < 1e-12);
        assert_eq!(r.at(2, 2), 0.0);
    }

    #[test]
    fn svd_reconstructs_and_sorts() {
        let m = mat(4, 4, |r, c| ((r * 5 + c * 11) % 7) as f64 - 3.0 + if r == c { 0.5 } else { 0.0 });
        let (u, s, v) = svd_square(&m);
        assert!(s.windows(2).all(|w| w[0] >= w[1]));
        let us = mat(4, 4, |r, c| u.at(r, c) * s[c]);
        assert!(max_diff(&us.matmul(&v.transpose()), &m) < 1e-10);
        let vtv = v.transpose().matmul(&v);
        assert!(max_diff(&vtv, &mat(4, 4, |r, c| (r == c) as u8 as f64)) < 1e-12);
    }
}
