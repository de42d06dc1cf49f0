//! The TLS setup every outbound HTTP client of the process shares: each adapter's client, the
//! WeChat API client and the chat client start from [`client_builder`].
//!
//! Why it exists: reqwest reads and parses the system's root certificates again for every
//! client it builds (some 150 files; about 10 ms of CPU in a debug build), and a process builds
//! a dozen clients at start-up — a test binary a dozen for every app it starts. Here they are
//! read once. The verification is reqwest's own: rustls with the platform verifier (the
//! system's roots), TLS 1.2 and 1.3, HTTP/1.1 offered by ALPN. It must never weaken
//! verification: a client that needs more roots (an upstream's `ca_cert_path`) adds them to
//! its own builder, which then sets TLS up by itself.

use std::sync::{Arc, LazyLock};

/// The shared setup, or why it could not be made.
static SHARED: LazyLock<Result<rustls::ClientConfig, String>> = LazyLock::new(shared_config);

fn shared_config() -> Result<rustls::ClientConfig, String> {
    // The provider reqwest would pick: one installed for the process, else aws-lc-rs.
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| format!("platform certificate verifier: {e}"))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(rustls::ALL_VERSIONS)
        .map_err(|e| format!("TLS versions: {e}"))?
        // "dangerous" is rustls's name for any verifier of one's choosing; this is the same
        // platform verifier reqwest installs by itself.
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // What reqwest offers without its http2 feature.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A `reqwest` client builder with the process's shared TLS setup. Should the setup have
/// failed, the builder is reqwest's own, which then reports the same failure when built.
pub fn client_builder() -> reqwest::ClientBuilder {
    let builder = reqwest::Client::builder();
    match &*SHARED {
        Ok(config) => builder.tls_backend_preconfigured(config.clone()),
        Err(_) => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// reqwest takes the shared setup only if it is its own rustls (it downcasts at run time
    /// and otherwise fails to build every client): a rustls upgrade on one side alone fails
    /// here, not in production.
    #[test]
    fn reqwest_takes_the_shared_setup() {
        let config = SHARED.as_ref().expect("the shared TLS setup");
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
        client_builder()
            .build()
            .expect("a client with the shared TLS setup");
    }
}
