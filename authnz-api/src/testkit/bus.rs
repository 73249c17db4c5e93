//! The [`InvalidationBus`] contract, for every implementation (Redis
//! pub/sub, PostgreSQL `LISTEN`/`NOTIFY`).
//!
//! A backend provides `async fn(&'static str) -> Option<Box<dyn BusHarness>>`
//! returning a bus on a channel no other test uses (or `None` to skip) and
//! instantiates [`bus_tests!`](crate::bus_tests). What the server's cache
//! coherence relies on is checked here: `Subscribed` once the subscription
//! is in place, every later message delivered, one order for every
//! subscriber, and `listen` returning when its connection is cut from the
//! service side.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::bus::{BusEvent, InvalidationBus};
use crate::error::StoreError;

/// One bus under test and the means to break it.
#[async_trait]
pub trait BusHarness: Send + Sync {
    /// The bus (every call returns a handle on the same channel).
    fn bus(&self) -> Arc<dyn InvalidationBus>;
    /// Cut every subscription of this bus from the service's side (kill
    /// the subscribing connections), as a network failure or an operator
    /// would.
    async fn cut_subscriptions(&self);
    /// Remove whatever the test made.
    async fn teardown(&self);
}

/// What one listener saw.
#[derive(Debug, Default)]
struct Seen {
    subscribed: usize,
    messages: Vec<String>,
    ended: Option<String>,
}

/// A listener running in a task.
struct Listener {
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Listener {
    fn start(bus: Arc<dyn InvalidationBus>) -> Listener {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let s = seen.clone();
        let task = tokio::spawn(async move {
            let record = |e: BusEvent<'_>| {
                let mut s = s.lock().unwrap();
                match e {
                    BusEvent::Subscribed => s.subscribed += 1,
                    BusEvent::Message(m) => s.messages.push(m.to_owned()),
                }
            };
            let why: StoreError = bus.listen(&record).await;
            s.lock().unwrap().ended = Some(why.to_string());
        });
        Listener { seen, task }
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }

    async fn until(&self, what: &str, cond: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.with(&cond) {
            assert!(
                Instant::now() < deadline,
                "never happened: {what} (seen: {:?})",
                self.with(|s| (s.subscribed, s.messages.len(), s.ended.clone()))
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    async fn subscribed(&self) {
        self.until("Subscribed", |s| s.subscribed >= 1).await;
    }
}

/// `Subscribed` comes once; every message published after it arrives, in
/// publishing order, exactly as sent (the publisher's own listener
/// included).
pub async fn subscribed_then_every_message_in_order(h: &dyn BusHarness) {
    let bus = h.bus();
    let l = Listener::start(h.bus());
    l.subscribed().await;
    let sent: Vec<String> = (0..200).map(|i| format!("m {i} ünïcode ✓")).collect();
    for m in &sent {
        bus.publish(m).await.expect("publish");
    }
    l.until("all 200 messages", |s| s.messages.len() >= sent.len())
        .await;
    l.with(|s| {
        assert_eq!(s.messages, sent, "messages lost, changed or reordered");
        assert_eq!(s.subscribed, 1, "Subscribed must come once");
        assert!(s.ended.is_none(), "listen ended: {:?}", s.ended);
    });
}

/// Two publishers at once, two subscribers: both subscribers get every
/// message, in one and the same order, and each publisher's messages in
/// the order it sent them.
pub async fn one_order_for_every_subscriber(h: &dyn BusHarness) {
    let l1 = Listener::start(h.bus());
    let l2 = Listener::start(h.bus());
    l1.subscribed().await;
    l2.subscribed().await;
    const EACH: usize = 100;
    let publishers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|who| {
            let bus = h.bus();
            tokio::spawn(async move {
                for i in 0..EACH {
                    bus.publish(&format!("{who} {i}")).await.expect("publish");
                }
            })
        })
        .collect();
    for p in publishers {
        p.await.expect("publisher");
    }
    l1.until("every message on 1", |s| s.messages.len() >= 2 * EACH)
        .await;
    l2.until("every message on 2", |s| s.messages.len() >= 2 * EACH)
        .await;
    let m1 = l1.with(|s| s.messages.clone());
    let m2 = l2.with(|s| s.messages.clone());
    assert_eq!(m1.len(), 2 * EACH, "duplicates on subscriber 1");
    assert_eq!(m1, m2, "the two subscribers saw different orders");
    for who in ["a", "b"] {
        let mine: Vec<String> = m1
            .iter()
            .filter(|m| m.starts_with(&format!("{who} ")))
            .cloned()
            .collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("{who} {i}")).collect();
        assert_eq!(mine, sent, "publisher {who}'s messages out of order");
    }
}

/// A subscription cut from the service side ends `listen` (with an error,
/// never silently on); a new `listen` subscribes again and gets what is
/// published after it.
pub async fn listen_returns_when_its_connection_is_cut(h: &dyn BusHarness) {
    let bus = h.bus();
    let l = Listener::start(h.bus());
    l.subscribed().await;
    bus.publish("before").await.expect("publish");
    l.until("the first message", |s| s.messages.len() == 1)
        .await;
    let cut = Instant::now();
    h.cut_subscriptions().await;
    l.until("listen returned after the cut", |s| s.ended.is_some())
        .await;
    eprintln!("listen returned {:?} after the cut", cut.elapsed());
    let again = Listener::start(h.bus());
    again.subscribed().await;
    bus.publish("after").await.expect("publish after the cut");
    again
        .until("a message after subscribing again", |s| {
            s.messages.iter().any(|m| m == "after")
        })
        .await;
    assert_eq!(
        l.with(|s| s.messages.clone()),
        vec!["before".to_owned()],
        "the ended subscription got messages after it ended"
    );
}

/// Messages published while nobody listens are not an error; a listener
/// that subscribes later gets only what follows its `Subscribed`.
pub async fn publish_without_subscribers(h: &dyn BusHarness) {
    let bus = h.bus();
    bus.publish("nobody hears this").await.expect("publish");
    let l = Listener::start(h.bus());
    l.subscribed().await;
    bus.publish("heard").await.expect("publish");
    l.until("the message", |s| !s.messages.is_empty()).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(l.with(|s| s.messages.clone()), vec!["heard".to_owned()]);
}

/// The [`InvalidationBus`] contract as a module `bus` of
/// `#[tokio::test]`s.
#[macro_export]
macro_rules! bus_tests {
    ($make:path) => {
        mod bus {
            #[allow(unused_imports)]
            use super::*;

            $crate::__bus_test!($make, subscribed_then_every_message_in_order);
            $crate::__bus_test!($make, one_order_for_every_subscriber);
            $crate::__bus_test!($make, listen_returns_when_its_connection_is_cut);
            $crate::__bus_test!($make, publish_without_subscribers);
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bus_test {
    ($make:path, $test:ident) => {
        #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let name = concat!(module_path!(), "::", stringify!($test));
            let Some(h) = $make(name).await else {
                return;
            };
            let h: ::std::sync::Arc<dyn $crate::testkit::bus::BusHarness> = h.into();
            let body = {
                let h = h.clone();
                ::tokio::spawn(async move { $crate::testkit::bus::$test(h.as_ref()).await })
            };
            let result = body.await;
            h.teardown().await;
            if let Err(e) = result {
                ::std::panic::resume_unwind(e.into_panic());
            }
        }
    };
}
