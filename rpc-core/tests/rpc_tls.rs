//! TLS: a server with a certificate, a client that trusts it, calls in every codec; a client
//! that does not trust it cannot connect.
#![cfg(feature = "tls")]

mod rpc_support;

use std::sync::Arc;
use std::time::Duration;

use arpc::codec::{CodecKind, CodecSet};
use arpc::tls::{ClientTls, ServerTls};
use arpc::{CallOptions, Channel};
use rpc_support::*;
use tokio::net::TcpListener;

#[tokio::test]
async fn calls_over_tls_in_every_codec_and_untrusted_servers_are_refused() {
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
