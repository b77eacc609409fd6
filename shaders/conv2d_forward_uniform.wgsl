// conv2d_forward_tiled_s1_r4u / _s2u: the 4-row stride-1 tile and the stride-2
// tile of conv2d_forward_tiled.wgsl (shared/conv_tile.wgsl) reading their
// weights from a uniform buffer. Every
// invocation of a workgroup reads the same weights; through a uniform binding
// a CPU driver loads each once and broadcasts it (lavapipe: 1.5-1.8x faster
// than through a storage buffer, where each is a per-lane gather), and a GPU
// reads them through its constant cache.
//
// A uniform binding holds at most 64 KiB (WebGPU's default limit), so the
// launcher splits the input channels into runs whose weights fit
// ([Ci, 3, 3, Co8] is laid out input channel first, so a run is one range)
// and dispatches once per run: the first writes its sums, each later one
// reads them back from y (flags & 2), adds its channels in order and writes
// them again, and the last adds the bias (flags & 1). A float read back is the
// float written, so every output is the same sum in the same order as in
// conv2d_forward_tiled_s1_r4: the same bits.
//
// Bindings:
//   1 y    [N, Co, Ho, Wo]   as vec4 (see shared/conv_tile.wgsl put4); written (read
//                            first when flags & 2)
//   2 xp   [N, Ci, Hp, pitch] as vec4, as for conv2d_forward_tiled_s1_r4
//   3 wu   uniform, 64 KiB from the weights of input channel ci0
//          ([Ci, 3, 3, Co8] as vec4; channels ci0 .. ci0 + cn - 1 read)
//   4 bias [Co]              read when flags & 1
// Dispatch: as conv2d_forward_tiled_s1_r4 (_s2u: as conv2d_forward_tiled_s2),
// once per run of input channels.

#import conv_tile
#import conv_uniform
#import conv_runs

@group(0) @binding(0) var<uniform> p: TiledParams;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> xp: array<vec4<f32>>;
@group(0) @binding(3) var<uniform> wu: array<vec4<f32>, 4096>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

fn input_vec(i: u32) -> vec4<f32> {
    return xp[i];
}
