//! Every WGSL file through naga with no device: parse, validate, then translate
//! each entry point to SPIR-V (Vulkan), MSL (Metal), HLSL (DX12) and GLSL ES 3.10
//! (GL), so a shader that would not compile on one of them fails here.

use std::collections::BTreeSet;
use std::path::Path;

use naga::back::{glsl, hlsl, msl, spv};
use naga::valid::{Capabilities, ValidationFlags, Validator};
use reslab::kernels::shaders::{MODULES, SHARED};

fn shader_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders")
}

#[test]
fn every_shader_file_is_registered() {
    let names = |dir: std::path::PathBuf| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".wgsl"))
            .collect()
    };
    let registered: BTreeSet<String> = MODULES.iter().map(|m| m.file.to_string()).collect();
    assert_eq!(
        names(shader_dir()),
        registered,
        "shaders/ and kernels::shaders::MODULES disagree"
    );
    let modules: BTreeSet<&str> = MODULES.iter().map(|m| m.name).collect();
    assert_eq!(modules.len(), MODULES.len(), "two modules of one name");
    for m in MODULES {
        assert!(
            m.name == m.file || !m.swaps.is_empty(),
            "{}: a module of another name than its file is a variant",
            m.name
        );
        let disk = std::fs::read_to_string(shader_dir().join(m.file)).unwrap();
        assert_eq!(
            disk, m.source,
            "{}: embedded source differs from the file",
            m.name
        );
    }
    let shared: BTreeSet<String> = SHARED.iter().map(|(k, _)| format!("{k}.wgsl")).collect();
    assert_eq!(
        names(shader_dir().join("shared")),
        shared,
        "shaders/shared/ and SHARED disagree"
    );
    // Every shared file is in some module (imported by it, by a shared
    // file it imports, or swapped in).
    let expanded: Vec<String> = MODULES.iter().map(|m| m.wgsl().unwrap()).collect();
    for (k, _) in SHARED {
        assert!(
            expanded
                .iter()
                .any(|w| w.contains(&format!("// ---- shared/{k}.wgsl ----\n"))),
            "shared/{k}.wgsl is in no module"
        );
    }
}

#[test]
fn every_shader_validates_and_translates_to_all_backends() {
    let mut failures = Vec::new();
    let mut entry_points = 0;
    for m in MODULES {
        let src = m.wgsl().unwrap();
        if let Err(e) = check(m.name, &src, &mut entry_points) {
            failures.push(format!("{}: {e}", m.name));
        }
    }
    assert!(
        failures.is_empty(),
        "shader failures:\n{}",
        failures.join("\n")
    );
    assert!(entry_points > 20, "only {entry_points} entry points found");
}

fn check(file: &str, src: &str, entry_points: &mut usize) -> Result<(), String> {
    let module = naga::front::wgsl::parse_str(src).map_err(|e| e.emit_to_string(src))?;
    // No shader asks for an optional capability (f16), but subgroups in the
    // modules named for them (*_subgroup.wgsl, whose kernels run only where
    // the device has them).
    let caps = if file.ends_with("_subgroup.wgsl") {
        Capabilities::SUBGROUP
    } else {
        Capabilities::empty()
    };
    let info = Validator::new(ValidationFlags::all(), caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(src))?;
    for ep in &module.entry_points {
        *entry_points += 1;
        let name = ep.name.clone();
        let (module, info) = naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((ep.stage, &name)),
            &Default::default(),
        )
        .map_err(|e| format!("{name}: overrides: {e}"))?;
        let (module, info) = (module.as_ref(), info.as_ref());

        spv::write_vec(
            module,
            info,
            &spv::Options::default(),
            Some(&spv::PipelineOptions {
                shader_stage: ep.stage,
                entry_point: name.clone(),
            }),
        )
        .map_err(|e| format!("{name}: SPIR-V: {e}"))?;

        let msl_opts = msl::Options {
            lang_version: (2, 1),
            fake_missing_bindings: true,
            ..Default::default()
        };
        msl::write_string(
            module,
            info,
            &msl_opts,
            &msl::PipelineOptions {
                entry_point: Some((ep.stage, name.clone())),
                ..Default::default()
            },
        )
        .map_err(|e| format!("{name}: MSL: {e}"))?;

        let hlsl_opts = hlsl::Options {
            shader_model: hlsl::ShaderModel::V5_1,
            fake_missing_bindings: true,
            ..Default::default()
        };
        let hlsl_pipe = hlsl::PipelineOptions {
            entry_point: Some((ep.stage, name.clone())),
        };
        let mut out = String::new();
        hlsl::Writer::new(&mut out, &hlsl_opts, &hlsl_pipe)
            .write(module, info, None)
            .map_err(|e| format!("{name}: HLSL: {e}"))?;

        let glsl_opts = glsl::Options {
            version: glsl::Version::Embedded {
                version: 310,
                is_webgl: false,
            },
            ..Default::default()
        };
        let glsl_pipe = glsl::PipelineOptions {
            shader_stage: ep.stage,
            entry_point: name.clone(),
            multiview: None,
        };
        let mut out = String::new();
        glsl::Writer::new(
            &mut out,
            module,
            info,
            &glsl_opts,
            &glsl_pipe,
            naga::proc::BoundsCheckPolicies::default(),
        )
        .and_then(|mut w| w.write())
        .map_err(|e| format!("{name}: GLSL ES 3.10: {e}"))?;
    }
    Ok(())
}
