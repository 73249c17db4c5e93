//! The [`AuditStore`](crate::AuditStore) contract: the append-only audit
//! log.
//!
//! A harness offers the store through [`Harness::audit`](super::Harness::audit);
//! [`audit_store_tests!`](crate::audit_store_tests) runs these tests on it.

use std::sync::Arc;

use super::fixtures::{at, plus_micros};
use crate::audit::{AuditEvent, AuditEventType, AuditOutcome, AuditQuery, AuditRecord, AuditStore};

fn event(secs: i64, kind: AuditEventType, subject: Option<i64>) -> AuditEvent {
    AuditEvent {
        time: at(secs),
        event: kind,
        outcome: AuditOutcome::Ok,
        actor_user_id: None,
        subject_user_id: subject,
        client_address: None,
        request_id: None,
        reason: None,
    }
}

fn all(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

async fn list(s: &Arc<dyn AuditStore>, q: &AuditQuery) -> Vec<AuditRecord> {
    s.audit_events(q).await.expect("audit_events")
}

fn times(records: &[AuditRecord]) -> Vec<i64> {
    records
        .iter()
        .map(|r| (r.time - at(0)).num_seconds())
        .collect()
}

/// A fresh store lists no events.
pub async fn fresh_log_is_empty(s: Arc<dyn AuditStore>) {
    assert_eq!(list(&s, &all(10)).await, vec![]);
    s.append_audit_events(&[]).await.expect("empty append");
    assert_eq!(list(&s, &all(10)).await, vec![]);
}

/// Every field round-trips, the time to the microsecond; absent fields
/// stay absent.
pub async fn event_round_trips(s: Arc<dyn AuditStore>) {
    let full = AuditEvent {
        time: plus_micros(at(5), 123_457),
        event: AuditEventType::LoginFailed,
        outcome: AuditOutcome::Failed,
        actor_user_id: Some(7),
        subject_user_id: Some(9),
        client_address: Some("203.0.113.0".into()),
        request_id: Some("r".repeat(crate::AUDIT_TEXT_MAX)),
        reason: Some("wrong-password".into()),
    };
    let bare = event(6, AuditEventType::Logout, None);
    s.append_audit_events(&[full.clone(), bare.clone()])
        .await
        .expect("append");
    let got = list(&s, &all(10)).await;
    assert_eq!(got.len(), 2);
    assert!(got[0].id > got[1].id, "newest first: {got:?}");
    let r = &got[1];
    assert_eq!(r.time, full.time);
    assert_eq!(r.event, "login.failed");
    assert_eq!(r.outcome, "failed");
    assert_eq!(r.actor_user_id, Some(7));
    assert_eq!(r.subject_user_id, Some(9));
    assert_eq!(r.client_address, full.client_address);
    assert_eq!(r.request_id, full.request_id);
    assert_eq!(r.reason, full.reason);
    let r = &got[0];
    assert_eq!((r.event.as_str(), r.outcome.as_str()), ("logout", "ok"));
    assert_eq!(
        (
            r.actor_user_id,
            r.subject_user_id,
            &r.client_address,
            &r.request_id,
            &r.reason
        ),
        (None, None, &None, &None, &None)
    );
}

/// Ids grow in append order, across batches; the listing is newest first
/// and honours the limit.
pub async fn listed_newest_first_with_limit(s: Arc<dyn AuditStore>) {
    s.append_audit_events(&[
        event(1, AuditEventType::UserSignup, Some(3)),
        event(2, AuditEventType::UserVerified, Some(3)),
    ])
    .await
    .expect("append");
    s.append_audit_events(&[event(3, AuditEventType::LoginSucceeded, Some(3))])
        .await
        .expect("append");
    assert_eq!(times(&list(&s, &all(10)).await), [3, 2, 1]);
    assert_eq!(times(&list(&s, &all(2)).await), [3, 2]);
}

/// Each filter narrows the listing; `since` is inclusive, `until` exclusive.
pub async fn filters_match(s: Arc<dyn AuditStore>) {
    s.append_audit_events(&[
        event(1, AuditEventType::LoginFailed, Some(3)),
        event(2, AuditEventType::LoginFailed, Some(4)),
        event(3, AuditEventType::LoginSucceeded, Some(3)),
        event(4, AuditEventType::Logout, Some(3)),
        event(5, AuditEventType::LoginFailed, None),
    ])
    .await
    .expect("append");
    let q = |f: &dyn Fn(&mut AuditQuery)| {
        let mut q = all(100);
        f(&mut q);
        q
    };
    let by_user = q(&|q| q.subject_user_id = Some(3));
    assert_eq!(times(&list(&s, &by_user).await), [4, 3, 1]);
    let by_event = q(&|q| q.event = Some("login.failed".into()));
    assert_eq!(times(&list(&s, &by_event).await), [5, 2, 1]);
    let both = q(&|q| {
        q.subject_user_id = Some(3);
        q.event = Some("login.failed".into());
    });
    assert_eq!(times(&list(&s, &both).await), [1]);
    let window = q(&|q| {
        q.since = Some(at(2));
        q.until = Some(at(4));
    });
    assert_eq!(times(&list(&s, &window).await), [3, 2]);
    let nothing = q(&|q| q.event = Some("no.such.event".into()));
    assert_eq!(list(&s, &nothing).await, vec![]);
}

/// Paging by `before_id` visits every event once, also when events are
/// appended between two pages (they are newer than every page).
pub async fn keyset_pages_are_stable(s: Arc<dyn AuditStore>) {
    let batch: Vec<_> = (1..=5)
        .map(|i| event(i, AuditEventType::LoginFailed, Some(3)))
        .collect();
    s.append_audit_events(&batch).await.expect("append");
    let mut q = AuditQuery {
        subject_user_id: Some(3),
        limit: 2,
        ..AuditQuery::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = list(&s, &q).await;
        seen.extend(times(&page));
        // A concurrent writer: newer events must not show up in later pages.
        s.append_audit_events(&[event(100, AuditEventType::LoginFailed, Some(3))])
            .await
            .expect("append");
        match page.last() {
            Some(last) if page.len() == 2 => q.before_id = Some(last.id),
            _ => break,
        }
    }
    assert_eq!(seen, [5, 4, 3, 2, 1]);
}

/// `delete_audit_events_before` removes exactly the older events, across
/// several batches, and says how many.
pub async fn retention_deletes_older_events(s: Arc<dyn AuditStore>) {
    let old: Vec<_> = (0..2_100)
        .map(|i| AuditEvent {
            time: plus_micros(at(0), i),
            ..event(0, AuditEventType::LoginFailed, Some(3))
        })
        .collect();
    s.append_audit_events(&old).await.expect("append old");
    s.append_audit_events(&[
        event(10, AuditEventType::Logout, Some(3)),
        event(11, AuditEventType::Logout, Some(4)),
    ])
    .await
    .expect("append new");
    assert_eq!(
        s.delete_audit_events_before(at(10)).await.expect("delete"),
        2_100
    );
    assert_eq!(times(&list(&s, &all(10_000)).await), [11, 10]);
    assert_eq!(
        s.delete_audit_events_before(at(10)).await.expect("again"),
        0
    );
}
