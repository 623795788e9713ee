//! The `grpc-status` header: written by the server (trailers, or a trailers-only answer) and
//! read by the client, as numbers and never as string literals scattered over both sides.

use http::{HeaderMap, HeaderValue};

use crate::status::{Code, Status};

/// The header carrying a call's status code.
pub(crate) const GRPC_STATUS: &str = "grpc-status";

/// Writes `status` (`grpc-status`, and `grpc-message` when it has one) into `headers`; a
/// status that cannot be written (a message tonic cannot percent-encode) becomes `INTERNAL`.
pub(crate) fn write(headers: &mut HeaderMap, status: &Status) {
    if status.add_header(headers).is_err() {
        headers.insert(GRPC_STATUS, code_value(Code::Internal));
    }
}

/// Writes `grpc-status: 0`.
pub(crate) fn write_ok(headers: &mut HeaderMap) {
    headers.insert(GRPC_STATUS, code_value(Code::Ok));
}

/// Reads the status of `headers`, if they carry one.
pub(crate) fn read(headers: &HeaderMap) -> Option<Status> {
    Status::from_header_map(headers)
}

/// The code of `headers`' `grpc-status`, without reading the message.
pub(crate) fn code(headers: &HeaderMap) -> Option<Code> {
    let value = headers.get(GRPC_STATUS)?.to_str().ok()?;
    value.parse::<i32>().ok().map(Code::from)
}

fn code_value(code: Code) -> HeaderValue {
    HeaderValue::from(code as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_headers() {
        let mut headers = HeaderMap::new();
        write_ok(&mut headers);
        assert_eq!(headers.get(GRPC_STATUS).unwrap(), "0");
        assert_eq!(code(&headers), Some(Code::Ok));
        let mut headers = HeaderMap::new();
        write(&mut headers, &Status::unavailable("shutting down"));
        assert_eq!(headers.get(GRPC_STATUS).unwrap(), "14");
        assert_eq!(code(&headers), Some(Code::Unavailable));
        let read = read(&headers).unwrap();
        assert_eq!(read.code(), Code::Unavailable);
        assert_eq!(read.message(), "shutting down");
        assert_eq!(code(&HeaderMap::new()), None);
    }
}
