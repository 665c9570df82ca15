//! Checkpoints: named f32 tensors and string metadata in one safetensors file.
//!
//! Loading checks every name, shape and dtype against what the model expects before it
//! changes anything, and says which tensor is wrong.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::{Dtype, SafeTensors, View};

use crate::error::{Error, Result};
use crate::tensor::Tensor;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checkpoint {
    /// name -> (shape, values)
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    pub metadata: BTreeMap<String, String>,
}

struct HostTensor<'a> {
    shape: &'a [usize],
    bytes: &'a [u8],
}

impl View for HostTensor<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        self.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        self.bytes.into()
    }

    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

impl Checkpoint {
    /// Copies the named tensors to the host.
    pub fn capture(named: &[(String, Tensor)]) -> Checkpoint {
        Checkpoint {
            tensors: named
                .iter()
                .map(|(n, t)| (n.clone(), (t.dims().to_vec(), t.to_vec())))
                .collect(),
            metadata: BTreeMap::new(),
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let views: Vec<(String, HostTensor)> = self
            .tensors
            .iter()
            .map(|(n, (shape, values))| {
                (
                    n.clone(),
                    HostTensor {
                        shape,
                        bytes: bytemuck::cast_slice(values),
                    },
                )
            })
            .collect();
        let metadata: HashMap<String, String> = self.metadata.clone().into_iter().collect();
        safetensors::serialize(views, Some(metadata))
            .expect("f32 tensors with consistent sizes serialise")
    }

    /// Writes the checkpoint atomically (see io::write_atomically).
    pub fn save(&self, path: &Path) -> Result<()> {
        super::write_atomically(path, &self.to_bytes())
    }

    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path)
            .map_err(|e| Error::file(path, format!("cannot read the checkpoint: {e}")))?;
        Checkpoint::from_bytes(&bytes).map_err(|m| Error::file(path, m))
    }

    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<Checkpoint, String> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a readable safetensors checkpoint ({e}); it may be truncated or from another program"))?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                return Err(format!(
                    "tensor `{name}` is {:?}; pegasus checkpoints hold F32",
                    view.dtype()
                ));
            }
            let values: Vec<f32> = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            tensors.insert(name, (view.shape().to_vec(), values));
        }
        let metadata = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Checkpoint { tensors, metadata })
    }

    /// Copies stored values into `expected` (same names, same shapes). Nothing is written
    /// unless every tensor matches; `path` names the file in errors.
    pub fn restore(&self, path: &Path, expected: &[(String, Tensor)]) -> Result<()> {
        for (name, t) in expected {
            let Some((shape, _)) = self.tensors.get(name) else {
                return Err(Error::file(
                    path,
                    format!(
                        "missing tensor `{name}` (shape {}): the checkpoint is from a different model or configuration",
                        t.shape()
                    ),
                ));
            };
            if shape.as_slice() != t.dims() {
                return Err(Error::file(
                    path,
                    format!(
                        "tensor `{name}` has shape {shape:?} in the file but the model expects {}; were the sizes (widths, latent size, image size) changed?",
                        t.shape()
                    ),
                ));
            }
        }
        let wanted: std::collections::HashSet<&String> = expected.iter().map(|(n, _)| n).collect();
        if let Some(extra) = self.tensors.keys().find(|n| !wanted.contains(n)) {
            return Err(Error::file(
                path,
                format!(
                    "unexpected tensor `{extra}`: the checkpoint is from a different model or configuration"
                ),
            ));
        }
        for (name, t) in expected {
            t.write(&self.tensors[name].1);
        }
        Ok(())
    }
}
