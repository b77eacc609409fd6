//! The model zoo without a device: layer counts, parameter counts and names
//! against the papers and torchvision.

use reslab::model::{Family, Graph, ModelSpec, Shortcut};

fn count(name: &str, classes: usize) -> usize {
    let mut spec = ModelSpec::parse(name, None).unwrap();
    spec.classes = classes;
    let side = if spec.family == Family::Imagenet {
        224
    } else {
        32
    };
    Graph::build(&spec, side, side).unwrap().param_count()
}

#[test]
fn parameter_counts_match_the_paper_and_torchvision() {
    // He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M.
    let cifar = [
        ("resnet20", 0.27),
        ("resnet32", 0.46),
        ("resnet44", 0.66),
        ("resnet56", 0.85),
        ("resnet110", 1.7),
    ];
    for (name, millions) in cifar {
        let n = count(name, 10) as f64 / 1e6;
        let digits = if millions < 1.0 { 2 } else { 1 };
        let scale = 10f64.powi(digits);
        assert_eq!(
            (n * scale).round() / scale,
            millions,
            "{name}: {n:.4}M parameters"
        );
    }
    // torchvision, 1000 classes.
    assert_eq!(count("resnet18", 1000), 11_689_512);
    assert_eq!(count("resnet34", 1000), 21_797_672);
    assert_eq!(count("resnet50", 1000), 25_557_032);
    assert_eq!(count("resnet101", 1000), 44_549_160);
    assert_eq!(count("resnet152", 1000), 60_192_808);
    // Option A adds no parameters: plain and residual twins are equal.
    assert_eq!(count("plain56", 10), count("resnet56", 10));
}

#[test]
fn state_dict_keys_follow_torchvision() {
    let spec = ModelSpec::parse("resnet18", None).unwrap();
    let g = Graph::build(&spec, 64, 64).unwrap();
    let names: Vec<&str> = g.params.iter().map(|p| p.name.as_str()).collect();
    for key in [
        "conv1.weight",
        "bn1.weight",
        "bn1.bias",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.bias",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.weight",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ] {
        assert!(names.contains(&key), "missing {key}");
    }
    assert!(
        !names.iter().any(|n| n.starts_with("layer1.0.downsample")),
        "layer1.0 needs no projection"
    );
    let buffers: Vec<&str> = g.buffers.iter().map(|p| p.name.as_str()).collect();
    assert!(buffers.contains(&"layer3.1.bn2.running_var"));
    // Bottlenecks: conv3/bn3, projection on layer1.0 (64 -> 256 channels).
    let g = Graph::build(&ModelSpec::parse("resnet50", None).unwrap(), 64, 64).unwrap();
    let names: Vec<&str> = g.params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"layer1.0.downsample.0.weight"));
    assert!(names.contains(&"layer4.2.bn3.weight"));
    let conv2 = g
        .params
        .iter()
        .find(|p| p.name == "layer2.0.conv2.weight")
        .unwrap();
    assert_eq!(conv2.shape, vec![128, 128, 3, 3]);
}

#[test]
fn cifar_family_layout() {
    let spec = ModelSpec::parse("resnet20", None).unwrap();
    assert_eq!(
        (spec.family, spec.shortcut, spec.width),
        (Family::Cifar, Shortcut::A, 16)
    );
    let g = Graph::build(&spec, 32, 32).unwrap();
    assert_eq!(g.blocks.len(), 9);
    let convs = g
        .ops
        .iter()
        .filter(|o| matches!(o, reslab::model::Op::Conv { .. }))
        .count();
    assert_eq!(convs + 1, 20, "19 convs + fc = 20 weighted layers");
    assert_eq!(g.responses.len(), 19);
    assert_eq!(
        g.tensors[g.blocks[8].output],
        reslab::model::Dims { c: 64, h: 8, w: 8 }
    );
    // Fashion-MNIST-sized input: 28 -> 14 -> 7.
    let g = Graph::build(&spec, 28, 28).unwrap();
    assert_eq!(g.tensors[g.blocks[8].output].h, 7);
    // Option B adds a projection where the shape changes, C on every block.
    let mut b = spec.clone();
    b.shortcut = Shortcut::B;
    let gb = Graph::build(&b, 32, 32).unwrap();
    assert_eq!(
        gb.params
            .iter()
            .filter(|p| p.name.contains("downsample.0"))
            .count(),
        2
    );
    b.shortcut = Shortcut::C;
    let gc = Graph::build(&b, 32, 32).unwrap();
    assert_eq!(
        gc.params
            .iter()
            .filter(|p| p.name.contains("downsample.0"))
            .count(),
        9
    );
}

/// Fig. 7 responses: the BN that reads each 3x3 conv; in pre-activation
/// residual blocks the second conv itself (it goes into the addition).
#[test]
fn responses_are_the_bn_after_each_3x3_conv_or_the_conv_before_an_addition() {
    use reslab::model::Op;
    let kinds = |name: &str, preact: bool| -> Vec<&'static str> {
        let mut spec = ModelSpec::parse(name, None).unwrap();
        spec.preact = preact;
        let g = Graph::build(&spec, 32, 32).unwrap();
        g.responses
            .iter()
            .map(|&op| match &g.ops[op] {
                Op::BatchNorm { x, .. } => {
                    // It reads a 3x3 conv's output.
                    assert!(
                        g.ops
                            .iter()
                            .any(|o| matches!(o, Op::Conv { y, k: 3, .. } if y == x))
                    );
                    "bn"
                }
                Op::Conv { k: 3, .. } => "conv",
                o => panic!("{o:?} is not a response"),
            })
            .collect()
    };
    for (name, preact) in [("resnet20", false), ("plain20", false), ("plain20", true)] {
        assert_eq!(
            kinds(name, preact),
            vec!["bn"; 19],
            "{name} preact={preact}"
        );
    }
    // Stem (read by layer1.0.bn1), then per block: conv1 -> bn2, conv2 -> addition.
    let mut want = vec!["bn"];
    for _ in 0..9 {
        want.extend(["bn", "conv"]);
    }
    assert_eq!(kinds("resnet20", true), want);
}

#[test]
fn names_parse_and_bad_ones_are_refused() {
    assert!(!ModelSpec::parse("plain56", None).unwrap().residual);
    assert_eq!(
        ModelSpec::parse("resnet50", Some(Family::Cifar))
            .unwrap()
            .family,
        Family::Cifar
    );
    for bad in ["resnet21", "vgg16", "resnetx", "resnet2"] {
        assert!(ModelSpec::parse(bad, None).is_err(), "{bad} accepted");
    }
    assert!(ModelSpec::parse("resnet19", Some(Family::Imagenet)).is_err());
    let spec = ModelSpec::parse("resnet18", None).unwrap();
    let e = Graph::build(&spec, 16, 16).unwrap_err();
    assert!(e.to_string().contains("at least 32x32"), "{e}");
}

#[test]
fn preact_and_zero_gamma() {
    let mut spec = ModelSpec::parse("resnet20", None).unwrap();
    spec.preact = true;
    spec.zero_gamma = true;
    let g = Graph::build(&spec, 32, 32).unwrap();
    let names: Vec<&str> = g.params.iter().map(|p| p.name.as_str()).collect();
    assert!(names.contains(&"bn_final.weight"));
    assert!(
        !names.contains(&"bn1.weight"),
        "a pre-activation stem has no BN"
    );
    assert!(names.contains(&"layer1.0.bn1.weight"));
    let host = reslab::model::HostParams::init(&g, 0);
    // The last BN of each branch (bn2 here) starts at zero, the others at one.
    assert!(
        host.get(&g, "layer2.1.bn2.weight")
            .unwrap()
            .iter()
            .all(|&v| v == 0.0)
    );
    assert!(
        host.get(&g, "layer2.1.bn1.weight")
            .unwrap()
            .iter()
            .all(|&v| v == 1.0)
    );
    // Plain nets have no residual branch to zero.
    let plain = spec.twin(false);
    let g = Graph::build(&plain, 32, 32).unwrap();
    let host = reslab::model::HostParams::init(&g, 0);
    assert!(
        host.get(&g, "layer2.1.bn2.weight")
            .unwrap()
            .iter()
            .all(|&v| v == 1.0)
    );
}

#[test]
fn multiply_adds_match_the_paper() {
    // Multiply-adds at 224x224 as torchvision's model documentation gives
    // them ("GFLOPS"; the paper's Table 1 has 1.8, 3.6, 3.8, 7.6, 11.3: its
    // bottlenecks stride the 1x1 conv, torchvision's the 3x3).
    for (name, billions) in [
        ("resnet18", 1.81),
        ("resnet34", 3.66),
        ("resnet50", 4.09),
        ("resnet101", 7.8),
        ("resnet152", 11.51),
    ] {
        let g = Graph::build(&ModelSpec::parse(name, None).unwrap(), 224, 224).unwrap();
        let macs = g.flops_per_image(false) as f64 / 2.0 / 1e9;
        assert!(
            (macs - billions).abs() / billions < 0.01,
            "{name}: {macs:.3}e9 multiply-adds, torchvision says {billions}e9"
        );
        // Training adds the weight gradient of every layer and the input
        // gradient of every layer but the stem: just under three forwards.
        let train = g.flops_per_image(true) as f64 / g.flops_per_image(false) as f64;
        assert!(
            train > 2.9 && train < 3.0,
            "{name}: training / forward = {train}"
        );
    }
    // ResNet-20 on CIFAR: about 41 million.
    let g = Graph::build(&ModelSpec::parse("resnet20", None).unwrap(), 32, 32).unwrap();
    let m = g.flops_per_image(false) as f64 / 2.0 / 1e6;
    assert!((40.0..42.0).contains(&m), "resnet20: {m:.2}M multiply-adds");
}

/// Every convolution and batch norm of the zoo, at its default input size and
/// the default batch (128), runs with serial loops of at most 8192 terms per
/// invocation, the sums of chunks included.
#[test]
fn serial_loops_of_the_zoo_are_bounded() {
    use reslab::kernels::{batchnorm, conv2d};
    use reslab::model::Op;
    use std::collections::BTreeMap;
    let batch = 128;
    let mut longest: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    for (name, size) in [
        ("resnet20", 32),
        ("resnet110", 32),
        ("resnet1202", 32),
        ("resnet18", 224),
        ("resnet34", 224),
        ("resnet50", 224),
        ("resnet101", 224),
        ("resnet152", 224),
    ] {
        let spec = ModelSpec::parse(name, None).unwrap();
        let graph = Graph::build(&spec, size, size).unwrap();
        for op in &graph.ops {
            let loops: Vec<(&str, usize)> = match op {
                Op::Conv {
                    x,
                    y,
                    k,
                    stride,
                    pad,
                    ..
                } => {
                    // A GPU's weight-gradient chunks, and a CPU adapter's.
                    let g = graph.conv_geom(batch, *x, *y, *k, *stride, *pad);
                    [conv2d::WGRAD_CHUNKS_GPU, conv2d::WGRAD_CHUNKS_CPU]
                        .into_iter()
                        .flat_map(|c| conv2d::serial_loops(&g, c))
                        .collect()
                }
                // A GPU's reductions, and a CPU adapter's.
                Op::BatchNorm { x, .. } => [256, 32]
                    .into_iter()
                    .flat_map(|groups| batchnorm::serial_loops(&graph.bn_geom(batch, *x), groups))
                    .collect(),
                _ => continue,
            };
            for (pass, len) in loops {
                let e = longest.entry(pass).or_insert((0, String::new()));
                if len > e.0 {
                    *e = (len, format!("{name} at {size} px"));
                }
            }
        }
    }
    for (pass, (len, at)) in &longest {
        eprintln!("{pass}: longest serial loop {len} ({at})");
    }
    for (pass, (len, at)) in &longest {
        assert!(*len <= 8192, "{pass}: a loop of {len} in {at}");
    }
    assert_eq!(longest.len(), 6, "every pass measured: {longest:?}");
}
