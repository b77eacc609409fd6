// Weights through up to three uniform windows in one pass, for the grouped
// tiled forward passes (shared/conv_lanes.wgsl): a run of input channels
// whose weights fit in one 64 KiB window, then the next run from a second
// window, the rest from a third, where the shared/conv_uniform.wgsl passes
// ran one dispatch per window, each later one starting from the sums the
// last stored. The same sums in the same order: the same bits, in a third of
// the dispatches (a 64-channel 3x3 conv's weights take three windows).
//
// Window 0 is the importing module's `wu` (binding 3, from channel ci0, read
// by conv_uniform.wgsl's `taps`, whose `window_index` taps1 and taps2 share);
// windows 1 and 2 (from ci0 + run and ci0 + 2·run) come from
// shared/conv_window_bindings.wgsl, whose bindings follow the module's others
// (the _bn modules swap in conv_window_bindings_bn.wgsl).

#import conv_window_bindings

// How many windows the pass reads: 1 (windows 1 and 2 bound but never read)
// or 3. A pipeline constant, so that the single-window pipelines, which most
// passes run, compile without the other windows' loops (lavapipe compiles a
// three-window pipeline about twice as long).
override WINDOWS: u32 = 1u;

fn taps1(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = window_index(ci - p.ci0 - p.run, ky, co0);
    return Taps(wu1[wb], wu1[wb + 1u], wu1[wb + q], wu1[wb + q + 1u], wu1[wb + 2u * q], wu1[wb + 2u * q + 1u]);
}

fn taps2(ci: u32, ky: u32, co0: u32) -> Taps {
    let q = p.co8 / 4u;
    let wb = window_index(ci - p.ci0 - 2u * p.run, ky, co0);
    return Taps(wu2[wb], wu2[wb + 1u], wu2[wb + q], wu2[wb + q + 1u], wu2[wb + 2u * q], wu2[wb + 2u * q + 1u]);
}

// Where the pass's channels ci0 .. ci0 + cn leave window 0 and window 1.
fn window_ends() -> vec2<u32> {
    let end = p.ci0 + p.cn;
    let e0 = min(p.ci0 + p.run, end);
    return vec2<u32>(e0, min(e0 + p.run, end));
}
