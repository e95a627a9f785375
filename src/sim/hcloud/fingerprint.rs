//! SSH public keys: parsing `TYPE BASE64 [comment]` and the MD5 fingerprint Hetzner shows
//! (`aa:bb:…`, 16 colon-separated hex bytes of the MD5 of the key blob).
//!
//! MD5 is implemented here (RFC 1321) because nothing else in the crate needs it; it is
//! only a fingerprint, never a security decision.

use base64::Engine;

/// The key types Hetzner accepts.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// The fingerprint of an OpenSSH public key line, or why it is not one.
pub fn fingerprint(public_key: &str) -> Result<String, String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next().ok_or("public key is empty")?;
    if !KEY_TYPES.contains(&kind) {
        return Err(format!("unsupported key type '{kind}'"));
    }
    let blob = parts.next().ok_or("public key has no key data")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| "key data is not valid base64".to_string())?;
    // The blob starts with the length-prefixed key type, which must agree with the text.
    let declared = bytes
        .get(..4)
        .map(|len| u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize)
        .and_then(|len| bytes.get(4..4 + len))
        .ok_or("key data is truncated")?;
    if declared != kind.as_bytes() {
        return Err("key data does not match the key type".to_string());
    }
    let digest = md5(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// MD5 (RFC 1321).
pub fn md5(input: &[u8]) -> [u8; 16] {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64)
        .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
        .collect();
    let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    let mut message = input.to_vec();
    let bit_len = (input.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_len.to_le_bytes());
    for chunk in message.chunks_exact(64) {
        let m: Vec<u32> = chunk
            .chunks_exact(4)
            .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
            .collect();
        let [mut a, mut b, mut c, mut d] = state;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((b & c) | (!b & d), i),
                1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                2 => (b ^ c ^ d, (3 * i + 5) % 16),
                _ => (c ^ (b | !d), (7 * i) % 16),
            };
            let f = f.wrapping_add(a).wrapping_add(k[i]).wrapping_add(m[g]);
            a = d;
            d = c;
            c = b;
            b = b.wrapping_add(f.rotate_left(S[i]));
        }
        state[0] = state[0].wrapping_add(a);
        state[1] = state[1].wrapping_add(b);
        state[2] = state[2].wrapping_add(c);
        state[3] = state[3].wrapping_add(d);
    }
    let mut out = [0u8; 16];
    for (i, word) in state.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn md5_test_vectors() {
        assert_eq!(hex(&md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(hex(&md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(
            hex(&md5(
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
            )),
            "57edf4a22be3c955ac49da2e2107b67a"
        );
    }

    #[test]
    fn fingerprints_an_ed25519_key() {
        // The blob of this key: "ssh-ed25519" + 32 zero bytes.
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[0u8; 32]);
        let line = format!(
            "ssh-ed25519 {} test@host",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let fp = fingerprint(&line).unwrap();
        assert_eq!(fp.len(), 47);
        assert_eq!(fp.replace(':', ""), hex(&md5(&blob)));
        assert!(fingerprint("ssh-ed25519 !!!").is_err());
        assert!(fingerprint("ssh-dss AAAA").is_err());
        assert!(fingerprint(&line.replace("ssh-ed25519 ", "ssh-rsa ")).is_err());
    }
}
