//! The engine's WGSL modules, embedded, and the one step between a file and
//! a module: a line `#import name` is replaced by `shaders/shared/name.wgsl`
//! (each shared file at most once per module; shared files may import too),
//! so code several shaders need — reductions, chunk walks, parameter blocks —
//! is written once.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// A WGSL module: a file of `shaders/`.
#[derive(Debug)]
pub struct Module {
    pub name: &'static str,
    /// The file as written, imports not yet expanded.
    pub source: &'static str,
}

impl Module {
    /// The module's WGSL, imports expanded.
    pub fn wgsl(&self) -> Result<String> {
        expand(self.name, self.source)
    }
}

macro_rules! modules {
    ($($id:ident = $file:literal;)*) => {
        $(
            pub static $id: Module = Module {
                name: $file,
                source: include_str!(concat!("../../shaders/", $file)),
            };
        )*
        /// Every module, for the tests that run each through naga.
        pub static MODULES: &[&Module] = &[$(&$id),*];
    };
}

modules! {
    BATCHNORM_BACKWARD = "batchnorm_backward.wgsl";
    BATCHNORM_BACKWARD_TEXEL = "batchnorm_backward_texel.wgsl";
    BATCHNORM_FORWARD = "batchnorm_forward.wgsl";
    BATCHNORM_FORWARD_TEXEL = "batchnorm_forward_texel.wgsl";
    BENCH_FMA = "bench_fma.wgsl";
    COLORMAP = "colormap.wgsl";
    CONV2D_DIRECT = "conv2d_direct.wgsl";
    CONV2D_BACKWARD_DATA = "conv2d_backward_data.wgsl";
    CONV2D_BACKWARD_DATA_S2 = "conv2d_backward_data_s2.wgsl";
    CONV2D_BACKWARD_DATA_UNIFORM = "conv2d_backward_data_uniform.wgsl";
    CONV2D_BACKWARD_DATA_SUBGROUP = "conv2d_backward_data_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_TEXEL_SUBGROUP = "conv2d_backward_data_texel_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_PAIRS_SUBGROUP = "conv2d_backward_data_pairs_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP = "conv2d_backward_data_pairs_texel_subgroup.wgsl";
    CONV2D_BACKWARD_WEIGHT = "conv2d_backward_weight.wgsl";
    CONV2D_BACKWARD_WEIGHT_TILED = "conv2d_backward_weight_tiled.wgsl";
    CONV2D_BACKWARD_WEIGHT_SUBGROUP = "conv2d_backward_weight_subgroup.wgsl";
    CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP = "conv2d_backward_weight_texel_subgroup.wgsl";
    CONV2D_FORWARD = "conv2d_forward.wgsl";
    CONV2D_FORWARD_TILED = "conv2d_forward_tiled.wgsl";
    CONV2D_FORWARD_UNIFORM = "conv2d_forward_uniform.wgsl";
    CONV2D_FORWARD_SUBGROUP = "conv2d_forward_subgroup.wgsl";
    CONV2D_FORWARD_TEXEL = "conv2d_forward_texel.wgsl";
    CONV2D_FORWARD_TEXEL_SUBGROUP = "conv2d_forward_texel_subgroup.wgsl";
    CONV2D_TILED_PREPARE = "conv2d_tiled_prepare.wgsl";
    ELEMENTWISE = "elementwise.wgsl";
    LINEAR = "linear.wgsl";
    POOL = "pool.wgsl";
    REDUCE = "reduce.wgsl";
    SGD = "sgd.wgsl";
    SHORTCUT = "shortcut.wgsl";
    SOFTMAX_XENT = "softmax_xent.wgsl";
}

/// The files of `shaders/shared/`, by the name an import gives.
pub static SHARED: &[(&str, &str)] = &[
    ("bn", include_str!("../../shaders/shared/bn.wgsl")),
    (
        "bn_forward4",
        include_str!("../../shaders/shared/bn_forward4.wgsl"),
    ),
    (
        "bn_backward4",
        include_str!("../../shaders/shared/bn_backward4.wgsl"),
    ),
    (
        "conv_runs",
        include_str!("../../shaders/shared/conv_runs.wgsl"),
    ),
    (
        "conv_s2_lanes",
        include_str!("../../shaders/shared/conv_s2_lanes.wgsl"),
    ),
    (
        "conv_s2_data",
        include_str!("../../shaders/shared/conv_s2_data.wgsl"),
    ),
    (
        "conv_s2_pairs",
        include_str!("../../shaders/shared/conv_s2_pairs.wgsl"),
    ),
    (
        "conv_lanes",
        include_str!("../../shaders/shared/conv_lanes.wgsl"),
    ),
    (
        "conv_uniform",
        include_str!("../../shaders/shared/conv_uniform.wgsl"),
    ),
    (
        "conv_tile",
        include_str!("../../shaders/shared/conv_tile.wgsl"),
    ),
    (
        "conv_params",
        include_str!("../../shaders/shared/conv_params.wgsl"),
    ),
    ("grid", include_str!("../../shaders/shared/grid.wgsl")),
    ("lanes", include_str!("../../shaders/shared/lanes.wgsl")),
    ("nan", include_str!("../../shaders/shared/nan.wgsl")),
    ("sum2", include_str!("../../shaders/shared/sum2.wgsl")),
    ("texels", include_str!("../../shaders/shared/texels.wgsl")),
    (
        "wgrad_lanes",
        include_str!("../../shaders/shared/wgrad_lanes.wgsl"),
    ),
    (
        "wgrad_tile",
        include_str!("../../shaders/shared/wgrad_tile.wgsl"),
    ),
];

/// `source` (of the module or shared file `name`) with its imports expanded.
pub fn expand(name: &str, source: &str) -> Result<String> {
    let mut out = String::with_capacity(source.len() * 2);
    let mut seen = BTreeSet::new();
    expand_into(name, source, &mut out, &mut seen)?;
    Ok(out)
}

fn expand_into<'a>(
    name: &str,
    source: &'a str,
    out: &mut String,
    seen: &mut BTreeSet<&'a str>,
) -> Result<()> {
    for line in source.lines() {
        let Some(import) = line.trim().strip_prefix("#import ") else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let import = import.trim();
        let (key, text) = SHARED
            .iter()
            .find(|(k, _)| *k == import)
            .ok_or_else(|| Error::invalid(format!("{name}: no shared WGSL named {import:?}")))?;
        if seen.insert(key) {
            out.push_str(&format!("// ---- shared/{key}.wgsl ----\n"));
            expand_into(key, text, out, seen)?;
            out.push_str(&format!("// ---- end of shared/{key}.wgsl ----\n"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_expand_once_and_unknown_ones_are_errors() {
        let once = expand("t.wgsl", "#import grid\nfn f() {}\n  #import grid\n").unwrap();
        assert_eq!(once.matches("fn folded_index").count(), 1, "{once}");
        assert!(once.contains("fn f() {}"));
        let e = expand("t.wgsl", "#import nothing_like_it\n").unwrap_err();
        assert!(e.to_string().contains("nothing_like_it"), "{e}");
    }
}
