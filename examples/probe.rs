// Times an arbitrary WGSL kernel: probe FILE ENTRY GX GY GZ FLOPS BUF_FLOATS...
use std::time::Instant;
use wgpu::util::DeviceExt;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    let src = std::fs::read_to_string(&a[1]).unwrap();
    let entry = &a[2];
    let g: Vec<u32> = a[3..6].iter().map(|s| s.parse().unwrap()).collect();
    let flops: f64 = a[6].parse().unwrap();
    let sizes: Vec<usize> = a[7..].iter().map(|s| s.parse().unwrap()).collect();
    let gpu = reslab::Gpu::new().unwrap();
    let d = gpu.device();
    let m = d.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: None,
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let p = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &m,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    });
    let bufs: Vec<wgpu::Buffer> = sizes
        .iter()
        .map(|&n| {
            d.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: None,
                contents: bytemuck::cast_slice(&vec![0.01f32; n]),
                usage: wgpu::BufferUsages::STORAGE,
            })
        })
        .collect();
    let entries: Vec<_> = bufs
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect();
    let bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &p.get_bind_group_layout(0),
        entries: &entries,
    });
    let mut best = f64::MAX;
    let mut all = vec![];
    for _ in 0..12 {
        let mut e = d.create_command_encoder(&Default::default());
        {
            let mut pass = e.begin_compute_pass(&Default::default());
            pass.set_pipeline(&p);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(g[0], g[1], g[2]);
        }
        let t = Instant::now();
        gpu.submit([e.finish()]);
        gpu.wait().unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        all.push(t.elapsed().as_secs_f64());
    }
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = all[all.len() / 2];
    println!(
        "{entry}: best {:.2} ms {:.2} GFLOP/s, median {:.2} GFLOP/s",
        best * 1e3,
        flops / best / 1e9,
        flops / med / 1e9
    );
}
