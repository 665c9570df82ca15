//! Tensor: a shape (up to 4-D, NCHW order) over contiguous f32 storage on the GPU.
//!
//! Cloning a tensor clones a handle; the storage goes back to the buffer pool when the last
//! handle drops. Reshape shares storage; anything that moves elements is a kernel.

use std::fmt;
use std::sync::Arc;

use crate::autograd::TensorId;
use crate::gpu::Gpu;

pub const MAX_RANK: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Shape {
    dims: [usize; MAX_RANK],
    rank: usize,
}

impl Shape {
    /// Panics on more than four dimensions: shapes are built by pegasus code, never parsed.
    pub fn new(dims: &[usize]) -> Shape {
        assert!(
            dims.len() <= MAX_RANK,
            "tensors have at most {MAX_RANK} dimensions, got {dims:?}"
        );
        let mut d = [1; MAX_RANK];
        d[..dims.len()].copy_from_slice(dims);
        Shape {
            dims: d,
            rank: dims.len(),
        }
    }

    pub fn dims(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn numel(&self) -> usize {
        self.dims().iter().product()
    }

    /// Size of dimension `axis`; negative counts from the end like Python.
    pub fn dim(&self, axis: isize) -> usize {
        self.dims()[self.axis(axis)]
    }

    pub fn axis(&self, axis: isize) -> usize {
        let rank = self.rank as isize;
        let a = if axis < 0 { axis + rank } else { axis };
        assert!(
            (0..rank).contains(&a),
            "axis {axis} out of range for shape {self}"
        );
        a as usize
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> Vec<usize> {
        let mut strides = vec![1; self.rank];
        for i in (0..self.rank.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1] * self.dims[i + 1];
        }
        strides
    }
}

impl fmt::Debug for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.dims())
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.dims())
    }
}

/// GPU memory of one tensor; returns to the pool on drop.
struct Storage {
    gpu: Arc<Gpu>,
    buffer: Option<wgpu::Buffer>,
}

impl Drop for Storage {
    fn drop(&mut self) {
        if let Some(b) = self.buffer.take() {
            self.gpu.release(b);
        }
    }
}

#[derive(Clone)]
pub struct Tensor {
    storage: Arc<Storage>,
    shape: Shape,
    /// Set when the tape tracks this tensor (see autograd).
    id: Option<TensorId>,
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tensor{}", self.shape)
    }
}

impl Tensor {
    /// A tensor whose contents are undefined (a recycled buffer): for kernel outputs that
    /// write every element.
    pub fn uninit(gpu: &Arc<Gpu>, dims: &[usize]) -> Tensor {
        let shape = Shape::new(dims);
        let bytes = dims
            .iter()
            .try_fold(4u64, |n, &d| n.checked_mul(d as u64))
            .unwrap_or_else(|| {
                crate::gpu::fail(format!(
                    "a tensor of shape {dims:?} has more elements than any GPU can hold; use smaller sizes"
                ))
            })
            .max(4);
        Tensor {
            storage: Arc::new(Storage {
                gpu: gpu.clone(),
                buffer: Some(gpu.alloc(bytes)),
            }),
            shape,
            id: None,
        }
    }

    pub fn zeros(gpu: &Arc<Gpu>, dims: &[usize]) -> Tensor {
        let t = Tensor::uninit(gpu, dims);
        gpu.fill_zero(t.buffer(), t.bytes().max(4));
        t
    }

    pub fn from_slice(gpu: &Arc<Gpu>, data: &[f32], dims: &[usize]) -> Tensor {
        let t = Tensor::uninit(gpu, dims);
        assert_eq!(
            data.len(),
            t.numel(),
            "{} values do not fill shape {}",
            data.len(),
            t.shape
        );
        gpu.upload(t.buffer(), bytemuck::cast_slice(data));
        t
    }

    pub fn scalar(gpu: &Arc<Gpu>, value: f32) -> Tensor {
        Tensor::from_slice(gpu, &[value], &[1])
    }

    /// Waits for the queued work that produces this tensor and copies it to the host.
    pub fn to_vec(&self) -> Vec<f32> {
        let bytes = self.gpu().read(self.buffer(), self.bytes());
        bytemuck::cast_slice(&bytes).to_vec()
    }

    /// The single value of a one-element tensor (a loss, a norm).
    pub fn item(&self) -> f32 {
        assert_eq!(
            self.numel(),
            1,
            "item() of a tensor of shape {}",
            self.shape
        );
        self.to_vec()[0]
    }

    /// Same elements, new shape; no copy.
    pub fn reshape(&self, dims: &[usize]) -> Tensor {
        let shape = Shape::new(dims);
        assert_eq!(
            shape.numel(),
            self.numel(),
            "cannot reshape {} into {}",
            self.shape,
            shape
        );
        let out = Tensor {
            storage: self.storage.clone(),
            shape,
            id: None,
        };
        let back = self.shape;
        crate::autograd::record(
            &[self],
            out,
            Box::new(move |g, _| vec![Some(g.reshape(back.dims()))]),
        )
    }

    pub fn id(&self) -> Option<TensorId> {
        self.id
    }

    pub(crate) fn with_id(mut self, id: Option<TensorId>) -> Tensor {
        self.id = id;
        self
    }

    /// A new tensor with the same contents (untracked).
    pub fn deep_clone(&self) -> Tensor {
        let t = Tensor::uninit(self.gpu(), self.dims());
        self.gpu().copy(self.buffer(), t.buffer(), self.bytes());
        t
    }

    /// Overwrites this tensor's storage with `src`'s (same element count), in queue order.
    pub fn assign(&self, src: &Tensor) {
        assert_eq!(
            self.numel(),
            src.numel(),
            "assign {} <- {}",
            self.shape,
            src.shape
        );
        self.gpu().copy(src.buffer(), self.buffer(), self.bytes());
    }

    /// Overwrites this tensor with host values, in queue order.
    pub fn write(&self, data: &[f32]) {
        assert_eq!(
            data.len(),
            self.numel(),
            "write {} values into {}",
            data.len(),
            self.shape
        );
        self.gpu().upload(self.buffer(), bytemuck::cast_slice(data));
    }

    pub fn shape(&self) -> Shape {
        self.shape
    }

    pub fn dims(&self) -> &[usize] {
        self.shape.dims()
    }

    pub fn numel(&self) -> usize {
        self.shape.numel()
    }

    pub fn bytes(&self) -> u64 {
        self.numel() as u64 * 4
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.storage.gpu
    }

    pub fn buffer(&self) -> &wgpu::Buffer {
        self.storage.buffer.as_ref().expect("storage is live")
    }

    /// Whether two handles share storage.
    pub fn same_storage(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.storage, &other.storage)
    }
}
