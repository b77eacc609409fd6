// conv_windows.wgsl's place in the `*_storage_subgroup.wgsl` modules (see
// conv_storage.wgsl): no windows past the first, every channel ci0 .. ci0 +
// cn read through `taps`.

override WINDOWS: u32 = 1u;

fn taps1(ci: u32, ky: u32, co0: u32) -> Taps {
    return taps(ci, ky, co0);
}

fn taps2(ci: u32, ky: u32, co0: u32) -> Taps {
    return taps(ci, ky, co0);
}

fn window_ends() -> vec2<u32> {
    let end = p.ci0 + p.cn;
    return vec2<u32>(end, end);
}
