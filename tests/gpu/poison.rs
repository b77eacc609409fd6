//! Poison mode (`RESLAB_POISON=1`, which CI runs this whole binary under):
//! tensors from the pool and placeholders for absent inputs hold NaN, so a
//! kernel reading what nothing wrote fails the GPU-vs-CPU comparisons.

use reslab::kernels::{Program, elementwise};
use reslab::{Gpu, GpuOptions};

fn poisoned() -> Gpu {
    let gpu = Gpu::with_options(GpuOptions {
        poison: true,
        ..Default::default()
    })
    .expect("device");
    assert!(gpu.poisoned());
    gpu
}

#[test]
fn poisoned_tensors_hold_nan_until_written() {
    let gpu = poisoned();
    // Fresh from the pool, and reused after a tensor of the same size class
    // was written and dropped.
    let t = gpu.tensor(&[3, 7]).unwrap();
    let v = gpu.read(&t).unwrap();
    assert!(v.iter().all(|x| x.to_bits() == 0x7fc0_0000), "{v:?}");
    gpu.write(&t, &[1.0; 21]).unwrap();
    drop(t);
    let again = gpu.read(&gpu.tensor(&[3, 7]).unwrap()).unwrap();
    assert!(
        again.iter().all(|x| x.is_nan()),
        "a reused tensor keeps old values: {again:?}"
    );
    // A kernel that reads an input nothing wrote gives NaN; one whose inputs
    // were all written does not.
    let a = gpu.upload(&[8], &[1.0; 8]).unwrap();
    let unwritten = gpu.tensor(&[8]).unwrap();
    let y = gpu.tensor(&[8]).unwrap();
    let mut prog = Program::new();
    elementwise::add_forward(&gpu, &mut prog, &y, &a, &unwritten, false).unwrap();
    prog.run(&gpu).unwrap();
    assert!(gpu.read(&y).unwrap().iter().all(|x| x.is_nan()));
    let b = gpu.upload(&[8], &[2.0; 8]).unwrap();
    let mut prog = Program::new();
    elementwise::add_forward(&gpu, &mut prog, &y, &a, &b, false).unwrap();
    prog.run(&gpu).unwrap();
    assert_eq!(gpu.read(&y).unwrap(), vec![3.0; 8]);
}
