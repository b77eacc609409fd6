//! The kernel table against the WGSL it names, with no device: naga reflects
//! every module, and each kernel's entry point must exist with the table's
//! workgroup size and bindings (binding 0 a uniform of the Rust parameter
//! type's WGSL struct, with the same size and the same fields at the same
//! offsets; bindings 1.. storage buffers read or written as the table says,
//! or the storage texture), and every entry point must be in the table.

use std::collections::{BTreeMap, BTreeSet};

use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use reslab::kernels::shaders::MODULES;
use reslab::kernels::table::{self, Binding, Field, KernelInfo, ParamsLayout};

/// A parsed and validated module.
struct Parsed {
    module: naga::Module,
    info: ModuleInfo,
}

fn parse(name: &str) -> Parsed {
    let m = MODULES.iter().find(|m| m.name == name).expect("a module");
    let src = m.wgsl().unwrap();
    let module = naga::front::wgsl::parse_str(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
    // Subgroups only in the modules named for them (*_subgroup.wgsl, whose
    // kernels run only on devices that have them).
    let caps = if name.ends_with("_subgroup.wgsl") {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {e:?}"));
    Parsed { module, info }
}

/// What one binding of an entry point is, as naga sees it.
#[derive(Debug, PartialEq)]
enum Kind {
    Uniform(ParamsLayout),
    /// A uniform that is not a struct (an array window), by its size.
    UniformBytes(u64),
    Storage(Binding),
    /// A storage texture.
    Image,
    /// A sampled texture of f32 (a tensor read as texels).
    Texels,
    Other(String),
}

/// The layout of a WGSL struct, in the terms of the Rust side.
fn wgsl_layout(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Kind {
    let t = &module.types[ty];
    let naga::TypeInner::Struct { members, span } = &t.inner else {
        return Kind::UniformBytes(t.inner.size(module.to_ctx()) as u64);
    };
    let fields = members
        .iter()
        .map(|m| Field {
            name: leak(m.name.clone().unwrap_or_default()),
            offset: m.offset as usize,
            size: module.types[m.ty].inner.size(module.to_ctx()) as usize,
        })
        .collect();
    Kind::Uniform(ParamsLayout {
        name: leak(t.name.clone().unwrap_or_default()),
        size: *span as usize,
        fields,
    })
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// Workgroup size and the bindings an entry point uses, by number.
fn reflect(p: &Parsed, entry: &str) -> Result<([u32; 3], BTreeMap<u32, Kind>), String> {
    let (index, ep) = p
        .module
        .entry_points
        .iter()
        .enumerate()
        .find(|(_, e)| e.name == entry)
        .ok_or_else(|| format!("no entry point {entry}"))?;
    let uses = p.info.get_entry_point(index);
    let mut bindings = BTreeMap::new();
    for (h, g) in p.module.global_variables.iter() {
        let Some(rb) = &g.binding else { continue };
        if uses[h].is_empty() {
            continue;
        }
        if rb.group != 0 {
            return Err(format!("binding in group {}", rb.group));
        }
        let kind = match g.space {
            naga::AddressSpace::Uniform => wgsl_layout(&p.module, g.ty),
            naga::AddressSpace::Storage { access } => {
                Kind::Storage(if access.contains(naga::StorageAccess::STORE) {
                    Binding::Write
                } else {
                    Binding::Read
                })
            }
            naga::AddressSpace::Handle => match &p.module.types[g.ty].inner {
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class:
                        naga::ImageClass::Storage {
                            format: naga::StorageFormat::Rgba32Float,
                            access: naga::StorageAccess::LOAD,
                        },
                } => Kind::Texels,
                naga::TypeInner::Image {
                    dim: naga::ImageDimension::D2,
                    arrayed: false,
                    class:
                        naga::ImageClass::Storage {
                            format: naga::StorageFormat::Rgba8Unorm,
                            access: naga::StorageAccess::STORE,
                        },
                } => Kind::Image,
                other => Kind::Other(format!("{other:?}")),
            },
            other => Kind::Other(format!("{other:?}")),
        };
        bindings.insert(rb.binding, kind);
    }
    Ok((ep.workgroup_size, bindings))
}

/// Every way `k` disagrees with its WGSL.
fn check(k: &KernelInfo, p: &Parsed) -> Vec<String> {
    let mut errors = Vec::new();
    let (workgroup, mut bindings) = match reflect(p, k.entry) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    if workgroup != k.workgroup {
        errors.push(format!(
            "workgroup size {:?} in the table, {workgroup:?} in the WGSL",
            k.workgroup
        ));
    }
    match bindings.remove(&0) {
        Some(Kind::Uniform(wgsl)) => {
            let rust = &k.params;
            if wgsl.name != rust.name {
                errors.push(format!(
                    "parameters are the Rust {} but the WGSL struct {}",
                    rust.name, wgsl.name
                ));
            }
            if wgsl.size != rust.size {
                errors.push(format!(
                    "{} is {} bytes in Rust, {} in the WGSL",
                    rust.name, rust.size, wgsl.size
                ));
            }
            if wgsl.fields != rust.fields {
                errors.push(format!(
                    "{} fields (name, offset, size) differ: Rust {:?}, WGSL {:?}",
                    rust.name,
                    rust.fields
                        .iter()
                        .map(|f| (f.name, f.offset, f.size))
                        .collect::<Vec<_>>(),
                    wgsl.fields
                        .iter()
                        .map(|f| (f.name, f.offset, f.size))
                        .collect::<Vec<_>>()
                ));
            }
        }
        other => errors.push(format!("binding 0 is {other:?}, not the parameter uniform")),
    }
    let want: BTreeMap<u32, Kind> = k
        .bindings
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let kind = match b {
                Binding::Image => Kind::Image,
                Binding::Texels => Kind::Texels,
                Binding::Uniform => Kind::UniformBytes(table::UNIFORM_WINDOW_BYTES),
                b => Kind::Storage(*b),
            };
            (i as u32 + 1, kind)
        })
        .collect();
    if bindings != want {
        errors.push(format!(
            "bindings 1.. are {want:?} in the table, {bindings:?} in the WGSL"
        ));
    }
    errors
}

fn parsed_modules() -> BTreeMap<&'static str, Parsed> {
    MODULES.iter().map(|m| (m.name, parse(m.name))).collect()
}

#[test]
fn the_kernel_table_matches_the_wgsl() {
    let parsed = parsed_modules();
    let mut failures = Vec::new();
    let kernels = table::all();
    for k in &kernels {
        for e in check(k, &parsed[k.module.name]) {
            failures.push(format!("{} ({}:{}): {e}", k.name, k.module.name, k.entry));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(kernels.len() >= 45, "{} kernels", kernels.len());
}

#[test]
fn every_entry_point_is_in_the_table_once() {
    let parsed = parsed_modules();
    let listed: Vec<(&str, &str)> = table::all()
        .iter()
        .map(|k| (k.module.name, k.entry))
        .collect();
    let unique: BTreeSet<_> = listed.iter().collect();
    assert_eq!(unique.len(), listed.len(), "an entry point is listed twice");
    for (name, p) in &parsed {
        // A variant module (the batch-norm epilogue's) lists its entry
        // points as twins of its file's: every one of them.
        let m = MODULES.iter().find(|m| m.name == *name).unwrap();
        if !m.swaps.is_empty() {
            let n = listed.iter().filter(|(mn, _)| mn == name).count();
            assert!(n > 0, "variant {name} has no entry point in the table");
            assert!(
                p.module
                    .entry_points
                    .iter()
                    .all(|ep| unique.contains(&(*name, ep.name.as_str()))),
                "{name}: an entry point that writes its output is not in the table"
            );
            continue;
        }
        for ep in &p.module.entry_points {
            assert!(
                unique.contains(&(*name, ep.name.as_str())),
                "{name}:{} is not in the kernel table",
                ep.name
            );
        }
    }
}

#[test]
fn a_wrong_parameter_struct_or_binding_is_caught() {
    let parsed = parsed_modules();
    let k = table::all()
        .into_iter()
        .find(|k| k.name == "BN_APPLY")
        .unwrap();
    let p = &parsed[k.module.name];
    assert!(check(&k, p).is_empty(), "{:?}", check(&k, p));
    // Two fields swapped (the struct a hand-written mirror gets wrong).
    let mut swapped = KernelInfo {
        params: k.params.clone(),
        ..k
    };
    let f = &mut swapped.params.fields;
    (f[0].name, f[1].name) = (f[1].name, f[0].name);
    let e = check(&swapped, p).join("\n");
    assert!(e.contains("fields (name, offset, size) differ"), "{e}");
    // A field missing: the Rust struct is shorter.
    let mut short = KernelInfo {
        params: k.params.clone(),
        ..swapped
    };
    let last = short.params.fields.pop().unwrap();
    short.params.size -= last.size;
    let e = check(&short, p).join("\n");
    assert!(e.contains("is 60 bytes in Rust, 64 in the WGSL"), "{e}");
    // Another workgroup size, a binding read where the WGSL writes.
    let wrong = KernelInfo {
        workgroup: [256, 1, 1],
        bindings: &[Binding::Read, Binding::Read, Binding::Read, Binding::Read],
        params: k.params.clone(),
        ..short
    };
    let e = check(&wrong, p).join("\n");
    assert!(
        e.contains("workgroup size [256, 1, 1] in the table, [64, 1, 1]"),
        "{e}"
    );
    assert!(e.contains("bindings 1.."), "{e}");
}

/// Bytes of workgroup memory the entry point `entry` uses.
fn workgroup_bytes(p: &Parsed, entry: &str) -> u32 {
    let index = p
        .module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .expect("entry point");
    let uses = p.info.get_entry_point(index);
    p.module
        .global_variables
        .iter()
        .filter(|(h, g)| g.space == naga::AddressSpace::WorkGroup && !uses[*h].is_empty())
        .map(|(_, g)| p.module.types[g.ty].inner.size(p.module.to_ctx()))
        .sum()
}

/// Each kernel's needs, from naga's reflection rather than the table,
/// against WebGPU's default limits, wgpu's downlevel ones and a small
/// "compat" profile: every kernel fits each profile but those with a variant
/// for smaller limits (which fit WebGPU's), and the engine's start-up check
/// (which reads the table) accepts all three and refuses a device with one
/// storage buffer fewer than they need, naming the limit and the kernels over it.
#[test]
fn kernel_budgets_against_the_limit_profiles() {
    use reslab::device::LimitProfile;
    let parsed = parsed_modules();
    for profile in [
        LimitProfile::WebGpu,
        LimitProfile::Downlevel,
        LimitProfile::Compat,
    ] {
        let l = profile.limits().unwrap();
        let mut over: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
        let (mut most_storage, mut most_inv, mut most_bytes) = (0, 0, 0);
        for k in table::all() {
            let p = &parsed[k.module.name];
            let (wg, bindings) = reflect(p, k.entry).unwrap();
            let storage = bindings
                .values()
                .filter(|b| matches!(b, Kind::Storage(_)))
                .count() as u32;
            let inv: u32 = wg.iter().product();
            let bytes = workgroup_bytes(p, k.entry);
            (most_storage, most_inv, most_bytes) = (
                most_storage.max(storage),
                most_inv.max(inv),
                most_bytes.max(bytes),
            );
            assert!(
                bytes <= l.max_compute_workgroup_storage_size,
                "{profile:?}: {} uses {bytes} bytes of workgroup memory",
                k.entry
            );
            let uniform = bindings
                .values()
                .map(|b| match b {
                    Kind::UniformBytes(n) => *n,
                    _ => 0,
                })
                .max()
                .unwrap_or(0);
            let mut reflected = Vec::new();
            if storage > l.max_storage_buffers_per_shader_stage {
                reflected.push("max_storage_buffers_per_shader_stage");
            }
            if inv > l.max_compute_invocations_per_workgroup {
                reflected.push("max_compute_invocations_per_workgroup");
            }
            for (size, limit, name) in [
                (
                    wg[0],
                    l.max_compute_workgroup_size_x,
                    "max_compute_workgroup_size_x",
                ),
                (
                    wg[1],
                    l.max_compute_workgroup_size_y,
                    "max_compute_workgroup_size_y",
                ),
                (
                    wg[2],
                    l.max_compute_workgroup_size_z,
                    "max_compute_workgroup_size_z",
                ),
            ] {
                if size > limit {
                    reflected.push(name);
                }
            }
            if uniform > l.max_uniform_buffer_binding_size {
                reflected.push("max_uniform_buffer_binding_size");
            }
            let by_table: Vec<&str> = k.exceeds(&l).iter().map(|e| e.0).collect();
            assert_eq!(by_table, reflected, "{profile:?}: {}", k.entry);
            for limit in reflected {
                over.entry(limit)
                    .or_default()
                    .push((k.entry, table::has_variant(&k)));
            }
        }
        eprintln!(
            "{profile:?}: most storage buffers {most_storage}, invocations {most_inv}, \
             workgroup memory {most_bytes} bytes; over the profile: {over:?}"
        );
        let without_variant: BTreeMap<&str, Vec<&str>> = over
            .iter()
            .map(|(limit, entries)| {
                let e: Vec<&str> = entries
                    .iter()
                    .filter(|(_, variant)| !variant)
                    .map(|(e, _)| *e)
                    .collect();
                (*limit, e)
            })
            .filter(|(_, e)| !e.is_empty())
            .collect();
        assert!(
            without_variant.is_empty(),
            "{profile:?}: kernels beyond the profile, with no variant: {without_variant:?}"
        );
        if profile == LimitProfile::WebGpu {
            assert!(
                over.is_empty(),
                "kernels beyond WebGPU's defaults: {over:?}"
            );
        }
        table::check_limits(&l).unwrap();

        // One storage buffer fewer than the kernels without a variant need.
        let mut fewer = l.clone();
        fewer.max_storage_buffers_per_shader_stage = table::all()
            .iter()
            .filter(|k| !table::has_variant(k))
            .map(|k| k.storage_buffers())
            .max()
            .unwrap()
            - 1;
        let refused: Vec<&str> = table::all()
            .iter()
            .filter(|k| !table::has_variant(k))
            .filter(|k| k.storage_buffers() > fewer.max_storage_buffers_per_shader_stage)
            .map(|k| k.entry)
            .collect();
        let e = table::check_limits(&fewer)
            .expect_err("the start-up check must refuse")
            .to_string();
        assert!(e.contains("max_storage_buffers_per_shader_stage"), "{e}");
        assert!(refused.iter().all(|x| e.contains(x)), "{e}");
    }
}
