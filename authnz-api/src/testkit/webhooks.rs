//! The [`WebhookStore`](crate::WebhookStore) contract: the webhook outbox,
//! filled with the audit events' transaction and drained by claiming.
//!
//! A harness offers the store through [`Harness::webhooks`](super::Harness::webhooks);
//! [`webhook_store_tests!`](crate::webhook_store_tests) runs these tests on it.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::fixtures::{at, plus_micros};
use crate::audit::{AuditEvent, AuditEventType, AuditOutcome, AuditQuery, AuditStore};
use crate::webhooks::{Delivery, NewDelivery, WebhookStore};

/// The audit and outbox sides of one store.
pub type Pair = (Arc<dyn AuditStore>, Arc<dyn WebhookStore>);

fn event(secs: i64) -> AuditEvent {
    AuditEvent {
        time: at(secs),
        event: AuditEventType::Logout,
        outcome: AuditOutcome::Ok,
        actor_user_id: None,
        subject_user_id: Some(3),
        client_address: None,
        request_id: None,
        reason: None,
    }
}

fn new(secs: i64, endpoint: &str) -> NewDelivery {
    NewDelivery {
        endpoint: endpoint.to_owned(),
        event_type: "logout".to_owned(),
        body: format!(r#"{{"type":"logout","n":{secs},"é":"ü"}}"#),
        created: plus_micros(at(secs), 250_001),
    }
}

async fn all(w: &Arc<dyn WebhookStore>) -> Vec<Delivery> {
    w.deliveries(false, 1000).await.expect("deliveries")
}

async fn claim(w: &Arc<dyn WebhookStore>, now: i64, lease: i64) -> Vec<i64> {
    w.claim_deliveries(at(now), at(now + lease), 100)
        .await
        .expect("claim")
        .into_iter()
        .map(|d| d.id)
        .collect()
}

/// Deliveries are stored with their events, every field round-trips, and
/// they are listed oldest first.
pub async fn deliveries_are_appended_with_their_events((a, w): Pair) {
    assert_eq!(all(&w).await, vec![]);
    a.append_audit_events_with_deliveries(
        &[event(1), event(2)],
        &[
            new(1, "https://a.example/hook"),
            new(2, "http://b.example:8080/x?y=z"),
        ],
    )
    .await
    .expect("append");
    let events = a
        .audit_events(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(events.len(), 2);
    let listed = all(&w).await;
    assert_eq!(listed.len(), 2);
    let first = &listed[0];
    assert!(first.id < listed[1].id);
    assert_eq!(first.endpoint, "https://a.example/hook");
    assert_eq!(first.event_type, "logout");
    assert_eq!(first.body, new(1, "").body);
    assert_eq!(first.created, new(1, "").created);
    assert_eq!(first.next_attempt, first.created);
    assert_eq!(
        (first.attempts, first.parked, first.last_error.clone()),
        (0, false, None)
    );
    assert_eq!(listed[1].endpoint, "http://b.example:8080/x?y=z");
    // Deliveries alone (no events) are fine too; nothing at all writes nothing.
    a.append_audit_events_with_deliveries(&[], &[])
        .await
        .expect("empty");
    assert_eq!(all(&w).await.len(), 2);
}

/// A refused append writes neither the events nor the deliveries.
pub async fn refused_append_writes_nothing((a, w): Pair) {
    let mut bad = new(1, "https://a.example/hook");
    bad.body = "nul \0 inside".to_owned();
    let refused = a
        .append_audit_events_with_deliveries(&[event(1)], &[new(1, "https://ok.example/"), bad])
        .await;
    assert!(refused.is_err());
    assert_eq!(all(&w).await, vec![]);
    let events = a
        .audit_events(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(events, vec![]);
}

/// A due delivery is claimed once; a claimed one is claimed again only
/// after its lease ended; a delivery not yet due is not claimed.
pub async fn claims_are_leases((a, w): Pair) {
    a.append_audit_events_with_deliveries(&[event(10)], &[new(10, "https://a.example/")])
        .await
        .expect("append");
    assert_eq!(claim(&w, 5, 30).await, Vec::<i64>::new(), "not due yet");
    let first = claim(&w, 20, 30).await;
    assert_eq!(first.len(), 1);
    assert_eq!(claim(&w, 21, 30).await, Vec::<i64>::new(), "claimed");
    assert_eq!(
        claim(&w, 50, 30).await,
        Vec::<i64>::new(),
        "lease still running"
    );
    assert_eq!(claim(&w, 51, 30).await, first, "lease ended");
    assert!(w.delivery_done(first[0]).await.expect("done"));
    assert!(!w.delivery_done(first[0]).await.expect("done twice"));
    assert_eq!(all(&w).await, vec![]);
    assert_eq!(claim(&w, 100, 30).await, Vec::<i64>::new());
}

/// Concurrent claimers share the due rows: none is claimed twice.
pub async fn concurrent_claims_never_overlap((a, w): Pair) {
    let news: Vec<_> = (0..24).map(|i| new(i, "https://a.example/")).collect();
    a.append_audit_events_with_deliveries(&[], &news)
        .await
        .expect("append");
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let w = w.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = w
                        .claim_deliveries(at(100), at(200), 3)
                        .await
                        .expect("claim");
                    if got.is_empty() {
                        return mine;
                    }
                    mine.extend(got.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let mut seen = Vec::new();
    for t in tasks {
        seen.extend(t.await.expect("task"));
    }
    let distinct: BTreeSet<_> = seen.iter().copied().collect();
    assert_eq!(seen.len(), 24, "every row claimed once: {seen:?}");
    assert_eq!(distinct.len(), 24);
}

/// A failure is counted, releases the claim and sets the next attempt;
/// parking takes a row out of the claims until it is retried.
pub async fn failures_reschedule_then_park((a, w): Pair) {
    a.append_audit_events_with_deliveries(
        &[],
        &[new(1, "https://a.example/"), new(2, "https://b.example/")],
    )
    .await
    .expect("append");
    let ids = claim(&w, 10, 60).await;
    assert_eq!(ids.len(), 2);
    let (x, y) = (ids[0], ids[1]);
    assert!(
        w.delivery_failed(x, "HTTP 500", Some(at(40)))
            .await
            .expect("fail")
    );
    assert!(w.delivery_failed(y, "timed out", None).await.expect("park"));
    assert!(
        !w.delivery_failed(y + 1000, "gone", None)
            .await
            .expect("missing")
    );
    assert_eq!(
        claim(&w, 39, 60).await,
        Vec::<i64>::new(),
        "rescheduled, parked"
    );
    let listed = all(&w).await;
    assert_eq!(listed[0].attempts, 1);
    assert_eq!(listed[0].next_attempt, at(40));
    assert_eq!(listed[0].last_error.as_deref(), Some("HTTP 500"));
    assert!(!listed[0].parked);
    assert!(listed[1].parked);
    let parked = w.deliveries(true, 10).await.expect("parked");
    assert_eq!(parked.iter().map(|d| d.id).collect::<Vec<_>>(), vec![y]);
    assert_eq!(
        claim(&w, 40, 60).await,
        vec![x],
        "due again, claim released"
    );
    w.delivery_failed(x, "HTTP 503", Some(at(5000)))
        .await
        .expect("fail");
    assert_eq!(
        claim(&w, 1000, 60).await,
        Vec::<i64>::new(),
        "parked stays parked"
    );
    assert_eq!(
        w.retry_parked(Some(x), at(1000)).await.expect("retry"),
        0,
        "not parked"
    );
    assert_eq!(w.retry_parked(Some(y), at(1000)).await.expect("retry"), 1);
    let again = all(&w).await;
    assert_eq!((again[1].parked, again[1].attempts), (false, 0));
    assert_eq!(claim(&w, 1000, 60).await, vec![y]);
    w.delivery_failed(y, "closed", None).await.expect("park");
    w.delivery_failed(x, "closed", None).await.expect("park");
    assert_eq!(w.retry_parked(None, at(2000)).await.expect("retry all"), 2);
    assert_eq!(w.deliveries(true, 10).await.expect("parked"), vec![]);
    let mut due = claim(&w, 2000, 60).await;
    due.sort_unstable();
    assert_eq!(due, vec![x, y]);
}
