//! Base64 (RFC 4648 §4, standard alphabet, `=` padding), as etcd's JSON
//! gateway writes `bytes` fields (Go's `encoding/json`).

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const PAD: u8 = b'=';

/// `bytes` in base64, padded to a multiple of four characters.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (i, &byte)| {
            word | u32::from(byte) << (16 - 8 * i)
        });
        // A chunk of n bytes fills n + 1 sextets; the rest is padding.
        for i in 0..4 {
            if i <= chunk.len() {
                let sextet = (word >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET[sextet as usize]));
            } else {
                out.push(char::from(PAD));
            }
        }
    }
    out
}

/// The bytes `text` encodes, or `None` when it is not base64. Padding may be
/// left out; characters outside the alphabet, misplaced `=` and unused bits
/// that are not zero (a second spelling of the same bytes) are refused.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches(char::from(PAD));
    let padding = text.len() - body.len();
    // Padding, when present, completes the last group of four.
    if padding > 2 || (padding > 0 && body.len() % 4 + padding != 4) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 2);
    for chunk in body.as_bytes().chunks(4) {
        // One leftover character cannot hold a whole byte.
        if chunk.len() == 1 {
            return None;
        }
        let mut word = 0u32;
        for (i, &character) in chunk.iter().enumerate() {
            word |= sextet(character)? << (18 - 6 * i);
        }
        let bytes = word.to_be_bytes();
        if bytes[chunk.len()..].iter().any(|&byte| byte != 0) {
            return None;
        }
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

fn sextet(character: u8) -> Option<u32> {
    let value = match character {
        b'A'..=b'Z' => character - b'A',
        b'a'..=b'z' => character - b'a' + 26,
        b'0'..=b'9' => character - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_rfc_4648_test_vectors_and_etcds_examples() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
            // research/etcd.md's curl examples.
            ("bar", "YmFy"),
            ("qux", "cXV4"),
            ("1", "MQ=="),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(encode(plain.as_bytes()), encoded, "{plain:?}");
            assert_eq!(
                decode(encoded),
                Some(plain.as_bytes().to_vec()),
                "{encoded:?}"
            );
        }
    }

    #[test]
    fn every_byte_value_and_length_round_trips() {
        let all: Vec<u8> = (0..=255).collect();
        for length in 0..all.len() {
            let bytes = &all[all.len() - length..];
            let encoded = encode(bytes);
            assert_eq!(encoded.len(), length.div_ceil(3) * 4);
            assert_eq!(decode(&encoded).as_deref(), Some(bytes), "{encoded}");
        }
        // The two characters the URL-safe alphabet replaces.
        assert_eq!(encode(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn missing_padding_is_accepted() {
        assert_eq!(decode("Zg"), Some(b"f".to_vec()));
        assert_eq!(decode("Zm8"), Some(b"fo".to_vec()));
    }

    #[test]
    fn text_that_is_not_base64_is_refused() {
        for bad in [
            "Z", "Zm9vY", "Zm9v!", "Zm-v", "Zg===", "=Zg=", "Zg=a", "Zm9=", "Zm 9v",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
