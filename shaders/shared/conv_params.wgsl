// The sizes of a convolution, as the reference convolution kernels take them;
// rows and chunks split the weight gradient's N·Ho output rows (see
// conv2d_backward_weight.wgsl).
struct ConvParams {
    n: u32, ci: u32, h: u32, w: u32,
    co: u32, ho: u32, wo: u32, kh: u32,
    kw: u32, sh: u32, sw: u32, ph: u32,
    pw: u32, flags: u32, rows: u32, chunks: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
