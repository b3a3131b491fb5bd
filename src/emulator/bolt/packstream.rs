//! PackStream, Bolt's binary value format: the subset a driver sends and a server answers with
//! (null, booleans, integers, floats, strings, bytes, lists, maps and structures).

use std::collections::BTreeMap;

/// A PackStream value. Maps keep their keys sorted; Bolt does not give map order a meaning.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    Bytes(Vec<u8>),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Struct { tag: u8, fields: Vec<Value> },
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Self::Map(m) => Some(m),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::String(s.to_string())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Self::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Self::Bool(b)
    }
}

/// Builds a map value from `(key, value)` pairs.
pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// Bytes that are not valid PackStream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("PackStream ended in the middle of a value")]
    Truncated,
    #[error("unknown PackStream marker 0x{0:02X}")]
    Marker(u8),
    #[error("a PackStream string is not UTF-8")]
    Utf8,
    #[error("a PackStream map key is not a string")]
    MapKey,
}

/// Appends the encoding of `value` to `out`.
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0xC0),
        Value::Bool(b) => out.push(if *b { 0xC3 } else { 0xC2 }),
        Value::Int(i) => encode_int(*i, out),
        Value::Float(f) => {
            out.push(0xC1);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::String(s) => {
            size_header(s.len(), 0x80, 0xD0, out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::Bytes(b) => {
            size_header_no_tiny(b.len(), 0xCC, out);
            out.extend_from_slice(b);
        }
        Value::List(items) => {
            size_header(items.len(), 0x90, 0xD4, out);
            items.iter().for_each(|v| encode(v, out));
        }
        Value::Map(entries) => {
            size_header(entries.len(), 0xA0, 0xD8, out);
            for (k, v) in entries {
                encode(&Value::String(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Struct { tag, fields } => {
            out.push(0xB0 | (fields.len() as u8 & 0x0F));
            out.push(*tag);
            fields.iter().for_each(|v| encode(v, out));
        }
    }
}

fn encode_int(i: i64, out: &mut Vec<u8>) {
    if (-16..128).contains(&i) {
        out.push(i as u8);
    } else if i8::try_from(i).is_ok() {
        out.push(0xC8);
        out.push(i as i8 as u8);
    } else if let Ok(v) = i16::try_from(i) {
        out.push(0xC9);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = i32::try_from(i) {
        out.push(0xCA);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xCB);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

/// A tiny marker (`tiny | len`) below 16, else `base`, `base+1`, `base+2` for 8, 16, 32-bit sizes.
fn size_header(len: usize, tiny: u8, base: u8, out: &mut Vec<u8>) {
    if len < 16 {
        out.push(tiny | len as u8);
    } else {
        size_header_no_tiny(len, base, out);
    }
}

fn size_header_no_tiny(len: usize, base: u8, out: &mut Vec<u8>) {
    if let Ok(n) = u8::try_from(len) {
        out.extend_from_slice(&[base, n]);
    } else if let Ok(n) = u16::try_from(len) {
        out.push(base + 1);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(base + 2);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Reads values one after another from a message body.
pub struct Decoder<'a> {
    bytes: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.bytes.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut buf = [0u8; N];
        buf.copy_from_slice(self.take(N)?);
        Ok(buf)
    }

    /// The size that follows a sized marker: 1, 2 or 4 bytes by `width` 0, 1 or 2.
    fn size(&mut self, width: u8) -> Result<usize, DecodeError> {
        Ok(match width {
            0 => self.byte()? as usize,
            1 => u16::from_be_bytes(self.be()?) as usize,
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    pub fn value(&mut self) -> Result<Value, DecodeError> {
        let marker = self.byte()?;
        match marker {
            0x00..=0x7F => Ok(Value::Int(i64::from(marker))),
            0xF0..=0xFF => Ok(Value::Int(i64::from(marker as i8))),
            0x80..=0x8F => self.string((marker & 0x0F) as usize),
            0x90..=0x9F => self.list((marker & 0x0F) as usize),
            0xA0..=0xAF => self.map((marker & 0x0F) as usize),
            0xB0..=0xBF => self.structure((marker & 0x0F) as usize),
            0xC0 => Ok(Value::Null),
            0xC1 => Ok(Value::Float(f64::from_be_bytes(self.be()?))),
            0xC2 => Ok(Value::Bool(false)),
            0xC3 => Ok(Value::Bool(true)),
            0xC8 => Ok(Value::Int(i64::from(self.byte()? as i8))),
            0xC9 => Ok(Value::Int(i64::from(i16::from_be_bytes(self.be()?)))),
            0xCA => Ok(Value::Int(i64::from(i32::from_be_bytes(self.be()?)))),
            0xCB => Ok(Value::Int(i64::from_be_bytes(self.be()?))),
            0xCC..=0xCE => {
                let len = self.size(marker - 0xCC)?;
                Ok(Value::Bytes(self.take(len)?.to_vec()))
            }
            0xD0..=0xD2 => {
                let len = self.size(marker - 0xD0)?;
                self.string(len)
            }
            0xD4..=0xD6 => {
                let len = self.size(marker - 0xD4)?;
                self.list(len)
            }
            0xD8..=0xDA => {
                let len = self.size(marker - 0xD8)?;
                self.map(len)
            }
            other => Err(DecodeError::Marker(other)),
        }
    }

    fn string(&mut self, len: usize) -> Result<Value, DecodeError> {
        let bytes = self.take(len)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::Utf8)?;
        Ok(Value::String(text.to_string()))
    }

    fn list(&mut self, len: usize) -> Result<Value, DecodeError> {
        (0..len)
            .map(|_| self.value())
            .collect::<Result<_, _>>()
            .map(Value::List)
    }

    fn map(&mut self, len: usize) -> Result<Value, DecodeError> {
        let mut entries = BTreeMap::new();
        for _ in 0..len {
            let Value::String(key) = self.value()? else {
                return Err(DecodeError::MapKey);
            };
            entries.insert(key, self.value()?);
        }
        Ok(Value::Map(entries))
    }

    fn structure(&mut self, len: usize) -> Result<Value, DecodeError> {
        let tag = self.byte()?;
        let fields = (0..len).map(|_| self.value()).collect::<Result<_, _>>()?;
        Ok(Value::Struct { tag, fields })
    }
}

/// Decodes one value from the whole of `bytes`.
pub fn decode(bytes: &[u8]) -> Result<Value, DecodeError> {
    Decoder::new(bytes).value()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(value: Value) {
        let mut out = Vec::new();
        encode(&value, &mut out);
        assert_eq!(decode(&out), Ok(value));
    }

    #[test]
    fn every_kind_survives_a_round_trip() {
        for i in [
            0,
            -16,
            -17,
            127,
            128,
            -129,
            40_000,
            -40_000,
            3_000_000_000,
            i64::MIN,
        ] {
            round_trip(Value::Int(i));
        }
        round_trip(Value::Float(1.5));
        round_trip(Value::Null);
        round_trip(Value::Bool(true));
        round_trip(Value::String("x".repeat(300)));
        round_trip(Value::Bytes(vec![1, 2, 3]));
        round_trip(Value::List((0..20).map(Value::Int).collect()));
        round_trip(map([("a", Value::Int(1)), ("b", "two".into())]));
        round_trip(Value::Struct {
            tag: 0x70,
            fields: vec![map([("fields", Value::List(vec![]))])],
        });
    }

    #[test]
    fn small_integers_use_the_tiny_form() {
        let mut out = Vec::new();
        encode(&Value::Int(-16), &mut out);
        encode(&Value::Int(127), &mut out);
        assert_eq!(out, vec![0xF0, 0x7F]);
    }

    #[test]
    fn truncated_or_unknown_bytes_are_errors() {
        assert_eq!(decode(&[0x85, b'a']), Err(DecodeError::Truncated));
        assert_eq!(decode(&[0xD3]), Err(DecodeError::Marker(0xD3)));
    }
}
