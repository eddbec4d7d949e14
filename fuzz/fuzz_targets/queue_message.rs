//! A received message of any shape (input: `name:value` header lines, an
//! empty line, then the payload): extraction never panics and loses nothing
//! (a message that had no envelope keeps its payload and headers), and a
//! payload wrapped in the envelope comes back out of it unchanged.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use o11y_queue::{Headers, Message, context, envelope};

fuzz_target!(|data: &[u8]| {
    let (head, payload) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[][..], data),
    };
    let mut headers = Headers::new();
    for line in String::from_utf8_lossy(head).lines() {
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.to_owned(), v.to_owned());
        }
    }
    let message = Message {
        headers: headers.clone(),
        payload: Bytes::copy_from_slice(payload),
    };
    let (_, body) = context::extract(&message);
    if envelope::decode(payload).is_none() {
        assert_eq!(body.payload, message.payload, "a plain payload is kept");
        assert_eq!(body.headers, headers, "headers are kept");
    }
    let wrapped = envelope::encode(&headers, payload);
    match envelope::decode(&wrapped) {
        Some(Ok((h, p))) => {
            assert_eq!(h, headers);
            assert_eq!(&p[..], payload);
        }
        other => panic!("an encoded envelope decodes: {other:?}"),
    }
});
