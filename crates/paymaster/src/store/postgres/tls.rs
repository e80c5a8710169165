//! TLS to PostgreSQL, with rustls (already compiled for the node and JWKS clients), as the
//! URL's `sslmode` asks, with libpq's meanings:
//!
//! - `disable`: never;
//! - `prefer` (the default): TLS if the server offers it, else in clear; the server is not
//!   authenticated;
//! - `require`: TLS or no connection; the server is not authenticated (traffic is encrypted,
//!   but a machine in the middle could pose as the server);
//! - `verify-full`: TLS, the server's certificate chained to a trusted root — those of the
//!   PEM file `sslrootcert` names, else the system's — and issued for the host connected to.
//!   What a deployment over any network but a private one needs.
//!
//! `verify-ca` (a chain without the name) is refused rather than weakened or strengthened in
//! silence. The driver knows neither `verify-full` nor `sslrootcert`: both are taken out of the
//! URL here, and the driver is told `disable`, `prefer` or `require`.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use postgres::config::SslMode as DriverMode;
use postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect, TlsStream};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, InvalidDnsNameError, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use url::Url;
use zeroize::Zeroizing;

use crate::error::PaymasterError;

/// The URL's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when offered, unauthenticated.
    Prefer,
    /// TLS always, unauthenticated.
    Require,
    /// TLS always, the certificate verified for the host.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, PaymasterError> {
        match value {
            "disable" => Ok(SslMode::Disable),
            "prefer" => Ok(SslMode::Prefer),
            "require" => Ok(SslMode::Require),
            "verify-full" => Ok(SslMode::VerifyFull),
            other => Err(PaymasterError::Config(format!(
                "database: sslmode={other} is not supported (disable, prefer, require or \
                 verify-full)"
            ))),
        }
    }

    /// What the driver is told.
    pub(crate) fn driver(self) -> DriverMode {
        match self {
            SslMode::Disable => DriverMode::Disable,
            SslMode::Prefer => DriverMode::Prefer,
            SslMode::Require | SslMode::VerifyFull => DriverMode::Require,
        }
    }
}

/// What the URL asks of TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    /// The mode.
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted roots for `verify-full`.
    pub root_cert: Option<PathBuf>,
}

/// Takes `sslmode` and `sslrootcert` out of `url`: the URL left for the driver, and them.
pub(crate) fn split_url(url: &str) -> Result<(Zeroizing<String>, TlsSettings), PaymasterError> {
    let invalid = || PaymasterError::Config("database: not a valid PostgreSQL URL".into());
    let mut parsed = Url::parse(url).map_err(|_| invalid())?;
    let mut settings = TlsSettings {
        mode: SslMode::Prefer,
        root_cert: None,
    };
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => settings.mode = SslMode::parse(&value)?,
            "sslrootcert" => settings.root_cert = Some(PathBuf::from(&*value)),
            _ => kept.push((key.into_owned(), Zeroizing::new(value.into_owned()))),
        }
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed
            .query_pairs_mut()
            .clear()
            .extend_pairs(kept.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    }
    Ok((Zeroizing::new(parsed.into()), settings))
}

/// The connector for `settings`; `None` for `disable`.
pub(crate) fn connector(settings: &TlsSettings) -> Result<Option<RustlsConnect>, PaymasterError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| PaymasterError::Config(format!("database TLS: {e}")))?;
    let config = match settings.mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
        SslMode::VerifyFull => builder
            .with_root_certificates(roots(settings.root_cert.as_ref())?)
            .with_no_client_auth(),
    };
    Ok(Some(RustlsConnect(Arc::new(config))))
}

/// The trusted roots: `file`'s certificates, else the system's.
fn roots(file: Option<&PathBuf>) -> Result<RootCertStore, PaymasterError> {
    let bad = |why: String| PaymasterError::Config(format!("database TLS: {why}"));
    let certs: Vec<CertificateDer<'static>> = match file {
        Some(path) => CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect())
            .map_err(|e| bad(format!("sslrootcert {}: {e}", path.display())))?,
        None => rustls_native_certs::load_native_certs().certs,
    };
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(bad(
            "no trusted root certificate (give sslrootcert=<PEM file>)".into(),
        ));
    }
    Ok(roots)
}

/// `prefer` and `require`: any certificate is accepted (libpq's meaning of these modes), but
/// the handshake's signatures are checked with it, so the session is encrypted to whoever
/// holds that certificate's key.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
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
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Makes a TLS handshake for each connection.
#[derive(Clone)]
pub(crate) struct RustlsConnect(Arc<ClientConfig>);

/// One connection's handshake, for the server named when connecting (a Unix socket names
/// none: its handshake fails if the server offers TLS there, which `prefer` never needs).
pub(crate) struct Handshake {
    config: Arc<ClientConfig>,
    server: Result<ServerName<'static>, InvalidDnsNameError>,
}

impl<S> MakeTlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type TlsConnect = Handshake;
    type Error = Infallible;

    fn make_tls_connect(&mut self, domain: &str) -> Result<Handshake, Infallible> {
        Ok(Handshake {
            config: self.0.clone(),
            server: ServerName::try_from(domain.to_owned()),
        })
    }
}

impl<S> TlsConnect<S> for Handshake
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = RustlsStream<S>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<RustlsStream<S>>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        let connector = tokio_rustls::TlsConnector::from(self.config);
        Box::pin(async move {
            let server = self
                .server
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            let stream = connector.connect(server, stream).await?;
            Ok(RustlsStream(Box::new(stream)))
        })
    }
}

/// A TLS session to the server.
pub(crate) struct RustlsStream<S>(Box<tokio_rustls::client::TlsStream<S>>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for RustlsStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for RustlsStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> TlsStream for RustlsStream<S> {
    /// None: SCRAM then runs without channel binding (`tls-server-end-point` would need the
    /// certificate's signature algorithm parsed).
    fn channel_binding(&self) -> ChannelBinding {
        ChannelBinding::none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url_for_the_driver() {
        let (url, settings) = split_url(
            "postgres://pm:s3cret@db.internal/pm?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=5",
        )
        .expect("url");
        assert_eq!(
            settings,
            TlsSettings {
                mode: SslMode::VerifyFull,
                root_cert: Some("/etc/ca.pem".into()),
            }
        );
        assert_eq!(
            &*url,
            "postgres://pm:s3cret@db.internal/pm?connect_timeout=5"
        );
        assert_eq!(settings.mode.driver(), DriverMode::Require);
        let (url, settings) = split_url("postgres://pm@db/pm").expect("url");
        assert_eq!(
            (url.as_str(), settings.mode),
            ("postgres://pm@db/pm", SslMode::Prefer)
        );
        for (mode, driver) in [
            ("disable", DriverMode::Disable),
            ("prefer", DriverMode::Prefer),
            ("require", DriverMode::Require),
        ] {
            let (_, s) = split_url(&format!("postgres://db/pm?sslmode={mode}")).expect(mode);
            assert_eq!(s.mode.driver(), driver);
        }
        let e = split_url("postgres://pm:s3cret@db/pm?sslmode=verify-ca").expect_err("refused");
        assert!(e.to_string().contains("verify-full"), "{e}");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn a_connector_is_made_for_each_mode_but_disable() {
        let settings = |mode| TlsSettings {
            mode,
            root_cert: None,
        };
        assert!(connector(&settings(SslMode::Disable))
            .expect("none")
            .is_none());
        for mode in [SslMode::Prefer, SslMode::Require] {
            assert!(connector(&settings(mode)).expect("connector").is_some());
        }
        let missing = TlsSettings {
            mode: SslMode::VerifyFull,
            root_cert: Some("/nonexistent/ca.pem".into()),
        };
        let e = connector(&missing).map(|_| ()).expect_err("no such file");
        assert!(e.to_string().contains("sslrootcert"), "{e}");
    }
}
