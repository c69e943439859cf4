//! The signature algorithms a server's certificate chain and handshake are checked with,
//! over RustCrypto's crates (as `rustls-rustcrypto` has them, whose table is reachable only
//! through its `provider()`, which links its `getrandom`-based randomness: WASI preview 1).

use rustls::SignatureScheme;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{
    AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm, alg_id,
};

/// What one algorithm checks.
#[derive(Debug, Clone, Copy)]
enum Kind {
    EcdsaP256(Hash),
    EcdsaP384(Hash),
    Ed25519,
    RsaPkcs1(Hash),
    RsaPss(Hash),
}

#[derive(Debug, Clone, Copy)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// One algorithm: its key and signature identifiers, and what it checks.
#[derive(Debug)]
struct Algorithm {
    key: AlgorithmIdentifier,
    signature: AlgorithmIdentifier,
    kind: Kind,
}

impl SignatureVerificationAlgorithm for Algorithm {
    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.key
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature
    }

    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        verify(self.kind, public_key, message, signature).ok_or(InvalidSignature)
    }
}

fn digest(hash: Hash, message: &[u8]) -> alloc::vec::Vec<u8> {
    use sha2::Digest;
    match hash {
        Hash::Sha256 => sha2::Sha256::digest(message).to_vec(),
        Hash::Sha384 => sha2::Sha384::digest(message).to_vec(),
        Hash::Sha512 => sha2::Sha512::digest(message).to_vec(),
    }
}

/// `Some(())` if `signature` is `public_key`'s signature of `message`.
fn verify(kind: Kind, public_key: &[u8], message: &[u8], signature: &[u8]) -> Option<()> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use signature::Verifier;
    use signature::hazmat::PrehashVerifier;
    match kind {
        Kind::EcdsaP256(hash) => {
            let signature = p256::ecdsa::DerSignature::from_bytes(signature).ok()?;
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(public_key).ok()?;
            key.verify_prehash(&digest(hash, message), &signature).ok()
        }
        Kind::EcdsaP384(hash) => {
            let signature = p384::ecdsa::DerSignature::from_bytes(signature).ok()?;
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(public_key).ok()?;
            key.verify_prehash(&digest(hash, message), &signature).ok()
        }
        Kind::Ed25519 => {
            let key = ed25519_dalek::VerifyingKey::from_bytes(public_key.try_into().ok()?).ok()?;
            let signature = ed25519_dalek::Signature::from_slice(signature).ok()?;
            key.verify(message, &signature).ok()
        }
        Kind::RsaPkcs1(hash) => {
            let key = rsa::RsaPublicKey::from_pkcs1_der(public_key).ok()?;
            let signature = rsa::pkcs1v15::Signature::try_from(signature).ok()?;
            match hash {
                Hash::Sha256 => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                    .verify(message, &signature),
                Hash::Sha384 => rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key)
                    .verify(message, &signature),
                Hash::Sha512 => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key)
                    .verify(message, &signature),
            }
            .ok()
        }
        Kind::RsaPss(hash) => {
            let key = rsa::RsaPublicKey::from_pkcs1_der(public_key).ok()?;
            let signature = rsa::pss::Signature::try_from(signature).ok()?;
            match hash {
                Hash::Sha256 => {
                    rsa::pss::VerifyingKey::<sha2::Sha256>::new(key).verify(message, &signature)
                }
                Hash::Sha384 => {
                    rsa::pss::VerifyingKey::<sha2::Sha384>::new(key).verify(message, &signature)
                }
                Hash::Sha512 => {
                    rsa::pss::VerifyingKey::<sha2::Sha512>::new(key).verify(message, &signature)
                }
            }
            .ok()
        }
    }
}

macro_rules! algorithm {
    ($name:ident, $key:expr, $signature:expr, $kind:expr) => {
        const $name: &dyn SignatureVerificationAlgorithm = &Algorithm {
            key: $key,
            signature: $signature,
            kind: $kind,
        };
    };
}

algorithm!(
    P256_SHA256,
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA256,
    Kind::EcdsaP256(Hash::Sha256)
);
algorithm!(
    P256_SHA384,
    alg_id::ECDSA_P256,
    alg_id::ECDSA_SHA384,
    Kind::EcdsaP256(Hash::Sha384)
);
algorithm!(
    P384_SHA256,
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA256,
    Kind::EcdsaP384(Hash::Sha256)
);
algorithm!(
    P384_SHA384,
    alg_id::ECDSA_P384,
    alg_id::ECDSA_SHA384,
    Kind::EcdsaP384(Hash::Sha384)
);
algorithm!(ED25519, alg_id::ED25519, alg_id::ED25519, Kind::Ed25519);
algorithm!(
    PKCS1_SHA256,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA256,
    Kind::RsaPkcs1(Hash::Sha256)
);
algorithm!(
    PKCS1_SHA384,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA384,
    Kind::RsaPkcs1(Hash::Sha384)
);
algorithm!(
    PKCS1_SHA512,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PKCS1_SHA512,
    Kind::RsaPkcs1(Hash::Sha512)
);
algorithm!(
    PSS_SHA256,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA256,
    Kind::RsaPss(Hash::Sha256)
);
algorithm!(
    PSS_SHA384,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA384,
    Kind::RsaPss(Hash::Sha384)
);
algorithm!(
    PSS_SHA512,
    alg_id::RSA_ENCRYPTION,
    alg_id::RSA_PSS_SHA512,
    Kind::RsaPss(Hash::Sha512)
);

/// Every algorithm, and which serve each TLS signature scheme.
pub static ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[
        P256_SHA256,
        P256_SHA384,
        P384_SHA256,
        P384_SHA384,
        ED25519,
        PKCS1_SHA256,
        PKCS1_SHA384,
        PKCS1_SHA512,
        PSS_SHA256,
        PSS_SHA384,
        PSS_SHA512,
    ],
    mapping: &[
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &[P384_SHA384, P256_SHA384],
        ),
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &[P256_SHA256, P384_SHA256],
        ),
        (SignatureScheme::ED25519, &[ED25519]),
        (SignatureScheme::RSA_PKCS1_SHA256, &[PKCS1_SHA256]),
        (SignatureScheme::RSA_PKCS1_SHA384, &[PKCS1_SHA384]),
        (SignatureScheme::RSA_PKCS1_SHA512, &[PKCS1_SHA512]),
        (SignatureScheme::RSA_PSS_SHA256, &[PSS_SHA256]),
        (SignatureScheme::RSA_PSS_SHA384, &[PSS_SHA384]),
        (SignatureScheme::RSA_PSS_SHA512, &[PSS_SHA512]),
    ],
};
