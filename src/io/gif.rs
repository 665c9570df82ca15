//! Animated GIF (GIF89a) writing, for morph animations: a 256-entry palette (grey levels for
//! greyscale frames, a 6 x 7 x 6 colour cube for RGB), LZW-coded frames, looping forever.

use std::collections::HashMap;

/// The palette a frame's pixels are mapped to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Palette {
    Grey,
    Colour,
}

const LEVELS: [u32; 3] = [6, 7, 6];

impl Palette {
    fn table(self) -> Vec<u8> {
        let mut rgb = Vec::with_capacity(768);
        for i in 0..256u32 {
            let entry = match self {
                Palette::Grey => [i as u8; 3],
                Palette::Colour if i < 252 => {
                    let (r, g, b) = (i / 42, (i / 6) % 7, i % 6);
                    let level = |v: u32, n: u32| (v * 255 / (n - 1)) as u8;
                    [
                        level(r, LEVELS[0]),
                        level(g, LEVELS[1]),
                        level(b, LEVELS[2]),
                    ]
                }
                Palette::Colour => [0; 3],
            };
            rgb.extend(entry);
        }
        rgb
    }

    /// The palette index of an 8-bit grey value or RGB triple.
    fn index(self, pixel: &[u8]) -> u8 {
        match self {
            Palette::Grey => pixel[0],
            Palette::Colour => {
                let q = |v: u8, n: u32| (u32::from(v) * (n - 1) + 127) / 255;
                (q(pixel[0], LEVELS[0]) * 42 + q(pixel[1], LEVELS[1]) * 6 + q(pixel[2], LEVELS[2]))
                    as u8
            }
        }
    }

    fn channels(self) -> usize {
        match self {
            Palette::Grey => 1,
            Palette::Colour => 3,
        }
    }
}

/// An animation being written into memory.
pub struct GifWriter {
    bytes: Vec<u8>,
    width: u16,
    height: u16,
    palette: Palette,
    delay_centiseconds: u16,
}

impl GifWriter {
    /// Sizes over 65535 do not fit the format: the caller checks them.
    pub fn new(width: u16, height: u16, palette: Palette, delay_centiseconds: u16) -> GifWriter {
        let mut bytes = b"GIF89a".to_vec();
        bytes.extend(width.to_le_bytes());
        bytes.extend(height.to_le_bytes());
        // Global colour table of 256 entries, 8 bits per primary.
        bytes.extend([0xf7, 0, 0]);
        bytes.extend(palette.table());
        // Loop forever (the NETSCAPE2.0 application extension).
        bytes.extend([0x21, 0xff, 0x0b]);
        bytes.extend(b"NETSCAPE2.0");
        bytes.extend([0x03, 0x01, 0x00, 0x00, 0x00]);
        GifWriter {
            bytes,
            width,
            height,
            palette,
            delay_centiseconds,
        }
    }

    /// Adds a frame of width x height pixels, row by row, 1 (grey) or 3 (RGB) bytes each.
    pub fn add_frame(&mut self, pixels: &[u8]) {
        let count = usize::from(self.width) * usize::from(self.height);
        assert_eq!(
            pixels.len(),
            count * self.palette.channels(),
            "a frame of {} x {}",
            self.width,
            self.height
        );
        let indices: Vec<u8> = pixels
            .chunks(self.palette.channels())
            .map(|p| self.palette.index(p))
            .collect();
        self.bytes.extend([0x21, 0xf9, 0x04, 0x00]);
        self.bytes.extend(self.delay_centiseconds.to_le_bytes());
        self.bytes.extend([0x00, 0x00]);
        self.bytes.push(0x2c);
        self.bytes.extend([0, 0, 0, 0]);
        self.bytes.extend(self.width.to_le_bytes());
        self.bytes.extend(self.height.to_le_bytes());
        self.bytes.push(0);
        self.bytes.push(MIN_CODE_SIZE);
        for block in lzw(&indices).chunks(255) {
            self.bytes.push(block.len() as u8);
            self.bytes.extend(block);
        }
        self.bytes.push(0);
    }

    /// The finished file.
    pub fn finish(mut self) -> Vec<u8> {
        self.bytes.push(0x3b);
        self.bytes
    }
}

const MIN_CODE_SIZE: u8 = 8;
const CLEAR: u16 = 256;
const END: u16 = 257;
const MAX_CODES: u16 = 4096;

/// Packs codes of varying width, least significant bit first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    buffer: u32,
    count: u32,
}

impl Bits {
    fn put(&mut self, code: u16, width: u32) {
        self.buffer |= u32::from(code) << self.count;
        self.count += width;
        while self.count >= 8 {
            self.out.push(self.buffer as u8);
            self.buffer >>= 8;
            self.count -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            self.out.push(self.buffer as u8);
        }
        self.out
    }
}

/// GIF's variable-width LZW of 8-bit indices. The code width grows when the next code to be
/// assigned needs another bit; this matches a decoder, which assigns each code one step
/// later; at 4096 codes the table is cleared.
fn lzw(indices: &[u8]) -> Vec<u8> {
    let mut bits = Bits::default();
    let mut width = u32::from(MIN_CODE_SIZE) + 1;
    bits.put(CLEAR, width);
    let Some((&first, rest)) = indices.split_first() else {
        bits.put(END, width);
        return bits.finish();
    };
    let mut table: HashMap<(u16, u8), u16> = HashMap::new();
    let mut next = END + 1;
    let mut prefix = u16::from(first);
    for &k in rest {
        if let Some(&code) = table.get(&(prefix, k)) {
            prefix = code;
            continue;
        }
        bits.put(prefix, width);
        if next < MAX_CODES {
            if u32::from(next) == 1 << width {
                width += 1;
            }
            table.insert((prefix, k), next);
            next += 1;
        } else {
            bits.put(CLEAR, width);
            table.clear();
            next = END + 1;
            width = u32::from(MIN_CODE_SIZE) + 1;
        }
        prefix = u16::from(k);
    }
    bits.put(prefix, width);
    if u32::from(next) == 1 << width && width < 12 {
        width += 1;
    }
    bits.put(END, width);
    bits.finish()
}
