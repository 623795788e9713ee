//! A decompression bomb against a real server: a request of a few hundred KiB that
//! inflates to 256 MiB is refused with RESOURCE_EXHAUSTED once it passes the 4 MiB message
//! limit, and the server never holds more than about the limit for it (the process's peak
//! resident memory is measured around the call). Alone in its test binary so that no other
//! test's allocations blur the measurement.

mod rpc_support;

use std::io::Write;

use rpc_support::{ProbeImpl, raw_request, start};

/// 256 MiB of zeros as gzip: one member of 1 MiB repeated (gzip readers read concatenated
/// members as one stream, as RFC 1952 says).
fn gzip_bomb() -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(&vec![0u8; 1 << 20]).unwrap();
    let member = e.finish().unwrap();
    member.repeat(256)
}

/// 256 MiB of zeros as one zstd frame that does not declare its size (a streaming encoder),
/// so the decoder cannot refuse it up front.
fn zstd_bomb() -> Vec<u8> {
    let mut e = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        e.write_all(&zeros).unwrap();
    }
    e.finish().unwrap()
}

/// (resident now, peak since the last reset) in KiB, from /proc/self/status.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn reset_peak() {
    // Writing 5 to clear_refs resets VmHWM to the current RSS (Linux 4.0+).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_within_the_limit() {
    let server = start(ProbeImpl::default()).await;
    for (name, bomb) in [("gzip", gzip_bomb()), ("zstd", zstd_bomb())] {
        assert!(bomb.len() < 1 << 20, "{name}: {} bytes", bomb.len());
        let mut framed = vec![1];
        framed.extend_from_slice(&u32::try_from(bomb.len()).unwrap().to_be_bytes());
        framed.extend_from_slice(&bomb);
        reset_peak();
        let (before, _) = memory_kib();
        let (http, headers, _) = raw_request(
            server.addr,
            "/probe.v1.Probe/Echo",
            &[
                ("content-type", "application/grpc"),
                ("grpc-encoding", name),
            ],
            &framed,
        )
        .await;
        let (_, peak) = memory_kib();
        assert_eq!(http, 200);
        assert_eq!(headers["grpc-status"], "8", "{name}: {headers:?}");
        let message = headers["grpc-message"].to_str().unwrap();
        assert!(message.contains("4194304"), "{name}: {message}");
        // The limit (4 MiB) plus buffers, not the 256 MiB the bomb inflates to.
        let grown = peak.saturating_sub(before);
        eprintln!(
            "{name}: {} KiB compressed, peak grew {grown} KiB",
            bomb.len() / 1024
        );
        assert!(grown < 32 * 1024, "{name}: the peak grew {grown} KiB");
    }
    // The server is fine afterwards.
    let client = server.client().await;
    assert_eq!(
        client.echo(rpc_support::ping("after")).await.unwrap().text,
        "after"
    );
}
