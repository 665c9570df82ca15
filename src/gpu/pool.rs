//! Storage buffers recycled by size class. Training allocates the same shapes every step, so
//! after the first step almost every tensor is served from here without a driver allocation.

use std::collections::HashMap;

/// Smallest buffer handed out; also keeps every size a multiple of 4 bytes for f32 and u32.
const MIN_BYTES: u64 = 256;

/// Rounds up to one of four steps per power of two (x1, x1.25, x1.5, x1.75), so a recycled
/// buffer wastes at most a fifth of its size while sizes that differ a little still share.
pub(crate) fn size_class(bytes: u64) -> u64 {
    let bytes = bytes.max(MIN_BYTES);
    let power = 63 - bytes.leading_zeros() as u64; // floor(log2)
    let base = 1u64 << power;
    if bytes == base {
        return base;
    }
    let quarter = (base / 4).max(1);
    let steps = (bytes - base).div_ceil(quarter);
    base + steps * quarter
}

#[derive(Default)]
pub(crate) struct BufferPool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
    pub(crate) pooled_bytes: u64,
    pub(crate) live_bytes: u64,
    pub(crate) created: u64,
    pub(crate) reused: u64,
}

impl BufferPool {
    pub(crate) fn take(&mut self, class: u64) -> Option<wgpu::Buffer> {
        let buffer = self.free.get_mut(&class)?.pop()?;
        self.pooled_bytes -= class;
        self.live_bytes += class;
        self.reused += 1;
        Some(buffer)
    }

    pub(crate) fn note_created(&mut self, class: u64) {
        self.live_bytes += class;
        self.created += 1;
    }

    pub(crate) fn give_back(&mut self, buffer: wgpu::Buffer) {
        let class = buffer.size();
        self.live_bytes -= class;
        self.pooled_bytes += class;
        self.free.entry(class).or_default().push(buffer);
    }

    /// Drops every idle buffer; the driver frees them once no submitted work uses them.
    pub(crate) fn clear(&mut self) -> Vec<wgpu::Buffer> {
        self.pooled_bytes = 0;
        self.free.drain().flat_map(|(_, buffers)| buffers).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn classes_cover_the_request_and_waste_at_most_a_quarter_of_the_base() {
        for bytes in [
            1u64,
            255,
            256,
            257,
            1000,
            1024,
            1025,
            4095,
            65_537,
            3 << 20,
            1 << 30,
        ] {
            let class = size_class(bytes);
            assert!(class >= bytes, "{bytes} -> {class}");
            assert_eq!(class % 4, 0);
            let base = 1u64 << (63 - bytes.max(256).leading_zeros());
            assert!(class - bytes.max(256) <= base / 4, "{bytes} -> {class}");
        }
        assert_eq!(size_class(1024), 1024);
        assert_eq!(size_class(1025), 1280);
        assert_eq!(size_class(1500), 1536);
    }
}
