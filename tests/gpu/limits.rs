//! Tensors beyond the device's limits get a clear error, not a panic or a wrong result.

use reslab::kernels::{Program, conv2d, elementwise};
use reslab::ops::Conv2dGeom;
use reslab::{Error, Gpu, GpuOptions};

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

/// A 1-D pass over more invocations than one grid dimension allows is split
/// over two dimensions and still covers every element.
#[test]
fn elementwise_pass_beyond_one_grid_dimension_is_split() {
    let gpu = crate::common::gpu();
    let max = gpu.limits().max_compute_workgroups_per_dimension as usize;
    let n = max * 256 + 1000; // one more workgroup row than fits in x
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

/// A device of wgpu's downlevel limits (4 storage buffers per stage) is
/// refused when a plan is made, with the limit and the kernels over it named;
/// one of WebGPU's default limits plans and trains.
#[test]
fn limit_profiles_are_applied_and_a_device_below_them_is_refused() {
    use reslab::device::LimitProfile;
    use reslab::model::plan::PlanOptions;
    use reslab::model::{Graph, HostParams, Mode, ModelSpec, Params, Plan};

    let spec = ModelSpec::parse("resnet8", None).unwrap();
    let graph = Graph::build(&spec, 8, 8).unwrap();
    let host = HostParams::init(&graph, 1);
    let open = |profile| {
        Gpu::with_options(GpuOptions {
            profile: Some(profile),
            ..Default::default()
        })
        .expect("device")
    };
    let low = open(LimitProfile::Downlevel);
    assert_eq!(low.limits().max_storage_buffers_per_shader_stage, 4);
    let params = Params::upload(&low, &graph, &host).unwrap();
    let e = Plan::new(&low, &graph, &params, 2, Mode::Eval, PlanOptions::default())
        .err()
        .expect("a downlevel device must be refused")
        .to_string();
    assert!(
        e.contains("max_storage_buffers_per_shader_stage is 4") && e.contains("bn_stats_finalize"),
        "{e}"
    );

    let web = open(LimitProfile::WebGpu);
    assert_eq!(web.limits().max_storage_buffer_binding_size, 128 << 20);
    let params = Params::upload(&web, &graph, &host).unwrap();
    let opts = PlanOptions {
        backward: true,
        ..Default::default()
    };
    let plan = Plan::new(&web, &graph, &params, 2, Mode::Train, opts).unwrap();
    let x = vec![0.5f32; 2 * 3 * 8 * 8];
    let (loss, _) = plan.run(&x, &[1, 2], None, false).unwrap();
    assert!(loss.is_finite());
    web.check().unwrap();
}
