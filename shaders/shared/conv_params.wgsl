// The sizes of a convolution, as the convolution kernels take them; rows and
// chunks split the direct weight gradient's positions, dily and dilx are
// the zeros the direct pass inserts into its input (see conv2d_direct.wgsl),
// and slots the invocations a channel tile of the shared-weights 1x1 passes
// (shared/pointwise_lanes.wgsl).
struct ConvParams {
    n: u32, ci: u32, h: u32, w: u32,
    co: u32, ho: u32, wo: u32, kh: u32,
    kw: u32, sh: u32, sw: u32, ph: u32,
    pw: u32, flags: u32, rows: u32, chunks: u32,
    dily: u32, dilx: u32, slots: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
