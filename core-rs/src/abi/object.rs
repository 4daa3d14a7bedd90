//! The control requests of the ELF side: `inspect` (the object spec and its
//! externs), `load`, `run` (a program test-run, by pin or handle), and
//! `file_read` (a file's sha256, and its text).

use super::{params, to_json};
use crate::error::{Error, Result};
use crate::object::{externs, load, spec};
use serde::Deserialize;
use serde_json::Value;
use std::path::PathBuf;

/// An object file the request names, with its size limit.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ObjectFile {
    path: PathBuf,
    max_object_size: Option<u64>,
}

impl ObjectFile {
    fn parse(&self) -> Result<spec::Parsed> {
        spec::parse_file_limited(
            &self.path,
            self.max_object_size
                .unwrap_or(spec::DEFAULT_MAX_OBJECT_SIZE),
        )
    }
}

/// `inspect`: an object file in, its spec and externs out.
pub fn inspect(op: &str, p: Value) -> Result<Value> {
    let parsed = params::<ObjectFile>(op, p)?.parse()?;
    let mut spec = to_json(&parsed.spec)?;
    spec["externs"] = to_json(&externs::list(&parsed.data, &externs::Running))?;
    Ok(spec)
}

/// `object_map_btf`: an object file and a map name in, the map's key and
/// value types from the object's BTF out (null when it gives none).
pub fn object_map_btf(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        #[serde(flatten)]
        object: ObjectFile,
        map: String,
    }
    let P { object, map } = params(op, p)?;
    object.parse()?.map_btf(&map)
}

/// `load`: [`crate::object::load::LoadOptions`] in, the load report out.
pub fn load(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        path: PathBuf,
        pin_dir: PathBuf,
        pin_by_name_root: Option<PathBuf>,
        only: Option<Vec<String>>,
        max_object_size: Option<u64>,
    }
    let P {
        path,
        pin_dir,
        pin_by_name_root,
        only,
        max_object_size,
    } = params(op, p)?;
    to_json(&load::load(&load::LoadOptions {
        path,
        pin_dir,
        pin_by_name_root,
        only,
        max_object_size,
    })?)
}

/// `run`: a program (a pin or a handle) and a context in, the run report out.
pub fn run(op: &str, p: Value) -> Result<Value> {
    #[derive(Deserialize)]
    struct P {
        path: Option<PathBuf>,
        handle: Option<u32>,
        /// The context, hex.
        #[serde(default)]
        ctx: String,
        /// Or a file to read the context from.
        #[serde(rename = "ctxFile")]
        ctx_file: Option<PathBuf>,
    }
    let P {
        path,
        handle,
        ctx,
        ctx_file,
    } = params(op, p)?;
    let ctx = match ctx_file {
        Some(f) => crate::object::syscall::read_ctx(&f)?,
        None => crate::object::syscall::unhex(&ctx)?,
    };
    match (path, handle) {
        (Some(path), None) => to_json(&crate::object::syscall::run_pin(&path, &ctx)?),
        (None, Some(h)) => to_json(&crate::object::syscall::run_handle(h, &ctx)?),
        _ => Err(Error::invalid(op, "Give \"run\" either a path or a handle")),
    }
}

/// `file_read`: a file in (a regular file, at most `maxSize` bytes: 16 MiB
/// by default), its sha256 out, and with `text` its text (UTF-8, invalid
/// bytes replaced): a desired-state file, or an object file's fingerprint.
pub fn file_read(op: &str, p: Value) -> Result<Value> {
    use sha2::Digest as _;
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct P {
        path: PathBuf,
        max_size: Option<u64>,
        #[serde(default)]
        text: bool,
    }
    let P {
        path,
        max_size,
        text,
    } = params(op, p)?;
    let bytes = spec::read_file(
        &path,
        max_size.unwrap_or(16 << 20),
        "file",
        "give a smaller file",
    )?;
    let sha256: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out = serde_json::json!({ "sha256": sha256, "size": bytes.len() });
    if text {
        out["text"] = Value::String(String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(out)
}
