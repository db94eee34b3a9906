//! The WebSocket frame reader (realtime.md §6.1, issue 10 defect 2): whatever bytes a client
//! sends, in whatever pieces, the reader never panics, never holds more than the message
//! limit plus one 14-byte header, refuses a frame or fragmented message over the limit at
//! its header, and reads nothing after an error.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{Frame, Item, ProtocolError};
use futures_util::StreamExt;
use hearth::realtime::transport::FrameReader;
use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};

use crate::alloc::peak_during;
use crate::{config, progress, regressions};

/// A small limit, so that generated frames reach and cross it often.
const LIMIT: usize = 256;
const CAP: usize = LIMIT + 14;
/// What the reader may hold besides its buffer at its peak: the frame it hands out is split
/// off the buffer (no copy), and the codec keeps a few bytes of state.
const OVERHEAD: usize = 512;

/// A client stream delivered in the given piece sizes (cycled), as TCP may split it.
struct Pieces {
    bytes: Vec<u8>,
    at: usize,
    sizes: Vec<usize>,
    turn: usize,
}

impl AsyncRead for Pieces {
    fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let size = this.sizes[this.turn % this.sizes.len()].max(1);
        this.turn += 1;
        let n = size.min(out.remaining()).min(this.bytes.len() - this.at);
        out.put_slice(&this.bytes[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

/// What the reader yielded, in a form the model can predict.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Data { opcode: u8, fin: bool, len: usize },
    Control { opcode: u8, len: usize },
    Overflow,
    TooLongControl,
    OtherError,
}

fn seen(item: Result<Frame, ProtocolError>) -> Seen {
    match item {
        Ok(Frame::Text(b)) => Seen::Data { opcode: 1, fin: true, len: b.len() },
        Ok(Frame::Binary(b)) => Seen::Data { opcode: 2, fin: true, len: b.len() },
        Ok(Frame::Continuation(Item::FirstText(b))) => Seen::Data { opcode: 1, fin: false, len: b.len() },
        Ok(Frame::Continuation(Item::FirstBinary(b))) => Seen::Data { opcode: 2, fin: false, len: b.len() },
        Ok(Frame::Continuation(Item::Continue(b))) => Seen::Data { opcode: 0, fin: false, len: b.len() },
        Ok(Frame::Continuation(Item::Last(b))) => Seen::Data { opcode: 0, fin: true, len: b.len() },
        Ok(Frame::Ping(b)) => Seen::Control { opcode: 9, len: b.len() },
        Ok(Frame::Pong(b)) => Seen::Control { opcode: 10, len: b.len() },
        Ok(Frame::Close(_)) => Seen::Control { opcode: 8, len: 0 },
        Err(ProtocolError::Overflow) => Seen::Overflow,
        Err(ProtocolError::InvalidLength(_)) => Seen::TooLongControl,
        Err(_) => Seen::OtherError,
    }
}

/// The most items one case looks at (a stream of tiny frames could yield more).
const MAX_ITEMS: usize = 64;

/// Runs the reader over `bytes` to its end (or `MAX_ITEMS` items) on this thread, checking
/// its buffer after every item; the runtime and the result list are made outside, so that
/// the allocation peak measured around it is the reader's own. Answers what it yielded and
/// the largest buffer it held, and the peak of what was allocated meanwhile.
fn drive(bytes: Vec<u8>, sizes: Vec<usize>) -> (Vec<Seen>, usize, usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let mut out = Vec::with_capacity(MAX_ITEMS);
    let pieces = Pieces { bytes, at: 0, sizes, turn: 0 };
    let (largest, peak) = peak_during(|| {
        let mut reader = FrameReader::new(pieces, &[], LIMIT);
        let mut largest = 0;
        runtime.block_on(async {
            // Every item is decided without waiting: `Pieces` is always ready.
            while let Some(item) = reader.next().await {
                largest = largest.max(reader.buffered_capacity());
                out.push(seen(item));
                if out.len() == MAX_ITEMS {
                    break;
                }
            }
        });
        largest.max(reader.buffered_capacity())
    });
    (out, largest, peak)
}

/// One client frame as generated: masked, reserved bits clear.
#[derive(Clone, Debug)]
struct Spec {
    fin: bool,
    opcode: u8,
    /// The length the header announces.
    announced: u64,
    /// How much payload actually follows (less than announced cuts the stream there).
    sent: usize,
}

fn frame_bytes(spec: &Spec) -> Vec<u8> {
    let mut out = vec![if spec.fin { 0x80 } else { 0 } | spec.opcode];
    match spec.announced {
        0..=125 => out.push(0x80 | spec.announced as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(spec.announced as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend(std::iter::repeat_n(b'x', spec.sent));
    out
}

/// Lengths that matter: small, around 125, around the limit, and far beyond it.
fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..=130,
        3 => (LIMIT as u64 - 3)..=(LIMIT as u64 + 3),
        1 => 0u64..=(2 * LIMIT as u64),
        1 => prop_oneof![Just(65_535u64), Just(65_536), Just(300_000_000), Just(i64::MAX as u64), any::<u64>()],
    ]
}

/// A message of one or more fragments, or a control frame; the last one may be cut short.
fn frames() -> impl Strategy<Value = Vec<Spec>> {
    let message =
        (prop_oneof![Just(1u8), Just(2)], proptest::collection::vec(length(), 1..4)).prop_map(|(opcode, lengths)| {
            let last = lengths.len() - 1;
            lengths
                .into_iter()
                .enumerate()
                .map(|(i, announced)| Spec {
                    fin: i == last,
                    opcode: if i == 0 { opcode } else { 0 },
                    announced,
                    sent: announced.min(CAP as u64 + 1) as usize,
                })
                .collect::<Vec<_>>()
        });
    let control = (prop_oneof![Just(9u8), Just(10)], length())
        .prop_map(|(opcode, announced)| vec![Spec { fin: true, opcode, announced, sent: announced.min(200) as usize }]);
    (proptest::collection::vec(prop_oneof![3 => message, 1 => control], 1..6), any::<bool>(), any::<u16>()).prop_map(
        |(groups, cut, at)| {
            let mut specs: Vec<Spec> = groups.into_iter().flatten().collect();
            if cut {
                let last = specs.len() - 1;
                specs[last].sent = specs[last].sent.min(at as usize % (specs[last].sent + 1));
            }
            specs
        },
    )
}

/// What the reader must yield for these frames: every frame up to the first one whose header
/// breaks a size rule, then that refusal; a frame cut short ends the stream without an item.
fn model(specs: &[Spec]) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut message = 0u64;
    for spec in specs {
        if spec.opcode & 0x8 != 0 {
            if spec.announced > 125 {
                out.push(Seen::TooLongControl);
                return out;
            }
        } else {
            let total = if spec.opcode == 0 { message.saturating_add(spec.announced) } else { spec.announced };
            if total > LIMIT as u64 {
                out.push(Seen::Overflow);
                return out;
            }
            message = if spec.fin { 0 } else { total };
        }
        if (spec.sent as u64) < spec.announced {
            return out;
        }
        let len = spec.sent;
        out.push(if spec.opcode & 0x8 != 0 {
            Seen::Control { opcode: spec.opcode, len }
        } else {
            Seen::Data { opcode: spec.opcode, fin: spec.fin, len }
        });
    }
    out
}

fn piece_sizes() -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(prop_oneof![1usize..=3, 1usize..=64, 1usize..=4096], 1..8)
}

proptest! {
    #![proptest_config(config(regressions!("frame")))]

    #[test]
    fn frames_are_read_as_the_size_rules_say_and_never_past_the_cap(specs in frames(), sizes in piece_sizes()) {
        progress("frames_are_read_as_the_size_rules_say_and_never_past_the_cap");
        let bytes: Vec<u8> = specs.iter().flat_map(frame_bytes).collect();
        let (items, largest, peak) = drive(bytes, sizes);
        prop_assert!(largest <= CAP, "the buffer held {} bytes", largest);
        prop_assert!(peak <= CAP + OVERHEAD, "{} bytes allocated at the peak", peak);
        prop_assert_eq!(items, model(&specs));
    }

    #[test]
    fn arbitrary_bytes_never_grow_the_reader_past_the_cap(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        sizes in piece_sizes(),
    ) {
        progress("arbitrary_bytes_never_grow_the_reader_past_the_cap");
        let (items, largest, peak) = drive(bytes, sizes);
        prop_assert!(largest <= CAP, "the buffer held {} bytes", largest);
        prop_assert!(peak <= CAP + OVERHEAD, "{} bytes allocated at the peak", peak);
        // An error is the last item: nothing is read after it.
        if let Some(at) = items.iter().position(|s| matches!(s, Seen::Overflow | Seen::TooLongControl | Seen::OtherError)) {
            prop_assert_eq!(at, items.len() - 1, "items after an error: {:?}", items);
        }
    }
}
