//! YAML documents as JSON values, read with `saphyr` (YAML 1.2, core schema: `yes`, `on`
//! and `0755` stay strings and numbers as written, as Envoy reads its YAML).
//!
//! Key order is kept, so the plugin configuration reaches the core in the order it was
//! written and its first error is the one the plugin would report. Repeated keys are an
//! error, as YAML says they are.

use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{Map, Number, Value};

/// Every document of a YAML stream (`---` separated), empty documents dropped.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let docs = YamlOwned::load_from_str(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        match to_json(doc)? {
            Value::Null => {}
            v => out.push(v),
        }
    }
    Ok(out)
}

fn to_json(node: YamlOwned) -> Result<Value, String> {
    Ok(match node {
        YamlOwned::Value(s) => scalar(s),
        // A scalar left as written (a tag saphyr does not resolve, e.g. `!!binary`).
        YamlOwned::Representation(text, _, _) => Value::String(text),
        YamlOwned::Tagged(tag, inner) => {
            // `!!str 123` is the string "123"; other tags are read as their content.
            let tagged_str = tag.handle == "tag:yaml.org,2002:" && tag.suffix == "str";
            match (*inner, tagged_str) {
                (YamlOwned::Value(s), true) => Value::String(scalar_text(s)),
                (YamlOwned::Representation(text, _, _), true) => Value::String(text),
                (other, _) => to_json(other)?,
            }
        }
        YamlOwned::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?),
        YamlOwned::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    YamlOwned::Value(s) => scalar_text(s),
                    YamlOwned::Representation(text, _, _) => text,
                    other => return Err(format!("a mapping key must be a scalar, found {other:?}")),
                };
                if out.contains_key(&key) {
                    return Err(format!("duplicate key `{key}`"));
                }
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        YamlOwned::Alias(_) | YamlOwned::BadValue => return Err("an alias or value that cannot be read".into()),
    })
}

fn scalar(s: ScalarOwned) -> Value {
    match s {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(b),
        ScalarOwned::Integer(i) => Value::Number(i.into()),
        ScalarOwned::FloatingPoint(f) => Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number),
        ScalarOwned::String(s) => Value::String(s),
    }
}

fn scalar_text(s: ScalarOwned) -> String {
    match s {
        ScalarOwned::Null => "null".into(),
        ScalarOwned::Boolean(b) => b.to_string(),
        ScalarOwned::Integer(i) => i.to_string(),
        ScalarOwned::FloatingPoint(f) => f.into_inner().to_string(),
        ScalarOwned::String(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn core_schema_scalars_and_order() {
        let docs = documents("b: yes\na: 0755\nc: 1.5\nd: ~\ne: true\nf: '10'\ng: !!str 10\n").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0], json!({"b": "yes", "a": 755, "c": 1.5, "d": null, "e": true, "f": "10", "g": "10"}));
        let keys: Vec<&String> = docs[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "c", "d", "e", "f", "g"]);
    }

    #[test]
    fn several_documents_and_errors() {
        assert_eq!(
            documents("a: 1\n---\n---\nb: [x, {c: 2}]\n").unwrap(),
            vec![json!({"a": 1}), json!({"b": ["x", {"c": 2}]})]
        );
        assert!(documents("a: 1\na: 2\n").unwrap_err().contains("duplicate"));
        assert!(documents("a: [1, 2\n").is_err());
        // Anchors and aliases are resolved.
        assert_eq!(documents("x: &k {a: 1}\ny: *k\n").unwrap()[0], json!({"x": {"a": 1}, "y": {"a": 1}}));
    }
}
