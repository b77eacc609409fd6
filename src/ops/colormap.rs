//! The activation picture: a C-channel tensor's H×W maps laid out in a grid
//! of tiles one pixel apart, row by row.

/// Grid of a C-channel tensor of H×W maps: (columns, texture width, height).
pub fn grid(c: usize, h: usize, w: usize) -> (usize, usize, usize) {
    let cols = (c as f64).sqrt().ceil().max(1.0) as usize;
    let rows = c.div_ceil(cols);
    (cols, cols * (w + 1) - 1, rows * (h + 1) - 1)
}

#[cfg(test)]
mod tests {
    use super::grid;

    #[test]
    fn every_channel_has_its_own_tile_inside_the_picture() {
        for (c, h, w) in [(1, 5, 7), (3, 4, 4), (16, 8, 8), (17, 3, 9), (64, 2, 1)] {
            let (cols, tw, th) = grid(c, h, w);
            let mut seen = vec![0u8; tw * th];
            for ch in 0..c {
                let (x0, y0) = ((ch % cols) * (w + 1), (ch / cols) * (h + 1));
                for y in y0..y0 + h {
                    for x in x0..x0 + w {
                        assert!(x < tw && y < th, "{c}x{h}x{w}: channel {ch} outside");
                        seen[y * tw + x] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s <= 1), "{c}x{h}x{w}: tiles overlap");
            assert!(
                cols * cols >= c && (cols - 1) * (cols - 1) < c.max(1),
                "{c}: not square"
            );
        }
    }
}
