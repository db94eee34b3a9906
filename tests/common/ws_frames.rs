//! Client WebSocket frames built by hand, so that a test can send what no library would:
//! a header alone, or one announcing more than it carries. Also used by the frame reader's
//! unit tests (`src/realtime/transport.rs`).

/// A client frame header (masked with a zero key, so the payload goes as is).
pub fn ws_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match len {
        0..=125 => out.push(0x80 | len as u8),
        126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(0x80 | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

pub fn ws_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = ws_header(fin, opcode, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}
