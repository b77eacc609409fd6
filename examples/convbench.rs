use reslab::geom::Conv2dGeom;
use reslab::kernels::{Program, conv2d};
use std::time::Instant;

fn time(gpu: &reslab::Gpu, p: &Program, reps: usize) -> f64 {
    p.run(gpu).unwrap();
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        p.run(gpu).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let gpu = reslab::Gpu::new().unwrap();
    let which = std::env::args().nth(1).unwrap_or("tiled".into());
    let n = 128;
    for (c, hw, s, cin) in [
        (16, 32, 1, 16),
        (32, 16, 1, 32),
        (64, 8, 1, 64),
        (32, 32, 2, 16),
        (64, 16, 2, 32),
    ] {
        let g = Conv2dGeom::square(n, cin, hw, hw, c, 3, s, 1);
        let x = gpu.tensor(&g.x_shape()).unwrap();
        let w = gpu.tensor(&g.w_shape()).unwrap();
        let y = gpu.tensor(&g.y_shape()).unwrap();
        let mut p = Program::new();
        match which.as_str() {
            "ref" => conv2d::conv2d_forward_reference(&gpu, &mut p, &y, &x, &w, None, &g).unwrap(),
            "pad" => {
                let pg = g.forward_pad();
                let xp = gpu.tensor(&pg.shape()).unwrap();
                conv2d::conv2d_pad(&gpu, &mut p, &xp, &x, &pg).unwrap()
            }
            "main" => {
                let pg = g.forward_pad();
                let xp = gpu.tensor(&pg.shape()).unwrap();
                let wt = gpu.tensor(&conv2d::weight_tiles_shape(&g, false)).unwrap();
                conv2d::conv2d_forward_3x3(&gpu, &mut p, &y, &xp, &wt, None, &g, false).unwrap()
            }
            "bwd_data" => {
                conv2d::conv2d_backward_data(&gpu, &mut p, &x, &y, &w, &g, false).unwrap()
            }
            "bwd_weight" => conv2d::conv2d_backward_weight(&gpu, &mut p, &w, &y, &x, &g).unwrap(),
            "bwd_weight_main" => {
                let pg = g.forward_pad();
                let xp = gpu.tensor(&pg.shape()).unwrap();
                conv2d::conv2d_backward_weight_3x3(&gpu, &mut p, &w, &y, &xp, &g).unwrap()
            }
            _ => conv2d::conv2d_forward(&gpu, &mut p, &y, &x, &w, None, &g).unwrap(),
        }
        let t = time(&gpu, &p, 7);
        println!(
            "{which} cin {cin} cout {c} hw {hw} s {s}: {:.2} ms {:.2} GFLOP/s",
            t * 1e3,
            2.0 * g.macs() as f64 / t / 1e9
        );
    }
}
