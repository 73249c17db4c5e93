//! A software passkey authenticator for the tests, written here from the
//! WebAuthn and CTAP2 texts (no WebAuthn library): it answers the options
//! authnz sends (webauthn-rs JSON, base64url) the way a browser with a
//! platform authenticator would, so the tests exercise authnz's real
//! verification.
//!
//! One ES256 (P-256) key per credential (ring), `none` attestation, the
//! user-present and user-verified flags set, a signature counter that
//! grows by one per assertion. The client data names `origin`.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

/// Flags of the authenticator data: user present, user verified,
/// attested credential data included.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const AT: u8 = 0x40;

pub struct Credential {
    pub id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub rp_id: String,
    key: EcdsaKeyPair,
    pub counter: u32,
}

pub struct SoftKey {
    pub origin: String,
    pub credentials: Vec<Credential>,
    rng: SystemRandom,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A base64url (or standard base64) field of the options.
fn unb64(v: &Value) -> Vec<u8> {
    let s = v.as_str().expect("a base64 string field");
    let s = s.trim_end_matches('=').replace('+', "-").replace('/', "_");
    URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, data);
    let mut out = [0; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// CBOR (RFC 8949): a head of major type `major` with argument `n`.
fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn cbor_int(out: &mut Vec<u8>, v: i64) {
    if v >= 0 {
        cbor_head(out, 0, v as u64);
    } else {
        cbor_head(out, 1, (-1 - v) as u64);
    }
}

fn cbor_bytes(out: &mut Vec<u8>, b: &[u8]) {
    cbor_head(out, 2, b.len() as u64);
    out.extend_from_slice(b);
}

fn cbor_text(out: &mut Vec<u8>, s: &str) {
    cbor_head(out, 3, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// The COSE_Key of a P-256 public key (uncompressed point `04 || x || y`).
fn cose_es256(point: &[u8]) -> Vec<u8> {
    assert_eq!(point.len(), 65);
    let mut out = Vec::new();
    cbor_head(&mut out, 5, 5);
    cbor_int(&mut out, 1); // kty
    cbor_int(&mut out, 2); // EC2
    cbor_int(&mut out, 3); // alg
    cbor_int(&mut out, -7); // ES256
    cbor_int(&mut out, -1); // crv
    cbor_int(&mut out, 1); // P-256
    cbor_int(&mut out, -2); // x
    cbor_bytes(&mut out, &point[1..33]);
    cbor_int(&mut out, -3); // y
    cbor_bytes(&mut out, &point[33..65]);
    out
}

impl SoftKey {
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            credentials: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    fn client_data(&self, kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": b64(challenge),
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }

    /// `navigator.credentials.create` for `options` (`{"publicKey": ...}`):
    /// a new credential, answered as `RegisterPublicKeyCredential` JSON.
    pub fn create(&mut self, options: &Value) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rp"]["id"].as_str().expect("rp.id").to_owned();
        let challenge = unb64(&pk["challenge"]);
        let user_handle = unb64(&pk["user"]["id"]);
        let excluded: Vec<Vec<u8>> = pk["excludeCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| unb64(&c["id"])).collect())
            .unwrap_or_default();
        assert!(
            !self
                .credentials
                .iter()
                .any(|c| c.rp_id == rp_id && excluded.contains(&c.id)),
            "the authenticator already holds an excluded credential"
        );
        let mut id = vec![0u8; 16];
        self.rng.fill(&mut id).unwrap();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.rng)
            .expect("key pair");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &self.rng)
                .expect("key pair");

        let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | UV | AT);
        auth_data.extend(0u32.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose_es256(key.public_key().as_ref()));

        let mut attestation = Vec::new();
        cbor_head(&mut attestation, 5, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_head(&mut attestation, 5, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);

        let client_data = self.client_data("webauthn.create", &challenge, &self.origin.clone());
        self.credentials.push(Credential {
            id: id.clone(),
            user_handle,
            rp_id,
            key,
            counter: 0,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "attestationObject": b64(&attestation),
                "clientDataJSON": b64(&client_data),
                "transports": ["internal"],
            },
            "extensions": {},
        })
    }

    /// `navigator.credentials.get` for `options`: an assertion by the
    /// newest credential for the relying party that `allowCredentials`
    /// allows (any, when it is empty), as `PublicKeyCredential` JSON.
    pub fn get(&mut self, options: &Value) -> Value {
        let origin = self.origin.clone();
        self.get_from(options, &origin)
    }

    /// [`SoftKey::get`] with another origin in the client data.
    pub fn get_from(&mut self, options: &Value, origin: &str) -> Value {
        let pk = &options["publicKey"];
        let rp_id = pk["rpId"].as_str().expect("rpId").to_owned();
        let challenge = unb64(&pk["challenge"]);
        let allowed: Vec<Vec<u8>> = pk["allowCredentials"]
            .as_array()
            .map(|a| a.iter().map(|c| unb64(&c["id"])).collect())
            .unwrap_or_default();
        let client_data = self.client_data("webauthn.get", &challenge, origin);
        let rng = self.rng.clone();
        let cred = self
            .credentials
            .iter_mut()
            .rev()
            .find(|c| c.rp_id == rp_id && (allowed.is_empty() || allowed.contains(&c.id)))
            .expect("a credential for these options");
        cred.counter += 1;
        let mut auth_data = sha256(rp_id.as_bytes()).to_vec();
        auth_data.push(UP | UV);
        auth_data.extend(cred.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend(sha256(&client_data));
        let signature = cred.key.sign(&rng, &signed).expect("sign");
        json!({
            "id": b64(&cred.id),
            "rawId": b64(&cred.id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64(&auth_data),
                "clientDataJSON": b64(&client_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&cred.user_handle),
            },
            "extensions": {},
        })
    }
}
