//! HTTP clients for a local emulator serving TLS with its own CA (`connect-sim
//! --tls-ca-out`, or connect-sim's `SimConfig::tls` in process).

/// A client builder that trusts `ca_pem` and nothing else: a test that reaches the
/// emulator through it proves the emulator served that CA's certificate.
///
/// # Errors
/// When `ca_pem` is not a PEM certificate.
pub fn trusting(ca_pem: &str) -> reqwest::Result<reqwest::ClientBuilder> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())?;
    Ok(reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca))
}
