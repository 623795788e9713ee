//! Reading a response to its end before handing it over, so that a balanced channel can
//! send an idempotent call to another instance when the connection breaks after the
//! response's headers arrived (the instance was killed between its headers and its
//! message, say). Only the channel knows the instances, so only the channel can retry;
//! once it has handed the response to the call, the call is committed.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use super::connection::{RecvBody, stream_error};
use crate::status::Status;

/// A response body read ahead: the frames that arrived, then (when reading stopped at the
/// size bound) the rest of the stream.
#[derive(Debug)]
pub(crate) struct ReadAhead {
    frames: VecDeque<Frame<Bytes>>,
    rest: Option<RecvBody>,
}

/// Reads `body` to its end (its message and trailers), or until more than `bound` bytes of
/// data came (a response the call will refuse as too large anyway: the rest stays on the
/// stream, and the call refuses it from the frame header without reading it). Fails with
/// the stream's error, `UNAVAILABLE` when the connection broke.
pub(crate) async fn read_ahead(
    mut body: RecvBody,
    bound: usize,
    what: &str,
) -> Result<ReadAhead, Status> {
    let mut frames = VecDeque::with_capacity(2);
    let mut data = 0usize;
    while data <= bound {
        match body.frame().await {
            None => {
                return Ok(ReadAhead { frames, rest: None });
            }
            Some(Ok(frame)) => {
                data = data.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                frames.push_back(frame);
            }
            Some(Err(e)) => return Err(stream_error(what, &e)),
        }
    }
    Ok(ReadAhead {
        frames,
        rest: Some(body),
    })
}

impl Body for ReadAhead {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        if let Some(frame) = self.frames.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        match &mut self.rest {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_empty() && self.rest.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}
