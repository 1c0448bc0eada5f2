//! Limits against abuse: each holds, and the other clients stay served meanwhile.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod common;

use coalition_ledger::startup::Roles;
use common::*;
use ledger_proto::v1;
use tonic::Code;

/// An organisation whose name (300 three-byte characters) makes an event of about 1.1 KB.
fn big_organisation(id: &str) -> v1::AppendRequest {
    let mut r = organisation(id);
    if let Some(v1::event_payload::Event::OrganisationRegistered(o)) =
        r.events[0].payload.as_mut().and_then(|p| p.event.as_mut())
    {
        o.name = "漢".repeat(300);
    }
    r
}

#[tokio::test]
async fn an_oversized_event_is_refused_alone_and_the_appends_grouped_with_it_are_written() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.max_event_bytes = 1024).await;
    // Small and oversized appends at once, so that the group committer sees them together.
    let mut calls = Vec::new();
    for i in 0..48 {
        let mut client = app.append.clone();
        let request = if i % 6 == 0 { big_organisation(&format!("big-{i}")) } else { organisation(&format!("o-{i}")) };
        calls.push(tokio::spawn(async move { (i, client.append(request).await) }));
    }
    let (mut written, mut refused) = (0, 0);
    for call in calls {
        let (i, result) = call.await.unwrap();
        match result {
            Ok(_) => {
                assert_ne!(i % 6, 0, "the oversized append {i} was written");
                written += 1;
            }
            Err(e) => {
                assert_eq!(i % 6, 0, "the small append {i} failed: {e:?}");
                assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
                assert!(e.message().contains("events[0]") && e.message().contains("1024 bytes"), "{}", e.message());
                refused += 1;
            }
        }
    }
    assert_eq!((written, refused), (40, 8));
}

#[tokio::test]
async fn a_request_above_the_size_limit_is_out_of_range_and_others_are_served() {
    let app = TestApp::spawn_with(Roles::ALL, |s| s.limits.max_request_bytes = 256 * 1024).await;
    let mut huge = organisation("huge");
    huge.events[0].actor = "a".repeat(300 * 1024);
    let (mut client, mut other) = (app.append.clone(), app.append.clone());
    let (big, small) = tokio::join!(client.append(huge), other.append(organisation("small")));
    let err = big.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    small.unwrap();
    // The connection that carried the refused request still serves.
    client.append(organisation("after")).await.unwrap();
}
