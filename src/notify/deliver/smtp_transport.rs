//! The SMTP connection of an email receiver under the same address policy as webhooks:
//! the host is resolved through the [`CheckedResolver`], and lettre is handed an
//! allowed address (never the name, which it would resolve again past the check), while
//! TLS still verifies the certificate against the configured host name.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use lettre::message::Message;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use crate::notify::deliver::address_policy::AddressRefused;
use crate::notify::deliver::resolver::CheckedResolver;
use crate::notify::deliver::settings::EmailConfig;
use crate::notify::deliver::webhook::{DeliveryError, FailureKind};

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// Connects to an email receiver's SMTP server at the addresses the policy allows.
#[derive(Clone)]
pub struct SmtpTransport {
    resolver: CheckedResolver,
    tls: Tls,
    /// The transport (and its connection pool) to the address used last.
    current: Arc<Mutex<Option<(IpAddr, Transport)>>>,
}

impl SmtpTransport {
    /// A transport with `tls` whose addresses `resolver` allows.
    pub fn new(resolver: CheckedResolver, tls: Tls) -> Self {
        Self {
            resolver,
            tls,
            current: Arc::new(Mutex::new(None)),
        }
    }

    /// Sends `message` to the first allowed address of the host that takes a
    /// connection. A refused host is [`FailureKind::Refused`]: nothing was connected to.
    pub async fn send(
        &self,
        config: &EmailConfig,
        message: Message,
    ) -> Result<Response, SendError> {
        let addresses = self.addresses(&config.host).await?;
        let mut last = None;
        for ip in addresses {
            match self.transport_to(config, ip).send(message.clone()).await {
                Err(e) if is_connect_failure(&e) => last = Some(e),
                other => return other.map_err(SendError::Smtp),
            }
        }
        Err(last.map_or_else(
            || SendError::Address(DeliveryError::new(FailureKind::Transient, "no address")),
            SendError::Smtp,
        ))
    }

    /// The allowed addresses of `host`, or why there are none.
    async fn addresses(&self, host: &str) -> Result<Vec<IpAddr>, SendError> {
        let host = host.trim_matches(['[', ']']);
        self.resolver.allowed_addresses(host).await.map_err(|e| {
            match e.downcast_ref::<AddressRefused>() {
                Some(why) => {
                    SendError::Address(DeliveryError::new(FailureKind::Refused, why.to_string()))
                }
                None => SendError::Address(DeliveryError::new(
                    FailureKind::Transient,
                    format!("SMTP {host}: cannot resolve: {e}"),
                )),
            }
        })
    }

    /// The transport to `ip`, built when the address changed.
    fn transport_to(&self, config: &EmailConfig, ip: IpAddr) -> Transport {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((at, transport)) = current.as_ref() {
            if *at == ip {
                return transport.clone();
            }
        }
        let mut builder = Transport::builder_dangerous(ip.to_string())
            .port(config.port)
            .tls(self.tls.clone())
            .timeout(Some(config.timeout));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(
                user.expose().to_owned(),
                password.expose().to_owned(),
            ));
        }
        let transport = builder.build();
        *current = Some((ip, transport.clone()));
        transport
    }
}

/// Why a send failed: the address (already a delivery error) or the SMTP exchange.
#[derive(Debug)]
pub enum SendError {
    /// The policy refused the host's addresses, or the name did not resolve.
    Address(DeliveryError),
    /// lettre's error talking to the server.
    Smtp(lettre::transport::smtp::Error),
}

/// True when `e` is a failure to connect at all (refused, unreachable), after which the
/// next address may be tried without any risk of sending twice.
fn is_connect_failure(e: &lettre::transport::smtp::Error) -> bool {
    use std::io::ErrorKind::*;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable
            );
        }
        source = s.source();
    }
    false
}
