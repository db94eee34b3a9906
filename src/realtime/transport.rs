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
/// The longest frame header: 2 bytes, a 64-bit length and the 4-byte mask (RFC 6455 §5.2).
const MAX_HEADER: usize = 14;
/// Control frames (close, ping, pong) carry at most this much (RFC 6455 §5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// Decoded frames from the client. Each header is read before its payload, so a frame (or a
/// fragmented message) over the limit is refused at its header, and the buffer never holds
/// more than the limit plus one header: actix-http's parser alone would buffer a payload of
/// any announced size before comparing it with the limit.
pub struct FrameReader<R = OwnedReadHalf> {
    half: R,
    buf: BytesMut,
    codec: Codec,
    max_message: usize,
    /// Length (header and payload) of the frame at the front of `buf`, once its header is in.
    frame_len: Option<usize>,
    /// Payload bytes of the fragmented message in progress (first frame and continuations).
    message_len: u64,
    /// The stream ended or broke a rule: nothing more is read.
    done: bool,
}

/// What a frame header announces.
struct Header {
    fin: bool,
    opcode: u8,
    len: usize,
    payload: u64,
}

/// The header at the front of `buf`, or `None` until all of it has arrived.
fn header(buf: &[u8]) -> Option<Header> {
    let (&first, &second) = (buf.first()?, buf.get(1)?);
    let mask = if second & 0x80 != 0 { 4 } else { 0 };
    let (ext, payload) = match second & 0x7F {
        126 => (2, u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?))),
        127 => (8, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        n => (0, u64::from(n)),
    };
    let len = 2 + ext + mask;
    (buf.len() >= len).then_some(Header { fin: first & 0x80 != 0, opcode: first & 0x0F, len, payload })
}

impl<R> FrameReader<R> {
    /// `leftover`: bytes read with the upgrade request that already belong to frames (at
    /// most actix-http's read buffer, which held them already; each header is still checked).
    /// `half`: the connection's read half (any reader in tests).
    pub fn new(half: R, leftover: &[u8], max_message: usize) -> Self {
        Self {
            half,
            buf: BytesMut::from(leftover),
            codec: Codec::new().max_size(max_message),
            max_message,
            frame_len: None,
            message_len: 0,
            done: false,
        }
    }

    /// The capacity of the read buffer now (it never exceeds the limit plus one header).
    pub fn buffered_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// The most bytes the buffer may hold.
    fn cap(&self) -> usize {
        self.max_message.saturating_add(MAX_HEADER)
    }

    /// Checks a frame's announced size against the limits before any of its payload is read.
    fn admit(&mut self, header: &Header) -> Result<usize, ProtocolError> {
        let max = self.max_message as u64;
        if header.opcode & 0x8 != 0 {
            // Control frames may come between fragments and do not count towards the message.
            if header.payload > MAX_CONTROL_PAYLOAD {
                return Err(ProtocolError::InvalidLength(usize::try_from(header.payload).unwrap_or(usize::MAX)));
            }
        } else {
            let total =
                if header.opcode == 0 { self.message_len.saturating_add(header.payload) } else { header.payload };
            if total > max {
                return Err(ProtocolError::Overflow);
            }
            self.message_len = if header.fin { 0 } else { total };
        }
        // Within the limit (or 125), so it fits in a usize.
        Ok(header.len.saturating_add(header.payload as usize))
    }

    /// Stops reading for good and gives the buffer back.
    fn fail(&mut self, error: ProtocolError) -> Poll<Option<Result<Frame, ProtocolError>>> {
        self.done = true;
        self.buf = BytesMut::new();
        Poll::Ready(Some(Err(error)))
    }

    /// Appends bytes read, growing the buffer only to what the current frame needs.
    fn append(&mut self, bytes: &[u8]) {
        if self.buf.capacity() - self.buf.len() < bytes.len() {
            let needed = self.buf.len() + bytes.len();
            let size = self.frame_len.unwrap_or(needed).max(needed).min(self.cap());
            let mut grown = BytesMut::with_capacity(size);
            grown.extend_from_slice(&self.buf);
            grown.extend_from_slice(bytes);
            self.buf = grown;
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

impl<R: AsyncRead + Unpin> Stream for FrameReader<R> {
    type Item = Result<Frame, ProtocolError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.frame_len.is_none() {
                if let Some(header) = header(&this.buf) {
                    match this.admit(&header) {
                        Ok(len) => this.frame_len = Some(len),
                        Err(e) => return this.fail(e),
                    }
                }
            }
            if let Some(len) = this.frame_len.filter(|len| this.buf.len() >= *len) {
                // A whole frame: the codec checks the rest (mask, reserved bits, opcodes).
                this.frame_len = None;
                match this.codec.decode(&mut this.buf) {
                    Ok(Some(frame)) => {
                        release_if_empty(&mut this.buf);
                        return Poll::Ready(Some(Ok(frame)));
                    }
                    // Cannot happen with the whole frame in the buffer; refuse rather than wait.
                    Ok(None) => return this.fail(ProtocolError::InvalidLength(len)),
                    Err(e) => return this.fail(e),
                }
            }
            if this.done {
                return Poll::Ready(None);
            }
            // A known frame fits under the cap, and an unknown header is shorter than it, so
            // there is always room to read into.
            let room = this.cap().saturating_sub(this.buf.len()).min(READ_CHUNK);
            let mut chunk = [0u8; READ_CHUNK];
            let mut read = ReadBuf::new(&mut chunk[..room]);
            match Pin::new(&mut this.half).poll_read(cx, &mut read) {
                Poll::Ready(Ok(())) if read.filled().is_empty() => this.done = true,
                Poll::Ready(Ok(())) => {
                    let filled = read.filled().len();
                    this.append(&chunk[..filled]);
                }
                Poll::Ready(Err(e)) => return this.fail(ProtocolError::Io(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A server (unmasked) data frame, ready to write to any socket.
pub fn encode_frame(message: Message) -> Bytes {
    let len = match &message {
        Message::Text(text) => text.len(),
        Message::Binary(bytes) => bytes.len(),
        _ => 0,
    };
    let mut buf = BytesMut::with_capacity(len + 10);
    // Encoding a server frame into memory cannot fail.
    let _ = Codec::new().encode(message, &mut buf);
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

/// Hand-made client frames, shared with the integration tests.
#[cfg(test)]
#[path = "../../tests/common/ws_frames.rs"]
mod ws_frames;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_http::ws::Item;
    use futures_util::StreamExt;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    use super::ws_frames::{ws_frame as frame, ws_header as header};

    const LIMIT: usize = 4096;
    /// The most bytes the reader may hold: the limit plus one maximal frame header.
    const CAP: usize = LIMIT + 14;

    /// A reader over the server end of a loopback connection, and the client end.
    async fn pair() -> (FrameReader, OwnedWriteHalf, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read, write) = server.into_split();
        (FrameReader::new(read, &[], LIMIT), write, client)
    }

    async fn next(reader: &mut FrameReader) -> Option<Result<Frame, ProtocolError>> {
        tokio::time::timeout(Duration::from_secs(1), reader.next()).await.expect("the reader answers within 1 s")
    }

    #[tokio::test]
    async fn a_header_declaring_more_than_the_limit_is_refused_before_its_payload_is_read() {
        let (mut reader, _w, mut client) = pair().await;
        client.write_all(&header(true, 0x1, 300_000_000)).await.unwrap();
        // The client streams payload bytes regardless (errors once the server is gone).
        let streamer = tokio::spawn(async move {
            let chunk = vec![b'x'; 64 * 1024];
            for _ in 0..64 {
                if client.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        let item = tokio::time::timeout(Duration::from_secs(1), reader.next()).await;
        assert!(reader.buf.capacity() <= CAP, "buffer grew to {} bytes", reader.buf.capacity());
        assert!(matches!(item, Ok(Some(Err(ProtocolError::Overflow)))), "{item:?}");
        // Nothing more is read from a connection that broke the limit.
        assert!(next(&mut reader).await.is_none());
        assert!(reader.buf.capacity() <= CAP);
        drop(reader);
        streamer.abort();
    }

    #[tokio::test]
    async fn fragments_crossing_the_limit_are_refused_at_the_crossing_header() {
        let (mut reader, _w, mut client) = pair().await;
        client.write_all(&frame(false, 0x1, &[b'a'; 3000])).await.unwrap();
        client.write_all(&frame(false, 0x0, &[b'b'; 1000])).await.unwrap();
        // 4097 bytes in all: only the header is sent, the payload never comes.
        client.write_all(&header(true, 0x0, 97)).await.unwrap();
        assert!(
            matches!(next(&mut reader).await, Some(Ok(Frame::Continuation(Item::FirstText(b)))) if b.len() == 3000)
        );
        assert!(matches!(next(&mut reader).await, Some(Ok(Frame::Continuation(Item::Continue(b)))) if b.len() == 1000));
        assert!(matches!(next(&mut reader).await, Some(Err(ProtocolError::Overflow))));
    }

    #[tokio::test]
    async fn messages_of_exactly_the_limit_pass_whole_or_fragmented() {
        let (mut reader, _w, mut client) = pair().await;
        let mut bytes = frame(true, 0x1, &[b'a'; LIMIT]);
        bytes.extend(frame(false, 0x1, &[b'b'; 4000]));
        bytes.extend(frame(true, 0x9, b"ping")); // control frames may come between fragments
        bytes.extend(frame(false, 0x0, &[b'c'; 95]));
        bytes.extend(frame(true, 0x0, &[b'd'; 1]));
        bytes.extend(frame(true, 0x1, &[b'e'; LIMIT]));
        client.write_all(&bytes).await.unwrap();
        let mut sizes = Vec::new();
        for _ in 0..6 {
            let item = next(&mut reader).await;
            assert!(reader.buf.len() <= CAP && reader.buf.capacity() <= CAP, "buffer {}", reader.buf.capacity());
            sizes.push(match item {
                Some(Ok(Frame::Text(b) | Frame::Ping(b))) => b.len(),
                Some(Ok(Frame::Continuation(Item::FirstText(b) | Item::Continue(b) | Item::Last(b)))) => b.len(),
                other => panic!("unexpected {other:?}"),
            });
        }
        assert_eq!(sizes, [LIMIT, 4000, 4, 95, 1, LIMIT]);
        // The next message starts a new count: one byte over the limit is refused.
        client.write_all(&header(true, 0x1, LIMIT as u64 + 1)).await.unwrap();
        assert!(matches!(next(&mut reader).await, Some(Err(ProtocolError::Overflow))));
    }

    #[tokio::test]
    async fn a_control_frame_over_125_bytes_is_a_protocol_error_at_its_header() {
        let (mut reader, _w, mut client) = pair().await;
        client.write_all(&header(true, 0x9, 126)).await.unwrap();
        assert!(matches!(next(&mut reader).await, Some(Err(ProtocolError::InvalidLength(126)))));
    }

    #[tokio::test]
    async fn an_idle_reader_holds_no_buffer() {
        let (mut reader, _w, mut client) = pair().await;
        client.write_all(&frame(true, 0x1, b"{}")).await.unwrap();
        assert!(matches!(next(&mut reader).await, Some(Ok(Frame::Text(_)))));
        assert_eq!(reader.buf.capacity(), 0);
    }
}
