//! Data loaders: what they read, and the clear errors they give for files that
//! are missing, truncated or of another format. The tests write their own files.

use std::io::Write;

use reslab::data::folder::{FolderSpec, transform};
use reslab::data::loader::{Normalize, epoch_order, eval_batches, train_batch};
use reslab::data::synthetic::{self, SyntheticSpec};
use reslab::data::{Augment, DataSpec, cifar, idx};
use tempfile::TempDir;

/// A fresh directory under the system temp dir, removed (with everything in
/// it) when the returned guard drops, also when the test fails.
fn tmp(name: &str) -> TempDir {
    tempfile::Builder::new()
        .prefix(&format!("reslab-data-{name}-"))
        .tempdir()
        .unwrap()
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
fn mnist_dir(name: &str, n: u32, gz: bool) -> TempDir {
    let dir = tmp(name);
    let d = dir.path();
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
    dir
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
        let dir = mnist_dir(if gz { "gz" } else { "raw" }, 12, gz);
        let d = dir.path();
        let (train, test) = idx::load_dir(d).unwrap();
        assert_eq!((train.len(), train.c, train.h, train.w), (12, 1, 4, 4));
        assert_eq!(test.labels[11], 1);
        assert_eq!(train.image(1)[0], 16);
        let spec = DataSpec {
            name: "mnist".into(),
            dir: Some(d.to_path_buf()),
            ..Default::default()
        };
        let ds = reslab::data::load(&spec).unwrap();
        assert_eq!(ds.class_names.len(), 10);
        assert!(!ds.augment.flip, "digits must not be mirrored");
    }
}

#[test]
fn idx_rejects_bad_files_by_name() {
    let dir = mnist_dir("bad", 8, false);
    let d = dir.path();
    let images = d.join("train-images-idx3-ubyte");
    let good = std::fs::read(&images).unwrap();
    // Truncated data.
    std::fs::write(&images, &good[..good.len() - 5]).unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(
        e.contains("train-images-idx3-ubyte") && e.contains("truncated"),
        "{e}"
    );
    // Truncated header.
    std::fs::write(&images, &good[..6]).unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(e.contains("truncated IDX header"), "{e}");
    // Another format altogether.
    std::fs::write(&images, b"\x89PNG\r\n\x1a\nnot an idx file").unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(e.contains("not an IDX file"), "{e}");
    // A corrupt gzip stream.
    std::fs::remove_file(&images).unwrap();
    let mut gz = gzip(&good);
    gz.truncate(gz.len() / 2);
    std::fs::write(d.join("train-images-idx3-ubyte.gz"), gz).unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(
        e.contains("gzip") && e.contains("train-images-idx3-ubyte.gz"),
        "{e}"
    );
    // Labels that do not match the images.
    std::fs::remove_file(d.join("train-images-idx3-ubyte.gz")).unwrap();
    std::fs::write(&images, &good).unwrap();
    std::fs::write(d.join("train-labels-idx1-ubyte"), idx_bytes(&[7], &[0; 7])).unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(e.contains("7 labels for 8 images"), "{e}");
    // A missing file.
    std::fs::remove_file(d.join("train-labels-idx1-ubyte")).unwrap();
    let e = err_of(idx::load_dir(d));
    assert!(
        e.contains("train-labels-idx1-ubyte") && e.contains("missing"),
        "{e}"
    );
    // Labels beyond the classes.
    let labels_dir = mnist_dir("labels", 8, false);
    let d = labels_dir.path();
    std::fs::write(
        d.join("t10k-labels-idx1-ubyte"),
        idx_bytes(&[8], &[0, 1, 2, 3, 4, 5, 6, 200]),
    )
    .unwrap();
    let spec = DataSpec {
        name: "mnist".into(),
        dir: Some(d.to_path_buf()),
        ..Default::default()
    };
    let e = err_of(reslab::data::load(&spec));
    assert!(e.contains("label 200 out of range"), "{e}");
}

fn cifar_dir(name: &str, per_batch: usize) -> TempDir {
    let dir = tmp(name);
    let d = dir.path();
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
    dir
}

#[test]
fn cifar_reads_batches_and_rejects_bad_ones() {
    let dir = cifar_dir("cifar", 3);
    let d = dir.path();
    let (train, test) = cifar::load_dir(d).unwrap();
    assert_eq!((train.len(), test.len(), train.c, train.h), (15, 3, 3, 32));
    assert_eq!(train.image(1)[0], 1);
    let p = d.join("data_batch_3.bin");
    let good = std::fs::read(&p).unwrap();
    std::fs::write(&p, &good[..good.len() - 100]).unwrap();
    let e = err_of(cifar::load_dir(d));
    assert!(
        e.contains("data_batch_3.bin") && e.contains("whole number"),
        "{e}"
    );
    let mut bad = good.clone();
    bad[3073] = 42;
    std::fs::write(&p, &bad).unwrap();
    let e = err_of(cifar::load_dir(d));
    assert!(e.contains("label 42"), "{e}");
    std::fs::remove_file(&p).unwrap();
    let e = err_of(cifar::load_dir(d));
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
    let bytes = |s: &reslab::data::Split| s.images.in_memory().unwrap().to_vec();
    assert_eq!(bytes(&a), bytes(&b), "same seed, same images");
    assert_eq!((a.c, a.h, a.w, a.len(), t.len()), (1, 12, 12, 50, 20));
    for k in 0..10 {
        assert_eq!(a.labels.iter().filter(|&&l| l == k).count(), 5);
    }
    let (c, _) = synthetic::generate(&SyntheticSpec {
        seed: 4,
        ..spec.clone()
    })
    .unwrap();
    assert_ne!(bytes(&a), bytes(&c), "another seed, other images");
    let n = bytes(&a).len().min(bytes(&t).len());
    assert_ne!(bytes(&a)[..n], bytes(&t)[..n]);
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

/// A PNG of `w`×`h` RGB pixels from `f(x, y)`.
fn png(path: &std::path::Path, w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb(f(x, y)))
        .save(path)
        .unwrap();
}

/// `DIR/<sub>/<class>/NN.png`, `n` per class, each image a flat grey of its
/// class index × 40 + its number.
fn image_tree(dir: &std::path::Path, sub: &str, classes: &[&str], n: u32) {
    for (k, c) in classes.iter().enumerate() {
        for i in 0..n {
            let v = (k as u32 * 40 + i) as u8;
            png(
                &dir.join(sub).join(c).join(format!("{i:02}.png")),
                10,
                12,
                |_, _| [v, v, v],
            );
        }
    }
}

fn folder_spec(dir: &std::path::Path, side: usize) -> DataSpec {
    DataSpec {
        name: "folder".into(),
        dir: Some(dir.to_path_buf()),
        folder: FolderSpec {
            side,
            ..FolderSpec::default()
        },
        ..DataSpec::default()
    }
}

#[test]
fn image_folders_in_torchvision_layouts() {
    let classes = ["dog", "ant", "cat"];
    // train/ and val/: classes numbered by sorted name, files in sorted order.
    let split_dir = tmp("folder-split");
    let d = split_dir.path();
    image_tree(d, "train", &classes, 5);
    image_tree(d, "val", &classes, 2);
    let ds = reslab::data::load(&folder_spec(d, 8)).unwrap();
    assert_eq!(ds.class_names, ["ant", "cat", "dog"]);
    assert_eq!((ds.train.len(), ds.test.len()), (15, 6));
    assert_eq!((ds.train.c, ds.train.h, ds.train.w), (3, 8, 8));
    assert_eq!(ds.test.labels, [0, 0, 1, 1, 2, 2]);
    // "ant" was written as class 1 (grey 40 + i), "dog" as class 0.
    assert_eq!(ds.test.image(1)[0], 41);
    assert_eq!(ds.test.image(4)[0], 0);
    assert!(ds.train.images.in_memory().is_some());
    // test/ in place of val/.
    std::fs::rename(d.join("val"), d.join("test")).unwrap();
    assert_eq!(
        reslab::data::load(&folder_spec(d, 8)).unwrap().test.len(),
        6
    );

    // One level of class folders, split by a fraction: the last files of
    // each class, in sorted order, are the test images.
    let flat_dir = tmp("folder-flat");
    let flat = flat_dir.path();
    image_tree(flat, "", &classes, 8);
    let mut spec = folder_spec(flat, 8);
    spec.folder.val_fraction = 0.25;
    let ds = reslab::data::load(&spec).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (18, 6));
    assert_eq!(
        ds.test.image(0)[0],
        40 + 6,
        "ant's 06.png and 07.png are its test images"
    );
    for bad in [0.0, 1.0, -0.5, f64::NAN] {
        spec.folder.val_fraction = bad;
        let e = err_of(reslab::data::load(&spec));
        assert!(e.contains("--val-fraction"), "{e}");
    }

    // Streaming gives the same pixels as decoding on loading.
    let mut spec = folder_spec(d, 8);
    let memory = reslab::data::load(&spec).unwrap();
    spec.folder.stream = true;
    let streamed = reslab::data::load(&spec).unwrap();
    assert!(streamed.train.images.in_memory().is_none());
    for i in 0..memory.train.len() {
        assert_eq!(memory.train.image(i), streamed.train.image(i));
    }
    assert_eq!(
        (memory.mean.clone(), memory.std.clone()),
        (streamed.mean, streamed.std)
    );
    assert!(streamed.train.decoded().is_ok());
}

#[test]
fn image_folder_mistakes_are_named() {
    let classes = ["a", "b"];
    let case = |name: &str, make: &dyn Fn(&std::path::Path)| {
        let dir = tmp(&format!("folder-bad-{name}"));
        let d = dir.path();
        std::fs::create_dir_all(d).unwrap();
        make(d);
        err_of(reslab::data::load(&folder_spec(d, 8)))
    };
    let e = case("empty", &|_| {});
    assert!(e.contains("no class folders"), "{e}");
    let e = case("no-val", &|d| image_tree(d, "train", &classes, 2));
    assert!(e.contains("no val/"), "{e}");
    let e = case("other-classes", &|d| {
        image_tree(d, "train", &classes, 2);
        image_tree(d, "val", &["a", "c"], 2);
    });
    assert!(e.contains("\"b\"") && e.contains("\"c\""), "{e}");
    let e = case("empty-class", &|d| {
        image_tree(d, "", &classes, 2);
        std::fs::create_dir_all(d.join("z")).unwrap();
    });
    assert!(e.contains("without PNG or JPEG") && e.contains("z"), "{e}");
    let e = case("single", &|d| image_tree(d, "", &classes, 1));
    assert!(e.contains("cannot be split"), "{e}");
    // A file that is not an image under an image's name: named, whether
    // decoded on loading or (headers only) when streaming.
    let e = case("foreign", &|d| {
        image_tree(d, "", &classes, 3);
        std::fs::write(d.join("b/01.png"), "plain text").unwrap();
    });
    assert!(e.contains("01.png"), "{e}");
    let dir = tmp("folder-bad-stream");
    let d = dir.path();
    image_tree(d, "", &classes, 3);
    std::fs::write(d.join("a/02.png"), "plain text").unwrap();
    let mut spec = folder_spec(d, 8);
    spec.folder.stream = true;
    let e = err_of(reslab::data::load(&spec));
    assert!(e.contains("02.png"), "{e}");
    // Sizes and channels out of range.
    for (side, channels) in [(2, 3), (8, 2), (100_000, 3)] {
        spec.folder.side = side;
        spec.folder.channels = channels;
        spec.folder.stream = false;
        let e = err_of(reslab::data::load(&spec));
        assert!(e.contains("side") || e.contains("channels"), "{e}");
    }
}

#[test]
fn images_are_resized_on_the_shorter_side_and_centre_cropped() {
    let dir = tmp("folder-geometry");
    let d = dir.path();
    // 40×20: black left of x = 20, white from it. The shorter side to 10
    // makes it 20×10; the centre 10×10 crop is columns 5..15: black then white.
    let wide = d.join("wide.png");
    png(&wide, 40, 20, |x, _| if x < 20 { [0; 3] } else { [255; 3] });
    let spec = FolderSpec {
        side: 10,
        resize: Some(10),
        channels: 1,
        ..FolderSpec::default()
    };
    let v = transform(&wide, &spec).unwrap();
    assert_eq!(v.len(), 100);
    for y in 0..10 {
        assert!(
            v[y * 10] < 10 && v[y * 10 + 3] < 10,
            "left of the crop is black"
        );
        assert!(v[y * 10 + 6] > 245 && v[y * 10 + 9] > 245, "right is white");
    }
    // 20×40, tall: bands of 10 rows, grey 0, 80, 160, 240. Resized to 10×20,
    // the centre crop keeps rows 5..15 of 20: the middle two bands (their
    // middles at crop rows 2 and 7; the filter blends rows near the edges).
    let tall = d.join("tall.png");
    png(&tall, 20, 40, |_, y| [(y / 10 * 80) as u8; 3]);
    let v = transform(&tall, &spec).unwrap();
    assert!(
        v[20].abs_diff(80) <= 2 && v[70].abs_diff(160) <= 2,
        "{} {}",
        v[20],
        v[70]
    );
    // Resize larger than the crop (ImageNet's 256 → 224): a border is cut.
    let spec = FolderSpec {
        side: 20,
        resize: Some(40),
        channels: 3,
        ..FolderSpec::default()
    };
    let v = transform(&wide, &spec).unwrap();
    assert_eq!(v.len(), 3 * 400);
    // The 80×40 image's middle 20×20, columns 30..50: the edge at 40 in its middle.
    for y in 0..20 {
        let row = &v[y * 20..(y + 1) * 20];
        assert!(
            row[0] < 10 && row[7] < 10 && row[12] > 245 && row[19] > 245,
            "{row:?}"
        );
    }
    // RGB planes in order.
    let rgb = d.join("rgb.png");
    png(&rgb, 4, 4, |_, _| [10, 20, 30]);
    let spec = FolderSpec {
        side: 4,
        ..FolderSpec::default()
    };
    let v = transform(&rgb, &spec).unwrap();
    assert_eq!((v[0], v[16], v[32]), (10, 20, 30));
}
