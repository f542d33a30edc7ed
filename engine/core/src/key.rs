//! Stage keys: blake3 over the stage kind, its version, canonical params, the output tree hash of
//! every input and the kind's extras. Canonical JSON sorts object keys itself because serde_json's
//! `preserve_order` is on in this workspace.

use std::collections::BTreeMap;

use serde_json::Value;

/// JSON text with object keys sorted recursively and no whitespace.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// `{"a": {"b": 1}, "c": [1, 2]}` -> `a.b = 1`, `c = [1,2]` (arrays kept whole, values as canonical JSON).
pub fn flatten_params(v: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    flatten_into(v, String::new(), &mut out);
    out
}

fn flatten_into(v: &Value, prefix: String, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) if !map.is_empty() || prefix.is_empty() => {
            for (k, child) in map {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten_into(child, p, out);
            }
        }
        other => {
            out.insert(prefix, canonical_json(other));
        }
    }
}

/// Everything a stage's key is computed from.
pub struct KeyParts<'a> {
    pub kind: &'a str,
    pub version: u32,
    pub params: &'a Value,
    /// input name -> (stage id, output tree hash)
    pub inputs: &'a BTreeMap<String, (String, String)>,
    pub extras: &'a BTreeMap<String, String>,
}

impl KeyParts<'_> {
    pub fn key(&self) -> String {
        let mut h = blake3::Hasher::new();
        // Every field is length-prefixed so no two different inputs give the same byte stream.
        let mut field = |bytes: &[u8]| {
            h.update(&(bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(b"syco-key-v1");
        field(self.kind.as_bytes());
        field(&self.version.to_le_bytes());
        field(canonical_json(self.params).as_bytes());
        field(&(self.inputs.len() as u64).to_le_bytes());
        for (name, (_stage, tree)) in self.inputs {
            field(name.as_bytes());
            field(tree.as_bytes());
        }
        field(&(self.extras.len() as u64).to_le_bytes());
        for (k, v) in self.extras {
            field(k.as_bytes());
            field(v.as_bytes());
        }
        h.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let a = json!({"b": 1, "a": {"z": [1, {"y": 2, "x": 1}], "c": "s"}});
        assert_eq!(canonical_json(&a), r#"{"a":{"c":"s","z":[1,{"x":1,"y":2}]},"b":1}"#);
    }

    #[test]
    fn flatten_gives_dotted_paths() {
        let f = flatten_params(&json!({"lr": 0.1, "lora": {"r": 8, "t": ["q", "v"]}, "e": {}}));
        assert_eq!(f["lr"], "0.1");
        assert_eq!(f["lora.r"], "8");
        assert_eq!(f["lora.t"], r#"["q","v"]"#);
        assert_eq!(f["e"], "{}");
    }

    #[test]
    fn key_depends_on_every_part_but_not_on_key_order() {
        let inputs = BTreeMap::from([("a".to_string(), ("stages/a".to_string(), "t1".to_string()))]);
        let extras = BTreeMap::new();
        let p1 = json!({"x": 1, "y": 2});
        let p2 = json!({"y": 2, "x": 1});
        let k = |params: &Value, version: u32, inputs: &BTreeMap<String, (String, String)>| {
            KeyParts { kind: "command", version, params, inputs, extras: &extras }.key()
        };
        assert_eq!(k(&p1, 1, &inputs), k(&p2, 1, &inputs));
        assert_ne!(k(&p1, 1, &inputs), k(&p1, 2, &inputs));
        assert_ne!(k(&p1, 1, &inputs), k(&json!({"x": 2, "y": 2}), 1, &inputs));
        let other = BTreeMap::from([("a".to_string(), ("stages/a".to_string(), "t2".to_string()))]);
        assert_ne!(k(&p1, 1, &inputs), k(&p1, 1, &other));
    }
}
