//! Pipelines whose overridable constants are set, specialised before the
//! driver sees them. A branch on such a constant (`if VEC4_ROWS`,
//! `if WINDOWS > 1u`) is constant in the pipeline, but naga writes both
//! sides into the shader it hands the driver, and a driver may translate and
//! optimise the dead side before it drops it: lavapipe spent a third of a
//! tiled conv pipeline's creation on the guarded scalar loads and stores
//! behind `VEC4_ROWS` that the pipeline never runs. Here such a pipeline gets a
//! module of its own: the WGSL's module with the constants' values in place
//! (naga's own override pass), only the pipeline's entry point and what it
//! reaches, and every `if` whose condition is now a constant replaced by the
//! side it takes. The code that runs is the same, statement for statement.

use naga::{Block, Expression, Literal, Statement};

/// A WGSL module parsed and validated once, for the pipelines specialised
/// from it.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub module: naga::Module,
    pub info: naga::valid::ModuleInfo,
}

/// Parses and validates `source` (errors as naga words them, with the line).
pub(crate) fn parse(name: &str, source: &str) -> Result<Parsed, String> {
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("shader {name}: {}", e.emit_to_string(source)))?;
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::all(),
    )
    .validate(&module)
    .map_err(|e| format!("shader {name}: {}", e.emit_to_string(source)))?;
    Ok(Parsed { module, info })
}

/// `parsed`'s compute entry point `entry` alone, its overridable constants
/// set to `constants` (the others keep their defaults), and each `if` on a
/// condition that is then constant replaced by the side it takes.
pub(crate) fn specialize(
    parsed: &Parsed,
    entry: &str,
    constants: &[(&str, u32)],
) -> Result<naga::Module, String> {
    let values: naga::back::PipelineConstants = constants
        .iter()
        .map(|&(k, v)| (k.to_string(), f64::from(v)))
        .collect();
    let (module, _) = naga::back::pipeline_constants::process_overrides(
        &parsed.module,
        &parsed.info,
        Some((naga::ShaderStage::Compute, entry)),
        &values,
    )
    .map_err(|e| format!("constants {constants:?}: {e}"))?;
    let mut module = module.into_owned();
    let naga::Module {
        functions,
        entry_points,
        constants,
        global_expressions,
        ..
    } = &mut module;
    let globals = Globals {
        constants,
        expressions: global_expressions,
    };
    for (_, f) in functions.iter_mut() {
        globals.prune(&mut f.body, &f.expressions);
    }
    for ep in entry_points.iter_mut() {
        globals.prune(&mut ep.function.body, &ep.function.expressions);
    }
    // Drop what only the dead sides reached (functions, overrides now
    // replaced by constants).
    naga::compact::compact(&mut module, naga::compact::KeepUnused::No);
    Ok(module)
}

/// What a function's constant expressions refer to.
struct Globals<'a> {
    constants: &'a naga::Arena<naga::Constant>,
    expressions: &'a naga::Arena<Expression>,
}

impl Globals<'_> {
    /// The value of boolean expression `e` of a function whose expressions
    /// are `local`, where it is a constant.
    fn constant_bool(
        &self,
        local: &naga::Arena<Expression>,
        e: naga::Handle<Expression>,
    ) -> Option<bool> {
        let global = |mut h: naga::Handle<Expression>| loop {
            match self.expressions[h] {
                Expression::Literal(Literal::Bool(b)) => return Some(b),
                Expression::Constant(c) => h = self.constants[c].init,
                _ => return None,
            }
        };
        match local[e] {
            Expression::Literal(Literal::Bool(b)) => Some(b),
            Expression::Constant(c) => global(self.constants[c].init),
            _ => None,
        }
    }

    /// Replaces every `if` of `block` (and of the blocks inside it) whose
    /// condition is constant by the side it takes.
    fn prune(&self, block: &mut Block, local: &naga::Arena<Expression>) {
        for s in block.iter_mut() {
            if let Statement::If {
                condition,
                accept,
                reject,
            } = s
                && let Some(taken) = self.constant_bool(local, *condition)
            {
                let side = std::mem::take(if taken { accept } else { reject });
                *s = Statement::Block(side);
            }
            match s {
                Statement::Block(b) => self.prune(b, local),
                Statement::If { accept, reject, .. } => {
                    self.prune(accept, local);
                    self.prune(reject, local);
                }
                Statement::Switch { cases, .. } => {
                    for c in cases.iter_mut() {
                        self.prune(&mut c.body, local);
                    }
                }
                Statement::Loop {
                    body, continuing, ..
                } => {
                    self.prune(body, local);
                    self.prune(continuing, local);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "
override WIDE: bool = false;
override N: u32 = 1u;
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
fn narrow(i: u32) { y[i] = 1.0; }
fn wide(i: u32) { y[i] = 2.0; y[i + 1u] = 2.0; }
fn several(i: u32) { y[i] = f32(N); }
@compute @workgroup_size(1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if WIDE { wide(id.x); } else { narrow(id.x); }
    for (var k = 0u; k < 2u; k++) {
        if N > 1u { several(id.x + k); }
    }
    if id.x > 3u { y[0] = 0.0; }
}
@compute @workgroup_size(1)
fn other() { y[0] = 5.0; }
";

    fn ifs(block: &Block) -> usize {
        block
            .iter()
            .map(|s| match s {
                Statement::If { accept, reject, .. } => 1 + ifs(accept) + ifs(reject),
                Statement::Block(b) => ifs(b),
                Statement::Loop {
                    body, continuing, ..
                } => ifs(body) + ifs(continuing),
                _ => 0,
            })
            .sum()
    }

    fn names(m: &naga::Module) -> Vec<String> {
        let mut v: Vec<String> = m
            .functions
            .iter()
            .filter_map(|(_, f)| f.name.clone())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn constant_branches_leave_only_the_side_taken() {
        let parsed = parse("test", SOURCE).unwrap();
        for (constants, kept) in [
            (&[][..], vec!["narrow"]),
            (&[("WIDE", 1)][..], vec!["wide"]),
            (&[("N", 3)][..], vec!["narrow", "several"]),
            (&[("WIDE", 1), ("N", 2)][..], vec!["several", "wide"]),
        ] {
            let m = specialize(&parsed, "main", constants).unwrap();
            assert_eq!(names(&m), kept, "{constants:?}");
            assert_eq!(m.entry_points.len(), 1);
            assert!(m.overrides.is_empty(), "{constants:?}");
            // The `if`s left: the loop's condition and the test of the
            // invocation id, neither a constant.
            assert_eq!(ifs(&m.entry_points[0].function.body), 2, "{constants:?}");
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&m)
            .unwrap_or_else(|e| panic!("{constants:?}: {e:?}"));
        }
    }

    #[test]
    fn unknown_constants_and_bad_sources_are_errors() {
        let parsed = parse("test", SOURCE).unwrap();
        let e = specialize(&parsed, "main", &[("NARROW", 1)]).unwrap_err();
        assert!(e.contains("NARROW"), "{e}");
        let e = parse("broken.wgsl", "fn main( {").unwrap_err();
        assert!(e.starts_with("shader broken.wgsl:"), "{e}");
    }
}
