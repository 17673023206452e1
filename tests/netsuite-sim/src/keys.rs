//! Key pairs for the OAuth 2.0 machine-to-machine flow, made fresh for a test or a demo run:
//! the private key (PKCS#8 PEM) for billsync and the public key (SPKI PEM) for the mapping.
//! Nothing made here is kept or meant for a real account.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine as _;

/// A generated key pair, both halves as PEM text.
#[derive(Clone)]
pub struct TestKeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl std::fmt::Debug for TestKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestKeyPair([redacted])")
    }
}

impl TestKeyPair {
    /// RSA 3072 (the smallest RSA size NetSuite takes), for PS256.
    pub fn rsa() -> Self {
        let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa3072)
            .expect("RSA key generation");
        let private: Pkcs8V1Der = kp.as_der().expect("PKCS#8 encoding");
        let public: PublicKeyX509Der = kp.public_key().as_der().expect("SPKI encoding");
        TestKeyPair {
            private_pem: pem("PRIVATE KEY", private.as_ref()),
            public_pem: pem("PUBLIC KEY", public.as_ref()),
        }
    }

    /// EC P-256, for ES256.
    pub fn ec_p256() -> Self {
        let kp =
            EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("EC key generation");
        let private = kp.to_pkcs8v1().expect("PKCS#8 encoding");
        let public: PublicKeyX509Der = kp.public_key().as_der().expect("SPKI encoding");
        TestKeyPair {
            private_pem: pem("PRIVATE KEY", private.as_ref()),
            public_pem: pem("PUBLIC KEY", public.as_ref()),
        }
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
