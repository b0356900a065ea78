//! The layers of a configuration as TOML tables: presets (with `extends`), `--set key=value`
//! parsed and type-checked against the key it sets, tables merged key by key.

use super::PRESETS;
use crate::{Error, Result};
use toml::{Table, Value};

/// An f32 written with its shortest decimal form (`0.004`, not `0.004000000189989805`), so
/// the resolved `config.toml` reads like the preset it came from.
pub(super) fn short_f32<S: serde::Serializer>(v: &f32, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(v.to_string().parse().expect("an f32 prints as a number"))
}

/// The names of the presets, comma-separated.
pub(super) fn preset_names() -> String {
    PRESETS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

pub(super) fn preset_table(name: &str) -> Result<Table> {
    let text =
        PRESETS.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            Error::config("preset", format!("unknown preset `{name}` (available: {})", preset_names()))
        })?;
    let mut table: Table = toml::from_str(text).expect("built-in presets are valid TOML");
    match table.remove("extends") {
        Some(Value::String(base)) => {
            let mut base = preset_table(&base)?;
            merge(&mut base, table, "")?;
            Ok(base)
        }
        _ => Ok(table),
    }
}

/// Every key of a configuration, dotted (`organism.width`), in the order of the resolved
/// `config.toml`: what `train --help` lists.
pub fn keys() -> Vec<String> {
    fn walk(t: &Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match v {
                Value::Table(inner) => walk(inner, &key, out),
                _ => out.push(key),
            }
        }
    }
    let mut out = Vec::new();
    walk(&preset_table(PRESETS[0].0).expect("a built-in preset"), "", &mut out);
    out
}

/// A path as TOML text: a string when it is UTF-8, else (on Unix) an array of its bytes, so that
/// any path the operating system accepts round-trips through `config.toml`.
pub(super) mod path_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::{Path, PathBuf};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Text {
        Utf8(String),
        Bytes(Vec<u8>),
    }

    pub fn serialize<S: Serializer>(path: &Path, s: S) -> Result<S::Ok, S::Error> {
        match path.to_str() {
            Some(text) => Text::Utf8(text.to_string()),
            #[cfg(unix)]
            None => Text::Bytes(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()).to_vec()),
            #[cfg(not(unix))]
            None => return Err(serde::ser::Error::custom(format!("path {} is not valid Unicode", path.display()))),
        }
        .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        match Text::deserialize(d)? {
            Text::Utf8(text) => Ok(PathBuf::from(text)),
            #[cfg(unix)]
            Text::Bytes(bytes) => {
                Ok(PathBuf::from(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(&bytes)))
            }
            #[cfg(not(unix))]
            Text::Bytes(_) => Err(serde::de::Error::custom("a path as bytes is only understood on Unix")),
        }
    }
}

/// `key=value`, the value read as TOML (a bare word is a string).
pub(super) fn parse_set(set: &str) -> Result<(String, Value)> {
    let (key, raw) =
        set.split_once('=').ok_or_else(|| Error::config(set, "expected key=value, e.g. --set epochs=5"))?;
    let (key, raw) = (key.trim(), raw.trim());
    let value = toml::from_str::<Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}

/// Sets a dotted `key` in `table`; a key the table already has must keep its type.
pub(super) fn set_key(table: &mut Table, key: &str, value: Value) -> Result<()> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap();
    let mut t = table;
    for (i, part) in parts.iter().enumerate() {
        t = match t.get_mut(*part) {
            Some(Value::Table(inner)) => inner,
            _ => return Err(Error::config(parts[..=i].join("."), "unknown section")),
        };
    }
    let value = match t.get(last) {
        Some(old) => coerce(key, old, value)?,
        None => return Err(Error::config(key, "unknown key")),
    };
    t.insert(last.to_string(), value);
    Ok(())
}

/// `value` in the type of `old` (an integer may stand for a float), or an error naming `key`.
pub(super) fn coerce(key: &str, old: &Value, value: Value) -> Result<Value> {
    match (old, value) {
        (Value::Float(_), Value::Integer(i)) => Ok(Value::Float(i as f64)),
        (Value::Table(_), _) => Err(Error::config(key, "is a section; set one of its keys")),
        // A path that is not UTF-8 is written as an array of bytes (`data.dir`).
        (Value::String(_), value @ Value::Array(_)) => Ok(value),
        (old, value) if old.same_type(&value) => Ok(value),
        (old, value) => {
            let what = old.type_str();
            let article = if what.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
            Err(Error::config(key, format!("expected {article} {what}, got {value}")))
        }
    }
}

/// Lays `over` onto `base`, key by key, with the checks of [`set_key`].
pub(super) fn merge(base: &mut Table, over: Table, prefix: &str) -> Result<()> {
    for (k, v) in over {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match (base.get_mut(&k), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o, &key)?,
            (_, v) => {
                let mut root = Table::new();
                root.insert(k.clone(), v);
                let value = root.remove(&k).unwrap();
                let existing = base.get(&k).cloned().ok_or_else(|| Error::config(&key, "unknown key"))?;
                base.insert(k, coerce(&key, &existing, value)?);
            }
        }
    }
    Ok(())
}
