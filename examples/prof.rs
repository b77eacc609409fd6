use reslab::model::plan::PlanOptions;
use reslab::model::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let gpu = reslab::Gpu::new().unwrap();
    let mut spec = ModelSpec::parse(&a[1], None).unwrap();
    spec.width = a[2].parse().unwrap();
    let side: usize = a[3].parse().unwrap();
    let batch: usize = a[4].parse().unwrap();
    spec.in_channels = 1;
    let g = Graph::build(&spec, side, side).unwrap();
    let host = HostParams::init(&g, 0);
    let params = Params::upload(&gpu, &g, &host).unwrap();
    let plan = Plan::new(&gpu, &g, &params, batch, Mode::Train, PlanOptions { backward: true, sgd: Some(Default::default()), ..Default::default() }).unwrap();
    let x = vec![0.1f32; batch * side * side];
    let y = vec![1u32; batch];
    plan.run(&x, &y, Some(0.1), true).unwrap();
    let t = std::time::Instant::now();
    plan.run(&x, &y, Some(0.1), false).unwrap();
    let wall = t.elapsed().as_secs_f64();
    let times = reslab::profile::profile(&gpu, &plan.program).unwrap().unwrap();
    let total: f64 = times.iter().map(|t| t.1).sum();
    println!("wall {:.1} ms, gpu {:.1} ms, {} dispatches, {:.0} img/s", wall * 1e3, total / 1e6, times.len(), batch as f64 / wall);
    for (l, t, c) in reslab::profile::by_kernel(&times) { println!("{:>8.2} ms {:>5.1}% x{c:<4} {l}", t / 1e6, 100.0 * t / total); }
}
