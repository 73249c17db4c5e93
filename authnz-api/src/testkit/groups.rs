//! The [`GroupStore`](crate::GroupStore) contract: groups, memberships and
//! owners, and their clean-up when a group or a user is deleted.
//!
//! A harness offers the store through [`Harness::groups`](super::Harness::groups);
//! [`group_store_tests!`](crate::group_store_tests) runs these tests on it.

use std::sync::Arc;

use super::Stores;
use super::fixtures::{assert_invalid_reference, at, create, plus_micros, seed, t0};
use crate::error::StoreError;
use crate::groups::{GroupMember, GroupStore, NewGroup};
use crate::types::{SUPERUSER_ID, UserId};

fn new_group(name: &str, created_by: UserId) -> NewGroup {
    NewGroup {
        system_id: format!("00000000-0000-4000-8000-{:0>12}", name.len()),
        group_name: name.to_owned(),
        created_by,
        group_role: "staff".to_owned(),
    }
}

fn member(user_id: UserId, is_owner: bool) -> GroupMember {
    GroupMember { user_id, is_owner }
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::NotFound) => {}
        other => panic!("{what}: expected StoreError::NotFound, got {other:?}"),
    }
}

/// A group round-trips (name, creator, role, times to the microsecond); a
/// fresh store lists none.
pub async fn create_and_read_group(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    assert!(g.list_groups().await.expect("list").is_empty());
    let now = plus_micros(at(7), 123_457);
    let name = "Astronomers – ünïcode ✓";
    let made = g
        .create_group(&new_group(name, SUPERUSER_ID), now)
        .await
        .expect("create");
    assert_eq!(made.group_name, name);
    assert_eq!(made.created_by, SUPERUSER_ID);
    assert_eq!(made.group_role, "staff");
    assert_eq!((made.created_on, made.last_updated), (now, now));
    assert_eq!(
        g.group_by_id(made.group_id).await.expect("by id"),
        Some(made.clone())
    );
    let second = g
        .create_group(&new_group("second", SUPERUSER_ID), now)
        .await
        .expect("create second");
    assert_ne!(second.group_id, made.group_id);
    let ids: Vec<_> = g
        .list_groups()
        .await
        .expect("list")
        .iter()
        .map(|x| x.group_id)
        .collect();
    let mut sorted = vec![made.group_id, second.group_id];
    sorted.sort_unstable();
    assert_eq!(ids, sorted);
    assert_eq!(g.group_by_id(i64::MAX).await.expect("missing"), None);
}

/// A group whose creator or role does not exist is refused.
pub async fn create_group_checks_references(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    assert_invalid_reference(
        g.create_group(&new_group("ghost", 9_999), t0()).await,
        "unknown creator",
    );
    let mut bad_role = new_group("bad role", SUPERUSER_ID);
    bad_role.group_role = "no-such-role".to_owned();
    assert_invalid_reference(g.create_group(&bad_role, t0()).await, "unknown role");
    assert!(g.list_groups().await.expect("list").is_empty());
}

/// Members are added, listed by user id with their owner flag, re-added
/// with a new flag, and removed; the group's `last_updated` follows.
pub async fn members_added_listed_and_removed(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "grp-a", t0()).await;
    let b = create(&s, "grp-b", t0()).await;
    let group = g
        .create_group(&new_group("team", SUPERUSER_ID), t0())
        .await
        .expect("create");
    let id = group.group_id;
    assert!(g.group_members(id).await.expect("members").is_empty());
    assert!(
        g.add_group_member(id, b, false, at(1))
            .await
            .expect("add b")
    );
    assert!(g.add_group_member(id, a, true, at(2)).await.expect("add a"));
    assert_eq!(
        g.group_members(id).await.expect("members"),
        vec![member(a, true), member(b, false)]
    );
    assert_eq!(
        g.group_by_id(id)
            .await
            .expect("by id")
            .expect("group")
            .last_updated,
        at(2)
    );
    // Again: not new, and the flag is what was asked.
    assert!(
        !g.add_group_member(id, b, true, at(3))
            .await
            .expect("re-add b")
    );
    assert!(
        !g.add_group_member(id, a, false, at(3))
            .await
            .expect("re-add a")
    );
    assert_eq!(
        g.group_members(id).await.expect("members"),
        vec![member(a, false), member(b, true)]
    );
    let of_b = g.user_memberships(b).await.expect("memberships");
    assert_eq!(of_b.len(), 1);
    assert_eq!(of_b[0].group, g.group_by_id(id).await.unwrap().unwrap());
    assert!(of_b[0].is_owner);
    assert_eq!(
        g.remove_group_member(id, b, at(4)).await.expect("remove"),
        1
    );
    assert_eq!(g.remove_group_member(id, b, at(5)).await.expect("again"), 0);
    assert_eq!(
        g.group_by_id(id)
            .await
            .expect("by id")
            .expect("group")
            .last_updated,
        at(4)
    );
    assert_eq!(
        g.group_members(id).await.expect("members"),
        vec![member(a, false)]
    );
    assert!(g.user_memberships(b).await.expect("memberships").is_empty());
    assert!(
        g.user_memberships(9_999)
            .await
            .expect("no such user")
            .is_empty()
    );
}

/// A user's memberships list every group they are in, by group id.
pub async fn memberships_of_a_user(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "mem-a", t0()).await;
    let mut ids = Vec::new();
    for (name, owner) in [("one", false), ("two", true), ("three", false)] {
        let group = g
            .create_group(&new_group(name, SUPERUSER_ID), t0())
            .await
            .expect("create");
        if name != "three" {
            g.add_group_member(group.group_id, a, owner, t0())
                .await
                .expect("add");
        }
        ids.push(group.group_id);
    }
    let got: Vec<_> = g
        .user_memberships(a)
        .await
        .expect("memberships")
        .into_iter()
        .map(|m| (m.group.group_id, m.is_owner))
        .collect();
    assert_eq!(got, vec![(ids[0], false), (ids[1], true)]);
}

/// Adding to a missing group, or a missing user, is `NotFound` and writes
/// nothing.
pub async fn add_member_checks_references(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "ref-a", t0()).await;
    let group = g
        .create_group(&new_group("refs", SUPERUSER_ID), t0())
        .await
        .expect("create");
    assert_not_found(
        g.add_group_member(i64::MAX, a, false, t0()).await,
        "unknown group",
    );
    assert_not_found(
        g.add_group_member(group.group_id, 9_999, true, t0()).await,
        "unknown user",
    );
    assert!(
        g.group_members(group.group_id)
            .await
            .expect("members")
            .is_empty()
    );
    assert!(g.user_memberships(a).await.expect("memberships").is_empty());
}

/// Deleting a group deletes its memberships, and only its own.
pub async fn delete_group_removes_memberships(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "del-a", t0()).await;
    let gone = g
        .create_group(&new_group("gone", SUPERUSER_ID), t0())
        .await
        .expect("create");
    let kept = g
        .create_group(&new_group("kept", SUPERUSER_ID), t0())
        .await
        .expect("create");
    for id in [gone.group_id, kept.group_id] {
        g.add_group_member(id, a, true, t0()).await.expect("add");
    }
    assert_eq!(g.delete_group(gone.group_id).await.expect("delete"), 1);
    assert_eq!(g.delete_group(gone.group_id).await.expect("again"), 0);
    assert_eq!(g.group_by_id(gone.group_id).await.expect("by id"), None);
    assert!(
        g.group_members(gone.group_id)
            .await
            .expect("members")
            .is_empty()
    );
    let left: Vec<_> = g
        .user_memberships(a)
        .await
        .expect("memberships")
        .into_iter()
        .map(|m| m.group.group_id)
        .collect();
    assert_eq!(left, vec![kept.group_id]);
}

/// Deleting a user ends their memberships; the groups they created stay,
/// passed to the lowest remaining user id.
pub async fn delete_user_removes_memberships(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "usr-a", t0()).await;
    let b = create(&s, "usr-b", t0()).await;
    let made_by_a = g
        .create_group(&new_group("a's", a), t0())
        .await
        .expect("create");
    let other = g
        .create_group(&new_group("other", SUPERUSER_ID), t0())
        .await
        .expect("create");
    for id in [made_by_a.group_id, other.group_id] {
        g.add_group_member(id, a, true, t0()).await.expect("add a");
        g.add_group_member(id, b, false, t0()).await.expect("add b");
    }
    assert_eq!(s.users.delete_user(a).await.expect("delete user"), 1);
    assert!(g.user_memberships(a).await.expect("memberships").is_empty());
    for id in [made_by_a.group_id, other.group_id] {
        assert_eq!(
            g.group_members(id).await.expect("members"),
            vec![member(b, false)]
        );
    }
    let kept = g
        .group_by_id(made_by_a.group_id)
        .await
        .expect("by id")
        .expect("the group stays");
    assert_eq!(kept.created_by, SUPERUSER_ID);
    // The last user's groups go with them.
    for id in [b, 3, 2] {
        s.users.delete_user(id).await.expect("delete");
    }
    assert_eq!(s.users.delete_user(SUPERUSER_ID).await.expect("last"), 1);
    assert!(g.list_groups().await.expect("list").is_empty());
}

/// The same membership added concurrently: exactly one call reports a new
/// membership, the others succeed as updates or report a conflict, and one
/// membership is left.
pub async fn concurrent_adds_make_one_membership(s: Stores, g: Arc<dyn GroupStore>) {
    seed(&s).await;
    let a = create(&s, "race-a", t0()).await;
    let group = g
        .create_group(&new_group("race", SUPERUSER_ID), t0())
        .await
        .expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let g = g.clone();
            tokio::spawn(async move {
                g.add_group_member(group.group_id, a, i % 2 == 0, at(i))
                    .await
            })
        })
        .collect();
    let mut added = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(true) => added += 1,
            Ok(false) | Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("concurrent add: {e:?}"),
        }
    }
    assert_eq!(added, 1, "adds that reported a new membership");
    let members = g.group_members(group.group_id).await.expect("members");
    assert_eq!(members.len(), 1, "{members:?}");
    assert_eq!(members[0].user_id, a);
}
