//! The analyses on tiny models: probes against the CPU twin, r_b of identity
//! blocks, lesions of zero branches, the landscape at its origin.

use reslab::cpu;
use reslab::model::cpu::{self as twin, CpuParams};
use reslab::model::plan::PlanOptions;
use reslab::model::probe::Probes;
use reslab::model::{Branch, Graph, HostParams, Mode, ModelSpec, Op, Params, Plan};
use reslab::ops::{BnGeom, BnOptions};

use crate::common::*;

fn spec(name: &str, f: impl FnOnce(&mut ModelSpec)) -> ModelSpec {
    let mut s = ModelSpec::parse(name, None).unwrap();
    s.width = 4;
    s.classes = 5;
    f(&mut s);
    s
}

/// Per-sample L2 norms of a [N, ...] tensor.
fn norms(v: &[f64], n: usize) -> Vec<f64> {
    let d = v.len() / n;
    (0..n)
        .map(|i| {
            v[i * d..(i + 1) * d]
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
        })
        .collect()
}

#[test]
fn probes_match_the_cpu_twin() {
    let gpu = gpu();
    for s in [
        spec("resnet14", |_| {}),
        spec("plain8", |_| {}),
        spec("resnet8", |s| s.preact = true),
    ] {
        let graph = Graph::build(&s, 8, 8).unwrap();
        let host = HostParams::init(&graph, 5);
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let n = 4;
        let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, PlanOptions::default()).unwrap();
        let mut rng = Rng::new(6);
        let x = rng.vec_uniform(n * 3 * 64, -1.0, 1.0);
        let y: Vec<u32> = (0..n as u32).collect();
        plan.run(&x, &y, None, false).unwrap();
        let mut probes = Probes::new(gpu, &plan).unwrap();
        let got = probes.read_now().unwrap();
        let mut cp = CpuParams::<f64>::from_host(&host);
        let run = twin::forward(&graph, &mut cp, &to_f64(&x), &y, Mode::Train).unwrap();
        // The batch-norm output before ReLU and addition, from its input.
        let bn_out = |op: usize| -> Vec<f64> {
            let Op::BatchNorm { name, x, .. } = &graph.ops[op] else {
                unreachable!()
            };
            let d = graph.tensors[*x];
            let g = BnGeom {
                n,
                c: d.c,
                hw: d.h * d.w,
            };
            let p = |k: &str| {
                cp.params[graph
                    .params
                    .iter()
                    .position(|q| q.name == format!("{name}.{k}"))
                    .unwrap()]
                .clone()
            };
            let (mut out, mut saved, mut rm, mut rv) = (
                vec![0f64; g.len()],
                vec![0f64; 2 * g.c],
                vec![0f64; g.c],
                vec![1f64; g.c],
            );
            cpu::batchnorm_forward_train(
                &mut out,
                &mut saved,
                &mut rm,
                &mut rv,
                &run.acts[*x],
                &p("weight"),
                &p("bias"),
                None,
                &g,
                &BnOptions::default(),
            );
            out
        };
        let want_r: Vec<f32> = graph
            .blocks
            .iter()
            .map(|b| {
                let f = match b.branch {
                    Branch::Bn { op } => bn_out(op),
                    Branch::Tensor(t) => run.acts[t].clone(),
                };
                let (nf, nx) = (norms(&f, n), norms(&run.acts[b.shortcut], n));
                (nf.iter().zip(&nx).map(|(a, b)| a / b).sum::<f64>() / n as f64) as f32
            })
            .collect();
        assert_close(&format!("{} r_b", s.name()), &got.r, &want_r, 1e-4);
        let want_std: Vec<f32> = graph
            .responses
            .iter()
            .map(|&op| {
                let v = match &graph.ops[op] {
                    Op::BatchNorm { .. } => bn_out(op),
                    o => run.acts[o.output()].clone(),
                };
                let m = v.len() as f64;
                let mean = v.iter().sum::<f64>() / m;
                (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / m).sqrt() as f32
            })
            .collect();
        assert_close(
            &format!("{} response std", s.name()),
            &got.response_std,
            &want_std,
            1e-4,
        );
    }
    no_errors();
}

#[test]
fn a_zero_gamma_block_has_r_exactly_zero_at_init() {
    let gpu = gpu();
    for preact in [false, true] {
        let s = spec("resnet14", |s| {
            s.zero_gamma = true;
            s.preact = preact;
        });
        let graph = Graph::build(&s, 8, 8).unwrap();
        let params = Params::upload(gpu, &graph, &HostParams::init(&graph, 1)).unwrap();
        for mode in [Mode::Train, Mode::Eval] {
            let plan = Plan::new(gpu, &graph, &params, 3, mode, PlanOptions::default()).unwrap();
            let x = Rng::new(2).vec_uniform(3 * 3 * 64, -1.0, 1.0);
            plan.run(&x, &[0, 1, 2], None, false).unwrap();
            let r = Probes::new(gpu, &plan).unwrap().read_now().unwrap().r;
            assert_eq!(r, vec![0.0; graph.blocks.len()], "preact={preact} {mode:?}");
        }
    }
    no_errors();
}

/// Synthetic images with labels folded into the 5 classes of these nets.
fn tiny_split(n: usize, side: usize) -> (reslab::data::Split, reslab::data::Normalize) {
    let (train, _) = reslab::data::synthetic::generate(&reslab::data::synthetic::SyntheticSpec {
        side,
        channels: 3,
        train: n,
        test: 1,
        seed: 9,
    })
    .unwrap();
    let mut train = train;
    train.labels.iter_mut().for_each(|l| *l %= 5);
    (
        train,
        reslab::data::Normalize {
            mean: vec![0.5; 3],
            std: vec![0.25; 3],
        },
    )
}

/// The centre of a landscape is the trained net itself: its loss there is the
/// eval loss, exactly.
#[test]
fn a_landscape_at_its_origin_is_the_eval_loss() {
    use reslab::analysis::landscape::{self, Directions};
    let gpu = gpu();
    let s = spec("resnet8", |_| {});
    let graph = Graph::build(&s, 8, 8).unwrap();
    let mut host = HostParams::init(&graph, 3);
    for b in host.buffers.iter_mut().skip(1).step_by(2) {
        b.iter_mut().for_each(|v| *v = 1.7);
    }
    let (split, norm) = tiny_split(40, 8);
    let params = Params::upload(gpu, &graph, &host).unwrap();
    let (loss, acc) = reslab::train::Evaluator::new(gpu, &graph, 40)
        .evaluate(&params, &split, &norm)
        .unwrap();
    let s2 = landscape::run(
        gpu,
        &graph,
        &host,
        &split,
        &norm,
        40,
        5,
        (-1.0, 1.0),
        &Directions::Plane { seed: 1 },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!((s2.loss.len(), s2.loss[0].len()), (5, 5));
    assert_eq!(s2.loss[2][2] as f32, loss, "landscape centre vs eval loss");
    assert_eq!(s2.accuracy[2][2] as f32, acc);
    assert!(
        s2.loss.iter().flatten().any(|&l| l as f32 != loss),
        "the directions do move the weights"
    );
    // The filter normalisation: every conv filter of a direction has its filter's norm.
    let mut rng = reslab::rng::Rng::new(4);
    let d = landscape::filter_normalised(&graph.params, &host.params, &mut rng);
    for ((p, w), d) in graph.params.iter().zip(&host.params).zip(&d) {
        if p.shape.len() < 2 {
            assert!(
                d.iter().all(|&v| v == 0.0),
                "{}: BN and bias get no direction",
                p.name
            );
            continue;
        }
        let per = w.len() / p.shape[0];
        for f in 0..p.shape[0] {
            let n = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
            let (nw, nd) = (n(&w[f * per..(f + 1) * per]), n(&d[f * per..(f + 1) * per]));
            assert!(
                (nw - nd).abs() <= 1e-5 * nw.max(1e-12),
                "{} filter {f}: {nw} vs {nd}",
                p.name
            );
        }
    }
    no_errors();
}

/// Growing a net with zero-gamma blocks leaves its function unchanged; with
/// random blocks it does not.
#[test]
fn growing_with_identity_blocks_keeps_the_function() {
    use reslab::analysis::redundancy::{Insert, grow};
    let gpu = gpu();
    let shallow = spec("resnet8", |_| {});
    let deep = spec("resnet14", |_| {});
    let (sg, dg) = (
        Graph::build(&shallow, 8, 8).unwrap(),
        Graph::build(&deep, 8, 8).unwrap(),
    );
    let host = HostParams::init(&sg, 7);
    let (split, norm) = tiny_split(20, 8);
    let logits = |g: &Graph, h: &HostParams| {
        let params = Params::upload(gpu, g, h).unwrap();
        let b = reslab::data::loader::eval_batches(&split, &norm, 20)
            .next()
            .unwrap();
        let plan = Plan::new(gpu, g, &params, 20, Mode::Eval, PlanOptions::default()).unwrap();
        plan.run(&b.images, &b.labels, None, false).unwrap();
        read(&plan.acts[g.logits])
    };
    let want = logits(&sg, &host);
    let (grown, inserted) = grow(&sg, &host, &dg, Insert::ZeroGamma, 1).unwrap();
    assert_eq!(inserted, vec![false, true, false, true, false, true]);
    assert_eq!(
        logits(&dg, &grown),
        want,
        "zero-gamma blocks are identities"
    );
    let (random, _) = grow(&sg, &host, &dg, Insert::Random, 1).unwrap();
    assert_ne!(logits(&dg, &random), want);
    assert!(
        grow(&dg, &grown, &sg, Insert::Random, 1).is_err(),
        "a net cannot grow shallower"
    );
    no_errors();
}

#[test]
fn lesion_study_runs_and_orders_by_r() {
    use reslab::analysis::lesion;
    let gpu = gpu();
    let s = spec("resnet14", |_| {});
    let graph = Graph::build(&s, 8, 8).unwrap();
    let host = HostParams::init(&graph, 2);
    let (split, norm) = tiny_split(30, 8);
    let r = lesion::run(gpu, &graph, &host, &split, &norm, 16, 3, &mut |_, _| {}).unwrap();
    assert_eq!(r.single.len(), 6);
    assert_eq!(r.cumulative.len(), 3);
    let mut rs: Vec<(f32, &str)> = r.single.iter().map(|b| (b.r, b.block.as_str())).collect();
    rs.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert_eq!(r.cumulative[0].removed, vec![rs[0].1.to_string()]);
    // A plain net offers only its same-shape blocks.
    let plain = Graph::build(&spec("plain14", |_| {}), 8, 8).unwrap();
    assert_eq!(lesion::removable(&plain), vec![0, 1, 3, 5]);
    no_errors();
}

/// Reads an rgba8unorm texture back (row pitch aligned to 256 bytes).
fn read_texture(tex: &wgpu::Texture) -> Vec<u8> {
    let gpu = gpu();
    let (w, h) = (tex.width(), tex.height());
    let pitch = (4 * w).next_multiple_of(256);
    let buf = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: (pitch * h) as u64,
        usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let mut enc = gpu.device().create_command_encoder(&Default::default());
    enc.copy_texture_to_buffer(
        tex.as_image_copy(),
        wgpu::TexelCopyBufferInfo {
            buffer: &buf,
            layout: wgpu::TexelCopyBufferLayout {
                offset: 0,
                bytes_per_row: Some(pitch),
                rows_per_image: None,
            },
        },
        wgpu::Extent3d {
            width: w,
            height: h,
            depth_or_array_layers: 1,
        },
    );
    gpu.submit([enc.finish()]);
    let raw = gpu.read_bytes(&buf, 0, (pitch * h) as u64).unwrap();
    (0..h as usize)
        .flat_map(|y| raw[y * pitch as usize..y * pitch as usize + 4 * w as usize].to_vec())
        .collect()
}

#[test]
fn colormap_matches_cpu() {
    use reslab::kernels::colormap::{self, Source};
    let gpu = gpu();
    let mut rng = Rng::new(40);
    for (i, [n, c, h, w]) in [[2, 16, 8, 8], [1, 3, 5, 7], [3, 10, 4, 4], [1, 1, 1, 1]]
        .into_iter()
        .enumerate()
    {
        let len = n * c * h * w;
        let (x, coef, add) = (
            rng.vec_uniform(len, -2.0, 3.0),
            rng.vec_uniform(2 * c, -1.0, 1.0),
            rng.vec_uniform(len, -1.0, 1.0),
        );
        let (tx, tc, ta) = (
            up(&[n, c, h, w], &x),
            up(&[2, c], &coef),
            up(&[n, c, h, w], &add),
        );
        let range = empty(&[c + 1, 2]);
        let (_, tw, th) = reslab::ops::colormap::grid(c, h, w);
        let tex = gpu.device().create_texture(&wgpu::TextureDescriptor {
            label: None,
            size: wgpu::Extent3d {
                width: tw as u32,
                height: th as u32,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::STORAGE_BINDING
                | wgpu::TextureUsages::COPY_SRC
                | wgpu::TextureUsages::TEXTURE_BINDING,
            view_formats: &[],
        });
        let view = tex.create_view(&Default::default());
        let (affine, added, joint) = (i % 2 == 0, i % 3 == 0, i == 1);
        let s = Source {
            src: &tx,
            sample: n - 1,
            coef: affine.then_some(&tc),
            add: added.then_some(&ta),
        };
        run(|p| {
            colormap::channel_range(gpu, p, &range, &s)?;
            colormap::colormap(gpu, p, &view, &range, &s, joint)
        });
        let mut want_range = vec![0f32; 2 * c + 2];
        cpu::colormap::channel_range(
            &mut want_range,
            &x,
            affine.then_some(&coef[..]),
            added.then_some(&add[..]),
            n - 1,
            c,
            h,
            w,
        );
        assert_close(&format!("range {i}"), &read(&range), &want_range, 1e-5);
        let mut img = vec![0f64; 4 * tw * th];
        cpu::colormap::colormap(
            &mut img,
            &want_range,
            &x,
            affine.then_some(&coef[..]),
            added.then_some(&add[..]),
            n - 1,
            c,
            h,
            w,
            joint,
        );
        let got = read_texture(&tex);
        let worst = got
            .iter()
            .zip(&img)
            .map(|(&g, &v)| (g as f64 - v * 255.0).abs())
            .fold(0f64, f64::max);
        assert!(worst <= 1.0, "texel off by {worst} of 255 in case {i}");
    }
    no_errors();
}

/// The activation view's panes are the net's own tensors: x is the block's
/// input to its addition, and F(x) + x, through the block's ReLU when it has
/// one, is the block's output; a bypassed block shows its output = x.
#[test]
fn activation_panes_are_x_fx_and_the_block_output() {
    use reslab::analysis::activations::{self, Layer};
    let gpu = gpu();
    for s in [
        spec("resnet14", |_| {}),
        spec("resnet8", |s| s.preact = true),
        spec("plain8", |_| {}),
    ] {
        let graph = Graph::build(&s, 8, 8).unwrap();
        let mut host = HostParams::init(&graph, 31);
        let mut rng = Rng::new(32);
        for b in host.buffers.iter_mut() {
            for v in b.iter_mut() {
                *v = if *v == 0.0 {
                    rng.range(-0.3, 0.3) as f32
                } else {
                    rng.range(0.5, 1.5) as f32
                };
            }
        }
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let x = rng.vec_uniform(3 * 64, -1.0, 1.0);
        for lesion in [None, Some(0usize)] {
            let opts = PlanOptions {
                lesions: lesion.into_iter().collect(),
                ..Default::default()
            };
            let plan = Plan::new(gpu, &graph, &params, 1, Mode::Eval, opts).unwrap();
            plan.run(&x, &[0], None, false).unwrap();
            let stem = activations::panes(&plan, Layer::Stem).unwrap();
            assert_eq!(
                stem[0].values(gpu, 0).unwrap(),
                read(&plan.acts[graph.blocks[0].input])
            );
            for (b, blk) in graph.blocks.iter().enumerate() {
                let what = format!("{} {} lesion {lesion:?}", s.name(), blk.name);
                let panes = activations::panes(&plan, Layer::Block(b)).unwrap();
                assert_eq!(
                    panes[0].values(gpu, 0).unwrap(),
                    read(&plan.acts[blk.shortcut]),
                    "{what}"
                );
                let out = read(&plan.acts[blk.output]);
                let last = panes.last().unwrap().values(gpu, 0).unwrap();
                if lesion == Some(b) {
                    assert_eq!(panes.len(), 2, "{what}");
                    assert_eq!(last, out, "{what}");
                    continue;
                }
                assert_eq!(panes.len(), if s.residual { 3 } else { 2 }, "{what}");
                let shown: Vec<f32> = if blk.relu_out {
                    last.iter().map(|v| v.max(0.0)).collect()
                } else {
                    last
                };
                assert_close(&what, &shown, &out, 1e-6);
            }
            // Every pane draws (a block's panes on x's joint range).
            let panes = activations::panes(&plan, Layer::Block(0)).unwrap();
            let views: Vec<wgpu::TextureView> = panes
                .iter()
                .map(|p| {
                    let [c, h, w] = p.dims().unwrap();
                    let (_, tw, th) = reslab::ops::colormap::grid(c, h, w);
                    gpu.device()
                        .create_texture(&wgpu::TextureDescriptor {
                            label: None,
                            size: wgpu::Extent3d {
                                width: tw as u32,
                                height: th as u32,
                                depth_or_array_layers: 1,
                            },
                            mip_level_count: 1,
                            sample_count: 1,
                            dimension: wgpu::TextureDimension::D2,
                            format: wgpu::TextureFormat::Rgba8Unorm,
                            usage: wgpu::TextureUsages::STORAGE_BINDING,
                            view_formats: &[],
                        })
                        .create_view(&Default::default())
                })
                .collect();
            let mut prog = reslab::kernels::Program::new();
            let ranges = activations::draw(gpu, &mut prog, &panes, &views, 0, true).unwrap();
            prog.run(gpu).unwrap();
            assert_eq!(ranges.len(), panes.len());
        }
    }
    no_errors();
}
