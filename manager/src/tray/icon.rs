//! Pure: the tray's pictures as RGBA, made at run time from Mailpull's 256-pixel icon
//! (`assets/mailpull-256.png`): scaled down to the tray's size, with a coloured dot in the
//! lower right corner for each [`IconKind`] but `Fine` (red: failing, orange: needs a person,
//! grey: no worker), ringed in white so it reads on dark and light task bars.

use super::state::IconKind;

const SOURCE: &[u8] = include_bytes!("../../../assets/mailpull-256.png");

/// A square RGBA picture (row by row, 4 bytes a pixel, not premultiplied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    pub size: u32,
    pub pixels: Vec<u8>,
}

impl Rgba {
    /// The pixel at (`x`, `y`).
    pub fn at(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.size + x) * 4) as usize;
        let mut px = [0; 4];
        px.copy_from_slice(&self.pixels[i..i + 4]);
        px
    }

    /// The same picture as ARGB32 in network byte order, as StatusNotifierItem's IconPixmap
    /// carries it.
    pub fn to_argb(&self) -> Vec<u8> {
        self.pixels
            .chunks_exact(4)
            .flat_map(|p| [p[3], p[0], p[1], p[2]])
            .collect()
    }
}

/// The dot's colour for `kind` (`None`: no dot).
pub fn dot_colour(kind: IconKind) -> Option<[u8; 3]> {
    match kind {
        IconKind::Fine => None,
        IconKind::Attention => Some([0xE0, 0x80, 0x10]),
        IconKind::Failing => Some([0xD8, 0x2A, 0x2A]),
        IconKind::Stopped => Some([0x80, 0x80, 0x80]),
    }
}

/// The 256-pixel icon, decoded.
pub fn source() -> Result<Rgba, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(SOURCE));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("the icon is too large")?;
    let mut pixels = vec![0; size];
    let info = reader.next_frame(&mut pixels).map_err(|e| e.to_string())?;
    if info.width != info.height || info.color_type != png::ColorType::Rgba {
        return Err(format!(
            "the icon is {}x{} {:?}, not square RGBA",
            info.width, info.height, info.color_type
        ));
    }
    pixels.truncate(info.buffer_size());
    Ok(Rgba {
        size: info.width,
        pixels,
    })
}

/// `source` scaled down to `size` pixels by averaging (alpha-weighted) the pixels each
/// target pixel covers.
pub fn scaled(source: &Rgba, size: u32) -> Rgba {
    let size = size.clamp(1, source.size.max(1));
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (x0, x1) = (x * source.size / size, (x + 1) * source.size / size);
            let (y0, y1) = (y * source.size / size, (y + 1) * source.size / size);
            let (mut sum, mut alpha, mut count) = ([0u64; 3], 0u64, 0u64);
            for sy in y0..y1.max(y0 + 1) {
                for sx in x0..x1.max(x0 + 1) {
                    let [r, g, b, a] = source.at(sx, sy);
                    let a = u64::from(a);
                    sum[0] += u64::from(r) * a;
                    sum[1] += u64::from(g) * a;
                    sum[2] += u64::from(b) * a;
                    alpha += a;
                    count += 1;
                }
            }
            for channel in sum {
                pixels.push(channel.checked_div(alpha).unwrap_or(0) as u8);
            }
            pixels.push((alpha / count.max(1)) as u8);
        }
    }
    Rgba { size, pixels }
}

/// `base` with the dot of `kind` (a copy; `Fine` leaves it as it is).
pub fn with_dot(base: &Rgba, kind: IconKind) -> Rgba {
    let mut out = base.clone();
    let Some(colour) = dot_colour(kind) else {
        return out;
    };
    let size = base.size as f32;
    let radius = size * 0.22;
    let ring = (size * 0.05).max(1.0);
    let centre = size - radius - ring;
    for y in 0..base.size {
        for x in 0..base.size {
            let dx = x as f32 + 0.5 - centre;
            let dy = y as f32 + 0.5 - centre;
            let distance = (dx * dx + dy * dy).sqrt();
            let paint = if distance <= radius {
                [colour[0], colour[1], colour[2], 255]
            } else if distance <= radius + ring {
                [255, 255, 255, 255]
            } else {
                continue;
            };
            let i = ((y * base.size + x) * 4) as usize;
            out.pixels[i..i + 4].copy_from_slice(&paint);
        }
    }
    out
}

/// The tray picture of `kind` at `size` pixels.
pub fn picture(kind: IconKind, size: u32) -> Result<Rgba, String> {
    Ok(with_dot(&scaled(&source()?, size), kind))
}
