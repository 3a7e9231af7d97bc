//! The TLS options of the hello server: a certificate and key from PEM
//! files (`--tls-cert`, `--tls-key`), or a self-signed certificate made at
//! start (`--self-signed`), for a `rustls::ServerConfig`.
//!
//! The PEM files are read with rustls's pki-types (`PemObject`): the
//! certificate file holds the chain, leaf first; the key file one private
//! key, PKCS#8, PKCS#1 (RSA) or SEC1 (EC). The self-signed certificate is
//! an ECDSA P-256 one for `localhost` and `127.0.0.1`: clients that verify
//! certificates refuse it unless told to trust it (`curl -k`, `wrk`
//! does not verify).

use std::path::PathBuf;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names the self-signed certificate is for.
const SELF_SIGNED_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

/// The TLS options; flatten it into an example's `clap::Parser`. Without
/// any of them the server speaks plain HTTP.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Serve HTTPS on the port with this certificate chain (PEM, leaf
    /// first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS on the port with a self-signed ECDSA P-256 certificate
    /// for localhost and 127.0.0.1, made at start.
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub self_signed: bool,
}

impl TlsArgs {
    /// The server config these options ask for, or `None` for plain HTTP.
    ///
    /// # Errors
    /// A file that cannot be read or holds no certificate or key (the
    /// message names the file), a key that does not match, or a
    /// certificate that cannot be made.
    pub fn server_config(&self) -> Result<Option<rustls::ServerConfig>, String> {
        let (chain, key) = match (&self.tls_cert, &self.tls_key, self.self_signed) {
            (Some(cert), Some(key), false) => (read_chain(cert)?, read_key(key)?),
            (None, None, true) => self_signed()?,
            (None, None, false) => return Ok(None),
            _ => return Err("--tls-cert and --tls-key go together".to_string()),
        };
        rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map(Some)
            .map_err(|e| format!("the TLS certificate and key: {e}"))
    }
}

fn read_chain(path: &PathBuf) -> Result<Vec<CertificateDer<'static>>, String> {
    let chain = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| format!("--tls-cert {}: {e}", path.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "--tls-cert {}: no CERTIFICATE in the file",
            path.display()
        ));
    }
    Ok(chain)
}

fn read_key(path: &PathBuf) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| format!("--tls-key {}: {e}", path.display()))
}

fn self_signed() -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let names = SELF_SIGNED_NAMES.map(str::to_string).to_vec();
    let made = rcgen::generate_simple_self_signed(names)
        .map_err(|e| format!("a self-signed certificate: {e}"))?;
    let key = PrivatePkcs8KeyDer::from(made.key_pair.serialize_der());
    Ok((vec![made.cert.der().clone()], key.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct Only {
        #[command(flatten)]
        tls: TlsArgs,
    }

    fn parse(args: &[&str]) -> Result<TlsArgs, clap::Error> {
        Only::try_parse_from(std::iter::once("hello").chain(args.iter().copied())).map(|o| o.tls)
    }

    #[test]
    fn no_option_is_plain_http() {
        assert!(parse(&[]).unwrap().server_config().unwrap().is_none());
    }

    #[test]
    fn a_self_signed_certificate_makes_a_config() {
        let args = parse(&["--self-signed"]).unwrap();
        assert!(args.server_config().unwrap().is_some());
    }

    #[test]
    fn pem_files_make_a_config_and_bad_ones_are_named() {
        let dir = std::env::temp_dir().join(format!("examples-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, made.cert.pem()).unwrap();
        std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
        let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
        let args = parse(&["--tls-cert", c, "--tls-key", k]).unwrap();
        assert!(args.server_config().unwrap().is_some());
        // The files swapped: neither holds what it should.
        let swapped = parse(&["--tls-cert", k, "--tls-key", c]).unwrap();
        let e = swapped.server_config().unwrap_err();
        assert!(e.contains("--tls-cert") && e.contains("key.pem"), "{e}");
        let missing = parse(&["--tls-cert", "/no/such.pem", "--tls-key", k]).unwrap();
        assert!(missing
            .server_config()
            .unwrap_err()
            .contains("/no/such.pem"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_certificate_needs_its_key_and_excludes_self_signed() {
        let alone = parse(&["--tls-cert", "c.pem"]).unwrap_err();
        assert_eq!(alone.exit_code(), 2);
        assert!(alone.to_string().contains("--tls-key"), "{alone}");
        let both = parse(&["--self-signed", "--tls-cert", "c.pem", "--tls-key", "k.pem"]);
        assert_eq!(both.unwrap_err().exit_code(), 2);
    }
}
