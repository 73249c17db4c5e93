//! The account-lifecycle requests over the real protocol, on SQLite and
//! PostgreSQL: password change and reset, validation, delete, edit, lock,
//! lookup by column, and the internal actions; each with its documented
//! failures and the stored state afterwards.

use std::sync::Arc;

use crate::common::{ADMIN_EMAIL, Backend, TestDb, TestServer, alive, login, with_server};
use authnz_api::ManualClock;
use chrono::TimeDelta;
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";
const NEW_PASSWORD: &str = "Marmot-Lantern-Quiver-58";

fn fails(env: &Value, reason: &str, messages: Value) {
    assert_eq!(env["success"], json!(false), "{env}");
    assert_eq!(env["failure_reason"], json!(reason), "{env}");
    assert_eq!(env["messages"], messages, "{env}");
}

async fn changepass(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let email = "cp@example.org";
        let uid = s.verified_user(email, PASSWORD).await;
        let (a, b, c) = (s.new_session(json!(uid)).await, s.new_session(json!(uid)).await, s.new_session(json!(uid)).await);
        let body = |current: &str, new: &str, email: &str| {
            json!({"user_id": uid, "session_token": a, "full_name": "Test Person", "email": email,
                   "current_password": current, "new_password": new})
        };
        let mismatch = json!(["Your current password did not match the stored password."]);
        let env = s.call("user-changepass", body("wrong-password-1", NEW_PASSWORD, email)).await;
        fails(&env, "user password does not match", mismatch.clone());
        assert_eq!(env["response"]["user_id"], json!(uid));
        assert_eq!(env["response"]["email"], json!(email));
        let env = s.call("user-changepass", body(PASSWORD, NEW_PASSWORD, "CP@example.org")).await;
        fails(&env, "user does not exist", mismatch);
        let env = s.call("user-changepass", body(PASSWORD, PASSWORD, email)).await;
        fails(&env, "password did not change", json!(["Your new password cannot be the same as your old password."]));
        let env = s.call("user-changepass", body(PASSWORD, "Qz9!kT", email)).await;
        fails(
            &env,
            "new password is insecure",
            json!([
                "Your password is too short. It must have at least 12 characters.",
                "The new password you entered is insecure. It must be at least 12 characters long and be sufficiently complex."
            ]),
        );
        // Nothing changed so far.
        assert!(alive(&s, &b).await);
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(true));

        let env = s.call("user-changepass", body(PASSWORD, NEW_PASSWORD, email)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            env["messages"],
            json!(["Password changed successfully.", "For security purposes, you have been logged out of all other sessions."])
        );
        assert_eq!(env["response"]["user_id"], json!(uid));
        assert!(alive(&s, &a).await, "the presented session survives");
        assert!(!alive(&s, &b).await && !alive(&s, &c).await, "other sessions are gone");
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(false));
        assert_eq!(login(&s, email, NEW_PASSWORD).await["success"], json!(true));

        // The no-session variant leaves sessions alone.
        let d = s.new_session(json!(uid)).await;
        let env = s
            .call(
                "user-changepass-nosession",
                json!({"user_id": uid, "full_name": "Test Person", "email": email,
                       "current_password": NEW_PASSWORD, "new_password": PASSWORD}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["Password changed successfully."]));
        assert!(alive(&s, &a).await && alive(&s, &d).await);
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(true));
        // Schema: session_token is not part of the no-session schema, user_id is.
        let env = s
            .call("user-changepass-nosession", json!({"full_name": "x", "email": email, "current_password": "a", "new_password": "b"}))
            .await;
        assert_eq!(env["response"]["response"]["problems"][0]["param"], json!("user_id"));
        s
    })
    .await;
}

async fn resetpass(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let email = "rp@example.org";
        let uid = s.verified_user(email, PASSWORD).await;
        s.call("user-new", json!({"full_name": "Unverified", "email": "unv@example.org", "password": PASSWORD})).await;
        let anon = s.new_session(Value::Null).await;
        let mine = s.new_session(json!(uid)).await;
        let body = |token: &str, email: &str, pw: &str| json!({"email_address": email, "new_password": pw, "session_token": token});

        let env = s.call("user-resetpass", body("no-such-session", email, NEW_PASSWORD)).await;
        fails(&env, "session does not exist", json!(["Invalid session token for password reset request."]));
        let env = s.call("user-resetpass", body(&anon, "nobody@example.org", NEW_PASSWORD)).await;
        fails(&env, "user does not exist", json!(["Invalid user for password reset request."]));
        let env = s.call("user-resetpass", body(&anon, "unv@example.org", NEW_PASSWORD)).await;
        fails(&env, "user does not exist", json!(["Invalid user for password reset request."]));
        let env = s.call("user-resetpass", body(&anon, email, "12345678901234")).await;
        assert_eq!(env["failure_reason"], json!("invalid password"));
        assert_eq!(env["messages"][0], json!("Insecure password for password reset request."));
        assert_eq!(env["messages"][1], json!("Your password cannot be all numbers."));
        assert!(alive(&s, &mine).await);

        let env = s.call("user-resetpass", body(&anon, email, NEW_PASSWORD)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["Password changed successfully."]));
        // Deliberate difference from upstream: every session of the user ends.
        assert!(!alive(&s, &mine).await);
        assert!(alive(&s, &anon).await, "another user's session is untouched");
        assert_eq!(login(&s, email, NEW_PASSWORD).await["success"], json!(true));
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(false));

        // No-session variant: is_active must be as required.
        let mine = s.new_session(json!(uid)).await;
        let nb = |email: &str, pw: &str, active: bool| json!({"email_address": email, "new_password": pw, "required_active": active});
        let env = s.call("user-resetpass-nosession", nb(email, PASSWORD, false)).await;
        fails(&env, "user does not exist or is_active was not as required", json!(["Invalid user for password reset request."]));
        let env = s.call("user-resetpass-nosession", nb(email, "short", true)).await;
        assert_eq!(env["failure_reason"], json!("invalid new password"));
        assert_eq!(env["messages"][0], json!("Insecure new password for password reset request."));
        let env = s.call("user-resetpass-nosession", nb(email, PASSWORD, true)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert!(!alive(&s, &mine).await);
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(true));
        // An inactive (unverified) account, when asked for.
        let env = s.call("user-resetpass-nosession", nb("unv@example.org", NEW_PASSWORD, false)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = s.call("user-passcheck-nosession", json!({"email": "unv@example.org", "password": NEW_PASSWORD})).await;
        assert_eq!(env["failure_reason"], json!("user exists but is inactive"), "new password verifies: {env}");
        s
    })
    .await;
}

async fn validatepass(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let ok = json!({"password": PASSWORD, "email": "v@example.org", "full_name": "Val"});
        let env = s.call("user-validatepass", ok.clone()).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!([]));
        let env = s
            .call("user-validatepass", json!({"password": "aaaaaaaaaaaaaaa", "email": "v@example.org", "full_name": "Val"}))
            .await;
        assert_eq!(env["failure_reason"], json!("password is insecure or invalid"));
        assert_eq!(
            env["messages"],
            json!(["Your password is not complex enough. One or more characters appear appear too frequently."])
        );
        // Request policy values are overridden by the server's policy.
        let mut body = ok.clone();
        body["min_pass_length"] = json!(100);
        body["max_character_frequency"] = json!(0.01);
        assert_eq!(s.call("user-validatepass", body).await["success"], json!(true));
        // `float` rejects an integer, but a falsy 0 is not checked.
        let mut body = ok.clone();
        body["max_character_frequency"] = json!(1);
        let env = s.call("user-validatepass", body).await;
        assert_eq!(
            env["response"]["response"]["problems"],
            json!([{"param": "max_character_frequency", "problem": "incorrect type", "required_type": "float", "required_param": false}])
        );
        let mut body = ok;
        body["max_character_frequency"] = json!(0);
        assert_eq!(s.call("user-validatepass", body).await["success"], json!(true));
        s
    })
    .await;
}

async fn delete(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let email = "del@example.org";
        let uid = s.verified_user(email, PASSWORD).await;
        let token = s.new_session(json!(uid)).await;
        let body =
            |email: &str, id: i64, pw: &str| json!({"email": email, "user_id": id, "password": pw});
        let msg = json!(["We could not verify your email address or password."]);
        let env = s
            .call("user-delete", body("other@example.org", uid, PASSWORD))
            .await;
        fails(&env, "invalid email", msg.clone());
        assert_eq!(env["response"]["user_id"], json!(uid));
        assert_eq!(env["response"]["email"], json!("other@example.org"));
        let env = s
            .call("user-delete", body(email, uid, "wrong-password-1"))
            .await;
        fails(&env, "invalid password", msg);
        let env = s
            .call(
                "user-delete",
                body(ADMIN_EMAIL, 1, crate::common::ADMIN_PASSWORD),
            )
            .await;
        fails(
            &env,
            "can't delete superusers",
            json!(["Can't delete superusers."]),
        );
        assert!(alive(&s, &token).await);

        let env = s.call("user-delete", body(email, uid, PASSWORD)).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(
            env["messages"],
            json!(["User successfully deleted from DB."])
        );
        assert!(
            !alive(&s, &token).await,
            "the deleted user's sessions are gone"
        );
        let env = s.call("user-lookup-email", json!({"email": email})).await;
        assert_eq!(env["failure_reason"], json!("user email not found in DB"));
        assert_eq!(
            login(&s, ADMIN_EMAIL, crate::common::ADMIN_PASSWORD).await["success"],
            json!(true)
        );
        s
    })
    .await;
}

async fn edit(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let uid = s.verified_user("ed@example.org", PASSWORD).await;
        let other = s.verified_user("other@example.org", PASSWORD).await;
        let mine = s.new_session(json!(uid)).await;
        let admin = s.new_session(json!(1)).await;
        let edit = |id: i64, role: &str, token: &str, target: i64, update: Value| {
            json!({"user_id": id, "user_role": role, "session_token": token, "target_userid": target, "update_dict": update})
        };
        let extra = json!(["extra elements in update_dict not allowed"]);

        let env = s.call("user-edit", edit(uid, "authenticated", &mine, 2, json!({"full_name": "x"}))).await;
        fails(&env, "invalid request: can't edit anonymous/locked users", json!(["Editing anonymous/locked user accounts not allowed."]));
        assert_eq!(env["response"]["user_info"], Value::Null);
        let env = s.call("user-edit", edit(uid, "authenticated", &admin, uid, json!({"full_name": "x"}))).await;
        fails(&env, "no valid session found for originating user_id", json!(["User session info not available for this user edit attempt."]));
        let env = s.call("user-edit", edit(uid, "staff", &mine, uid, json!({"full_name": "x"}))).await;
        fails(&env, "no valid session found for originating user_id", json!(["User session info not available for this user edit attempt."]));
        let env = s.call("user-edit", edit(uid, "authenticated", &mine, uid, json!({"full_name": "x", "user_role": "superuser"}))).await;
        fails(&env, "role 'authenticated' can't edit anything other than 'full_name', 'email'", extra.clone());
        let env = s.call("user-edit", edit(uid, "authenticated", &mine, other, json!({"full_name": "x"}))).await;
        fails(&env, "invalid session for edit attempt", json!(["user_id or session info not available for this user edit attempt."]));

        // Self-edit: stored as given, and the new e-mail logs in.
        let env = s
            .call("user-edit", edit(uid, "authenticated", &mine, uid, json!({"full_name": "Ed <i>", "email": "Ed.New@example.org"})))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["User update successful."]));
        assert_eq!(env["response"]["user_info"]["email"], json!("Ed.New@example.org"));
        assert_eq!(env["response"]["user_info"]["full_name"], json!("Ed <i>"));
        assert_eq!(login(&s, "Ed.New@example.org", PASSWORD).await["success"], json!(true));
        assert_eq!(login(&s, "ed@example.org", PASSWORD).await["success"], json!(false));
        let env = s.call("user-edit", edit(uid, "authenticated", &mine, uid, json!({"email": "other@example.org"}))).await;
        fails(&env, "exception when trying to update user", json!(["User update failed."]));

        // Superuser.
        let env = s.call("user-edit", edit(1, "superuser", &mine, other, json!({"is_active": false}))).await;
        fails(&env, "invalid session for edit attempt", json!(["Superuser session info not available for this user edit attempt."]));
        // Python lists every update_dict key in request order (PROTOCOL.md 3.3, Q-19).
        let env = s.call("user-edit", edit(1, "superuser", &admin, other, json!({"user_role": "staff", "extra_info": {}}))).await;
        fails(&env, "role: 'superuser' is not allowed to edit items: '['user_role', 'extra_info']'", extra);
        let env = s.call("user-edit", edit(1, "superuser", &admin, other, json!({"user_role": "emperor"}))).await;
        fails(&env, "role change requested is not valid", json!(["unknown role change request in update_dict"]));
        let env = s.call("user-edit", edit(1, "superuser", &admin, 999, json!({"full_name": "x"}))).await;
        fails(&env, "exception when trying to update user", json!(["User update failed."]));
        let env = s
            .call("user-edit", edit(1, "superuser", &admin, other, json!({"user_role": "staff", "email_verified": true, "full_name": "O"})))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let info = &env["response"]["user_info"];
        assert_eq!((info["user_role"].clone(), info["full_name"].clone()), (json!("staff"), json!("O")));
        let env = login(&s, "other@example.org", PASSWORD).await;
        assert_eq!(env["response"]["user_role"], json!("staff"));
        s
    })
    .await;
}

async fn lock(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let email = "lk@example.org";
        let uid = s.verified_user(email, PASSWORD).await;
        let victim_session = s.new_session(json!(uid)).await;
        let admin = s.new_session(json!(1)).await;
        let body = |id: i64, role: &str, token: &str, target: i64, action: &str| {
            json!({"user_id": id, "user_role": role, "session_token": token, "target_userid": target, "action": action})
        };
        let env = s.call("user-lock", body(uid, "authenticated", &victim_session, 1, "lock")).await;
        fails(&env, "user role is not 'superuser', required to toggle locks", json!(["You don't have lock/unlock privileges."]));
        assert_eq!(env["response"]["user_info"], Value::Null);
        let env = s.call("user-lock", body(1, "superuser", &admin, 1, "lock")).await;
        fails(&env, "can't toggle a lock state on self", json!(["You can't lock/unlock your own user account."]));
        let env = s.call("user-lock", body(1, "superuser", &admin, uid, "freeze")).await;
        fails(&env, "action must be one of 'lock', 'unlock'", json!(["Unknown action requested for toggle_user_lock."]));
        let env = s.call("user-lock", body(1, "superuser", &admin, 3, "unlock")).await;
        fails(&env, "can't toggle lock state for system anonymous/locked accounts", json!(["Editing anonymous/locked user accounts not allowed."]));
        let env = s.call("user-lock", body(1, "superuser", &victim_session, uid, "lock")).await;
        fails(&env, "invalid session for user attempting lock toggle", json!(["Superuser session info not available for this user edit attempt."]));
        assert!(alive(&s, &victim_session).await);

        let env = s.call("user-lock", body(1, "superuser", &admin, uid, "lock")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["User lock toggle successful."]));
        let info = &env["response"]["user_info"];
        assert_eq!((info["user_role"].clone(), info["is_active"].clone()), (json!("locked"), json!(false)));
        // The default `["locked"]`, then the role before the lock.
        assert_eq!(info["extra_info"]["previous_user_roles"], json!(["locked", "authenticated"]));
        assert!(!alive(&s, &victim_session).await, "a locked user loses its sessions");
        let env = login(&s, email, PASSWORD).await;
        assert_eq!(env["failure_reason"], json!("user does not exist or password doesn't match"));
        // Locking again is a successful no-op.
        let env = s.call("user-lock", body(1, "superuser", &admin, uid, "lock")).await;
        assert_eq!(env["response"]["user_info"]["extra_info"]["previous_user_roles"], json!(["locked", "authenticated"]));

        let env = s.call("user-lock", body(1, "superuser", &admin, uid, "unlock")).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["response"]["user_info"]["user_role"], json!("authenticated"));
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(true));
        s
    })
    .await;
}

async fn lookup_match(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let uid = s.verified_user("lm@example.org", PASSWORD).await;
        let lookup = |by: &str, m: Value| json!({"by": by, "match": m});
        let ids = |env: &Value| -> Vec<i64> {
            env["response"]["user_info"].as_array().expect("list").iter().map(|u| u["user_id"].as_i64().expect("id")).collect()
        };
        let env = s.call("user-lookup-match", lookup("email", json!("lm@example.org"))).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(ids(&env), [uid]);
        assert_eq!(env["response"]["user_info"][0].as_object().expect("info").len(), 16);
        assert_eq!(ids(&s.call("user-lookup-match", lookup("user_id", json!(uid))).await), [uid]);
        assert_eq!(ids(&s.call("user-lookup-match", lookup("is_active", json!(false))).await), [3]);
        assert_eq!(ids(&s.call("user-lookup-match", lookup("user_role", json!("superuser"))).await), [1]);
        assert_eq!(ids(&s.call("user-lookup-match", lookup("user_id", json!("x"))).await), Vec::<i64>::new());
        let env = s.call("user-lookup-match", lookup("extra_info", json!({"type": "normal-user", "verify_retry_wait": 6}))).await;
        assert_eq!(ids(&env), [uid]);
        assert_eq!(ids(&s.call("user-lookup-match", lookup("extra_info", json!({"type": "system-user"}))).await), [1, 2]);
        // Q-13 fixed: the password hash is not searchable.
        for by in ["password", "no_such_column", "email; DROP TABLE users"] {
            let env = s.call("user-lookup-match", lookup(by, json!("x"))).await;
            fails(&env, "exception in DB access", json!(["User look up failed."]));
            assert_eq!(env["response"]["user_info"], Value::Null);
        }
        let invalid = "invalid request: 'by' is 'extra_info' but 'match' is not a dict or 'match' is a dict and 'by' is not 'extra_info'";
        let env = s.call("user-lookup-match", lookup("extra_info", json!("x"))).await;
        fails(&env, invalid, json!(["Invalid match condition provided."]));
        let env = s.call("user-lookup-match", lookup("email", json!({"a": 1}))).await;
        fails(&env, invalid, json!(["Invalid match condition provided."]));
        let env = s.call("user-lookup-match", lookup("email", Value::Null)).await;
        assert_eq!(env["response"]["response"]["problems"][0]["param"], json!("match"));
        s
    })
    .await;
}

async fn internal_actions(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let email = "in@example.org";
        let uid = s.verified_user(email, PASSWORD).await;
        let token = s.new_session(json!(uid)).await;

        // internal-user-lock
        let env = s.call("internal-user-lock", json!({"target_userid": uid, "action": "nope"})).await;
        fails(&env, "action must be either 'lock' or 'unlock'", json!(["Unknown action requested for toggle_user_lock."]));
        let env = s.call("internal-user-lock", json!({"target_userid": 2, "action": "lock"})).await;
        fails(&env, "can't edit anonymous/locked users", json!(["Editing anonymous/locked user accounts not allowed."]));
        let env = s.call("internal-user-lock", json!({"target_userid": 999, "action": "lock"})).await;
        fails(&env, "exception encountered when trying lock toggle action", json!(["User lock toggle failed."]));
        let env = s.call("internal-user-lock", json!({"target_userid": uid, "action": "lock"})).await;
        assert_eq!(env["response"]["user_info"]["user_role"], json!("locked"), "{env}");
        assert!(!alive(&s, &token).await);
        assert_eq!(login(&s, email, PASSWORD).await["success"], json!(false));
        let env = s.call("internal-user-lock", json!({"target_userid": uid, "action": "unlock"})).await;
        assert_eq!(env["response"]["user_info"]["user_role"], json!("authenticated"), "{env}");
        assert_eq!(env["response"]["user_info"]["is_active"], json!(true));

        // internal-user-edit
        let ed = |target: i64, update: Value| json!({"target_userid": target, "update_dict": update});
        let env = s.call("internal-user-edit", ed(uid, json!({}))).await;
        fails(&env, "invalid request: missing 'update_dict' in request", json!(["Invalid user-edit request: missing or invalid parameters."]));
        let env = s.call("internal-user-edit", ed(uid, json!({"password": "x", "full_name": "y"}))).await;
        fails(&env, "invalid request: disallowed keys in update_dict: {'password'}", json!(["Invalid edit-user request: invalid update parameters."]));
        let env = s.call("internal-user-edit", ed(999, json!({"full_name": "y"}))).await;
        fails(&env, "no such user", json!(["User info update failed."]));
        let env = s.call("internal-user-edit", ed(uid, json!({"not_a_column": 1}))).await;
        fails(&env, "DB error when updating user info", json!(["User info update failed."]));
        let env = s.call("internal-user-edit", ed(uid, json!({"user_role": "emperor"}))).await;
        fails(&env, "DB error when updating user info", json!(["User info update failed."]));
        let env = s
            .call("internal-user-edit", ed(uid, json!({"email": "in2@example.org", "extra_info": {"type": "__delete__", "plan": "gold", "gone": "__delete__"}})))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["User-info update successful."]));
        assert_eq!(
            env["response"]["user_info"]["extra_info"],
            json!({"provenance": "request-created", "verify_retry_wait": 6, "plan": "gold", "gone": "__delete__",
                   "previous_user_roles": ["locked", "authenticated"]})
        );
        assert_eq!(login(&s, "in2@example.org", PASSWORD).await["success"], json!(true));

        // internal-session-edit
        let sess = s.new_session(json!(uid)).await;
        let se = |t: &str, update: Value| json!({"target_session_token": t, "update_dict": update});
        let env = s.call("internal-session-edit", se(&sess, json!({}))).await;
        fails(&env, "invalid request: missing 'update_dict' in request", json!(["Invalid session edit request: missing or invalid parameters."]));
        assert_eq!(env["response"]["session_info"], Value::Null);
        let env = s.call("internal-session-edit", se("no-such-session", json!({"a": 1}))).await;
        fails(&env, "no such session", json!(["Session extra_info update failed."]));
        let env = s.call("internal-session-edit", se(&sess, json!({"a": 1, "b": "__delete__"}))).await;
        assert_eq!(env["response"]["session_info"]["extra_info_json"], json!({"a": 1, "b": "__delete__"}));
        let env = s.call("internal-session-edit", se(&sess, json!({"b": "__delete__", "c": [1]}))).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["Session extra_info update successful."]));
        let info = env["response"]["session_info"].as_object().expect("info");
        let mut keys: Vec<&str> = info.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["created", "expires", "extra_info_json", "ip_address", "session_token", "user_agent", "user_id"]);
        assert_eq!(info["extra_info_json"], json!({"a": 1, "c": [1]}));
        let env = s.call("session-exists", json!({"session_token": sess})).await;
        assert_eq!(env["response"]["session_info"]["extra_info_json"], json!({"a": 1, "c": [1]}));

        // internal-user-delete: unknown users succeed too.
        let env = s.call("internal-user-delete", json!({"target_userid": 999})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["response"]["user_id"], json!(999));
        let env = s.call("internal-user-delete", json!({"target_userid": uid})).await;
        assert_eq!(env["messages"], json!(["User successfully deleted from DB."]));
        assert!(!alive(&s, &sess).await);
        let env = s.call("user-lookup-match", json!({"by": "user_id", "match": uid})).await;
        assert_eq!(env["response"]["user_info"], json!([]));
        s
    })
    .await;
}

/// A processed full name longer than the 280-character column is refused
/// alike on every backend (SQLite does not enforce the width), and cannot
/// overwrite a pending sign-up (docs/PROTOCOL.md §10, D-22).
async fn full_name_width(backend: Backend, test: &str) {
    let Some(db) = TestDb::new(backend, test).await else {
        return;
    };
    let clock = Arc::new(ManualClock::starting_now());
    let s = TestServer::start_with(&db, clock.clone(), |_| {}).await;
    // 280 code points after processing: `&` becomes `&amp;` (5), and
    // whitespace at the ends does not count.
    let fits = format!("  {}&{}\u{a0} ", "é".repeat(140), "x".repeat(135));
    for email in ["fits@example.org", "again@example.org"] {
        let env = s
            .call(
                "user-new",
                json!({"email": email, "full_name": fits, "password": PASSWORD}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
    }
    let env = s
        .call("user-lookup-email", json!({"email": "fits@example.org"}))
        .await;
    let stored = env["response"]["user_info"]["full_name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(stored.chars().count(), 280, "{stored}");

    let over = format!("{}&{}", "é".repeat(140), "x".repeat(136));
    let env = s
        .call(
            "user-new",
            json!({"email": "over@example.org", "full_name": over, "password": PASSWORD}),
        )
        .await;
    fails(
        &env,
        "DB issue with user creation",
        json!(["User account created. Please verify your email address to log in."]),
    );
    assert_eq!(env["response"]["user_id"], Value::Null, "{env}");
    let env = s
        .call("user-lookup-email", json!({"email": "over@example.org"}))
        .await;
    assert_eq!(
        env["failure_reason"],
        json!("user email not found in DB"),
        "{env}"
    );

    // Past the retry wait a taken, unverified e-mail is signed up again
    // (the control), but not with a name too long to store: `user exists`,
    // no mail, the stored sign-up unchanged.
    clock.advance(TimeDelta::hours(2));
    let env = s
        .call("user-new", json!({"email": "again@example.org", "full_name": "Ann", "password": PASSWORD, "verify_retry_wait": 1}))
        .await;
    assert_eq!(env["failure_reason"], json!("user exists"), "{env}");
    assert_eq!(env["response"]["send_verification"], json!(true), "{env}");
    let env = s
        .call(
            "user-new",
            json!({"email": "fits@example.org", "full_name": "\u{FDFA}".repeat(20), "password": PASSWORD, "verify_retry_wait": 1}),
        )
        .await;
    assert_eq!(env["failure_reason"], json!("user exists"), "{env}");
    assert_eq!(env["response"]["send_verification"], json!(false), "{env}");
    let env = s
        .call("user-lookup-email", json!({"email": "fits@example.org"}))
        .await;
    assert_eq!(
        env["response"]["user_info"]["full_name"],
        json!(stored),
        "{env}"
    );
    s.stop().await;
    db.drop_db().await;
}

per_backend!(
    full_name_width,
    changepass,
    resetpass,
    validatepass,
    delete,
    edit,
    lock,
    lookup_match,
    internal_actions
);
