//! A bounded map from key to deadline, the state of the in-process rate
//! limiter (key -> TAT) and replay guard (id -> until): both forget a key
//! once its deadline has passed, and when full drop the key whose deadline
//! comes soonest (among equal deadlines, the one stored first).

use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Default)]
pub(crate) struct ExpiringKeys {
    /// key -> (deadline in microseconds since the epoch, insertion number).
    by_key: HashMap<String, (i64, u64)>,
    /// (deadline, insertion number) -> key: soonest first.
    by_deadline: BTreeMap<(i64, u64), String>,
    next_seq: u64,
}

impl ExpiringKeys {
    /// The deadline of `key`, if held (it may have passed).
    pub(crate) fn get(&self, key: &str) -> Option<i64> {
        self.by_key.get(key).map(|(d, _)| *d)
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Forget `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(old) = self.by_key.remove(key) {
            self.by_deadline.remove(&old);
        }
    }

    /// Set the deadline of `key`. A new key in a map holding `capacity`
    /// keys first makes room by dropping the soonest deadlines.
    pub(crate) fn set(&mut self, key: &str, deadline: i64, capacity: usize) {
        if self.by_key.contains_key(key) {
            self.remove(key);
        } else {
            while self.by_key.len() >= capacity.max(1) {
                self.remove_first();
            }
        }
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.by_key.insert(key.to_owned(), (deadline, seq));
        self.by_deadline.insert((deadline, seq), key.to_owned());
    }

    /// Drop up to `at_most` keys whose deadline is `<= now`.
    pub(crate) fn expire(&mut self, now: i64, at_most: usize) {
        for _ in 0..at_most {
            match self.by_deadline.first_key_value() {
                Some(((deadline, _), _)) if *deadline <= now => self.remove_first(),
                _ => break,
            }
        }
    }

    fn remove_first(&mut self) {
        if let Some((_, key)) = self.by_deadline.pop_first() {
            self.by_key.remove(&key);
        }
    }
}
