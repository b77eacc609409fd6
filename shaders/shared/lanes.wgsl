// Groups of lanes sharing one tile's input (conv2d_forward_subgroup.wgsl,
// conv2d_backward_data_subgroup.wgsl): lane k of a group of l loads every
// l-th of the tile's input vectors, and each lane takes the others from the
// lane that loaded them with subgroupShuffle. The importing module defines
// `input_vec(i) -> vec4<f32>`, vec4 i of its input.

// An invocation's group of l lanes in a workgroup of wg: the group's index
// there, the invocation's position k in it and the subgroup lane of the
// group's first. A subgroup of `size` lanes (at most the workgroup's) holds
// size / l groups.
struct Group {
    index: u32, k: u32, first: u32,
}

fn group_of(sid: u32, sl: u32, size: u32, l: u32, wg: u32) -> Group {
    var g: Group;
    g.index = sid * (min(size, wg) / l) + sl / l;
    g.k = sl % l;
    g.first = sl - g.k;
    return g;
}

// The vectors lane k of a group of l loads from the `count` of its tile's
// input rows of `per_row` vec4s (row j's vec4 i is vector per_row·j + i; r
// the first, `next` one row down): vectors k, k + l, ... in slots 0, 1, ...
fn own_vectors(r: u32, next: u32, k: u32, l: u32, per_row: u32, count: u32) -> array<vec4<f32>, 9> {
    var m = array<vec4<f32>, 9>();
    for (var s = 0u; s < 9u; s++) {
        let v = k + s * l;
        if v < count {
            m[s] = input_vec(r + (v / per_row) * next + v % per_row);
        }
    }
    return m;
}

// Vector v of the group's tile, from the lane that loaded it.
fn group_vector(m: ptr<function, array<vec4<f32>, 9>>, v: u32, first: u32, l: u32) -> vec4<f32> {
    return subgroupShuffle((*m)[v / l], first + v % l);
}
