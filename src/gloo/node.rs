//! An order-preserving YAML value: serde_json's Value (without `preserve_order`) would sort keys,
//! and serde-saphyr has no value type of its own; this keeps the user's key order.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    /// A string written in single quotes (JSON inside an annotation reads best that way).
    SingleQuoted(String),
    Seq(Vec<Node>),
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value under `key` of a mapping; a null value counts as absent.
    pub(super) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries) => entries
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .filter(|v| !v.is_null()),
            _ => None,
        }
    }

    pub(super) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        match self {
            Node::Map(entries) => entries
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .filter(|v| !v.is_null()),
            _ => None,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) | Node::SingleQuoted(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn is_null(&self) -> bool {
        matches!(self, Node::Null)
    }

    /// Sets `key` in a mapping. An existing key keeps its place. A new key goes where it sorts when
    /// the mapping has three or more keys, all sorted (as `kubectl get -o yaml` prints them);
    /// otherwise before the first key that comes after it in `order`, otherwise at the end.
    pub(super) fn set_ordered(&mut self, key: &str, value: Node, order: &[&str]) {
        let Node::Map(entries) = self else {
            return;
        };
        if let Some(slot) = entries.iter_mut().find(|(k, _)| k == key) {
            slot.1 = value;
            return;
        }
        let sorted = entries.len() >= 3 && entries.windows(2).all(|w| w[0].0 <= w[1].0);
        let rank = |k: &str| order.iter().position(|o| *o == k);
        let index = if sorted {
            entries.partition_point(|(k, _)| k.as_str() < key)
        } else {
            match rank(key) {
                Some(new_rank) => entries
                    .iter()
                    .position(|(k, _)| rank(k).is_some_and(|r| r > new_rank))
                    .unwrap_or(entries.len()),
                None => entries.len(),
            }
        };
        entries.insert(index, (key.to_string(), value));
    }

    /// A short description for error messages.
    pub(super) fn describe(&self) -> String {
        match self {
            Node::Null => "null".to_string(),
            Node::Bool(b) => format!("the bool {b}"),
            Node::Int(n) => format!("the number {n}"),
            Node::UInt(n) => format!("the number {n}"),
            Node::Float(n) => format!("the number {n}"),
            Node::Str(s) | Node::SingleQuoted(s) => {
                let short: String = s.chars().take(60).collect();
                format!("the string {short:?}")
            }
            Node::Seq(_) => "a list".to_string(),
            Node::Map(_) => "a mapping".to_string(),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::Int(n) => s.serialize_i64(*n),
            Node::UInt(n) => s.serialize_u64(*n),
            Node::Float(n) => s.serialize_f64(*n),
            Node::Str(v) => s.serialize_str(v),
            // Single quotes cannot carry control characters; those fall back to the default style.
            Node::SingleQuoted(v) if v.chars().any(char::is_control) => s.serialize_str(v),
            Node::SingleQuoted(v) => serde_saphyr::SingleQuoted(v.as_str()).serialize(s),
            Node::Seq(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut m = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    m.serialize_entry(k, v)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

pub(super) struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node, E> {
        Ok(Node::UInt(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Node, E> {
        i64::try_from(v)
            .map(Node::Int)
            .or_else(|_| u64::try_from(v).map(Node::UInt))
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Node, E> {
        u64::try_from(v)
            .map(Node::UInt)
            .map_err(|_| E::custom(format!("integer {v} is too large")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Str(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node, E> {
        Ok(Node::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Node, E> {
        String::from_utf8(v.to_vec())
            .map(Node::Str)
            .map_err(|_| E::custom("binary (!!binary) values that are not UTF-8 are not supported"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        while let Some(key) = access.next_key::<Node>()? {
            // Kubernetes objects are JSON: keys are strings. Scalars keep their YAML text form.
            let key = match key {
                Node::Str(s) | Node::SingleQuoted(s) => s,
                Node::Bool(b) => b.to_string(),
                Node::Int(n) => n.to_string(),
                Node::UInt(n) => n.to_string(),
                Node::Float(n) => n.to_string(),
                Node::Null => "null".to_string(),
                Node::Seq(_) | Node::Map(_) => {
                    return Err(de::Error::custom(
                        "a list or mapping as a mapping key is not supported (Kubernetes needs string keys)",
                    ))
                }
            };
            let value = access.next_value::<Node>()?;
            if entries.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!("duplicate mapping key: {key}")));
            }
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}
