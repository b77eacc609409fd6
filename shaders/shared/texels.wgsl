// Tensors read as texels (Binding::Texels): a tensor's floats copied into a
// 2D rgba32float texture, 4 floats a texel, 2^TEXEL_ROW_SHIFT texels a row
// (device::texels::TEXEL_ROW), bound as a read-only storage texture and read
// with textureLoad(t, texel(i)). On lavapipe such a load is a vector gather,
// several times cheaper than a storage-buffer load (a loop over the lanes),
// and about half as costly as fetching the same texel from a sampled
// texture, whose fetch first works out each lane's mip level.

alias Texels = texture_storage_2d<rgba32float, read>;

const TEXEL_ROW_SHIFT: u32 = 11u;

// The texel holding vec4 i of the tensor.
fn texel(i: u32) -> vec2<u32> {
    return vec2<u32>(i & ((1u << TEXEL_ROW_SHIFT) - 1u), i >> TEXEL_ROW_SHIFT);
}
