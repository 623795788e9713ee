//! TLS: a server with a certificate, a client that trusts it, calls in every codec; a client
//! that does not trust it cannot connect; a discovering channel reaches TLS instances with the
//! same `ChannelConfig` a direct one takes.
#![cfg(feature = "tls")]

mod rpc_support;

use std::sync::Arc;
use std::time::Duration;

use arpc::client::ChannelConfig;
use arpc::codec::{CodecKind, CodecSet};
use arpc::tls::{ClientTls, ServerTls};
use arpc::{CallOptions, Channel, Code};
use rpc_support::*;
use tokio::net::TcpListener;

/// A TLS server with a fresh self-signed certificate for `localhost`: its address, the
/// certificate's PEM, and the handle that stops it.
async fn tls_server() -> (
    std::net::SocketAddr,
    String,
    tokio::sync::oneshot::Sender<()>,
) {
    let issued = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = issued.cert.pem();
    let key_pem = issued.signing_key.serialize_pem();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        arpc::Server::builder()
            .tls(ServerTls::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap())
            .shutdown_grace(Duration::from_secs(1))
            .add_service(ProbeServer::from_arc(Arc::new(ProbeImpl::default())))
            .serve_with_incoming(listener, async {
                let _ = stopped.await;
            }),
    );
    (addr, cert_pem, stop)
}

#[tokio::test]
async fn calls_over_tls_in_every_codec_and_untrusted_servers_are_refused() {
    let (addr, cert_pem, stop) = tls_server().await;

    let trust = ClientTls::from_ca_pem(cert_pem.as_bytes(), "localhost").unwrap();
    let channel = Channel::connect_tls(addr.to_string(), trust).await.unwrap();
    let client = ProbeClient::new(channel);
    for codec in CodecKind::ALL {
        let reply = client
            .echo_with(
                ping("secret"),
                CallOptions::default()
                    .codec(codec)
                    .accept(CodecSet::only(codec)),
            )
            .await
            .unwrap();
        assert_eq!(
            (reply.message.text.as_str(), reply.codec),
            ("secret", codec)
        );
    }

    // A client trusting another certificate refuses the server.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let wrong = ClientTls::from_ca_pem(other.cert.pem().as_bytes(), "localhost").unwrap();
    assert!(Channel::connect_tls(addr.to_string(), wrong).await.is_err());

    // A plaintext client gets no answer from a TLS server.
    let plain = ProbeClient::connect(format!("http://{addr}")).await;
    if let Ok(plain) = plain {
        assert!(plain.echo(ping("x")).await.is_err());
    }
    let _ = stop.send(());
}

#[tokio::test]
async fn a_discovering_channel_calls_tls_instances_with_its_config() {
    let (addr, cert_pem, _stop) = tls_server().await;
    let registry = arpc::registry::Static::new([addr]);
    let trust = ClientTls::from_ca_pem(cert_pem.as_bytes(), "localhost").unwrap();
    let config = ChannelConfig::default()
        .tls(trust)
        .max_response_bytes(1_024);
    let client = ProbeClient::new(Channel::discover_with(&registry, "probe.v1.Probe", config));
    let options = || CallOptions::default().deadline(Duration::from_secs(5));
    let reply = client.echo_with(ping("over tls"), options()).await.unwrap();
    assert_eq!(reply.message.text, "over tls");
    // The config's response limit holds for the discovered instance's answers too.
    let mut big = ping("big");
    big.reply_size = 4_096;
    let err = client.echo_with(big, options()).await.unwrap_err();
    assert_eq!(err.code(), Code::ResourceExhausted, "{err}");

    // Without TLS in its config, the same discovery reaches nothing it can call.
    let plain = ProbeClient::discover(&registry);
    let err = plain
        .echo_with(
            ping("x"),
            CallOptions::default().deadline(Duration::from_secs(2)),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err}");
}
