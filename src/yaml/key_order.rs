//! The order go-yaml writes the string keys of a Go map in (`sorter.go` `keyList.Less`), so
//! that maps we write (patched Talos configs, schematic overlay options) come out as Go's
//! would.

use std::cmp::Ordering;

/// go-yaml's order of two string map keys: letters compare by code point, a non-letter
/// sorts before a letter unless the previous character was a digit, and runs of digits
/// compare as numbers (`a9` < `a10`).
///
/// Go's `unicode.IsLetter`/`IsDigit` are approximated by `char::is_alphabetic` and by ASCII
/// digits in Latin-1 plus `char::is_numeric` above it; they differ only for rare
/// characters (letter numbers such as `Ⅻ`, combining marks).
pub fn key_order(a: &str, b: &str) -> Ordering {
    order_by_less(a, b, key_less)
}

/// The [`Ordering`] of `a` and `b` under a Go-style `Less` (`sort.Interface`): `Equal` when
/// neither is less than the other.
pub fn order_by_less<T: ?Sized>(a: &T, b: &T, less: impl Fn(&T, &T) -> bool) -> Ordering {
    if less(a, b) {
        Ordering::Less
    } else if less(b, a) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Go's `unicode.IsDigit`: ASCII digits in Latin-1, decimal digits of other scripts above.
fn is_digit(c: char) -> bool {
    if c <= '\u{FF}' {
        c.is_ascii_digit()
    } else {
        c.is_numeric()
    }
}

fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut digits = false;
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            digits = is_digit(ar[i]);
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return if digits { al } else { bl };
        }
        // Go accumulates into int64 and lets it wrap; so do we.
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && is_digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let digit_value = |c: char| i64::from(u32::from(c)) - i64::from(u32::from('0'));
        let mut ai = i;
        while ai < ar.len() && is_digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(digit_value(ar[ai]));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(digit_value(br[bi]));
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_go_yaml() {
        let mut keys = vec![
            "zz10", "b", "a10", "a9", "A", "10", "1", "2", "zz09", "zz9", "_", "a_b", "ab", "²",
        ];
        keys.sort_by(|a, b| key_order(a, b));
        // `²` is neither a letter nor (in Latin-1, for Go) a digit: it sorts as a number 0.
        assert_eq!(
            keys,
            [
                "_", "²", "1", "2", "10", "A", "a_b", "a9", "a10", "ab", "b", "zz9", "zz09", "zz10"
            ]
        );
    }
}
