// The linear index of an invocation of a one-dimensional dispatch whose
// workgroups are folded into (x, y) when they exceed the per-dimension limit
// (the launchers' grid_1d). Needs `const WG: u32`, the workgroup size.
fn folded_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}
