//! TLS for `rediss://` (feature `redis-tls`): rustls's unbuffered client over a [`Tcp`]
//! connection, the same code natively and in the component.
//!
//! rustls runs here without std, so it needs three things from us: the algorithms (RustCrypto's
//! pure-Rust ones, from `rustls-rustcrypto`: no C compiler for `wasm32-wasip2`, which `ring` and
//! `aws-lc-rs` would need), the time (to check a certificate's validity: `wasi:clocks/wall-clock`)
//! and randomness (`wasi:random/random`). `rustls-rustcrypto` takes its randomness from
//! `getrandom` 0.2, which on `wasm32-wasip2` calls WASI preview 1 (and so links the preview 1
//! adapter, which imports `wasi:random`, `wasi:io` and `wasi:cli/stderr` at 0.2.6); the key
//! exchanges, the signature checks (`tls_verify`) and the random source are therefore our own,
//! over the same RustCrypto crates and `wasi:random@0.2.0` (natively, the OS's); only its
//! cipher suites come from `rustls-rustcrypto`.
//!
//! The server's certificate chain is checked against the CAs of `--tls-ca` if given, otherwise
//! against Mozilla's roots (`webpki-roots`, built in), for a name ([`Tls::name_for`]): the
//! URL's host, a name or an IP address (which the certificate must hold in its
//! subjectAltName). A node the cluster (`CLUSTER SLOTS`, `MOVED`) or a Sentinel names only by
//! its IP address is checked for the host name of the first URL given by name instead, and that
//! name is sent as SNI: managed services give every node one certificate for their domain (a
//! wildcard) and announce the nodes by IP address, which their certificates do not hold.
//! `--tls-insecure-skip-verify` accepts any certificate (the handshake's signatures are still
//! checked, so the connection is encrypted, but to whoever answers).

use alloc::boxed::Box;
use alloc::sync::Arc;

use rustls::client::UnbufferedClientConnection;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, KeyProvider, SecureRandom, SharedSecret,
    SupportedKxGroup, WebPkiSupportedAlgorithms,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::net::{Cause, Deadline, Tcp};
use crate::prelude::*;

/// The TLS settings of one instance, shared by its connections.
pub struct Tls {
    config: Arc<ClientConfig>,
    /// Whether `--tls-ca` gave the roots (for messages).
    own_ca: bool,
    /// The host name of the first URL given by name, for nodes known by IP address only.
    seed_name: Option<String>,
}

impl Tls {
    /// The settings from `--tls-ca` (PEM text; `None`: the built-in roots),
    /// `--tls-insecure-skip-verify` and the hosts of the URLs (`--url` or `--sentinel`); the
    /// error says what is wrong with the CA file.
    pub fn new<'a>(
        ca_pem: Option<&str>,
        insecure: bool,
        hosts: impl IntoIterator<Item = &'a str>,
    ) -> Result<Tls, String> {
        let provider = Arc::new(provider());
        let builder = ClientConfig::builder_with_details(provider.clone(), Arc::new(Clock))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                )))
                .with_no_client_auth()
        } else {
            let roots = match ca_pem {
                Some(pem) => roots_from_pem(pem)?,
                None => RootCertStore {
                    roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
                },
            };
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Tls {
            config: Arc::new(config),
            own_ca: ca_pem.is_some(),
            seed_name: hosts
                .into_iter()
                .find(|host| !is_ip(host))
                .map(String::from),
        })
    }

    /// The name the certificate of the node at `host` is checked for (and sent as SNI): `host`
    /// itself when it is a name (a URL's, or one the cluster announces); for an IP address,
    /// the host name of the first URL given by name, or the address when every URL is one.
    pub fn name_for<'a>(&'a self, host: &'a str) -> &'a str {
        match &self.seed_name {
            Some(name) if is_ip(host) => name,
            _ => host,
        }
    }
}

fn is_ip(host: &str) -> bool {
    host.parse::<core::net::IpAddr>().is_ok()
}

/// The CA certificates in `pem`; the error says what is wrong with them.
pub fn roots_from_pem(pem: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("--tls-ca holds a broken PEM section ({e:?})"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--tls-ca holds a certificate that is not a valid CA ({e})"))?;
    }
    if roots.is_empty() {
        return Err(
            "--tls-ca holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)".into(),
        );
    }
    Ok(roots)
}

/// One TLS connection over [`Tcp`].
pub struct TlsStream {
    tcp: Tcp,
    conn: UnbufferedClientConnection,
    /// Bytes received and not yet processed by rustls (at most a partial record between calls).
    incoming: Vec<u8>,
    /// Records to send.
    outgoing: Vec<u8>,
    /// Plaintext received and not yet handed to a reader.
    plain: Vec<u8>,
}

/// What a drive of the connection is for.
enum Goal<'a> {
    /// The handshake's end.
    Handshake,
    /// Sending these bytes.
    Send(&'a [u8]),
    /// Some plaintext.
    Receive,
}

/// What to do once rustls's state is handled.
enum Next {
    Done,
    Read,
    Again,
}

/// How a TLS connection failed.
pub enum Failure {
    /// The network (nothing to do with TLS): may be tried again.
    Io(Cause),
    /// The handshake was refused or the certificate is wrong: trying again cannot help.
    Tls(Cause),
    /// What rustls refused, before [`explain`] words it.
    Refused(rustls::Error),
}

impl TlsStream {
    /// Connects to `host:port` and completes the handshake before `deadline`, checking the
    /// server's certificate for [`Tls::name_for`] `host`.
    pub fn connect(
        tls: &Tls,
        host: &str,
        port: u16,
        deadline: &Deadline,
    ) -> Result<TlsStream, Failure> {
        let url = url_of(host, port);
        let checked = tls.name_for(host);
        let name = ServerName::try_from(checked)
            .map_err(|_| Failure::Tls(format!("{url}: `{checked}` is not a valid server name")))?
            .to_owned();
        let conn = UnbufferedClientConnection::new(tls.config.clone(), name)
            .map_err(|e| Failure::Tls(format!("{url}: cannot start TLS: {e}")))?;
        let tcp = Tcp::connect(host, port, deadline).map_err(Failure::Io)?;
        let mut stream = TlsStream {
            tcp,
            conn,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            plain: Vec::new(),
        };
        stream
            .drive(Goal::Handshake, deadline)
            .map_err(|failure| match failure {
                Failure::Refused(error) => {
                    Failure::Tls(explain(&error, &url, tls, checked, host != checked))
                }
                Failure::Tls(cause) => Failure::Tls(format!("{url}: {cause}")),
                // A plain server reads the ClientHello as an unfinished inline command and
                // waits: a handshake that gets no answer is most likely that.
                Failure::Io(cause) => Failure::Tls(format!(
                    "{url}: the TLS handshake failed ({cause}); is {port} the server's TLS port \
                     (redis-server --tls-port)? A plain port needs redis:// instead"
                )),
            })?;
        Ok(stream)
    }

    /// Whether the connection is closed or holds bytes no command asked for (see
    /// [`Tcp::is_stale`]).
    pub fn is_stale(&mut self) -> bool {
        !self.plain.is_empty() || !self.incoming.is_empty() || self.tcp.is_stale()
    }

    /// Encrypts and sends all of `bytes` before `deadline`.
    pub fn write_all(&mut self, bytes: &[u8], deadline: &Deadline) -> Result<(), Cause> {
        self.drive(Goal::Send(bytes), deadline).map_err(cause)
    }

    /// Appends at least one received byte of plaintext to `buf`, before `deadline`.
    pub fn read(&mut self, buf: &mut Vec<u8>, deadline: &Deadline) -> Result<(), Cause> {
        if self.plain.is_empty() {
            self.drive(Goal::Receive, deadline).map_err(cause)?;
        }
        buf.append(&mut self.plain);
        Ok(())
    }

    /// Runs rustls's state machine until `goal` is reached, sending and receiving as it asks.
    fn drive(&mut self, goal: Goal<'_>, deadline: &Deadline) -> Result<(), Failure> {
        let TlsStream {
            tcp,
            conn,
            incoming,
            outgoing,
            plain,
        } = self;
        let mut goal = goal;
        loop {
            let status = conn.process_tls_records(incoming);
            let mut discard = status.discard;
            let next = match status.state {
                Err(e) => return Err(Failure::Refused(e)),
                Ok(ConnectionState::ReadTraffic(mut records)) => {
                    while let Some(record) = records.next_record() {
                        let record = record.map_err(Failure::Refused)?;
                        discard += record.discard;
                        plain.extend_from_slice(record.payload);
                    }
                    Next::Again
                }
                Ok(ConnectionState::EncodeTlsData(mut data)) => {
                    encode(
                        outgoing,
                        |out| data.encode(out),
                        |e| match e {
                            EncodeError::InsufficientSize(size) => Some(size.required_size),
                            EncodeError::AlreadyEncoded => None,
                        },
                    )
                    .map_err(Failure::Tls)?;
                    Next::Again
                }
                Ok(ConnectionState::TransmitTlsData(data)) => {
                    tcp.write_all(outgoing, deadline).map_err(Failure::Io)?;
                    outgoing.clear();
                    data.done();
                    Next::Again
                }
                Ok(ConnectionState::BlockedHandshake) => Next::Read,
                Ok(ConnectionState::WriteTraffic(mut traffic)) => match goal {
                    Goal::Handshake => Next::Done,
                    Goal::Receive if plain.is_empty() => Next::Read,
                    Goal::Receive => Next::Done,
                    Goal::Send(bytes) => {
                        encode(
                            outgoing,
                            |out| traffic.encrypt(bytes, out),
                            |e| match e {
                                EncryptError::InsufficientSize(size) => Some(size.required_size),
                                _ => None,
                            },
                        )
                        .map_err(Failure::Tls)?;
                        tcp.write_all(outgoing, deadline).map_err(Failure::Io)?;
                        outgoing.clear();
                        goal = Goal::Handshake;
                        Next::Done
                    }
                },
                Ok(ConnectionState::PeerClosed | ConnectionState::Closed) => {
                    if matches!(goal, Goal::Receive) && !plain.is_empty() {
                        Next::Done
                    } else {
                        return Err(Failure::Io(
                            "the server closed the TLS connection (close_notify)".into(),
                        ));
                    }
                }
                Ok(_) => {
                    return Err(Failure::Tls(
                        "the server sent what this TLS client does not expect".into(),
                    ));
                }
            };
            incoming.drain(..discard.min(incoming.len()));
            match next {
                Next::Done => return Ok(()),
                Next::Again => {}
                Next::Read => tcp.read(incoming, deadline).map_err(Failure::Io)?,
            }
        }
    }
}

/// Appends to `out` what `write` writes, growing it to the size an error of `write` asks for.
fn encode<E: core::fmt::Display>(
    out: &mut Vec<u8>,
    mut write: impl FnMut(&mut [u8]) -> Result<usize, E>,
    needs: impl Fn(&E) -> Option<usize>,
) -> Result<(), Cause> {
    let used = out.len();
    let mut room = 4096;
    loop {
        out.resize(used + room, 0);
        match write(&mut out[used..]) {
            Ok(n) => {
                out.truncate(used + n);
                return Ok(());
            }
            Err(e) => match needs(&e) {
                Some(size) if size > room => room = size,
                _ => {
                    out.truncate(used);
                    return Err(format!("cannot encode a TLS record: {e}"));
                }
            },
        }
    }
}

fn cause(failure: Failure) -> Cause {
    match failure {
        Failure::Io(cause) | Failure::Tls(cause) => cause,
        Failure::Refused(error) => format!("TLS: {error}"),
    }
}

/// `rediss://HOST:PORT`, as messages name a server (never with a password).
fn url_of(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("rediss://[{host}]:{port}")
    } else {
        format!("rediss://{host}:{port}")
    }
}

/// A handshake failure's message: what happened at `url` (its certificate checked for `name`,
/// `by_seed`: the name of the first URL, for a node known by IP address) and what to do.
fn explain(error: &rustls::Error, url: &str, tls: &Tls, name: &str, by_seed: bool) -> String {
    use rustls::Error as E;
    let roots = match tls.own_ca {
        true => "the CA given with --tls-ca",
        false => "a CA of the built-in roots (Mozilla's)",
    };
    let fix = "give the CA that signed the server's certificate with --tls-ca FILE (PEM), or, \
               on a test server only, --tls-insecure-skip-verify";
    match error {
        // `BadSignature`: a CA of the same name, but not the one that signed it.
        E::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            format!(
                "{url}: the server's certificate is not signed by {roots} (TLS: {error}); {fix}"
            )
        }
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) if by_seed => format!(
            "{url}: the server's certificate is not valid for `{name}` (TLS: {error}); the \
             cluster or Sentinel names this node by IP address, so its certificate is checked \
             for the host name of the first URL: give every node a certificate whose \
             subjectAltName holds `{name}` (a wildcard of its domain), or its IP address and \
             URLs by IP address"
        ),
        E::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "{url}: the server's certificate is not valid for `{name}` (TLS: {error}); connect \
             with a name or IP address its subjectAltName holds, or give the server a \
             certificate for `{name}`"
        ),
        E::InvalidCertificate(
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. },
        ) => format!(
            "{url}: the server's certificate is outside its validity period (TLS: {error}); \
             renew it, or check the clock"
        ),
        E::InvalidMessage(_) | E::InappropriateMessage { .. } => format!(
            "{url}: the server does not answer in TLS (TLS: {error}); is this the server's \
             plain port? Use redis:// for it, or its --tls-port with rediss://"
        ),
        _ => format!("{url}: the TLS handshake failed (TLS: {error}); {fix}"),
    }
}

/// The algorithms: RustCrypto's cipher suites and signature checks, our key exchanges and
/// random source (see the module documentation).
fn provider() -> CryptoProvider {
    use rustls_rustcrypto as rc;
    CryptoProvider {
        cipher_suites: vec![
            rc::TLS13_AES_128_GCM_SHA256,
            rc::TLS13_AES_256_GCM_SHA384,
            rc::TLS13_CHACHA20_POLY1305_SHA256,
            rc::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            rc::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            rc::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            rc::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            rc::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            rc::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        kx_groups: vec![&X25519, &P256],
        signature_verification_algorithms: super::tls_verify::ALGORITHMS,
        secure_random: &Random,
        key_provider: &NoClientKeys,
    }
}

/// Randomness: `wasi:random` in the component, the OS's natively.
#[derive(Debug)]
struct Random;

impl rand_core::RngCore for Random {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }
    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_random(dest);
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        fill_random(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for Random {}

impl SecureRandom for Random {
    fn fill(&self, bytes: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill_random(bytes);
        Ok(())
    }
}

#[cfg(target_arch = "wasm32")]
fn fill_random(dest: &mut [u8]) {
    for chunk in dest.chunks_mut(256) {
        let bytes = crate::wasi::random::random::get_random_bytes(chunk.len() as u64);
        for (to, from) in chunk.iter_mut().zip(bytes) {
            *to = from;
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn fill_random(dest: &mut [u8]) {
    use rand_core::RngCore;
    rand_core::OsRng.fill_bytes(dest);
}

/// The wall clock, for a certificate's validity period.
#[derive(Debug)]
struct Clock;

impl rustls::time_provider::TimeProvider for Clock {
    #[cfg(target_arch = "wasm32")]
    fn current_time(&self) -> Option<UnixTime> {
        let now = crate::wasi::clocks::wall_clock::now();
        Some(UnixTime::since_unix_epoch(core::time::Duration::new(
            now.seconds,
            now.nanoseconds,
        )))
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn current_time(&self) -> Option<UnixTime> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        now.ok().map(UnixTime::since_unix_epoch)
    }
}

/// No client certificates: the backend authenticates with `AUTH`.
#[derive(Debug)]
struct NoClientKeys;

impl KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "client certificates are not supported".into(),
        ))
    }
}

/// X25519 key exchange over [`Random`].
#[derive(Debug)]
struct X25519;

struct X25519Exchange {
    secret: x25519_dalek::EphemeralSecret,
    public: x25519_dalek::PublicKey,
}

impl SupportedKxGroup for X25519 {
    fn name(&self) -> rustls::NamedGroup {
        rustls::NamedGroup::X25519
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = x25519_dalek::EphemeralSecret::random_from_rng(Random);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange { secret, public }))
    }
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::PeerMisbehaved::InvalidKeyShare)?;
        let shared = self.secret.diffie_hellman(&peer.into());
        Ok(SharedSecret::from(shared.as_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        self.public.as_bytes()
    }

    fn group(&self) -> rustls::NamedGroup {
        rustls::NamedGroup::X25519
    }
}

/// P-256 (secp256r1) key exchange over [`Random`], for servers that offer no X25519.
#[derive(Debug)]
struct P256;

struct P256Exchange {
    secret: p256::ecdh::EphemeralSecret,
    public: Box<[u8]>,
}

impl SupportedKxGroup for P256 {
    fn name(&self) -> rustls::NamedGroup {
        rustls::NamedGroup::secp256r1
    }

    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let secret = p256::ecdh::EphemeralSecret::random(&mut Random);
        let public = p256::EncodedPoint::from(secret.public_key());
        Ok(Box::new(P256Exchange {
            secret,
            public: public.as_bytes().into(),
        }))
    }
}

impl ActiveKeyExchange for P256Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer = p256::PublicKey::from_sec1_bytes(peer)
            .map_err(|_| rustls::PeerMisbehaved::InvalidKeyShare)?;
        let shared = self.secret.diffie_hellman(&peer);
        Ok(SharedSecret::from(shared.raw_secret_bytes().as_slice()))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> rustls::NamedGroup {
        rustls::NamedGroup::secp256r1
    }
}

/// `--tls-insecure-skip-verify`: any certificate is accepted; the handshake's signatures are
/// still checked against the certificate the server sent.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_known_by_ip_address_are_checked_for_the_first_url_given_by_name() {
        let tls = Tls::new(
            None,
            false,
            ["10.0.0.1", "redis.example.com", "b.example.com"],
        )
        .unwrap();
        assert_eq!(tls.name_for("10.0.0.7"), "redis.example.com");
        assert_eq!(tls.name_for("::1"), "redis.example.com");
        assert_eq!(tls.name_for("node-3.example.com"), "node-3.example.com");
        // Every URL by IP address: each node is checked for its own.
        let tls = Tls::new(None, false, ["10.0.0.1", "::1"]).unwrap();
        assert_eq!(tls.name_for("10.0.0.7"), "10.0.0.7");
    }

    #[test]
    fn a_name_mismatch_says_which_name_was_checked_and_why() {
        let tls = Tls::new(None, false, ["redis.example.com"]).unwrap();
        let error = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        let url = "rediss://10.0.0.7:6379";
        let by_seed = explain(&error, url, &tls, "redis.example.com", true);
        assert!(
            by_seed.contains("rediss://10.0.0.7:6379: the server's certificate is not valid for `redis.example.com`")
                && by_seed.contains("names this node by IP address")
                && by_seed.contains("the host name of the first URL"),
            "{by_seed}"
        );
        let own = explain(&error, url, &tls, "10.0.0.7", false);
        assert!(
            own.contains("not valid for `10.0.0.7`") && !own.contains("first URL"),
            "{own}"
        );
    }
}
