//! Length-delimited frames, sans-IO: a frame is a 4-byte big-endian length followed by that
//! many bytes of JSON. [`FrameDecoder`] is fed whatever bytes arrived and hands back whole
//! frames; it refuses a declared length above [`MAX_FRAME`] *before* buffering the body, and
//! a zero length, so a stream of garbage is recognised after at most four bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest frame body either side accepts (1 MiB).
pub const MAX_FRAME: usize = 1024 * 1024;

/// Length prefix size.
const HEADER: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    #[error("frame of {declared} bytes exceeds the limit of {max} bytes")]
    TooLarge { declared: usize, max: usize },
    #[error("empty frame (length 0)")]
    Empty,
    #[error("frame is not a valid message: {reason}")]
    BadMessage { reason: String },
    #[error("message cannot be encoded: {reason}")]
    Encode { reason: String },
    #[error("connection closed in the middle of a frame ({buffered} bytes buffered)")]
    Truncated { buffered: usize },
}

/// Encodes `message` as one frame (length prefix + JSON).
pub fn encode<T: Serialize>(message: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(message).map_err(|err| FrameError::Encode {
        reason: err.to_string(),
    })?;
    if body.len() > MAX_FRAME {
        return Err(FrameError::TooLarge {
            declared: body.len(),
            max: MAX_FRAME,
        });
    }
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        declared: body.len(),
        max: MAX_FRAME,
    })?;
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decodes one frame body as a message of type `T`. A refusal says what is wrong and where
/// (the field's path, the line and column), never quoting the frame: its values may be a
/// password.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let message = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let path = (path != "." && !path.contains('?'))
            .then_some(path)
            .or_else(|| culprit::<T>(body, err.inner()));
        FrameError::BadMessage {
            reason: describe(err.inner(), path.as_deref()),
        }
    })?;
    de.end().map_err(|err| FrameError::BadMessage {
        reason: describe(&err, None),
    })?;
    Ok(message)
}

/// Most fields of a message tried one by one to find the one a refusal is about.
const MAX_PROBED_FIELDS: usize = 32;

/// The top-level field whose value has the wrong type or value, when serde cannot say (inside
/// an internally tagged enum such as a request, its fields are read from a buffer that has no
/// path): the field whose removal makes that error go away. Only for wrong types and values,
/// so the field is one the message type declares, never a name the client made up; a
/// request's tag is not probed.
fn culprit<T: DeserializeOwned>(body: &[u8], err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    if !["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|kind| text.starts_with(kind))
    {
        return None;
    }
    let serde_json::Value::Object(map) = serde_json::from_slice(body).ok()? else {
        return None;
    };
    if map.len() > MAX_PROBED_FIELDS {
        return None;
    }
    map.keys()
        .filter(|key| key.as_str() != "request")
        .find(|key| {
            let mut rest = map.clone();
            rest.remove(key.as_str());
            match serde_json::from_value::<T>(serde_json::Value::Object(rest)) {
                Ok(_) => true,
                Err(err) => {
                    let text = err.to_string();
                    !["invalid type", "invalid value", "invalid length"]
                        .iter()
                        .any(|kind| text.starts_with(kind))
                }
            }
        })
        .cloned()
}

/// serde_json's refusal without the values it quotes: its kind, the expectation (which comes
/// from our types, not from the frame), the field's path and the position.
fn describe(err: &serde_json::Error, path: Option<&str>) -> String {
    use serde_json::error::Category;
    let text = err.to_string();
    // serde_json appends " at line L column C" when it knows the position.
    let text = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(head, _)| head);
    let mut reason = match err.classify() {
        Category::Io => "cannot be read".to_string(),
        Category::Eof => "the JSON ends early".to_string(),
        Category::Syntax => "not valid JSON".to_string(),
        Category::Data => {
            let expected = text.rsplit_once(", expected ").map(|(_, e)| e);
            if let Some(field) = text.strip_prefix("missing field ") {
                format!("missing field {field}")
            } else if text.starts_with("unknown variant") {
                format!(
                    "unknown request or value; expected {}",
                    expected.unwrap_or("another")
                )
            } else if text.starts_with("unknown field") {
                "unknown field".to_string()
            } else if text.starts_with("invalid type") {
                format!("wrong type; expected {}", expected.unwrap_or("another"))
            } else if text.starts_with("invalid value") || text.starts_with("invalid length") {
                format!("wrong value; expected {}", expected.unwrap_or("another"))
            } else {
                "a value does not fit the message".to_string()
            }
        }
    };
    if let Some(path) = path {
        reason = format!("{path}: {reason}");
    }
    if err.line() > 0 {
        reason.push_str(&format!(" (line {}, column {})", err.line(), err.column()));
    }
    reason
}

/// Collects bytes and yields complete frame bodies.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    max: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    pub fn new() -> Self {
        Self::with_limit(MAX_FRAME)
    }

    /// A decoder with a smaller (or larger) frame limit.
    pub fn with_limit(max: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            max,
        }
    }

    /// Bytes received but not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Adds received bytes. The caller then calls [`next_frame`](Self::next_frame) until it
    /// returns `Ok(None)` ("need more").
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The declared length of the frame at the front, checked against the limits.
    fn declared(&self) -> Result<Option<usize>, FrameError> {
        let Some(header) = self.buf.get(..HEADER) else {
            return Ok(None);
        };
        let mut len = [0u8; HEADER];
        len.copy_from_slice(header);
        let declared = u32::from_be_bytes(len) as usize;
        if declared == 0 {
            return Err(FrameError::Empty);
        }
        if declared > self.max {
            return Err(FrameError::TooLarge {
                declared,
                max: self.max,
            });
        }
        Ok(Some(declared))
    }

    /// The next complete frame body; `Ok(None)` when more bytes are needed. After an error
    /// the stream is out of step and the connection must be closed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(declared) = self.declared()? else {
            return Ok(None);
        };
        if self.buf.len() < HEADER + declared {
            // Reserve only once the length is known to be acceptable.
            self.buf.reserve(HEADER + declared - self.buf.len());
            return Ok(None);
        }
        let body = self.buf[HEADER..HEADER + declared].to_vec();
        self.buf.drain(..HEADER + declared);
        Ok(Some(body))
    }

    /// How many more bytes to read at most before the next frame can be complete (at least
    /// one); lets a reader avoid reading past a frame it cannot accept.
    pub fn wanted(&self) -> Result<usize, FrameError> {
        match self.declared()? {
            None => Ok(HEADER - self.buf.len()),
            Some(declared) => Ok((HEADER + declared).saturating_sub(self.buf.len()).max(1)),
        }
    }

    /// Called at end of stream: an error if a frame was cut off.
    pub fn finish(&self) -> Result<(), FrameError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(FrameError::Truncated {
                buffered: self.buf.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_message_is_described_without_quoting_its_values() {
        use crate::ipc::Request;
        let secret = "hunter2-S3cret";
        let cases = [
            // A password of the wrong type.
            format!(
                r#"{{"request":"test_connection","target":{{"saved":"p"}},"password":["{secret}"]}}"#
            ),
            format!(r#"{{"request":"set_enabled","name":"p","enabled":"{secret}"}}"#),
            // A secret where the request's name goes.
            format!(r#"{{"request":"{secret}"}}"#),
            format!(r#"{{"request":"set_secret","name":"p","password":{{"{secret}":1}}}}"#),
            // Not JSON after the secret.
            format!(r#"{{"request":"set_secret","name":"p","password":"{secret}"}} trailing"#),
            format!(r#"{{"request":"set_secret","name":"p","password":"{secret}""#),
        ];
        for case in &cases {
            let err = decode::<Request>(case.as_bytes()).expect_err(case);
            let text = err.to_string();
            assert!(!text.contains(secret), "{case}: {text}");
        }
        let err = decode::<Request>(cases[1].as_bytes()).expect_err("wrong type");
        assert!(
            err.to_string()
                .contains("enabled: wrong type; expected a boolean"),
            "{err}"
        );
        let err = decode::<Request>(cases[0].as_bytes()).expect_err("wrong type");
        assert!(err.to_string().contains("password: wrong type"), "{err}");
        let err = decode::<Request>(cases[2].as_bytes()).expect_err("unknown");
        assert!(err.to_string().contains("unknown"), "{err}");
    }

    fn frames_of(messages: &[serde_json::Value]) -> Vec<u8> {
        messages
            .iter()
            .flat_map(|m| encode(m).expect("encode"))
            .collect()
    }

    fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Result<Vec<serde_json::Value>, FrameError> {
        let mut decoder = FrameDecoder::new();
        let mut out = Vec::new();
        for piece in bytes.chunks(chunk) {
            decoder.feed(piece);
            while let Some(body) = decoder.next_frame()? {
                out.push(decode(&body)?);
            }
        }
        decoder.finish()?;
        Ok(out)
    }

    fn sample() -> Vec<serde_json::Value> {
        let big = "x".repeat(3000);
        vec![
            serde_json::json!({"request": "status"}),
            serde_json::json!({"hello": {"protocol": 1, "software": "é ü ✓"}}),
            serde_json::json!({"line": big}),
            serde_json::json!(42),
        ]
    }

    #[test]
    fn any_chunking_gives_the_same_frames() {
        let messages = sample();
        let bytes = frames_of(&messages);
        for chunk in 1..=512 {
            assert_eq!(
                decode_in_chunks(&bytes, chunk).expect("decode"),
                messages,
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn oversized_length_is_refused_before_the_body_arrives() {
        let mut decoder = FrameDecoder::new();
        decoder.feed(&((MAX_FRAME as u32) + 1).to_be_bytes());
        assert_eq!(
            decoder.next_frame(),
            Err(FrameError::TooLarge {
                declared: MAX_FRAME + 1,
                max: MAX_FRAME
            })
        );
        // Nothing of the declared size was reserved.
        assert!(decoder.buf.capacity() < 1024);
    }

    #[test]
    fn garbage_is_refused_within_four_bytes_in_any_chunking() {
        let garbage = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for chunk in 1..=garbage.len() {
            let err = decode_in_chunks(garbage, chunk).unwrap_err();
            assert!(
                matches!(err, FrameError::TooLarge { declared, .. } if declared == 0x4745_5420),
                "chunk {chunk}: {err}"
            );
        }
    }

    #[test]
    fn a_frame_that_is_not_json_is_a_bad_message() {
        let mut bytes = 5u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(b"\xff{]}x");
        for chunk in 1..=bytes.len() {
            let err = decode_in_chunks(&bytes, chunk).unwrap_err();
            assert!(matches!(err, FrameError::BadMessage { .. }), "{err}");
        }
    }

    #[test]
    fn zero_length_is_refused() {
        let mut decoder = FrameDecoder::new();
        decoder.feed(&[0, 0, 0, 0, b'{']);
        assert_eq!(decoder.next_frame(), Err(FrameError::Empty));
    }

    #[test]
    fn a_cut_off_frame_is_reported_at_the_end() {
        let bytes = frames_of(&sample());
        for cut in [1, 3, 4, 10, bytes.len() - 1] {
            let err = decode_in_chunks(&bytes[..cut], 7).unwrap_err();
            assert!(
                matches!(err, FrameError::Truncated { .. }),
                "cut {cut}: {err}"
            );
        }
    }

    #[test]
    fn wanted_never_reads_past_the_current_frame() {
        let bytes = frames_of(&sample());
        let mut decoder = FrameDecoder::new();
        let mut pos = 0;
        let mut frames = 0;
        while pos < bytes.len() {
            let want = decoder.wanted().expect("wanted");
            let end = (pos + want).min(bytes.len());
            decoder.feed(&bytes[pos..end]);
            pos = end;
            while decoder.next_frame().expect("frame").is_some() {
                frames += 1;
                assert_eq!(decoder.buffered(), 0, "read past a frame boundary");
            }
        }
        assert_eq!(frames, sample().len());
    }

    #[test]
    fn encode_refuses_a_message_above_the_limit() {
        let huge = serde_json::json!("y".repeat(MAX_FRAME));
        assert!(matches!(encode(&huge), Err(FrameError::TooLarge { .. })));
    }
}
