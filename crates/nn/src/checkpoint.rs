//! Checkpoints: a network's architecture and parameters, optionally with the
//! optimiser state and the trainer's state, as JSON (readable, for small
//! models) or a compact binary file.
//!
//! The binary form is `DPNNCKPT` (8 bytes), the format version (`u32`), the
//! scalar size in bytes (`u8`: 4 or 8), the header length (`u64`), a JSON
//! header holding everything except the numbers of the tensors plus their
//! lengths, and then the tensors' values, little-endian, in a fixed order.
//! All integers are little-endian.
//!
//! ```
//! use darkprobe_nn::checkpoint::Checkpoint;
//! use darkprobe_nn::{Activation, Init, Parameters, Sequential};
//! use rand::SeedableRng;
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let net = Sequential::<f32>::mlp(&[3, 4, 1], Activation::Relu, Init::Default, &mut rng).unwrap();
//! let ck = Checkpoint::of_network(&net);
//! let bytes = ck.to_bytes().unwrap();
//! let back = Checkpoint::<f32>::from_bytes(&bytes, "<memory>").unwrap();
//! let net2 = back.build_network().unwrap();
//! assert_eq!(net2.flat_params(), net.flat_params());
//! let json = ck.to_json().unwrap();
//! assert!(json.len() > bytes.len());
//! ```

use crate::error::{NnError, Result};
use crate::float::Float;
use crate::layer::{LayerSpec, Parameters};
use crate::optim::{optimizer_from_state, Optimizer, OptimizerState};
use crate::sequential::Sequential;
use crate::train::{TrainConfig, TrainState, Trainer};
use darkprobe_core::{Error, Location};
use std::collections::BTreeMap;
use std::path::Path;

/// The `format` field of every checkpoint.
pub const FORMAT: &str = "darkprobe-nn checkpoint";
/// The current format version.
pub const VERSION: u32 = 1;
const MAGIC: &[u8; 8] = b"DPNNCKPT";

/// A named tensor's values.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct TensorRecord<T> {
    /// Name within its layer.
    pub name: String,
    /// Values.
    pub values: Vec<T>,
}

/// One top-level layer: architecture, parameters and buffers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct LayerRecord<T> {
    /// Architecture.
    pub spec: LayerSpec,
    /// Trainable tensors, in visiting order.
    pub params: Vec<TensorRecord<T>>,
    /// Non-trainable tensors (batch-norm statistics).
    pub buffers: Vec<TensorRecord<T>>,
}

/// The trainer's configuration and state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct TrainerRecord<T> {
    /// Settings.
    pub config: TrainConfig,
    /// Progress of the run.
    pub state: TrainState<T>,
}

/// A saved network, optionally with optimiser and trainer state.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
pub struct Checkpoint<T> {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// `"f32"` or `"f64"`.
    pub dtype: String,
    /// Input width of the network.
    pub input_dim: usize,
    /// Its layers.
    pub layers: Vec<LayerRecord<T>>,
    /// Optimiser state, if saved.
    pub optimizer: Option<OptimizerState<T>>,
    /// Trainer state, if saved.
    pub trainer: Option<TrainerRecord<T>>,
    /// Free-form notes (data set, command line, ...).
    pub metadata: BTreeMap<String, String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(bound = "T: Float")]
struct BinaryHeader<T> {
    lengths: Vec<u64>,
    checkpoint: Checkpoint<T>,
}

fn parse_err(source: &str, line: usize, text: &str, reason: impl Into<String>) -> NnError {
    NnError::Core(Error::parse(Location::new(source, line), text, reason))
}

impl<T: Float> Checkpoint<T> {
    /// The architecture and parameters of `net`.
    pub fn of_network(net: &Sequential<T>) -> Self {
        let layers = net
            .layers()
            .iter()
            .map(|l| {
                let mut params = Vec::new();
                l.visit_params(&mut |p| {
                    params.push(TensorRecord {
                        name: p.name.to_string(),
                        values: p.value.to_vec(),
                    })
                });
                let mut buffers = Vec::new();
                l.visit_buffers(&mut |name, v| {
                    buffers.push(TensorRecord {
                        name: name.to_string(),
                        values: v.to_vec(),
                    })
                });
                LayerRecord {
                    spec: l.spec(),
                    params,
                    buffers,
                }
            })
            .collect();
        Self {
            format: FORMAT.to_string(),
            version: VERSION,
            dtype: T::DTYPE.to_string(),
            input_dim: net.input_dim(),
            layers,
            optimizer: None,
            trainer: None,
            metadata: BTreeMap::new(),
        }
    }

    /// Adds the optimiser's state.
    pub fn with_optimizer(mut self, opt: &dyn Optimizer<T>) -> Self {
        self.optimizer = Some(opt.state());
        self
    }

    /// Adds the trainer's configuration and state.
    pub fn with_trainer(mut self, trainer: &Trainer<T>) -> Self {
        self.trainer = Some(TrainerRecord {
            config: trainer.config().clone(),
            state: trainer.state().clone(),
        });
        self
    }

    /// Adds a metadata entry.
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Rebuilds the network (architecture and values).
    ///
    /// # Errors
    /// As [`Sequential::from_specs`] and [`Checkpoint::load_into`].
    pub fn build_network(&self) -> Result<Sequential<T>> {
        let specs: Vec<LayerSpec> = self.layers.iter().map(|l| l.spec.clone()).collect();
        let mut net = Sequential::from_specs(self.input_dim, &specs)?;
        self.load_into(&mut net)?;
        Ok(net)
    }

    /// Copies the saved values into `net`, whose architecture must match.
    /// Gradients are zeroed.
    ///
    /// # Errors
    /// [`NnError::Checkpoint`] naming the first layer or tensor that differs.
    pub fn load_into(&self, net: &mut Sequential<T>) -> Result<()> {
        if net.input_dim() != self.input_dim || net.len() != self.layers.len() {
            return Err(NnError::Checkpoint(format!(
                "the network takes {} inputs through {} layers, the checkpoint {} inputs through {} layers",
                net.input_dim(),
                net.len(),
                self.input_dim,
                self.layers.len()
            )));
        }
        for (i, (layer, rec)) in net.layers_mut().iter_mut().zip(&self.layers).enumerate() {
            if layer.spec() != rec.spec {
                return Err(NnError::Checkpoint(format!(
                    "layer {i} is {:?} in the network but {:?} in the checkpoint",
                    layer.spec(),
                    rec.spec
                )));
            }
            let mut problem: Option<String> = None;
            let mut k = 0;
            layer.visit_params_mut(&mut |p| {
                match rec.params.get(k) {
                    Some(t) if t.name == p.name && t.values.len() == p.value.len() => {
                        p.value.copy_from_slice(&t.values);
                        p.grad.fill(T::ZERO);
                    }
                    other => {
                        problem.get_or_insert(format!(
                            "layer {i} parameter {k} '{}' ({} values) vs checkpoint {:?}",
                            p.name,
                            p.value.len(),
                            other.map(|t| (&t.name, t.values.len()))
                        ));
                    }
                }
                k += 1;
            });
            if k != rec.params.len() {
                problem.get_or_insert(format!(
                    "layer {i} has {k} parameter tensors, the checkpoint {}",
                    rec.params.len()
                ));
            }
            let mut k = 0;
            layer.visit_buffers_mut(&mut |name, v| {
                match rec.buffers.get(k) {
                    Some(t) if t.name == name && t.values.len() == v.len() => {
                        v.copy_from_slice(&t.values)
                    }
                    _ => {
                        problem.get_or_insert(format!(
                            "layer {i} buffer {k} '{name}' does not match the checkpoint"
                        ));
                    }
                }
                k += 1;
            });
            if let Some(p) = problem {
                return Err(NnError::Checkpoint(p));
            }
        }
        Ok(())
    }

    /// The saved optimiser, if any.
    pub fn optimizer(&self) -> Option<Box<dyn Optimizer<T>>> {
        self.optimizer.as_ref().map(optimizer_from_state)
    }

    /// The saved trainer, if any.
    ///
    /// # Errors
    /// As [`TrainConfig::check`].
    pub fn trainer(&self) -> Result<Option<Trainer<T>>> {
        self.trainer
            .as_ref()
            .map(|r| Trainer::from_state(r.config.clone(), r.state.clone()))
            .transpose()
    }

    /// Every tensor in the fixed order of the binary format.
    fn visit_tensors_mut(&mut self, f: &mut dyn FnMut(&mut Vec<T>)) {
        for l in &mut self.layers {
            for t in l.params.iter_mut().chain(l.buffers.iter_mut()) {
                f(&mut t.values);
            }
        }
        if let Some(o) = &mut self.optimizer {
            o.visit_tensors_mut(f);
        }
        if let Some(t) = &mut self.trainer {
            if let Some(p) = &mut t.state.best_params {
                f(p);
            }
            if let Some(b) = &mut t.state.best_buffers {
                f(b);
            }
        }
    }

    fn check_header(&self, source: &str) -> Result<()> {
        if self.format != FORMAT {
            return Err(parse_err(
                source,
                0,
                &self.format,
                format!("the format field must be '{FORMAT}'"),
            ));
        }
        if self.version != VERSION {
            return Err(parse_err(
                source,
                0,
                &self.version.to_string(),
                format!("unsupported checkpoint version (this build reads version {VERSION})"),
            ));
        }
        if self.dtype != T::DTYPE {
            return Err(NnError::Checkpoint(format!(
                "{source} holds {} values; load it with the scalar type {} (asked for {})",
                self.dtype,
                self.dtype,
                T::DTYPE
            )));
        }
        Ok(())
    }

    /// The checkpoint as pretty-printed JSON.
    ///
    /// # Errors
    /// A numerical error if a value cannot be written (JSON has no NaN or
    /// infinity: such a checkpoint must use the binary form).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| {
            NnError::Core(Error::numerical(
                "writing a JSON checkpoint",
                0,
                f64::NAN,
                e.to_string(),
            ))
        })
    }

    /// Parses JSON written by [`Checkpoint::to_json`]; `source` names the
    /// input in errors.
    ///
    /// # Errors
    /// A parse error with the line of the problem; a checkpoint error for a
    /// different scalar type.
    pub fn from_json(text: &str, source: &str) -> Result<Self> {
        let ck: Self = serde_json::from_str(text).map_err(|e| {
            let line_text = text.lines().nth(e.line().saturating_sub(1)).unwrap_or("");
            parse_err(
                source,
                e.line(),
                line_text.trim(),
                format!("not a darkprobe-nn checkpoint: {e}"),
            )
        })?;
        ck.check_header(source)?;
        Ok(ck)
    }

    /// The compact binary form.
    ///
    /// # Errors
    /// A numerical error if the header cannot be written.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut header = BinaryHeader {
            lengths: Vec::new(),
            checkpoint: self.clone(),
        };
        let mut payload: Vec<u8> = Vec::new();
        header.checkpoint.visit_tensors_mut(&mut |t| {
            header.lengths.push(t.len() as u64);
            for &v in t.iter() {
                v.write_le(&mut payload);
            }
            t.clear();
        });
        let json = serde_json::to_vec(&header).map_err(|e| {
            NnError::Core(Error::numerical(
                "writing a binary checkpoint header",
                0,
                f64::NAN,
                e.to_string(),
            ))
        })?;
        let mut out = Vec::with_capacity(21 + json.len() + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.push(T::BYTES as u8);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Parses the binary form; `source` names the input in errors.
    ///
    /// # Errors
    /// A parse error for a wrong magic number, version, truncated or
    /// oversized data; a checkpoint error for a different scalar type.
    pub fn from_bytes(bytes: &[u8], source: &str) -> Result<Self> {
        let bad = |reason: String| parse_err(source, 0, "<binary>", reason);
        if bytes.len() < 21 || &bytes[..8] != MAGIC {
            return Err(bad(
                "not a binary darkprobe-nn checkpoint (missing the DPNNCKPT header)".into(),
            ));
        }
        let version = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        if version != VERSION {
            return Err(bad(format!(
                "checkpoint version {version}, this build reads version {VERSION}"
            )));
        }
        let size = bytes[12] as usize;
        if size != T::BYTES {
            let dtype = match size {
                4 => "f32",
                8 => "f64",
                _ => "unknown",
            };
            return Err(NnError::Checkpoint(format!(
                "{source} holds {dtype} values ({size} bytes each); load it with that scalar type (asked for {})",
                T::DTYPE
            )));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[13..21]);
        let hlen = u64::from_le_bytes(len8) as usize;
        let body = &bytes[21..];
        if hlen > body.len() {
            return Err(bad(format!(
                "header of {hlen} bytes but only {} bytes follow",
                body.len()
            )));
        }
        let mut header: BinaryHeader<T> = serde_json::from_slice(&body[..hlen])
            .map_err(|e| bad(format!("unreadable header: {e}")))?;
        header.checkpoint.check_header(source)?;
        let mut payload = &body[hlen..];
        let mut lengths = header.lengths.iter();
        let mut problem: Option<String> = None;
        let mut offset = 21 + hlen;
        header.checkpoint.visit_tensors_mut(&mut |t| {
            if problem.is_some() {
                return;
            }
            let Some(&n) = lengths.next() else {
                problem = Some("the header lists fewer tensors than the checkpoint holds".into());
                return;
            };
            let need = (n as usize).saturating_mul(T::BYTES);
            if need > payload.len() {
                problem = Some(format!("truncated at byte {offset}: a tensor of {n} values needs {need} bytes, {} remain", payload.len()));
                return;
            }
            t.clear();
            t.extend(payload[..need].chunks_exact(T::BYTES).map(T::read_le));
            payload = &payload[need..];
            offset += need;
        });
        if let Some(p) = problem {
            return Err(bad(p));
        }
        if lengths.next().is_some() {
            return Err(bad(
                "the header lists more tensors than the checkpoint holds".into(),
            ));
        }
        if !payload.is_empty() {
            return Err(bad(format!(
                "{} unexpected bytes after the last tensor",
                payload.len()
            )));
        }
        Ok(header.checkpoint)
    }

    /// Writes the checkpoint atomically (to a temporary file, then renamed):
    /// JSON when the path ends in `.json`, the binary form otherwise.
    ///
    /// # Errors
    /// An I/O error naming the path; serialisation errors as above.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        {
            self.to_json()?.into_bytes()
        } else {
            self.to_bytes()?
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        Ok(())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`] (either form,
    /// recognised by its first bytes).
    ///
    /// # Errors
    /// An I/O error naming the path; a parse error naming the file and its
    /// size when it is larger than
    /// [`DEFAULT_MAX_FILE_BYTES`](darkprobe_core::table::DEFAULT_MAX_FILE_BYTES);
    /// parse and checkpoint errors as above.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = darkprobe_core::table::read_file_limited(
            path,
            darkprobe_core::table::DEFAULT_MAX_FILE_BYTES,
        )?;
        let source = path.display().to_string();
        if bytes.starts_with(MAGIC) {
            Self::from_bytes(&bytes, &source)
        } else {
            let text = std::str::from_utf8(&bytes).map_err(|e| {
                parse_err(
                    &source,
                    0,
                    "<binary>",
                    format!("neither a binary checkpoint nor UTF-8 JSON: {e}"),
                )
            })?;
            Self::from_json(text, &source)
        }
    }
}
