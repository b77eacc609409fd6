fn main() {
    let spec = reslab::data::synthetic::SyntheticSpec { side: 32, train: 100, test: 10, ..Default::default() };
    let (tr, _) = reslab::data::synthetic::generate(&spec).unwrap();
    let s = spec.side;
    let cols = 10; let rows = 6;
    let scale = 4;
    let mut img = image::RgbImage::new((cols * s * scale) as u32, (rows * s * scale) as u32);
    for i in 0..cols*rows {
        let (gx, gy) = ((i % cols) * s, (i / cols) * s);
        let im = tr.image(i);
        for y in 0..s { for x in 0..s { for dy in 0..scale { for dx in 0..scale {
            let p = image::Rgb([im[y*s+x], im[s*s + y*s+x], im[2*s*s+y*s+x]]);
            img.put_pixel(((gx + x)*scale + dx) as u32, ((gy + y)*scale+dy) as u32, p);
        }}}}
    }
    img.save("/tmp/synth.png").unwrap();
}
