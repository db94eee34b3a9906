//! The WebSocket connection under a socket actor, on the raw TCP stream handed over by
//! the HTTP layer after the upgrade: frames are decoded and encoded with actix-http's
//! codec, and buffers exist only while bytes are in transit, so an idle socket holds no
//! buffer at all.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_codec::{Decoder, Encoder};
use actix_http::ws::{Codec, Frame, Message, ProtocolError};
use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

const READ_CHUNK: usize = 2048;

/// Decoded frames from the client.
pub struct FrameReader {
    half: OwnedReadHalf,
    buf: BytesMut,
    codec: Codec,
    eof: bool,
}

impl FrameReader {
    /// `leftover`: bytes read with the upgrade request that already belong to frames.
    pub fn new(half: OwnedReadHalf, leftover: &[u8], max_frame: usize) -> Self {
        Self { half, buf: BytesMut::from(leftover), codec: Codec::new().max_size(max_frame), eof: false }
    }
}

impl Stream for FrameReader {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if !this.buf.is_empty() {
                match this.codec.decode(&mut this.buf) {
                    Ok(Some(frame)) => {
                        release_if_empty(&mut this.buf);
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Some(Err(e))),
                }
            }
            if this.eof {
                return Poll::Ready(None);
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk);
            match Pin::new(&mut this.half).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => this.eof = true,
                Poll::Ready(Ok(())) => this.buf.extend_from_slice(read.filled()),
                Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(ProtocolError::Io(e)))),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A server (unmasked) text frame, ready to write to any socket.
pub fn encode_text(text: bytestring::ByteString) -> Bytes {
    let mut buf = BytesMut::with_capacity(text.len() + 10);
    // Encoding a server frame into memory cannot fail.
    let _ = Codec::new().encode(Message::Text(text), &mut buf);
    buf.freeze()
}

/// An idle socket keeps no buffer: give the allocation back once everything is consumed.
fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

/// What a flush could not finish by itself.
pub enum Flush {
    /// Everything queued is written (or a write is already waiting).
    Done,
    /// The kernel buffer is full: write this with the half and give the half back.
    Wait(OwnedWriteHalf, BytesMut),
    /// The connection failed.
    Failed,
}

/// Encoded frames waiting for the socket. Frames are written at once while the kernel
/// takes them; when it does not, one write waits (outside) and frames queue behind it.
pub struct FrameWriter {
    half: Option<OwnedWriteHalf>,
    buf: BytesMut,
    codec: Codec,
    queued: usize,
    in_flight: usize,
}

impl FrameWriter {
    /// `first`: raw bytes to write before any frame (the upgrade's answer).
    pub fn new(half: OwnedWriteHalf, first: BytesMut) -> Self {
        Self { half: Some(half), buf: first, codec: Codec::new(), queued: 0, in_flight: 0 }
    }

    /// Frames not yet handed to the kernel.
    pub fn pending(&self) -> usize {
        self.queued + self.in_flight
    }

    /// Queues a frame encoded beforehand (shared by every follower of a fan-out). When
    /// nothing is pending it goes straight to the kernel, without a copy.
    pub fn queue_encoded(&mut self, frame: Bytes) {
        self.queued += 1;
        if self.buf.is_empty() {
            if let Some(half) = self.half.as_ref() {
                match half.try_write(&frame) {
                    Ok(n) if n == frame.len() => {
                        self.queued -= 1;
                        return;
                    }
                    Ok(n) => return self.buf.extend_from_slice(&frame[n..]),
                    Err(_) => {}
                }
            }
        }
        self.buf.extend_from_slice(&frame);
    }

    pub fn queue(&mut self, message: Message) {
        // Encoding into memory cannot fail for server frames.
        if self.codec.encode(message, &mut self.buf).is_ok() {
            self.queued += 1;
        }
    }

    /// Drops the frames not yet written (those of a waiting write are gone already).
    pub fn discard(&mut self) {
        self.buf = BytesMut::new();
        self.queued = 0;
    }

    /// Writes what the kernel takes now.
    pub fn flush(&mut self) -> Flush {
        let Some(half) = self.half.as_ref() else { return Flush::Done };
        while !self.buf.is_empty() {
            match half.try_write(&self.buf) {
                Ok(0) => return Flush::Failed,
                Ok(n) => self.buf.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let Some(half) = self.half.take() else { return Flush::Done };
                    self.in_flight = self.queued;
                    self.queued = 0;
                    return Flush::Wait(half, std::mem::take(&mut self.buf));
                }
                Err(_) => return Flush::Failed,
            }
        }
        self.queued = 0;
        release_if_empty(&mut self.buf);
        Flush::Done
    }

    /// The waiting write finished: take the half back.
    pub fn restore(&mut self, half: OwnedWriteHalf) {
        self.half = Some(half);
        self.in_flight = 0;
    }

    /// True when nothing is queued or waiting.
    pub fn is_idle(&self) -> bool {
        self.half.is_some() && self.buf.is_empty()
    }
}
