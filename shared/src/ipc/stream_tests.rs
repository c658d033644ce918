//! Tests of the framed stream over in-memory pipes.

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt, duplex};

use super::*;
use crate::ipc::MAX_FRAME;

fn sample() -> Vec<Value> {
    vec![
        json!({"request": "status"}),
        json!({"hello": {"protocol": 1, "software": "é ü ✓"}}),
        json!({"line": "x".repeat(20_000)}),
        json!(42),
    ]
}

fn encoded(messages: &[Value]) -> Vec<u8> {
    messages
        .iter()
        .flat_map(|m| frame::encode(m).expect("encode"))
        .collect()
}

#[tokio::test]
async fn frames_split_across_writes_arrive_whole() {
    let bytes = encoded(&sample());
    for chunk in [1, 2, 3, 4, 5, 7, 64, 4096, 100_000] {
        let (mut writer, reader) = duplex(64);
        let bytes = bytes.clone();
        let feeder = tokio::spawn(async move {
            for piece in bytes.chunks(chunk) {
                writer.write_all(piece).await.expect("write");
                writer.flush().await.expect("flush");
                tokio::task::yield_now().await;
            }
        });
        let mut framed = FramedStream::new(reader);
        let mut got = Vec::new();
        while let Some(message) = framed.read_message::<Value>().await.expect("read") {
            got.push(message);
        }
        assert_eq!(got, sample(), "chunk size {chunk}");
        feeder.await.expect("feeder");
    }
}

#[tokio::test]
async fn both_ends_write_and_read_frames() {
    let (a, b) = duplex(1024);
    let (mut left, mut right) = (FramedStream::new(a), FramedStream::new(b));
    let echo = tokio::spawn(async move {
        while let Some(message) = right.read_message::<Value>().await.expect("read") {
            right.write_frame(&message).await.expect("write");
        }
    });
    for message in sample() {
        left.write_frame(&message).await.expect("write");
        assert_eq!(
            left.read_message::<Value>().await.expect("read"),
            Some(message)
        );
    }
    drop(left);
    echo.await.expect("echo");
}

#[tokio::test]
async fn an_oversized_frame_is_refused_before_its_body_is_read() {
    let (mut writer, reader) = duplex(1 << 16);
    let mut bytes = ((MAX_FRAME as u32) + 1).to_be_bytes().to_vec();
    bytes.extend_from_slice(b"BODY");
    writer.write_all(&bytes).await.expect("write");
    let mut framed = FramedStream::new(reader);
    let err = framed.read_frame().await.expect_err("must refuse");
    assert!(
        matches!(
            err,
            StreamError::Frame(FrameError::TooLarge { declared, max })
                if declared == MAX_FRAME + 1 && max == MAX_FRAME
        ),
        "{err}"
    );
    assert_eq!(framed.decoder.buffered(), 4);
    // The body is still unread in the pipe.
    let mut rest = [0u8; 4];
    framed
        .get_mut()
        .read_exact(&mut rest)
        .await
        .expect("body still there");
    assert_eq!(&rest, b"BODY");
}

#[tokio::test]
async fn a_smaller_limit_is_kept() {
    let (mut writer, reader) = duplex(1024);
    writer
        .write_all(&frame::encode(&json!("x".repeat(100))).expect("encode"))
        .await
        .expect("write");
    let mut framed = FramedStream::with_limit(reader, 50);
    let err = framed.read_frame().await.expect_err("must refuse");
    assert!(
        matches!(
            err,
            StreamError::Frame(FrameError::TooLarge { max: 50, .. })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn end_of_stream_between_frames_is_a_clean_close() {
    let (mut writer, reader) = duplex(1024);
    writer
        .write_all(&encoded(&sample()[..1]))
        .await
        .expect("write");
    drop(writer);
    let mut framed = FramedStream::new(reader);
    assert!(framed.read_frame().await.expect("frame").is_some());
    assert!(framed.read_frame().await.expect("close").is_none());
}

#[tokio::test]
async fn end_of_stream_mid_frame_is_truncated() {
    let bytes = encoded(&sample());
    for cut in [1, 3, 4, 10, bytes.len() - 1] {
        let (mut writer, reader) = duplex(1 << 16);
        let part = bytes[..cut].to_vec();
        let feeder = tokio::spawn(async move {
            writer.write_all(&part).await.expect("write");
        });
        let mut framed = FramedStream::new(reader);
        let err = loop {
            match framed.read_frame().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("cut {cut}: a cut-off frame read as a clean close"),
                Err(err) => break err,
            }
        };
        assert!(
            matches!(err, StreamError::Frame(FrameError::Truncated { .. })),
            "cut {cut}: {err}"
        );
        feeder.await.expect("feeder");
    }
}

#[tokio::test]
async fn a_bad_message_and_garbage_are_frame_errors() {
    let (mut writer, reader) = duplex(1024);
    let mut bytes = 3u32.to_be_bytes().to_vec();
    bytes.extend_from_slice(b"{]}");
    writer.write_all(&bytes).await.expect("write");
    let mut framed = FramedStream::new(reader);
    let err = framed.read_message::<Value>().await.expect_err("not JSON");
    assert!(
        matches!(err, StreamError::Frame(FrameError::BadMessage { .. })),
        "{err}"
    );

    let (mut writer, reader) = duplex(1024);
    writer.write_all(&[0, 0, 0, 0]).await.expect("write");
    let mut framed = FramedStream::new(reader);
    let err = framed.read_frame().await.expect_err("empty frame");
    assert!(
        matches!(err, StreamError::Frame(FrameError::Empty)),
        "{err}"
    );
}

#[tokio::test]
async fn an_oversized_message_is_not_written() {
    let (a, mut b) = duplex(1 << 16);
    let mut framed = FramedStream::new(a);
    let err = framed
        .write_frame(&json!("y".repeat(MAX_FRAME)))
        .await
        .expect_err("too large");
    assert!(
        matches!(err, StreamError::Frame(FrameError::TooLarge { .. })),
        "{err}"
    );
    drop(framed);
    let mut rest = Vec::new();
    b.read_to_end(&mut rest).await.expect("read");
    assert!(rest.is_empty(), "{} bytes were written", rest.len());
}

#[tokio::test]
async fn a_failing_stream_is_an_io_error() {
    let (a, b) = duplex(16);
    drop(b);
    let mut framed = FramedStream::new(a);
    let err = framed
        .write_frame(&json!("hello"))
        .await
        .expect_err("peer gone");
    assert!(matches!(err, StreamError::Io(_)), "{err}");
}
