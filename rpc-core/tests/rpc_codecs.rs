//! End to end over real HTTP/2: every codec, per-call negotiation, response codec by size,
//! unknown codecs.

mod rpc_support;

use arpc::codec::{CodecKind, CodecSet};
use arpc::{CallOptions, Code};
use rpc_support::*;

#[tokio::test]
async fn every_codec_end_to_end() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    for codec in CodecKind::ALL {
        let reply = client
            .echo_with(
                ping(&format!("via {codec}")),
                CallOptions::default()
                    .codec(codec)
                    .accept(CodecSet::only(codec)),
            )
            .await
            .unwrap();
        assert_eq!(reply.message.text, format!("via {codec}"));
        assert_eq!(reply.request_codec, codec);
        assert_eq!(reply.codec, codec);
        assert_eq!(
            reply.message.request_codec,
            codec.name(),
            "the handler saw {codec}"
        );
    }
}

#[tokio::test]
async fn one_server_answers_four_concurrent_calls_in_four_codecs() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let calls = CodecKind::ALL.map(|codec| {
        let client = client.clone();
        tokio::spawn(async move {
            let options = CallOptions::default()
                .codec(codec)
                .accept(CodecSet::only(codec));
            let mut p = ping(codec.name());
            p.sleep_ms = 50;
            client.echo_with(p, options).await
        })
    });
    for (codec, call) in CodecKind::ALL.into_iter().zip(calls) {
        let reply = call.await.unwrap().unwrap();
        assert_eq!((reply.request_codec, reply.codec), (codec, codec));
        assert_eq!(reply.message.text, codec.name());
    }
}

#[tokio::test]
async fn without_an_accept_list_the_response_uses_the_request_codec() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    // `sized` prefers postcard/json, but a caller that names no accepted codecs gets its own.
    let mut options = CallOptions::default().codec(CodecKind::MsgPack);
    options.accept = Some(CodecSet::EMPTY);
    let reply = client.sized_with(ping("x"), options).await.unwrap();
    assert_eq!(reply.codec, CodecKind::MsgPack);
}

#[tokio::test]
async fn response_codec_follows_the_methods_size_rule() {
    let server = start(ProbeImpl::default()).await;
    let client = server.client().await;
    let mut small = ping("small");
    small.reply_size = 100;
    let mut large = ping("large");
    large.reply_size = 10_000;
    let r = client
        .sized_with(small, CallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.codec, CodecKind::Postcard);
    let r = client
        .sized_with(large.clone(), CallOptions::default())
        .await
        .unwrap();
    assert_eq!(r.codec, CodecKind::Json);
    assert_eq!(r.message.padding.len(), 10_000);
    // A caller that cannot read JSON gets the policy's fallback among what it accepts.
    let binary: CodecSet = [CodecKind::Proto, CodecKind::MsgPack].into_iter().collect();
    let r = client
        .sized_with(large, CallOptions::default().accept(binary))
        .await
        .unwrap();
    assert_eq!(r.codec, CodecKind::Proto);
}

#[tokio::test]
async fn plain_grpc_content_type_is_protobuf() {
    let server = start(ProbeImpl::default()).await;
    let (status, headers, body) = raw_call(
        server.addr,
        "application/grpc",
        &frame(&proto_ping("plain")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(headers.get("grpc-status").unwrap(), "0", "{headers:?}");
    assert_eq!(headers.get("content-type").unwrap(), "application/grpc");
    // The answer is one protobuf message: what a plain gRPC client reads.
    assert_eq!(body[0], 0, "not compressed");
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    assert_eq!(body.len(), 5 + len);
    let pong: Pong = CodecKind::Proto
        .decode(bytes::Bytes::copy_from_slice(&body[5..]))
        .unwrap();
    assert_eq!(pong.text, "plain");
    assert_eq!(pong.request_codec, "proto");
}

#[tokio::test]
async fn a_request_that_is_not_grpc_gets_http_415() {
    let server = start(ProbeImpl::default()).await;
    for content_type in ["application/json", "text/plain", ""] {
        let (status, headers, body) =
            raw_call(server.addr, content_type, &frame(&proto_ping("x"))).await;
        assert_eq!(status, 415, "content-type `{content_type}`");
        assert!(headers.get("grpc-status").is_none(), "{headers:?}");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("application/grpc+json"), "{text}");
    }
}

#[tokio::test]
async fn unknown_codec_gets_a_status_listing_the_supported_ones() {
    let server = start(ProbeImpl::default()).await;
    let (status, headers, _) = raw_call(server.addr, "application/grpc+thrift", &frame(b"")).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers.get("grpc-status").unwrap(),
        &(Code::Unimplemented as i32).to_string()
    );
    let message = headers.get("grpc-message").unwrap().to_str().unwrap();
    let message = percent_decode(message);
    assert!(message.contains("application/grpc+thrift"), "{message}");
    for codec in CodecKind::ALL {
        assert!(message.contains(codec.content_type()), "{message}");
    }
}

#[tokio::test]
async fn unknown_methods_and_services_are_unimplemented() {
    let server = start(ProbeImpl::default()).await;
    let (_, headers, _) = raw_call_path(
        server.addr,
        "/probe.v1.Probe/Nope",
        "application/grpc",
        &frame(b""),
    )
    .await;
    assert_eq!(headers.get("grpc-status").unwrap(), "12");
    let (_, headers, _) = raw_call_path(
        server.addr,
        "/other.Svc/Echo",
        "application/grpc",
        &frame(b""),
    )
    .await;
    assert_eq!(headers.get("grpc-status").unwrap(), "12");
}

#[tokio::test]
async fn malformed_payloads_name_the_codec_and_type() {
    let server = start(ProbeImpl::default()).await;
    let (_, headers, _) =
        raw_call(server.addr, "application/grpc+json", &frame(b"{not json")).await;
    assert_eq!(headers.get("grpc-status").unwrap(), "3");
    let message = percent_decode(headers.get("grpc-message").unwrap().to_str().unwrap());
    assert!(
        message.contains("json") && message.contains("Ping"),
        "{message}"
    );
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 3 <= bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn raw_call(
    addr: std::net::SocketAddr,
    content_type: &str,
    body: &[u8],
) -> (u16, http::HeaderMap, Vec<u8>) {
    raw_call_path(addr, "/probe.v1.Probe/Echo", content_type, body).await
}

async fn raw_call_path(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, http::HeaderMap, Vec<u8>) {
    raw_request(addr, path, &[("content-type", content_type)], body).await
}
