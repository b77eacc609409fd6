//! The probe benchmark on the adapter the environment picks: what it measures
//! must be measured, not restated.

use reslab::Gpu;
use reslab::model::{Graph, ModelSpec, Op};

#[test]
fn the_probe_benchmark_measures_probed_and_plain_steps() {
    let gpu = Gpu::new().expect("a wgpu adapter");
    let r = reslab_bench::probe_overhead(&gpu, "resnet8", 4, 4, 8, 2).unwrap();
    let mut spec = ModelSpec::parse("resnet8", None).unwrap();
    spec.width = 4;
    let graph = Graph::build(&spec, 8, 8).unwrap();
    let base = &r[0];
    assert_eq!(base.every, 0, "the baseline comes first");
    for p in &r {
        assert!(p.ms_per_step.is_finite() && p.ms_per_step > 0.0, "{p:?}");
    }
    for p in &r[1..] {
        // A probe is a sum of squares per block (F(x) and x) and per 3x3
        // layer response, as the graph has them, but for the responses that
        // are batch norms over their batch's statistics (a training plan's):
        // those come from what the batch norm saved, with no pass.
        let passes = graph
            .responses
            .iter()
            .filter(|&&op| !matches!(graph.ops[op], Op::BatchNorm { .. }))
            .count();
        assert_eq!(p.dispatches, 2 * graph.blocks.len() + passes, "{p:?}");
        // Timed alone, one probe's reductions read a step's activations once:
        // cheaper than the step that made them (forward, backward, update).
        assert!(
            p.probe_ms > 0.0 && p.probe_ms < base.ms_per_step,
            "a probe takes {} ms, a step {} ms",
            p.probe_ms,
            base.ms_per_step
        );
    }
    gpu.check().unwrap();
}
