//! The engine's WGSL modules, embedded, and the one step between a file and
//! a module: a line `#import name` is replaced by `shaders/shared/name.wgsl`
//! (each shared file at most once per module; shared files may import too),
//! so code several shaders need — reductions, chunk walks, parameter blocks —
//! is written once. A module may be a variant of a file with some of its
//! shared files swapped for others (the convolutions' batch-norm epilogue).

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// A WGSL module: a file of `shaders/`, or a variant of one.
#[derive(Debug)]
pub struct Module {
    /// The file's name, or the variant's (`*_bn_*` for the batch-norm epilogue).
    pub name: &'static str,
    /// The file of `shaders/` it is made from.
    pub file: &'static str,
    /// The file as written, imports not yet expanded.
    pub source: &'static str,
    /// Shared files imported in place of others: (import, replacement).
    pub swaps: &'static [(&'static str, &'static str)],
}

impl Module {
    /// The module's WGSL, imports expanded (and swapped).
    pub fn wgsl(&self) -> Result<String> {
        expand_with(self.name, self.source, self.swaps)
    }
}

/// The swap of the batch-norm epilogue variants: the tiled forward passes'
/// output through batch norm's eval apply (shared/conv_out_bn.wgsl).
/// Their uniform windows 1 and 2 follow the epilogue's bindings.
const BN_EPILOGUE: &[(&str, &str)] = &[
    ("conv_out", "conv_out_bn"),
    ("conv_window_bindings", "conv_window_bindings_bn"),
];

/// The swap of the grouped tiled forward passes' `*_storage_subgroup` variants: every
/// input channel's weights from one storage binding (shared/conv_storage.wgsl)
/// instead of 64 KiB uniform windows, one dispatch a pass.
const STORAGE_WEIGHTS: &[(&str, &str)] = &[
    ("conv_uniform", "conv_storage"),
    ("conv_windows", "conv_windows_storage"),
];

/// The swap of the texel-reading grouped forward passes: y's values before a
/// pass that resumes from them read as texels where the launcher copies them.
const EARLIER_TEXELS: &[(&str, &str)] = &[("conv_earlier", "conv_earlier_texels")];

/// The swap of the paired stride-2 backward-data passes reading dy as
/// texels: the shortcut's gradient as texels, and dx's values before a pass
/// that adds to them or resumes from them as texels where the launcher
/// copies them.
const S2_TEXELS: &[(&str, &str)] = &[
    ("s2_earlier", "s2_earlier_texels"),
    ("s2_shortcut", "s2_shortcut_texels"),
];

/// The swap of the grouped stride-2 backward-data passes' storage twins:
/// every output channel's weights from one storage binding.
const S2_STORAGE_WEIGHTS: &[(&str, &str)] = &[("s2_weights_uniform", "s2_weights_storage")];

macro_rules! modules {
    ($($id:ident = $name:literal $(from $file:literal with $swaps:ident)?;)*) => {
        $(
            pub static $id: Module = modules!(@one $name $(, $file, $swaps)?);
        )*
        /// Every module, for the tests that run each through naga.
        pub static MODULES: &[&Module] = &[$(&$id),*];
    };
    (@one $file:literal) => {
        Module {
            name: $file,
            file: $file,
            source: include_str!(concat!("../../shaders/", $file)),
            swaps: &[],
        }
    };
    (@one $name:literal, $file:literal, $swaps:ident) => {
        Module {
            name: $name,
            file: $file,
            source: include_str!(concat!("../../shaders/", $file)),
            swaps: $swaps,
        }
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
    CONV2D_POINTWISE = "conv2d_pointwise.wgsl";
    CONV2D_UNFOLD = "conv2d_unfold.wgsl";
    CONV2D_POINTWISE_SUBGROUP = "conv2d_pointwise_subgroup.wgsl";
    CONV2D_POINTWISE_ANY_SUBGROUP = "conv2d_pointwise_any_subgroup.wgsl";
    CONV2D_BACKWARD_DATA = "conv2d_backward_data.wgsl";
    CONV2D_BACKWARD_DATA_S2 = "conv2d_backward_data_s2.wgsl";
    CONV2D_BACKWARD_DATA_UNIFORM = "conv2d_backward_data_uniform.wgsl";
    CONV2D_BACKWARD_DATA_SUBGROUP = "conv2d_backward_data_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_TEXEL_SUBGROUP = "conv2d_backward_data_texel_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_PAIRS_SUBGROUP = "conv2d_backward_data_pairs_subgroup.wgsl";
    CONV2D_BACKWARD_DATA_PAIRS_TEXEL_SUBGROUP = "conv2d_backward_data_pairs_texel_subgroup.wgsl"
        from "conv2d_backward_data_pairs_texel_subgroup.wgsl" with S2_TEXELS;
    CONV2D_BACKWARD_DATA_STORAGE_SUBGROUP = "conv2d_backward_data_storage_subgroup.wgsl"
        from "conv2d_backward_data_subgroup.wgsl" with S2_STORAGE_WEIGHTS;
    CONV2D_BACKWARD_DATA_TEXEL_STORAGE_SUBGROUP = "conv2d_backward_data_texel_storage_subgroup.wgsl"
        from "conv2d_backward_data_texel_subgroup.wgsl" with S2_STORAGE_WEIGHTS;
    CONV2D_BACKWARD_DATA_PAIRS_STORAGE_SUBGROUP = "conv2d_backward_data_pairs_storage_subgroup.wgsl"
        from "conv2d_backward_data_pairs_subgroup.wgsl" with S2_STORAGE_WEIGHTS;
    CONV2D_BACKWARD_DATA_PAIRS_TEXEL_STORAGE_SUBGROUP = "conv2d_backward_data_pairs_texel_storage_subgroup.wgsl"
        from "conv2d_backward_data_pairs_texel_subgroup.wgsl" with S2_STORAGE_WEIGHTS;
    CONV2D_BACKWARD_WEIGHT = "conv2d_backward_weight.wgsl";
    CONV2D_BACKWARD_WEIGHT_TILED = "conv2d_backward_weight_tiled.wgsl";
    CONV2D_BACKWARD_WEIGHT_SUBGROUP = "conv2d_backward_weight_subgroup.wgsl";
    CONV2D_BACKWARD_WEIGHT_TEXEL_SUBGROUP = "conv2d_backward_weight_texel_subgroup.wgsl";
    CONV2D_FORWARD = "conv2d_forward.wgsl";
    CONV2D_FORWARD_TILED = "conv2d_forward_tiled.wgsl";
    CONV2D_FORWARD_UNIFORM = "conv2d_forward_uniform.wgsl";
    CONV2D_FORWARD_SUBGROUP = "conv2d_forward_subgroup.wgsl";
    CONV2D_FORWARD_TEXEL = "conv2d_forward_texel.wgsl";
    CONV2D_FORWARD_TEXEL_SUBGROUP = "conv2d_forward_texel_subgroup.wgsl"
        from "conv2d_forward_texel_subgroup.wgsl" with EARLIER_TEXELS;
    CONV2D_FORWARD_SUBGROUP_STORAGE = "conv2d_forward_storage_subgroup.wgsl"
        from "conv2d_forward_subgroup.wgsl" with STORAGE_WEIGHTS;
    CONV2D_FORWARD_TEXEL_SUBGROUP_STORAGE = "conv2d_forward_texel_storage_subgroup.wgsl"
        from "conv2d_forward_texel_subgroup.wgsl" with STORAGE_WEIGHTS;
    CONV2D_FORWARD_BN_TILED = "conv2d_forward_bn_tiled.wgsl"
        from "conv2d_forward_tiled.wgsl" with BN_EPILOGUE;
    CONV2D_FORWARD_BN_UNIFORM = "conv2d_forward_bn_uniform.wgsl"
        from "conv2d_forward_uniform.wgsl" with BN_EPILOGUE;
    CONV2D_FORWARD_BN_SUBGROUP = "conv2d_forward_bn_subgroup.wgsl"
        from "conv2d_forward_subgroup.wgsl" with BN_EPILOGUE;
    CONV2D_FORWARD_BN_TEXEL = "conv2d_forward_bn_texel.wgsl"
        from "conv2d_forward_texel.wgsl" with BN_EPILOGUE;
    CONV2D_FORWARD_BN_TEXEL_SUBGROUP = "conv2d_forward_bn_texel_subgroup.wgsl"
        from "conv2d_forward_texel_subgroup.wgsl" with BN_EPILOGUE;
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
    (
        "pointwise",
        include_str!("../../shaders/shared/pointwise.wgsl"),
    ),
    (
        "pointwise_lanes",
        include_str!("../../shaders/shared/pointwise_lanes.wgsl"),
    ),
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
        "conv_windows",
        include_str!("../../shaders/shared/conv_windows.wgsl"),
    ),
    (
        "conv_storage",
        include_str!("../../shaders/shared/conv_storage.wgsl"),
    ),
    (
        "s2_weights_uniform",
        include_str!("../../shaders/shared/s2_weights_uniform.wgsl"),
    ),
    (
        "s2_weights_storage",
        include_str!("../../shaders/shared/s2_weights_storage.wgsl"),
    ),
    (
        "conv_windows_storage",
        include_str!("../../shaders/shared/conv_windows_storage.wgsl"),
    ),
    (
        "conv_window_bindings",
        include_str!("../../shaders/shared/conv_window_bindings.wgsl"),
    ),
    (
        "conv_window_bindings_bn",
        include_str!("../../shaders/shared/conv_window_bindings_bn.wgsl"),
    ),
    (
        "conv_earlier",
        include_str!("../../shaders/shared/conv_earlier.wgsl"),
    ),
    (
        "conv_earlier_texels",
        include_str!("../../shaders/shared/conv_earlier_texels.wgsl"),
    ),
    (
        "s2_earlier",
        include_str!("../../shaders/shared/s2_earlier.wgsl"),
    ),
    (
        "s2_earlier_texels",
        include_str!("../../shaders/shared/s2_earlier_texels.wgsl"),
    ),
    (
        "s2_shortcut",
        include_str!("../../shaders/shared/s2_shortcut.wgsl"),
    ),
    (
        "s2_shortcut_texels",
        include_str!("../../shaders/shared/s2_shortcut_texels.wgsl"),
    ),
    (
        "conv_tile",
        include_str!("../../shaders/shared/conv_tile.wgsl"),
    ),
    (
        "conv_out",
        include_str!("../../shaders/shared/conv_out.wgsl"),
    ),
    (
        "conv_out_bn",
        include_str!("../../shaders/shared/conv_out_bn.wgsl"),
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
    expand_with(name, source, &[])
}

/// [`expand`] with the shared files `swaps` names imported in place of others
/// wherever they are imported.
pub fn expand_with(name: &str, source: &str, swaps: &[(&str, &str)]) -> Result<String> {
    let mut out = String::with_capacity(source.len() * 2);
    let mut seen = BTreeSet::new();
    expand_into(name, source, swaps, &mut out, &mut seen)?;
    Ok(out)
}

fn expand_into<'a>(
    name: &str,
    source: &'a str,
    swaps: &[(&str, &str)],
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
        let import = swaps
            .iter()
            .find(|(from, _)| *from == import)
            .map_or(import, |(_, to)| to);
        let (key, text) = SHARED
            .iter()
            .find(|(k, _)| *k == import)
            .ok_or_else(|| Error::invalid(format!("{name}: no shared WGSL named {import:?}")))?;
        if seen.insert(key) {
            out.push_str(&format!("// ---- shared/{key}.wgsl ----\n"));
            expand_into(key, text, swaps, out, seen)?;
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

    #[test]
    fn a_variant_imports_its_swapped_files_wherever_they_are_imported() {
        let plain = CONV2D_FORWARD_SUBGROUP.wgsl().unwrap();
        let bn = CONV2D_FORWARD_BN_SUBGROUP.wgsl().unwrap();
        let has = |w: &str, k: &str| w.contains(&format!("// ---- shared/{k}.wgsl ----\n"));
        assert!(has(&plain, "conv_out") && !has(&plain, "conv_out_bn"));
        assert!(has(&bn, "conv_out_bn") && !has(&bn, "conv_out"));
        assert!(bn.contains("var<storage, read_write> bn_yp"));
        assert_eq!(
            CONV2D_FORWARD_BN_SUBGROUP.file,
            CONV2D_FORWARD_SUBGROUP.file
        );
    }
}
