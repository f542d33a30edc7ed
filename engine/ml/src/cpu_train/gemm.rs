//! Bounds-checked matrix views over the `gemm` crate (the GEMM candle's CPU backend runs on).
//!
//! The training kernels multiply strided sub-matrices in place: one attention head's columns of
//! the (tokens, heads x dim) query buffer, a weight read transposed, a gradient accumulated into
//! the buffer that already holds the residual's share. A view is (slice, rows, cols, row stride,
//! column stride); constructing one checks that every element it names lies in its slice, which
//! is what makes the one `unsafe` call below sound.

use gemm::Parallelism;

/// A read-only matrix: element (i, j) is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

/// The mutable counterpart of `Mat`, for products' outputs.
pub(crate) struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

fn check(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) {
    if rows > 0 && cols > 0 {
        let last = (rows - 1) * rs + (cols - 1) * cs;
        assert!(last < len, "matrix view {rows}x{cols} (strides {rs}, {cs}) overruns a slice of {len}");
    }
}

impl<'a> Mat<'a> {
    /// Row-major `rows` x `cols`, exactly filling `data`.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "row-major {rows}x{cols} matrix");
        Mat { data, rows, cols, rs: cols, cs: 1 }
    }

    /// `cols` columns starting at `data[0]` of a row-major matrix whose rows are `stride` apart
    /// (a head's block of a (tokens, heads x dim) buffer, from `&buf[head * dim..]`).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, stride: usize) -> Self {
        check(data.len(), rows, cols, stride, 1);
        Mat { data, rows, cols, rs: stride, cs: 1 }
    }

    /// The transpose, without moving data.
    pub fn t(self) -> Self {
        Mat { rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs, ..self }
    }
}

impl<'a> MatMut<'a> {
    pub fn new(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        assert_eq!(data.len(), rows * cols, "row-major {rows}x{cols} matrix");
        MatMut { data, rows, cols, rs: cols, cs: 1 }
    }

    pub fn strided(data: &'a mut [f32], rows: usize, cols: usize, stride: usize) -> Self {
        check(data.len(), rows, cols, stride, 1);
        MatMut { data, rows, cols, rs: stride, cs: 1 }
    }
}

/// Threads a product may use: all of rayon's, or only the caller's (inside a parallel task).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Threads {
    All,
    One,
}

/// What a product does with its output's previous contents.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Out {
    Overwrite,
    Accumulate,
}

/// `dst = alpha · a b`, or `dst += alpha · a b` with `Out::Accumulate`.
pub(crate) fn matmul(dst: MatMut, a: Mat, b: Mat, alpha: f32, out: Out, threads: Threads) {
    assert!(
        a.rows == dst.rows && b.cols == dst.cols && a.cols == b.rows,
        "product of {}x{} and {}x{} into {}x{}",
        a.rows,
        a.cols,
        b.rows,
        b.cols,
        dst.rows,
        dst.cols
    );
    if dst.rows == 0 || dst.cols == 0 {
        return;
    }
    if a.cols == 0 {
        if out == Out::Overwrite {
            for i in 0..dst.rows {
                for j in 0..dst.cols {
                    dst.data[i * dst.rs + j * dst.cs] = 0.0;
                }
            }
        }
        return;
    }
    let parallelism = match (threads, rayon::current_num_threads()) {
        (Threads::All, n) if n > 1 => Parallelism::Rayon(n),
        _ => Parallelism::None,
    };
    let accumulate = out == Out::Accumulate;
    // SAFETY: the three views were bounds-checked when made (every element they name is inside
    // their slice), the shapes agree (asserted above), and `dst` is borrowed mutably, so it
    // overlaps neither input.
    unsafe {
        gemm::gemm(
            dst.rows,
            dst.cols,
            a.cols,
            dst.data.as_mut_ptr(),
            dst.cs as isize,
            dst.rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            alpha,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
            }
        }
        c
    }

    fn ramp(n: usize, salt: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + salt).sin()).collect()
    }

    #[test]
    fn products_of_transposed_and_strided_views_match_the_definition() {
        let (m, k, n) = (7, 5, 3);
        let a = ramp(m * k, 0.1);
        let b = ramp(k * n, 0.7);
        let want = naive(&a, &b, m, k, n);

        let mut c = vec![9f32; m * n];
        matmul(MatMut::new(&mut c, m, n), Mat::new(&a, m, k), Mat::new(&b, k, n), 1.0, Out::Overwrite, Threads::All);
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));

        // b stored transposed (n x k) and read through `t()`; accumulate twice with alpha 0.5.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        let mut c = vec![0f32; m * n];
        for _ in 0..2 {
            matmul(MatMut::new(&mut c, m, n), Mat::new(&a, m, k), Mat::new(&bt, n, k).t(), 0.5, Out::Accumulate, Threads::One);
        }
        assert!(c.iter().zip(&want).all(|(x, y)| (x - y).abs() < 1e-5));

        // Columns 2..2+k of a wider a (rows 9 apart), into columns 1..1+n of a wider output.
        let wide: Vec<f32> =
            (0..m * 9).map(|i| if (2..2 + k).contains(&(i % 9)) { a[(i / 9) * k + i % 9 - 2] } else { f32::NAN }).collect();
        let mut out = vec![-1f32; m * 6];
        matmul(
            MatMut::strided(&mut out[1..], m, n, 6),
            Mat::strided(&wide[2..], m, k, 9),
            Mat::new(&b, k, n),
            1.0,
            Out::Overwrite,
            Threads::All,
        );
        for i in 0..m {
            for j in 0..6 {
                let v = out[i * 6 + j];
                match j {
                    1..=3 => assert!((v - want[i * n + j - 1]).abs() < 1e-5),
                    _ => assert_eq!(v, -1.0, "a column outside the view was written"),
                }
            }
        }
    }

    #[test]
    fn an_empty_inner_dimension_gives_zeros() {
        let mut c = vec![3f32; 4];
        matmul(MatMut::new(&mut c, 2, 2), Mat::new(&[], 2, 0), Mat::new(&[], 0, 2), 1.0, Out::Overwrite, Threads::All);
        assert_eq!(c, vec![0.0; 4]);
    }

    #[test]
    #[should_panic(expected = "overruns")]
    fn a_view_past_its_slice_is_refused() {
        let data = [0f32; 10];
        Mat::strided(&data[4..], 2, 3, 4);
    }
}
