//! Safetensors reading and writing without a device: dtypes, notes, atomic writes.

use safetensors::tensor::{Dtype, TensorView};

/// A fresh directory under the system temp dir, removed (with everything in
/// it) when the returned guard drops, also when the test fails.
fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("reslab-ck-{name}-"))
        .tempdir()
        .unwrap()
}

#[test]
fn half_precision_is_converted_with_a_note_and_integers_are_refused() {
    let dir = tmp("dtypes");
    let d = dir.path();
    let vals = [0.5f32, -1.25, 3.0];
    let h: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
        .collect();
    let b: Vec<u8> = vals
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
        .collect();
    let views = vec![
        (
            "a".to_string(),
            TensorView::new(Dtype::F16, vec![3], &h).unwrap(),
        ),
        (
            "b".to_string(),
            TensorView::new(Dtype::BF16, vec![3], &b).unwrap(),
        ),
    ];
    let p = d.join("half.safetensors");
    std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
    let t = reslab::checkpoint::read(&p).unwrap();
    assert_eq!(t.f32s["a"].1, vals);
    assert_eq!(t.f32s["b"].1, vals);
    let notes = t.notes.join("; ");
    assert!(
        notes.contains("from f16") && notes.contains("from bf16"),
        "{notes}"
    );
    let ints = [1u8, 2, 3];
    let p = d.join("int.safetensors");
    let views = vec![(
        "w".to_string(),
        TensorView::new(Dtype::U8, vec![3], &ints).unwrap(),
    )];
    std::fs::write(&p, safetensors::serialize(views, None).unwrap()).unwrap();
    let e = reslab::checkpoint::read(&p).unwrap_err().to_string();
    assert!(e.contains("tensor w has dtype U8"), "{e}");
}

#[test]
fn writes_replace_files_whole() {
    let dir = tmp("atomic");
    let d = dir.path();
    let p = d.join("ck.safetensors");
    std::fs::write(&p, b"an older checkpoint").unwrap();
    let values = vec![("x".to_string(), vec![2], vec![1.0f32, 2.0])];
    reslab::checkpoint::write(&p, &values, &[("n".to_string(), 7)], Default::default()).unwrap();
    let t = reslab::checkpoint::read(&p).unwrap();
    assert_eq!(t.f32s["x"].1, vec![1.0, 2.0]);
    assert_eq!(t.i64s["n"].1, vec![7]);
    let leftovers: Vec<_> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");
}

#[test]
fn npy_round_trips_and_refuses_what_it_cannot_read() {
    let dir = tmp("npy");
    let d = dir.path();
    let a = reslab::npy::Array {
        shape: vec![2, 3],
        data: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    };
    let p = d.join("a.npy");
    reslab::npy::write(&p, &a).unwrap();
    assert_eq!(reslab::npy::read(&p).unwrap(), a);
    let bytes = reslab::npy::encode(&a);
    assert_eq!(
        (bytes.len() - 24) % 64,
        0,
        "data starts at a multiple of 64"
    );
    let mut int = bytes.clone();
    let i = int.windows(3).position(|w| w == b"<f4").unwrap();
    int[i + 1..i + 3].copy_from_slice(b"i4");
    let e = reslab::npy::parse(&p, &int).unwrap_err().to_string();
    assert!(e.contains("'<i4'") && e.contains("float32"), "{e}");
    let e = reslab::npy::parse(&p, b"PK\x03\x04 a zip file")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a .npy file"), "{e}");
}

fn foreign(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/foreign")
        .join(name)
}

#[test]
fn pytorch_checkpoints_read_as_their_safetensors_twins() {
    use reslab::checkpoint::read;
    for name in ["resnet20", "resnet18"] {
        let pth = read(&foreign(&format!("{name}.pth"))).unwrap();
        let st = read(&foreign(&format!("{name}.safetensors"))).unwrap();
        // resnet18.pth is wrapped as DistributedDataParallel saves it:
        // {"state_dict": {"module.<key>": ...}}; the keys come out plain.
        assert_eq!(pth.f32s, st.f32s, "{name}: the float tensors differ");
        assert_eq!(pth.i64s, st.i64s, "{name}: the counters differ");
        assert!(pth.f32s.contains_key("conv1.weight"), "{name}");
        assert!(
            pth.i64s.keys().any(|k| k.ends_with("num_batches_tracked")),
            "{name}"
        );
    }
}

#[test]
fn a_pickle_that_would_run_code_is_refused_and_broken_archives_are_errors() {
    use reslab::checkpoint::{parse, read};
    let e = read(&foreign("hostile.pth")).unwrap_err().to_string();
    assert!(
        e.contains("hostile.pth") && e.contains("posix.system") && e.contains("runs nothing"),
        "{e}"
    );
    // Every truncation of a real checkpoint, and a byte changed anywhere in
    // its pickle: an error (or the same tensors), never a panic.
    let bytes = std::fs::read(foreign("resnet20.pth")).unwrap();
    let p = std::path::Path::new("cut.pth");
    for n in (0..bytes.len()).step_by(997) {
        assert!(parse(p, &bytes[..n]).is_err(), "cut at {n} read");
    }
    let dir = tmp("foreign");
    let d = dir.path();
    let not_torch = d.join("x.pth");
    std::fs::write(&not_torch, b"PK\x03\x04 this is no zip archive at all").unwrap();
    let e = read(&not_torch).unwrap_err().to_string();
    assert!(e.contains("x.pth") && e.contains("zip"), "{e}");
    let legacy = d.join("old.pt");
    std::fs::write(&legacy, [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc]).unwrap();
    let e = read(&legacy).unwrap_err().to_string();
    assert!(e.contains("before 1.6"), "{e}");
}
