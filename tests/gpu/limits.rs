//! Tensors beyond the device's limits get a clear error, not a panic or a wrong result.

use reslab::kernels::{Program, conv2d, elementwise};
use reslab::ops::Conv2dGeom;
use reslab::{Error, Gpu, GpuOptions};

use crate::common::rel_err;

/// A device whose storage bindings are limited to 1 MiB.
fn small_gpu() -> Gpu {
    Gpu::with_options(GpuOptions {
        adjust_limits: Some(|l| l.max_storage_buffer_binding_size = 1 << 20),
        ..Default::default()
    })
    .expect("device with lowered limits")
}

#[test]
fn tensor_beyond_storage_binding_limit_is_a_clear_error() {
    let gpu = small_gpu();
    assert_eq!(gpu.limits().max_storage_buffer_binding_size, 1 << 20);
    // 64·16·32·32 floats = 4 MiB > 1 MiB.
    let g = Conv2dGeom::square(64, 16, 32, 32, 16, 3, 1, 1);
    let x = gpu.tensor(&g.x_shape()).unwrap();
    let w = gpu.tensor(&g.w_shape()).unwrap();
    let y = gpu.tensor(&g.y_shape()).unwrap();
    let err = conv2d::conv2d_forward_reference(&gpu, &mut Program::new(), &y, &x, &w, None, &g)
        .expect_err("a 4 MiB binding on a 1 MiB device must be refused");
    match &err {
        Error::BindingTooLarge { bytes, limit, .. } => {
            assert_eq!(*bytes, 4 << 20);
            assert_eq!(*limit, 1 << 20);
        }
        e => panic!("wrong error: {e}"),
    }
    assert!(
        err.to_string()
            .contains("exceeds the device's storage binding limit"),
        "{err}"
    );
    // Just under the limit works and computes.
    let n = (1 << 18) - 1;
    let a = gpu.upload(&[n], &vec![-1.0; n]).unwrap();
    let b = gpu.tensor(&[n]).unwrap();
    let mut p = Program::new();
    elementwise::relu_forward(&gpu, &mut p, &b, &a).unwrap();
    p.run(&gpu).unwrap();
    assert!(gpu.read(&b).unwrap().iter().all(|&v| v == 0.0));
    gpu.check().unwrap();
}

/// The weight gradient that reads its tensors as texels runs from storage
/// buffers on a device whose textures are narrower than a row of texels, or
/// that binds fewer storage textures than its two, with the same bits; a
/// tensor that is not whole texels is refused by name.
#[test]
fn texel_weight_gradient_falls_back_where_textures_are_too_small() {
    use reslab::kernels::conv2d::{WgradTiling, conv2d_backward_weight_tiled_as, conv2d_pad};
    let narrow = Gpu::with_options(GpuOptions {
        adjust_limits: Some(|l| l.max_texture_dimension_2d = 1024),
        ..Default::default()
    })
    .expect("device with lowered limits");
    let few = Gpu::with_options(GpuOptions {
        adjust_limits: Some(|l| l.max_storage_textures_per_shader_stage = 1),
        ..Default::default()
    })
    .expect("device with lowered limits");
    let g = Conv2dGeom::square(2, 16, 12, 12, 16, 3, 1, 1);
    let x: Vec<f32> = (0..g.x_shape().iter().product::<usize>())
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let dy: Vec<f32> = (0..g.y_shape().iter().product::<usize>())
        .map(|i| ((i * 53 % 89) as f32 / 40.0) - 1.0)
        .collect();
    let run = |gpu: &Gpu| {
        let pg = g.forward_pad();
        let tx = gpu.upload(&g.x_shape(), &x).unwrap();
        let xp = gpu.tensor(&pg.shape()).unwrap();
        let tdy = gpu.upload(&g.y_shape(), &dy).unwrap();
        let dw = gpu.tensor(&g.w_shape()).unwrap();
        let mut p = Program::new();
        conv2d_pad(gpu, &mut p, &xp, &tx, &pg).unwrap();
        let t = Some(WgradTiling::Channels16SubgroupTexels);
        conv2d_backward_weight_tiled_as(gpu, &mut p, &dw, &tdy, &xp, &g, t).unwrap();
        let label = p.dispatches[1].label().to_string();
        p.run(gpu).unwrap();
        gpu.check().unwrap();
        (label, gpu.read(&dw).unwrap())
    };
    let wide = crate::common::gpu();
    let (wide_label, want) = run(wide);
    for lowered in [&narrow, &few] {
        let (label, got) = run(lowered);
        if conv2d::has_subgroups(wide) {
            assert!(wide_label.contains("texel"), "{wide_label}");
            assert!(!label.contains("texel"), "{label}");
        }
        assert!(
            got.iter()
                .zip(&want)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "the storage kernel's bits differ from the texel kernel's"
        );
    }
    // A tensor of 6 floats is not whole texels.
    let odd = wide.tensor(&[6]).unwrap();
    let err = reslab::device::texels::check("dy", &odd, 8192).unwrap_err();
    assert!(
        err.to_string().contains("dy: a tensor of 6 floats"),
        "{err}"
    );
}

/// A 1-D pass over more invocations than one grid dimension allows is split
/// over two dimensions and still covers every element.
#[test]
fn elementwise_pass_beyond_one_grid_dimension_is_split() {
    let gpu = crate::common::gpu();
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    // One more workgroup row than fits in x; not a multiple of 4, so the pass
    // over floats (its vec4 twin would need four times the elements).
    let n = max * 256 + 1001;
    let a = gpu.upload(&[n], &vec![2.0; n]).unwrap();
    let b = gpu.upload(&[n], &vec![3.0; n]).unwrap();
    let y = gpu.zeros(&[n]).unwrap();
    let mut p = Program::new();
    elementwise::add_forward(gpu, &mut p, &y, &a, &b, false).unwrap();
    assert!(
        p.dispatches[0].workgroups()[1] > 1,
        "grid was not folded: {:?}",
        p.dispatches[0].workgroups()
    );
    p.run(gpu).unwrap();
    let v = gpu.read(&y).unwrap();
    assert!(
        v.iter().all(|&x| x == 5.0),
        "some elements were not written"
    );
}

/// Every limit profile plans and trains, and its step equals the adapter's:
/// under downlevel limits (4 storage buffers per stage) batch norm's backward
/// apply runs as two passes, and under compat large grids fold. A device below
/// what the kernels need is refused when a plan is made, naming the limit and
/// the kernels over it.
#[test]
fn every_limit_profile_trains_alike_and_a_device_below_them_is_refused() {
    use reslab::device::LimitProfile;
    use reslab::model::plan::PlanOptions;
    use reslab::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan};
    use reslab::ops::SgdConfig;

    // 6 px: planes of 36, 9 and 4 values (the vec4 and the scalar passes).
    let spec = ModelSpec::parse("resnet8", None).unwrap();
    let graph = Graph::build(&spec, 6, 6).unwrap();
    let host = HostParams::init(&graph, 1);
    let n = 3;
    let x: Vec<f32> = (0..n * 3 * 36)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let labels = [1, 7, 3];
    let open = |profile| {
        Gpu::with_options(GpuOptions {
            profile: Some(profile),
            ..Default::default()
        })
        .expect("device")
    };
    let step = |gpu: &Gpu| {
        let params = Params::upload(gpu, &graph, &host).unwrap();
        let opts = PlanOptions {
            backward: true,
            sgd: Some(SgdConfig::default()),
            ..Default::default()
        };
        let plan = Plan::new(gpu, &graph, &params, n, Mode::Train, opts).unwrap();
        let (loss, _) = plan.run(&x, &labels, Some(0.1), true).unwrap();
        gpu.check().unwrap();
        let after = params.download(gpu).unwrap();
        (loss, after.params.concat(), after.buffers.concat())
    };
    let (loss0, p0, b0) = step(&open(LimitProfile::Adapter));
    for profile in [
        LimitProfile::WebGpu,
        LimitProfile::Downlevel,
        LimitProfile::Compat,
    ] {
        let gpu = open(profile);
        let want = profile.limits().unwrap();
        assert_eq!(
            gpu.limits().max_storage_buffers_per_shader_stage,
            want.max_storage_buffers_per_shader_stage
        );
        assert_eq!(
            gpu.limits().max_compute_invocations_per_workgroup,
            want.max_compute_invocations_per_workgroup
        );
        let (loss, p, b) = step(&gpu);
        let (ep, eb) = (rel_err(&p, &p0), rel_err(&b, &b0));
        eprintln!(
            "{profile:?}: loss {loss} (adapter {loss0}), params rel err {ep:.1e}, buffers {eb:.1e}"
        );
        assert_eq!(loss.to_bits(), loss0.to_bits(), "{profile:?}: loss");
        assert!(
            ep <= 1e-6 && eb <= 1e-6,
            "{profile:?}: params {ep}, buffers {eb}"
        );
    }

    let low = Gpu::with_options(GpuOptions {
        profile: Some(LimitProfile::Compat),
        adjust_limits: Some(|l| l.max_storage_buffers_per_shader_stage = 3),
        ..Default::default()
    })
    .expect("device");
    let params = Params::upload(&low, &graph, &host).unwrap();
    let e = Plan::new(&low, &graph, &params, 2, Mode::Eval, PlanOptions::default())
        .err()
        .expect("a device of 3 storage buffers must be refused")
        .to_string();
    assert!(
        e.contains("max_storage_buffers_per_shader_stage is 3") && e.contains("bn_coef"),
        "{e}"
    );
}

/// Pipelines are made on the device's compile threads while a plan records;
/// one that cannot be made (here: a layout that disagrees with its shader)
/// is an error naming it, from `pipelines_ready` and from `check`, and its
/// dispatches record nothing.
#[test]
fn a_pipeline_that_cannot_be_made_is_a_clear_error() {
    use reslab::device::PipelineKey;
    let gpu = Gpu::new().expect("device");
    let key = PipelineKey {
        module: "bench_fma.wgsl",
        entry: "bench_fma",
        constants: &[],
    };
    let uniform = |binding| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    // bench_fma writes a storage buffer at binding 1: declared a uniform here.
    let source = || reslab::kernels::shaders::BENCH_FMA.wgsl();
    let (pipeline, _) = gpu
        .pipeline(key, source, &[uniform(0), uniform(1)])
        .unwrap();
    let err = gpu
        .pipelines_ready()
        .expect_err("a pipeline against its shader");
    assert!(
        err.to_string()
            .contains("pipeline bench_fma.wgsl:bench_fma"),
        "{err}"
    );
    assert!(pipeline.wait().is_none());
    let logged = gpu.check().expect_err("the failure is in the error log");
    assert!(logged.to_string().contains("bench_fma"), "{logged}");
}
