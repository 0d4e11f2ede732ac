//! SHA-256 from aws-lc-rs, the crypto library the TLS stack and the token signer already link, so
//! no second implementation is compiled into the functions.

use aws_lc_rs::digest::{SHA256, digest};

/// The SHA-256 of `bytes` in lowercase hex (64 digits).
pub fn sha256_hex(bytes: &[u8]) -> String {
    digest(&SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn it_is_the_standard_sha256() {
        assert_eq!(
            super::sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
