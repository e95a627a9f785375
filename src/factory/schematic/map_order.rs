//! The order Go's YAML encoder writes the keys of an untyped map (`map[string]any`, overlay
//! options) in: go-yaml sorts them with its `keyList.Less`, so the canonical YAML, and with
//! it the schematic's ID, depends on reproducing that order exactly.

use std::cmp::Ordering;

use super::Value;
use crate::yaml::key_order;

/// Go's `reflect.Kind` ordinal of a decoded value, used to order keys of different kinds.
fn go_kind(value: &Value) -> u8 {
    match value {
        Value::Bool(_) => 1,
        Value::Int(i) if *i > i128::from(i64::MAX) => 11,
        Value::Int(_) => 2,
        Value::Float(_) => 14,
        Value::Null => 20,
        Value::Map(_) => 21,
        Value::Seq(_) => 23,
        Value::Str(_) => 24,
        Value::Timestamp(_) => 25,
    }
}

fn key_float(value: &Value) -> Option<f64> {
    match value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

/// Go's `keyList.Less`: numbers by value, then kinds, then a "natural" string order in
/// which runs of digits compare as numbers (`a9` < `a10`).
pub(super) fn go_key_order(a: &Value, b: &Value) -> Ordering {
    let less = |x: &Value, y: &Value| -> bool {
        if let (Some(xf), Some(yf)) = (key_float(x), key_float(y)) {
            if xf != yf {
                return xf < yf;
            }
            if go_kind(x) != go_kind(y) {
                return go_kind(x) < go_kind(y);
            }
            return match (x, y) {
                (Value::Int(p), Value::Int(q)) => p < q,
                (Value::Float(p), Value::Float(q)) => p < q,
                (Value::Bool(p), Value::Bool(q)) => !p & q,
                _ => false,
            };
        }
        let (Value::Str(xs), Value::Str(ys)) = (x, y) else {
            return go_kind(x) < go_kind(y);
        };
        key_order(xs, ys) == Ordering::Less
    };
    key_order::order_by_less(a, b, less)
}

#[cfg(test)]
mod tests {
    use super::super::tests::canonical;

    #[test]
    fn overlay_options_are_sorted_like_go() {
        let text = r#"{"overlay": {"name": "rpi", "image": "img", "options": {"b": 1, "a10": "x", "a9": "y", "A": "z", "1": "one", "10": "ten", "2": "two", "zz09": 3, "zz9": 1, "zz10": 2, "_": 1}}}"#;
        assert_eq!(
            canonical(text),
            "overlay:\n    image: img\n    name: rpi\n    options:\n        _: 1\n        \"1\": one\n        \"2\": two\n        \"10\": ten\n        A: z\n        a9: \"y\"\n        a10: x\n        b: 1\n        zz9: 1\n        zz09: 3\n        zz10: 2\ncustomization: {}\n"
        );
    }
}
