//! Data loaders: what they read, and the clear errors they give for files that
//! are missing, truncated or of another format. The tests write their own files.

use std::io::Write;
use std::path::PathBuf;

use reslab::data::loader::{Normalize, epoch_order, eval_batches, train_batch};
use reslab::data::synthetic::{self, SyntheticSpec};
use reslab::data::{Augment, DataSpec, cifar, idx};

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("reslab-data-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// An MNIST-layout folder with `n` 4x4 images per split (gzip when asked).
fn mnist_dir(name: &str, n: u32, gz: bool) -> PathBuf {
    let d = tmp(name);
    for (stem, count) in [("train", n), ("t10k", n)] {
        let images: Vec<u8> = (0..count * 16).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let files = [
            (
                format!("{stem}-images-idx3-ubyte"),
                idx_bytes(&[count, 4, 4], &images),
            ),
            (
                format!("{stem}-labels-idx1-ubyte"),
                idx_bytes(&[count], &labels),
            ),
        ];
        for (f, bytes) in files {
            if gz {
                std::fs::write(d.join(format!("{f}.gz")), gzip(&bytes)).unwrap();
            } else {
                std::fs::write(d.join(f), bytes).unwrap();
            }
        }
    }
    d
}

fn err_of<T>(r: reslab::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn idx_reads_raw_and_gzip() {
    for gz in [false, true] {
        let d = mnist_dir(if gz { "gz" } else { "raw" }, 12, gz);
        let (train, test) = idx::load_dir(&d).unwrap();
        assert_eq!((train.len(), train.c, train.h, train.w), (12, 1, 4, 4));
        assert_eq!(test.labels[11], 1);
        assert_eq!(train.image(1)[0], 16);
        let spec = DataSpec {
            name: "mnist".into(),
            dir: Some(d),
            ..Default::default()
        };
        let ds = reslab::data::load(&spec).unwrap();
        assert_eq!(ds.class_names.len(), 10);
        assert!(!ds.augment.flip, "digits must not be mirrored");
    }
}

#[test]
fn idx_rejects_bad_files_by_name() {
    let d = mnist_dir("bad", 8, false);
    let images = d.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();
    // Truncated data.
    std::fs::write(&images, &good[..good.len() - 5]).unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
    // Truncated header.
    std::fs::write(&images, &good[..6]).unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(e.contains("truncated IDX header"), "{e}");
    // Another format altogether.
    std::fs::write(&images, b"\x89PNG\r\n\x1a\nnot an idx file").unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(e.contains("not an IDX file"), "{e}");
    // A corrupt gzip stream.
    std::fs::remove_file(&images).unwrap();
    let mut gz = gzip(&good);
    gz.truncate(gz.len() / 2);
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), gz).unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(
        e.contains("gzip") && e.contains("train-images-idx3-ubyte.gz"),
        "{e}"
    );
    // Labels that do not match the images.
    std::fs::remove_file(d.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(&images, &good).unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte"), idx_bytes(&[7], &[0; 7])).unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(e.contains("7 labels for 8 images"), "{e}");
    // A missing file.
    std::fs::remove_file(d.join("train-labels-idx1-ubyte")).unwrap();
    let e = err_of(idx::load_dir(&d));
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("missing"),
        "{e}"
    );
    // Labels beyond the classes.
    let d = mnist_dir("labels", 8, false);
    std::fs::write(
        d.join("t10k-labels-idx1-ubyte"),
        idx_bytes(&[8], &[0, 1, 2, 3, 4, 5, 6, 200]),
    )
    .unwrap();
    let spec = DataSpec {
        name: "mnist".into(),
        dir: Some(d),
        ..Default::default()
    };
    let e = err_of(reslab::data::load(&spec));
    assert!(e.contains("label 200 out of range"), "{e}");
}

fn cifar_dir(name: &str, per_batch: usize) -> PathBuf {
    let d = tmp(name);
    for f in [
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ] {
        let mut v = Vec::new();
        for i in 0..per_batch {
            v.push((i % 10) as u8);
            v.extend((0..3072).map(|j| ((i + j) % 256) as u8));
        }
        std::fs::write(d.join(format!("{f}.bin")), v).unwrap();
    }
    d
}

#[test]
fn cifar_reads_batches_and_rejects_bad_ones() {
    let d = cifar_dir("cifar", 3);
    let (train, test) = cifar::load_dir(&d).unwrap();
    assert_eq!((train.len(), test.len(), train.c, train.h), (15, 3, 3, 32));
    assert_eq!(train.image(1)[0], 1);
    let p = d.join("data_batch_3.bin");
    let good = std::fs::read(&p).unwrap();
    std::fs::write(&p, &good[..good.len() - 100]).unwrap();
    let e = err_of(cifar::load_dir(&d));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("whole number"),
        "{e}"
    );
    let mut bad = good.clone();
    bad[3073] = 42;
    std::fs::write(&p, &bad).unwrap();
    let e = err_of(cifar::load_dir(&d));
    assert!(e.contains("label 42"), "{e}");
    std::fs::remove_file(&p).unwrap();
    let e = err_of(cifar::load_dir(&d));
    assert!(e.contains("data_batch_3.bin"), "{e}");
    let e = err_of(reslab::data::load(&DataSpec {
        name: "cifar10".into(),
        ..Default::default()
    }));
    assert!(e.contains("--data-dir"), "{e}");
}

#[test]
fn unknown_data_set_is_named() {
    let e = err_of(reslab::data::load(&DataSpec {
        name: "imagenet21k".into(),
        ..Default::default()
    }));
    assert!(
        e.contains("imagenet21k") && e.contains("fashion-mnist"),
        "{e}"
    );
}

#[test]
fn synthetic_is_seeded_balanced_and_sized() {
    let spec = SyntheticSpec {
        side: 12,
        channels: 1,
        train: 50,
        test: 20,
        seed: 3,
    };
    let (a, t) = synthetic::generate(&spec).unwrap();
    let (b, _) = synthetic::generate(&spec).unwrap();
    assert_eq!(a.images, b.images, "same seed, same images");
    assert_eq!((a.c, a.h, a.w, a.len(), t.len()), (1, 12, 12, 50, 20));
    for k in 0..10 {
        assert_eq!(a.labels.iter().filter(|&&l| l == k).count(), 5);
    }
    let (c, _) = synthetic::generate(&SyntheticSpec {
        seed: 4,
        ..spec.clone()
    })
    .unwrap();
    assert_ne!(a.images, c.images, "another seed, other images");
    assert_ne!(
        a.images,
        t.images[..a.images.len().min(t.images.len())].to_vec()
    );
    assert!(synthetic::generate(&SyntheticSpec { side: 4, ..spec }).is_err());
}

#[test]
fn batches_are_deterministic_normalised_and_augmented() {
    let (split, _) = synthetic::generate(&SyntheticSpec {
        side: 8,
        channels: 2,
        train: 40,
        test: 10,
        seed: 0,
    })
    .unwrap();
    let norm = Normalize {
        mean: vec![0.5, 0.25],
        std: vec![0.5, 0.25],
    };
    let order = epoch_order(7, 0, split.len());
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        (0..40).collect::<Vec<_>>(),
        "an epoch visits every sample once"
    );
    assert_ne!(
        order,
        epoch_order(7, 1, split.len()),
        "each epoch reshuffles"
    );
    let b1 = train_batch(&split, &norm, 8, Augment::NONE, 7, 0, 2, &order);
    let b2 = train_batch(&split, &norm, 8, Augment::NONE, 7, 0, 2, &order);
    assert_eq!(b1.images, b2.images);
    // Unaugmented values are exactly (v/255 - mean)/std.
    let i = order[16];
    let v = split.image(i)[0] as f32 / 255.0;
    assert_eq!(b1.images[0], (v - 0.5) / 0.5);
    assert_eq!(b1.labels[0], split.labels[i] as u32);
    // Augmented: padding shows up as the normalised value of black.
    let aug = Augment { pad: 3, flip: true };
    let mut black = 0;
    for idx in 0..5 {
        let b = train_batch(&split, &norm, 8, aug, 7, 0, idx, &order);
        black += b.images.iter().filter(|&&x| x == -1.0).count();
    }
    assert!(black > 0, "random crops never reached the padding");
    // Evaluation covers the split once, in order, with a short last batch.
    let sizes: Vec<usize> = eval_batches(&split, &norm, 16)
        .map(|b| b.labels.len())
        .collect();
    assert_eq!(sizes, vec![16, 16, 8]);
}
