use reslab::kernels::Program;
use reslab::kernels::ceiling::{FLOPS_PER_ITER, bench_fma};

use crate::common::*;

/// The ceiling kernel does the work `reslab bench` counts: each invocation's
/// sum is that of its 32 chains after `iters` trips of eight rounds, as the
/// CPU computes it with fused multiply-adds.
#[test]
fn bench_fma_does_the_work_it_counts() {
    let gpu = gpu();
    assert_eq!(FLOPS_PER_ITER, 8 * 32 * 2);
    let n = 64 * 5;
    for iters in [1u32, 3, 50] {
        let out = empty(&[n]);
        let mut prog = Program::new();
        bench_fma(gpu, &mut prog, &out, iters).unwrap();
        prog.run(gpu).unwrap();
        let got = read(&out);
        let want: Vec<f32> = (0..n)
            .map(|i| {
                let a = (i & 255) as f32 * 1e-3;
                let base = [a, a + 0.1, a + 0.2, a + 0.3];
                let mut s = [0f32; 4];
                // a0, then a0 + 0.4, ..., a0 + 2.8 as the shader's literals.
                let offsets = [0.0f32, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8];
                let mut chains = [[0f32; 4]; 8];
                for (ch, off) in chains.iter_mut().zip(offsets) {
                    for (v, b) in ch.iter_mut().zip(base) {
                        *v = if off == 0.0 { b } else { b + off };
                    }
                }
                for ch in chains.iter_mut() {
                    for v in ch.iter_mut() {
                        for _ in 0..8 * iters {
                            *v = v.mul_add(0.9999, 1e-4);
                        }
                    }
                }
                for ch in &chains {
                    for j in 0..4 {
                        s[j] += ch[j];
                    }
                }
                s[0] + s[1] + s[2] + s[3]
            })
            .collect();
        assert_close(&format!("iters {iters}"), &got, &want, 1e-5);
    }
    gpu.check().unwrap();
}
