//! The core frontend flow over the real protocol, on SQLite and PostgreSQL:
//! session-new → user-new → user-set-emailverified → user-login →
//! session-exists → user-passcheck → user-logout, and the failures around it.

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Backend, with_server};
use serde_json::{Value, json};

const PASSWORD: &str = "Plover-Quince-Sextant-77";

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().expect("object").keys().cloned().collect();
    k.sort();
    k
}

async fn core_flow(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let anon = s.new_session(Value::Null).await;
        let env = s.call("session-exists", json!({"session_token": anon})).await;
        assert_eq!(env["response"]["session_info"]["user_id"], json!(2), "anonymous session: {env}");

        let env = s
            .call("user-new", json!({"full_name": "Jane <b>Doe</b>  x", "email": "Jane.Doe@Example.ORG", "password": PASSWORD}))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let r = &env["response"];
        assert_eq!(r["user_email"], json!("jane.doe@example.org"));
        assert_eq!(r["send_verification"], json!(true));
        assert_eq!(env["messages"], json!(["User account created. Please verify your email address to log in."]));
        let user_id = r["user_id"].as_i64().expect("id");
        assert!(user_id >= 4);

        // Not verified yet: login fails generically.
        let env = s
            .call("user-login", json!({"session_token": anon, "email": "jane.doe@example.org", "password": PASSWORD}))
            .await;
        assert_eq!(env["failure_reason"], json!("user does not exist or password doesn't match"));

        let env = s.call("user-set-emailverified", json!({"email": "jane.doe@example.org"})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["response"]["user_role"], json!("authenticated"));
        assert_eq!(env["response"]["is_active"], json!(true));

        // The login above consumed the anonymous session.
        let env = s
            .call("user-login", json!({"session_token": anon, "email": "jane.doe@example.org", "password": PASSWORD}))
            .await;
        assert_eq!(env["failure_reason"], json!("session does not exist"));
        assert_eq!(env["messages"], json!(["No session token provided."]));

        let anon = s.new_session(Value::Null).await;
        let env = s
            .call("user-login", json!({"session_token": anon, "email": "jane.doe@example.org", "password": PASSWORD}))
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["response"]["user_id"], json!(user_id));
        assert_eq!(env["response"]["user_role"], json!("authenticated"));
        assert_eq!(env["messages"], json!(["Login successful."]));
        let env = s.call("session-exists", json!({"session_token": anon})).await;
        assert_eq!(env["failure_reason"], json!("session does not exist or expired"));

        let token = s.new_session(json!(user_id)).await;
        let env = s.call("session-exists", json!({"session_token": token})).await;
        let info = &env["response"]["session_info"];
        assert_eq!(
            keys(info),
            [
                "created", "created_on", "email", "email_verified", "emailverify_sent_datetime", "expires",
                "extra_info", "extra_info_json", "full_name", "ip_address", "is_active", "last_login_success",
                "last_login_try", "session_token", "system_id", "user_agent", "user_id", "user_role",
            ]
        );
        assert_eq!(info["full_name"], json!("Jane &lt;b&gt;Doe&lt;/b&gt; x"));
        assert_eq!(info["expires"], json!("2100-01-01T00:00:00.000001"));
        assert_eq!(
            info["extra_info"],
            json!({"provenance": "request-created", "type": "normal-user", "verify_retry_wait": 6})
        );

        let env = s.call("user-passcheck", json!({"session_token": token, "password": PASSWORD})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["Verification successful."]));
        let env = s.call("user-passcheck", json!({"session_token": token, "password": "nope"})).await;
        assert_eq!(env["failure_reason"], json!("user does not exist or password doesn't match"));
        assert_eq!(env["response"]["user_id"], Value::Null);

        let env = s.call("user-logout", json!({"session_token": token, "user_id": user_id + 1})).await;
        assert_eq!(env["failure_reason"], json!("user does not exist"));
        let env = s.call("user-logout", json!({"session_token": token, "user_id": user_id})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(env["messages"], json!(["Logout successful."]));
        let env = s.call("session-exists", json!({"session_token": token})).await;
        assert_eq!(env["success"], json!(false));
        let env = s.call("user-logout", json!({"session_token": token, "user_id": user_id})).await;
        assert_eq!(env["failure_reason"], json!("session does not exist"));
        s
    })
    .await;
}

async fn login_failures(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        s.verified_user("kim@example.org", PASSWORD).await;
        for (email, password) in [
            ("kim@example.org", "wrong-password-123"),
            ("nobody@example.org", PASSWORD),
            ("KIM@example.org", PASSWORD),
        ] {
            let anon = s.new_session(Value::Null).await;
            let env = s
                .call(
                    "user-login",
                    json!({"session_token": anon, "email": email, "password": password}),
                )
                .await;
            assert_eq!(env["success"], json!(false));
            assert_eq!(
                env["failure_reason"],
                json!("user does not exist or password doesn't match"),
                "{email}"
            );
            assert_eq!(
                env["messages"],
                json!(["Sorry, that user ID and password combination didn't work."])
            );
            assert_eq!(env["response"]["user_id"], Value::Null);
            // The presented session is consumed even on failure.
            let env = s
                .call("session-exists", json!({"session_token": anon}))
                .await;
            assert_eq!(env["success"], json!(false));
        }
        // The superuser created at start-up can log in.
        let anon = s.new_session(Value::Null).await;
        let env = s
            .call(
                "user-login",
                json!({"session_token": anon, "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}),
            )
            .await;
        assert_eq!(env["response"]["user_id"], json!(1), "{env}");
        assert_eq!(env["response"]["user_role"], json!("superuser"));

        let env = s
            .call(
                "user-passcheck-nosession",
                json!({"email": "kim@example.org", "password": PASSWORD}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        let env = s
            .call(
                "user-passcheck-nosession",
                json!({"email": "dummyuser@localhost", "password": "nope"}),
            )
            .await;
        assert_eq!(
            env["failure_reason"],
            json!("user does not exist or password doesn't match")
        );
        s
    })
    .await;
}

async fn signup_rules(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let env = s.call("user-new", json!({"full_name": "Ann", "email": "root@localhost", "password": PASSWORD})).await;
        assert_eq!(env["failure_reason"], json!("invalid email"));
        assert_eq!(env["response"]["send_verification"], json!(false));

        let env = s.call("user-new", json!({"full_name": "Ann", "email": "ann@example.org", "password": "short"})).await;
        assert_eq!(env["failure_reason"], json!("invalid password"));
        assert_eq!(env["response"]["user_email"], json!("ann@example.org"));
        assert_eq!(env["messages"][0], json!("Your password is too short. It must have at least 12 characters."));

        let env = s
            .call("user-new", json!({"full_name": "visit http://spam", "email": "ann@example.org", "password": PASSWORD}))
            .await;
        assert_eq!(env["failure_reason"], json!("invalid full name"));
        let env = s
            .call("user-new", json!({"full_name": "buy at shop.com", "email": "ann@example.org", "password": PASSWORD}))
            .await;
        assert_eq!(env["failure_reason"], json!("invalid full name"));

        let env = s.call("user-new", json!({"full_name": "Ann", "email": "ann@example.org", "password": PASSWORD})).await;
        assert_eq!(env["success"], json!(true), "{env}");
        let first_id = env["response"]["user_id"].clone();
        // Same address again within the retry wait: exists, no new mail.
        let env = s.call("user-new", json!({"full_name": "Ann", "email": "ann@example.org", "password": PASSWORD})).await;
        assert_eq!(env["failure_reason"], json!("user exists"));
        assert_eq!(env["response"]["user_id"], first_id);
        assert_eq!(env["response"]["send_verification"], json!(false));
        // A built-in user's address (null sent time; Q-8 fixed): exists, no 400.
        let env = s
            .call("user-new", json!({"full_name": "Anon", "email": "anonuser@localhost", "password": PASSWORD}))
            .await;
        assert_eq!(env["failure_reason"], json!("user exists"));
        assert_eq!(env["response"]["send_verification"], json!(false));

        let env = s.call("user-list", json!({"user_id": null})).await;
        let ids: Vec<i64> = env["response"]["user_info"].as_array().expect("list").iter().map(|u| u["user_id"].as_i64().expect("id")).collect();
        assert_eq!(ids[..3], [1, 2, 3]);
        assert_eq!(ids.len(), 4);
        let one = &env["response"]["user_info"][3];
        assert_eq!(keys(one).len(), 16);
        assert!(one.get("password").is_none());
        let env = s.call("user-list", json!({"user_id": "1"})).await;
        assert_eq!(env["response"]["user_info"], json!([]));
        let env = s.call("user-lookup-email", json!({"email": "ann@example.org"})).await;
        assert_eq!(env["response"]["user_info"]["user_id"], first_id);
        let env = s.call("user-lookup-email", json!({"email": "ANN@example.org"})).await;
        assert_eq!(env["failure_reason"], json!("user email not found in DB"));
        let env = s.call("user-set-emailverified", json!({"email": "nobody@example.org"})).await;
        assert_eq!(env["failure_reason"], json!("could not find user in DB by email"));
        assert_eq!(env["response"]["user_role"], json!("locked"));
        s
    })
    .await;
}

async fn session_deletes(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        let uid = s.verified_user("lee@example.org", PASSWORD).await;
        let a = s.new_session(json!(uid)).await;
        let b = s.new_session(json!(uid)).await;
        let c = s.new_session(json!(uid)).await;
        let env = s
            .call("session-delete-userid", json!({"session_token": a, "user_id": uid, "keep_current_session": true}))
            .await;
        assert_eq!(env["messages"], json!(["Sessions delete processed. Success: True."]));
        assert_eq!(s.call("session-exists", json!({"session_token": a})).await["success"], json!(true));
        assert_eq!(s.call("session-exists", json!({"session_token": b})).await["success"], json!(false));
        assert_eq!(s.call("session-exists", json!({"session_token": c})).await["success"], json!(false));
        // Q-4 fixed: keep_current_session=false deletes the presented one too.
        let env = s
            .call("session-delete-userid", json!({"session_token": a, "user_id": uid, "keep_current_session": false}))
            .await;
        assert_eq!(env["success"], json!(true));
        assert_eq!(s.call("session-exists", json!({"session_token": a})).await["success"], json!(false));
        let env = s
            .call("session-delete-userid", json!({"session_token": a, "user_id": uid, "keep_current_session": false}))
            .await;
        assert_eq!(env["messages"], json!(["Sessions delete processed. Success: False."]));
        assert!(env.get("failure_reason").is_none());

        let d = s.new_session(json!(uid)).await;
        let env = s.call("session-delete", json!({"session_token": d})).await;
        assert_eq!(env["messages"], json!(["Session delete processed, success: True."]));
        let env = s.call("session-delete", json!({"session_token": d})).await;
        assert_eq!(env["success"], json!(false));
        assert_eq!(env["messages"], json!(["Session delete processed, success: False."]));
        assert!(env.get("failure_reason").is_none());

        // session-new failures: bad IP, bad date, unknown user.
        for body in [
            json!({"ip_address": "not-an-ip", "user_agent": "x", "user_id": null, "expires": "2100-01-01T00:00:00.5", "extra_info_json": null}),
            json!({"ip_address": "::1", "user_agent": "x", "user_id": null, "expires": "2100-01-01 00:00:00", "extra_info_json": null}),
            json!({"ip_address": "::1", "user_agent": "x", "user_id": 999_999, "expires": "2100-01-01T00:00:00.5", "extra_info_json": null}),
        ] {
            let env = s.call("session-new", body).await;
            assert_eq!(env["failure_reason"], json!("DB error when making new session"), "{env}");
            assert_eq!(env["response"]["session_token"], Value::Null);
        }
        let env = s
            .call("session-new", json!({"ip_address": "2001:DB8::0001", "user_agent": "x", "user_id": 0, "expires": "2100-01-01T00:00:00Z", "extra_info_json": {"k": [1, "é"]}}))
            .await;
        assert_eq!(env["response"]["expires"], json!("2100-01-01T00:00:00"));
        let token = env["response"]["session_token"].as_str().expect("token");
        let info = s.call("session-exists", json!({"session_token": token})).await;
        assert_eq!(info["response"]["session_info"]["ip_address"], json!("2001:db8::1"));
        assert_eq!(info["response"]["session_info"]["extra_info_json"], json!({"k": [1, "é"]}));
        s
    })
    .await;
}

/// Q-12 fixed: every path of the three password checks costs exactly one
/// Argon2 verification, so timing does not tell which sessions or e-mails
/// exist.
async fn equal_argon2_work(backend: Backend, test: &str) {
    with_server(backend, test, |s| async move {
        s.verified_user("eve@example.org", PASSWORD).await;
        s.call(
            "user-new",
            json!({"full_name": "Unverified", "email": "unv@example.org", "password": PASSWORD}),
        )
        .await;
        let hasher = s.built.state.ctx.hasher.clone();
        let dead = "no-such-session".to_owned();
        let cases: Vec<(&str, Value, bool)> = vec![
            (
                "user-login",
                json!({"session_token": dead, "email": "eve@example.org", "password": PASSWORD}),
                false,
            ),
            (
                "user-login",
                json!({"email": "nobody@example.org", "password": PASSWORD}),
                true,
            ),
            (
                "user-login",
                json!({"email": "eve@example.org", "password": "wrong-password-1"}),
                true,
            ),
            (
                "user-login",
                json!({"email": "unv@example.org", "password": PASSWORD}),
                true,
            ),
            (
                "user-login",
                json!({"email": "eve@example.org", "password": PASSWORD}),
                true,
            ),
            (
                "user-passcheck",
                json!({"session_token": dead, "password": PASSWORD}),
                false,
            ),
            (
                "user-passcheck-nosession",
                json!({"email": "nobody@example.org", "password": PASSWORD}),
                false,
            ),
            (
                "user-passcheck-nosession",
                json!({"email": "eve@example.org", "password": "wrong-password-1"}),
                false,
            ),
            (
                "user-passcheck-nosession",
                json!({"email": "eve@example.org", "password": PASSWORD}),
                false,
            ),
        ];
        for (request, mut body, needs_session) in cases {
            if needs_session {
                body["session_token"] = json!(s.new_session(Value::Null).await);
            }
            let before = hasher.stats();
            let env = s.call(request, body.clone()).await;
            let after = hasher.stats();
            assert_eq!(
                after.verifications - before.verifications,
                1,
                "{request} {body}: {env}"
            );
            assert_eq!(
                after.hashes, before.hashes,
                "{request} {body}: no hashing expected"
            );
        }
        s
    })
    .await;
}

/// A stored hash with other parameters is upgraded on the next successful
/// login, and keeps working.
async fn rehash_on_login(backend: Backend, test: &str) {
    use authnz_api::{UserPatch, UserStore as _};
    use authnz_core::passwords::{HashParams, PasswordHasher};
    with_server(backend, test, |s| async move {
        let uid = s.verified_user("old@example.org", PASSWORD).await;
        let older = PasswordHasher::new(
            1,
            HashParams {
                m_cost_kib: 256,
                t_cost: 2,
                p_cost: 1,
                output_len: 16,
            },
        )
        .expect("pool");
        let old_hash = older.hash(PASSWORD).await.expect("hash");
        let patch = UserPatch {
            password: Some(old_hash.clone()),
            ..UserPatch::default()
        };
        let store = s.built.store.clone();
        store
            .update_user(uid, &patch, None, authnz_api::testkit::fixtures::t0())
            .await
            .expect("update");

        let hasher = s.built.state.ctx.hasher.clone();
        let before = hasher.stats();
        let anon = s.new_session(Value::Null).await;
        let env = s
            .call(
                "user-login",
                json!({"session_token": anon, "email": "old@example.org", "password": PASSWORD}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(hasher.stats().hashes - before.hashes, 1, "one rehash");
        let stored = store
            .user_by_id(uid)
            .await
            .expect("read")
            .expect("user")
            .password;
        assert_ne!(stored, old_hash);
        assert!(
            stored.starts_with("$argon2id$v=19$m=512,t=1,p=1$"),
            "{stored}"
        );
        assert!(!hasher.needs_rehash(&stored));
        // The new hash still logs in, and no further rehash happens.
        let before = hasher.stats();
        let anon = s.new_session(Value::Null).await;
        let env = s
            .call(
                "user-login",
                json!({"session_token": anon, "email": "old@example.org", "password": PASSWORD}),
            )
            .await;
        assert_eq!(env["success"], json!(true), "{env}");
        assert_eq!(hasher.stats().hashes, before.hashes);
        s
    })
    .await;
}

per_backend!(
    core_flow,
    login_failures,
    signup_rules,
    session_deletes,
    equal_argon2_work,
    rehash_on_login
);
