//! Every request type of the request table once, through its typed method,
//! against a real authnzrv: a whole account's life (sign-up, verification
//! mail, login, edits, API keys of both kinds, password changes and
//! resets, locks, deletion). The test fails if a request type of the table
//! was not sent through its method.

use std::collections::BTreeSet;

use authnz_client::requests::*;
use authnz_client::types::{ApiKeyClaims, ApiVersion, Subject};
use authnz_client::{Client, RequestType, Secret};
use serde_json::{Map, Value, json};

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Server};

const UA: &str = "Mozilla/5.0 (client test)";
const IP: &str = "203.0.113.9";
const EMAIL: &str = "casey@example.org";
const NAME: &str = "Casey Client";
const PASSWORDS: [&str; 5] = [
    "violet-Lantern-orbit-73",
    "copper-Meadow-harbor-58",
    "silent-Walrus-ribbon-26",
    "amber-Thistle-canyon-41",
    "frozen-Pepper-saddle-35",
];

/// Note the request type of `req` as sent, and hand it on.
fn note<'a, R: Request>(seen: &mut BTreeSet<RequestType>, req: &'a R) -> &'a R {
    seen.insert(R::TYPE);
    req
}

fn map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

async fn session(c: &Client, seen: &mut BTreeSet<RequestType>, user_id: Option<i64>) -> Secret {
    let reply = c
        .session_new(note(
            seen,
            &SessionNew {
                ip_address: IP.into(),
                user_agent: UA.into(),
                user_id,
                expires: "2099-01-01T00:00:00".into(),
                extra_info_json: None,
            },
        ))
        .await
        .expect("session-new");
    assert_eq!(reply.expires, "2099-01-01T00:00:00");
    assert_eq!(reply.session_token.expose().len(), 43);
    reply.session_token
}

/// RFC 6238 (HMAC-SHA-1, 6 digits, 30 s) of a base32 secret at `unix`.
fn totp(base32: &str, unix: i64) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut acc, mut key) = (0u32, 0u64, Vec::new());
    for c in base32.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base32");
        acc = (acc << 5) | v as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            key.push((acc >> bits) as u8);
        }
    }
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = ring::hmac::sign(&key, &((unix / 30) as u64).to_be_bytes());
    let h = tag.as_ref();
    let o = usize::from(h[19] & 0x0f);
    let v = u32::from_be_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]) & 0x7fff_ffff;
    format!("{:06}", v % 1_000_000)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// TOTP enrolment, the two-step login (with a recovery code) and
/// disabling, keeping the session `tok`. The server runs on the real
/// clock: the confirmation takes the current code and the disabling the
/// next step's (accepted within the one-step window, and later than the
/// first), so no step is used twice whatever the timing.
async fn second_factor(c: &Client, s: &mut BTreeSet<RequestType>, uid: i64, tok: &Secret) {
    let enrolled = c
        .user_totp_enroll(note(
            s,
            &UserTotpEnroll {
                user_id: uid,
                password: PASSWORDS[0].into(),
            },
        ))
        .await
        .expect("user-totp-enroll");
    let secret = enrolled.secret_base32.expose().to_owned();
    assert!(enrolled.otpauth_uri.expose().contains(&secret));
    let confirmed = c
        .user_totp_confirm(note(
            s,
            &UserTotpConfirm {
                user_id: uid,
                totp_code: totp(&secret, unix_now()).into(),
                session_token: Some(tok.clone()),
            },
        ))
        .await
        .expect("user-totp-confirm");
    assert_eq!(confirmed.recovery_codes.len(), 10);

    let anon = session(c, s, None).await;
    let err = c
        .user_login(&UserLogin {
            session_token: anon.clone(),
            email: EMAIL.into(),
            password: PASSWORDS[0].into(),
        })
        .await
        .expect_err("a second factor is required");
    let needed = err
        .failure()
        .and_then(|f| f.second_factor())
        .expect("second factor");
    assert_eq!(needed.user_id, uid);
    assert_eq!(needed.second_factor, ["totp", "recovery"]);
    let login = c
        .user_login_second_factor(note(
            s,
            &UserLoginSecondFactor {
                session_token: anon,
                login_ticket: needed.login_ticket,
                totp_code: None,
                recovery_code: Some(confirmed.recovery_codes[0].clone()),
                passkey_response: None,
            },
        ))
        .await
        .expect("user-login-second-factor");
    assert_eq!(
        (login.user_id, login.user_role.as_deref()),
        (uid, Some("authenticated"))
    );
    let off = c
        .user_totp_disable(note(
            s,
            &UserTotpDisable {
                user_id: uid,
                password: PASSWORDS[0].into(),
                totp_code: totp(&secret, unix_now() + 30).into(),
                session_token: Some(tok.clone()),
            },
        ))
        .await
        .expect("user-totp-disable");
    assert_eq!(off.user_id, uid);
}

/// Passkeys: this server has no relying party configured (no
/// `webauthnorigins`), so every passkey request type answers so (the whole
/// flow, with a software authenticator, is in the server's tests).
async fn passkeys_not_configured(
    c: &Client,
    s: &mut BTreeSet<RequestType>,
    uid: i64,
    tok: &Secret,
) {
    fn reason(e: &authnz_client::Error) -> Option<&str> {
        e.failure().and_then(|f| f.failure_reason.as_deref())
    }
    const OFF: Option<&str> = Some("passkeys not configured");
    let e = c
        .user_passkey_register_start(note(
            s,
            &UserPasskeyRegisterStart {
                user_id: uid,
                password: PASSWORDS[0].into(),
                name: Some("laptop".into()),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_register_finish(note(
            s,
            &UserPasskeyRegisterFinish {
                user_id: uid,
                registration_id: "reg".into(),
                credential: json!({"id": "x"}),
                name: None,
                session_token: Some(tok.clone()),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_login_start(note(
            s,
            &UserPasskeyLoginStart {
                session_token: tok.clone(),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_login_finish(note(
            s,
            &UserPasskeyLoginFinish {
                session_token: tok.clone(),
                login_id: "login".into(),
                credential: json!({"id": "x"}),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_list(note(s, &UserPasskeyList { user_id: uid }))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_delete(note(
            s,
            &UserPasskeyDelete {
                user_id: uid,
                password: PASSWORDS[0].into(),
                passkey_id: 1,
                session_token: Some(tok.clone()),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
    let e = c
        .user_passkey_second_factor_start(note(
            s,
            &UserPasskeySecondFactorStart {
                session_token: tok.clone(),
                login_ticket: "ticket".into(),
            },
        ))
        .await
        .expect_err("not configured");
    assert_eq!(reason(&e), OFF);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_type_through_its_typed_method() {
    let server = Server::start().await;
    let c = server.client().for_ip("198.51.100.4");
    let mut seen = BTreeSet::new();
    let s = &mut seen;

    let health = c.health().await.expect("health");
    assert_eq!(health.status, 200);
    assert!(health.ok, "{health:?}");
    assert_eq!(health.expected_workers, Some(2));

    // Sign-up, the verification mail, verification.
    let anon = session(&c, s, None).await;
    let exists = c
        .session_exists(note(
            s,
            &SessionExists {
                session_token: anon.clone(),
            },
        ))
        .await
        .expect("session-exists");
    assert_eq!(exists.session_info.user_id, 2);
    assert_eq!(exists.session_info.session_token, anon);
    assert_eq!(exists.session_info.user_agent.as_deref(), Some(UA));

    let created = c
        .user_new(note(
            s,
            &UserNew {
                full_name: NAME.into(),
                email: EMAIL.into(),
                password: PASSWORDS[0].into(),
                ..Default::default()
            },
        ))
        .await
        .expect("user-new");
    assert!(created.send_verification);
    assert_eq!(created.user_email, EMAIL);
    let uid = created.user_id;
    assert!(uid > 3);

    let mail = c
        .user_sendemail_signup(note(
            s,
            &UserSendemailSignup {
                email_address: EMAIL.into(),
                session_token: anon.clone(),
                created_info: map(json!({
                    "success": true,
                    "user_email": created.user_email,
                    "user_id": uid,
                    "send_verification": created.send_verification,
                })),
                server_name: "Client Test".into(),
                server_baseurl: "https://example.org".into(),
                verification_token: "a-verification-code".into(),
                verification_expiry: 900,
                account_verify_url: Some("/verify".into()),
                ..Default::default()
            },
        ))
        .await
        .expect("user-sendemail-signup");
    assert_eq!(mail.user_id, uid);
    let outbox = std::fs::read_dir(server.dir.path().join("mail-outbox"))
        .expect("outbox")
        .count();
    assert_eq!(outbox, 1, "one mail written");

    let sent = c
        .user_set_emailsent(note(
            s,
            &UserSetEmailsent {
                email: EMAIL.into(),
                email_type: "signup".into(),
            },
        ))
        .await
        .expect("user-set-emailsent");
    assert_eq!((sent.user_id, sent.is_active), (uid, false));

    let verified = c
        .user_set_emailverified(note(
            s,
            &UserSetEmailverified {
                email: EMAIL.into(),
            },
        ))
        .await
        .expect("user-set-emailverified");
    assert_eq!(
        (
            verified.user_id,
            verified.is_active,
            verified.user_role.as_str()
        ),
        (uid, true, "authenticated")
    );

    // Login (deletes the anonymous session), a user session.
    let login = c
        .user_login(note(
            s,
            &UserLogin {
                session_token: anon.clone(),
                email: EMAIL.into(),
                password: PASSWORDS[0].into(),
            },
        ))
        .await
        .expect("user-login");
    assert_eq!(
        (login.user_id, login.user_role.as_deref()),
        (uid, Some("authenticated"))
    );
    let gone = c
        .session_exists(&SessionExists {
            session_token: anon.clone(),
        })
        .await
        .expect_err("login deleted the session");
    assert_eq!(
        gone.failure().and_then(|f| f.failure_reason.as_deref()),
        Some("session does not exist or expired")
    );
    let tok = session(&c, s, Some(uid)).await;
    second_factor(&c, s, uid, &tok).await;

    let signed = c
        .session_jwt_issue(note(
            s,
            &SessionJwtIssue {
                session_token: tok.clone(),
                audience: "reports".into(),
                expires_seconds: 120,
            },
        ))
        .await
        .expect("session-jwt-issue");
    assert_eq!(signed.expires_seconds, 120);
    assert_eq!(signed.jwt.expose().split('.').count(), 3);

    // My sessions: a second session, listed, then revoked by its id.
    let other = session(&c, s, Some(uid)).await;
    let listed = c
        .user_sessions_list(note(
            s,
            &UserSessionsList {
                user_id: uid,
                session_token: tok.clone(),
            },
        ))
        .await
        .expect("user-sessions-list");
    assert_eq!(listed.sessions.len(), 2);
    let theirs: Vec<_> = listed.sessions.iter().filter(|x| !x.current).collect();
    assert_eq!(theirs.len(), 1, "exactly one is the caller's");
    assert_eq!(theirs[0].user_agent, UA);
    let revoked = c
        .user_sessions_revoke(note(
            s,
            &UserSessionsRevoke {
                user_id: uid,
                session_token: tok.clone(),
                session_id: theirs[0].session_id.clone(),
            },
        ))
        .await
        .expect("user-sessions-revoke");
    assert_eq!((revoked.revoked, revoked.current), (1, false));
    c.session_exists(&SessionExists {
        session_token: other,
    })
    .await
    .expect_err("the revoked session is gone");

    let check = c
        .user_passcheck(note(
            s,
            &UserPasscheck {
                session_token: tok.clone(),
                password: PASSWORDS[0].into(),
            },
        ))
        .await
        .expect("user-passcheck");
    assert_eq!(check.user_id, uid);
    let check = c
        .user_passcheck_nosession(note(
            s,
            &UserPasscheckNosession {
                email: EMAIL.into(),
                password: PASSWORDS[0].into(),
            },
        ))
        .await
        .expect("user-passcheck-nosession");
    assert_eq!(check.user_id, uid);
    c.user_validatepass(note(
        s,
        &UserValidatepass {
            password: PASSWORDS[1].into(),
            email: EMAIL.into(),
            full_name: NAME.into(),
            ..Default::default()
        },
    ))
    .await
    .expect("user-validatepass");

    // Look-ups and edits.
    let listed = c
        .user_list(note(s, &UserList { user_id: Some(uid) }))
        .await
        .expect("user-list");
    assert_eq!(listed.user_info.len(), 1);
    assert_eq!(listed.user_info[0].email.as_deref(), Some(EMAIL));
    let found = c
        .user_lookup_email(note(
            s,
            &UserLookupEmail {
                email: EMAIL.into(),
            },
        ))
        .await
        .expect("user-lookup-email");
    assert_eq!(found.user_info.user_id, uid);
    let matched = c
        .user_lookup_match(note(
            s,
            &UserLookupMatch {
                by: "full_name".into(),
                match_: json!(NAME),
            },
        ))
        .await
        .expect("user-lookup-match");
    assert_eq!(matched.user_info.len(), 1);
    let edited = c
        .user_edit(note(
            s,
            &UserEdit {
                user_id: uid,
                user_role: "authenticated".into(),
                session_token: tok.clone(),
                target_userid: uid,
                update_dict: map(json!({"full_name": "Casey Renamed"})),
            },
        ))
        .await
        .expect("user-edit");
    assert_eq!(edited.user_info.full_name.as_deref(), Some("Casey Renamed"));
    let sedit = c
        .internal_session_edit(note(
            s,
            &InternalSessionEdit {
                target_session_token: tok.clone(),
                update_dict: map(json!({"theme": "dark"})),
            },
        ))
        .await
        .expect("internal-session-edit");
    assert_eq!(
        sedit.session_info.extra_info_json,
        Some(json!({"theme": "dark"}))
    );

    // The audit log: this user's events, one per page.
    let first = c
        .internal_audit_list(note(
            s,
            &InternalAuditList {
                limit: 1,
                user_id: Some(uid),
                ..InternalAuditList::default()
            },
        ))
        .await
        .expect("internal-audit-list");
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].subject_user_id, Some(uid));
    let cursor = first.next_cursor.expect("more than one event of this user");
    let second = c
        .internal_audit_list(&InternalAuditList {
            limit: 1,
            user_id: Some(uid),
            cursor: Some(cursor),
            ..InternalAuditList::default()
        })
        .await
        .expect("internal-audit-list, next page");
    assert!(second.events[0].id < first.events[0].id);

    // Authorization checks.
    c.user_check_access(note(
        s,
        &UserCheckAccess {
            user_id: uid,
            user_role: "authenticated".into(),
            action: "view".into(),
            target_name: "apikey".into(),
            target_owner: uid,
            target_visibility: "private".into(),
            target_sharedwith: String::new(),
        },
    ))
    .await
    .expect("user-check-access");
    c.user_check_limit(note(
        s,
        &UserCheckLimit {
            user_id: uid,
            user_role: "authenticated".into(),
            limit_name: "max_requests".into(),
            value_to_check: json!(10),
        },
    ))
    .await
    .expect("user-check-limit");

    // Groups: the superuser (user 1) makes one, the user joins it, an item
    // shared with the group becomes theirs to view, then it all goes.
    let (su_id, su_role) = (1_i64, "superuser".to_owned());
    let group = c
        .group_new(note(
            s,
            &GroupNew {
                user_id: su_id,
                user_role: su_role.clone(),
                group_name: "Client testers".into(),
            },
        ))
        .await
        .expect("group-new")
        .group;
    assert_eq!(group.group_name, "Client testers");
    let added = c
        .group_add_member(note(
            s,
            &GroupAddMember {
                user_id: su_id,
                user_role: su_role.clone(),
                group_id: group.group_id,
                member_id: uid,
                is_owner: false,
            },
        ))
        .await
        .expect("group-add-member");
    assert!(added.added && !added.is_owner);
    let mine = c
        .group_list(note(
            s,
            &GroupList {
                user_id: uid,
                user_role: "authenticated".into(),
                member_id: None,
            },
        ))
        .await
        .expect("group-list");
    assert_eq!(mine.member_id, Some(uid));
    assert_eq!(mine.groups.len(), 1);
    assert_eq!(mine.groups[0].is_owner, Some(false));
    let members = c
        .group_members(note(
            s,
            &GroupMembers {
                user_id: uid,
                user_role: "authenticated".into(),
                group_id: group.group_id,
            },
        ))
        .await
        .expect("group-members");
    assert_eq!(
        members.members,
        [GroupMember {
            user_id: uid,
            is_owner: false
        }]
    );
    c.user_check_access(&UserCheckAccess {
        user_id: uid,
        user_role: "authenticated".into(),
        action: "view".into(),
        target_name: "dataset".into(),
        target_owner: su_id,
        target_visibility: "shared".into(),
        target_sharedwith: format!("group:{}", group.group_id),
    })
    .await
    .expect("view an item shared with the group");
    c.group_remove_member(note(
        s,
        &GroupRemoveMember {
            user_id: uid,
            user_role: "authenticated".into(),
            group_id: group.group_id,
            member_id: uid,
        },
    ))
    .await
    .expect("group-remove-member (leaving)");
    c.group_delete(note(
        s,
        &GroupDelete {
            user_id: su_id,
            user_role: su_role,
            group_id: group.group_id,
        },
    ))
    .await
    .expect("group-delete");

    // A session-tied API key.
    let key = c
        .apikey_new(note(
            s,
            &ApikeyNew {
                issuer: "client-test".into(),
                audience: "api".into(),
                subject: Subject::Many(vec!["/api/a".into(), "/api/b".into()]),
                apiversion: ApiVersion::Int(1),
                expires_days: 1,
                not_valid_before: 0.0,
                user_id: uid,
                user_role: "authenticated".into(),
                ip_address: IP.into(),
                user_agent: UA.into(),
                session_token: tok.clone(),
            },
        ))
        .await
        .expect("apikey-new");
    let claims = ApiKeyClaims::from_apikey(&key.apikey).expect("claims");
    assert_eq!(claims.0["uid"], json!(uid));
    c.apikey_verify(note(
        s,
        &ApikeyVerify {
            apikey_dict: claims.clone(),
            user_id: uid,
            user_role: "authenticated".into(),
        },
    ))
    .await
    .expect("apikey-verify");
    c.apikey_revoke(note(
        s,
        &ApikeyRevoke {
            apikey_dict: claims.clone(),
            user_id: uid,
            user_role: "authenticated".into(),
        },
    ))
    .await
    .expect("apikey-revoke");
    let revoked = c
        .apikey_verify(&ApikeyVerify {
            apikey_dict: claims,
            user_id: uid,
            user_role: "authenticated".into(),
        })
        .await
        .expect_err("a revoked key does not verify");
    assert!(revoked.failure().is_some(), "{revoked:?}");

    // No-session keys: issue, verify, refresh, revoke one, revoke all.
    let nosession = || ApikeyNewNosession {
        issuer: "client-test".into(),
        audience: "api".into(),
        subject: Subject::One("/api".into()),
        apiversion: ApiVersion::Str("v2".into()),
        expires_seconds: 3600,
        not_valid_before: 0.0,
        user_id: uid,
        user_role: "authenticated".into(),
        ip_address: IP.into(),
        refresh_expires: 7200,
        refresh_nbf: 0.0,
    };
    let k1 = c
        .apikey_new_nosession(note(s, &nosession()))
        .await
        .expect("apikey-new-nosession");
    let k1_claims = ApiKeyClaims::from_apikey(&k1.apikey).expect("claims");
    c.apikey_verify_nosession(note(
        s,
        &ApikeyVerifyNosession {
            apikey_dict: k1_claims.clone(),
            user_id: uid,
            user_role: "authenticated".into(),
        },
    ))
    .await
    .expect("apikey-verify-nosession");
    let k2 = c
        .apikey_refresh_nosession(note(
            s,
            &ApikeyRefreshNosession {
                apikey_dict: k1_claims,
                user_id: uid,
                user_role: "authenticated".into(),
                refresh_token: k1.refresh_token.clone(),
                ip_address: IP.into(),
                expires_seconds: 3600,
                not_valid_before: 0.0,
                refresh_expires: 7200,
                refresh_nbf: 0.0,
            },
        ))
        .await
        .expect("apikey-refresh-nosession");
    assert_ne!(k2.refresh_token, k1.refresh_token);
    let k3 = c
        .apikey_new_nosession(&nosession())
        .await
        .expect("third key");
    c.apikey_revoke_nosession(note(
        s,
        &ApikeyRevokeNosession {
            apikey_dict: ApiKeyClaims::from_apikey(&k3.apikey).expect("claims"),
            user_id: uid,
            user_role: "authenticated".into(),
        },
    ))
    .await
    .expect("apikey-revoke-nosession");
    let all = c
        .apikey_revokeall_nosession(note(
            s,
            &ApikeyRevokeallNosession {
                apikey_dict: ApiKeyClaims::from_apikey(&k2.apikey).expect("claims"),
                user_id: uid,
                user_role: "authenticated".into(),
            },
        ))
        .await
        .expect("apikey-revokeall-nosession");
    assert_eq!(all.revoked_keys, Some(1));

    // Passwords: change (both kinds), forgot, reset (both kinds).
    c.user_changepass(note(
        s,
        &UserChangepass {
            user_id: uid,
            session_token: tok.clone(),
            full_name: NAME.into(),
            email: EMAIL.into(),
            current_password: PASSWORDS[0].into(),
            new_password: PASSWORDS[1].into(),
        },
    ))
    .await
    .expect("user-changepass");
    c.user_changepass_nosession(note(
        s,
        &UserChangepassNosession {
            user_id: uid,
            full_name: NAME.into(),
            email: EMAIL.into(),
            current_password: PASSWORDS[1].into(),
            new_password: PASSWORDS[2].into(),
        },
    ))
    .await
    .expect("user-changepass-nosession");
    let forgot = c
        .user_sendemail_forgotpass(note(
            s,
            &UserSendemailForgotpass {
                email_address: EMAIL.into(),
                session_token: tok.clone(),
                server_name: "Client Test".into(),
                server_baseurl: "https://example.org".into(),
                password_forgot_url: "/forgot".into(),
                verification_token: "another-code".into(),
                verification_expiry: 900,
                ..Default::default()
            },
        ))
        .await
        .expect("user-sendemail-forgotpass");
    assert_eq!(forgot.user_id, uid);
    c.user_resetpass(note(
        s,
        &UserResetpass {
            email_address: EMAIL.into(),
            new_password: PASSWORDS[3].into(),
            session_token: tok.clone(),
        },
    ))
    .await
    .expect("user-resetpass");
    c.user_resetpass_nosession(note(
        s,
        &UserResetpassNosession {
            email_address: EMAIL.into(),
            new_password: PASSWORDS[4].into(),
            required_active: true,
        },
    ))
    .await
    .expect("user-resetpass-nosession");

    // Sessions: delete one, delete all of a user, log out.
    let one = session(&c, s, None).await;
    c.session_delete(note(s, &SessionDelete { session_token: one }))
        .await
        .expect("session-delete");
    let keep = session(&c, s, Some(uid)).await;
    let _other = session(&c, s, Some(uid)).await;
    c.session_delete_userid(note(
        s,
        &SessionDeleteUserid {
            session_token: keep.clone(),
            user_id: uid,
            keep_current_session: true,
        },
    ))
    .await
    .expect("session-delete-userid");
    let out = c
        .user_logout(note(
            s,
            &UserLogout {
                session_token: keep,
                user_id: uid,
            },
        ))
        .await
        .expect("user-logout (the kept session)");
    assert_eq!(out.user_id, uid);

    // Locks: the superuser's, then the internal ones; an internal edit.
    let admin_anon = session(&c, s, None).await;
    let admin = c
        .user_login(&UserLogin {
            session_token: admin_anon,
            email: ADMIN_EMAIL.into(),
            password: ADMIN_PASSWORD.into(),
        })
        .await
        .expect("admin login");
    assert_eq!(admin.user_role.as_deref(), Some("superuser"));
    let admin_tok = session(&c, s, Some(admin.user_id)).await;
    for action in ["lock", "unlock"] {
        let locked = c
            .user_lock(note(
                s,
                &UserLock {
                    user_id: admin.user_id,
                    user_role: "superuser".into(),
                    session_token: admin_tok.clone(),
                    target_userid: uid,
                    action: action.into(),
                },
            ))
            .await
            .expect("user-lock");
        assert_eq!(locked.user_info.is_active, Some(action == "unlock"));
        let locked = c
            .internal_user_lock(note(
                s,
                &InternalUserLock {
                    target_userid: uid,
                    action: action.into(),
                },
            ))
            .await
            .expect("internal-user-lock");
        assert_eq!(locked.user_info.is_active, Some(action == "unlock"));
    }
    let iedit = c
        .internal_user_edit(note(
            s,
            &InternalUserEdit {
                target_userid: uid,
                update_dict: map(json!({"extra_info": {"plan": "pro"}})),
            },
        ))
        .await
        .expect("internal-user-edit");
    assert_eq!(
        iedit.user_info.extra_info.as_ref().map(|e| &e["plan"]),
        Some(&json!("pro"))
    );

    // Social login: this server has no providers, so a login cannot start
    // or finish (the whole flow against a real provider is in the server's
    // tests); the account has no identity to list or unlink.
    let oauth_tok = session(&c, s, None).await;
    let refused = c
        .user_oauth_start(note(
            s,
            &UserOauthStart {
                provider: "google".into(),
                session_token: oauth_tok.clone(),
                redirect_uri: "https://example.org/oauth/google".into(),
            },
        ))
        .await
        .expect_err("no providers");
    assert_eq!(
        refused.failure().and_then(|f| f.failure_reason.as_deref()),
        Some("social login not configured")
    );
    let refused = c
        .user_oauth_finish(note(
            s,
            &UserOauthFinish {
                provider: "google".into(),
                session_token: oauth_tok,
                state: "a-state".into(),
                code: "a-code".into(),
                redirect_uri: "https://example.org/oauth/google".into(),
            },
        ))
        .await
        .expect_err("no providers");
    assert_eq!(
        refused.failure().and_then(|f| f.failure_reason.as_deref()),
        Some("social login not configured")
    );
    let listed = c
        .user_oauth_list(note(s, &UserOauthList { user_id: uid }))
        .await
        .expect("user-oauth-list");
    assert_eq!(listed.user_id, uid);
    assert!(listed.has_password);
    assert!(listed.identities.is_empty());
    let refused = c
        .user_oauth_unlink(note(
            s,
            &UserOauthUnlink {
                user_id: uid,
                provider: "google".into(),
            },
        ))
        .await
        .expect_err("nothing to unlink");
    assert_eq!(
        refused.failure().and_then(|f| f.failure_reason.as_deref()),
        Some("identity does not exist")
    );

    passkeys_not_configured(&c, s, uid, &tok).await;

    // Deletion: the user's own, and an internal one.
    let deleted = c
        .user_delete(note(
            s,
            &UserDelete {
                email: EMAIL.into(),
                user_id: uid,
                password: PASSWORDS[4].into(),
            },
        ))
        .await
        .expect("user-delete");
    assert_eq!(deleted.user_id, uid);
    let other = c
        .user_new(&UserNew {
            full_name: "Other Person".into(),
            email: "other@example.org".into(),
            password: PASSWORDS[2].into(),
            ..Default::default()
        })
        .await
        .expect("second user");
    c.internal_user_delete(note(
        s,
        &InternalUserDelete {
            target_userid: other.user_id,
        },
    ))
    .await
    .expect("internal-user-delete");
    let none = c
        .user_list(&UserList {
            user_id: Some(other.user_id),
        })
        .await
        .expect("user-list");
    assert!(none.user_info.is_empty());

    let missing: Vec<&str> = RequestType::ALL
        .iter()
        .filter(|k| !seen.contains(k))
        .map(|k| k.name())
        .collect();
    assert!(
        missing.is_empty(),
        "request types of the table not sent through their method: {missing:?}"
    );
    server.stop().await;
}

/// The escape hatch sends any request type with a JSON body and returns the
/// envelope whatever its `success`; a schema failure keeps its problems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_send_and_failures() {
    let server = Server::start().await;
    let c = server.client();
    let reply = c
        .send(
            RequestType::SessionNew,
            json!({"ip_address": "::1", "user_agent": "raw", "user_id": null,
                   "expires": "2099-01-01T00:00:00", "extra_info_json": null}),
        )
        .await
        .expect("session-new");
    assert!(reply.success);
    assert!(reply.response["session_token"].is_string());

    let bad = c
        .send(RequestType::UserLogout, json!({"session_token": 5}))
        .await
        .expect("a schema failure is a 200");
    assert!(!bad.success);
    assert_eq!(bad.failure_reason, None);
    let err = bad.into_result().expect_err("failure");
    let problems = err.failure().and_then(|f| f.problems()).expect("problems");
    assert_eq!(problems.len(), 2, "{problems:?}");

    // 400: a login without `email` ends in the back-off with an error.
    let err = c
        .send(RequestType::UserLogin, json!({"session_token": 5}))
        .await
        .expect_err("400");
    assert!(
        matches!(&err, authnz_client::Error::BadRequest { body } if body == authnz_proto::errors::BODY_400),
        "{err:?}"
    );
    assert_eq!(err.status(), Some(400));

    // A typed failure: failure_reason and messages kept apart.
    let err = c
        .user_login(&UserLogin {
            session_token: "no-such-session".into(),
            email: "nobody@example.org".into(),
            password: "wrong-PASSWORD-text".into(),
        })
        .await
        .expect_err("no such session");
    let failure = err.failure().expect("success: false");
    assert_eq!(failure.request, RequestType::UserLogin);
    assert_eq!(
        failure.failure_reason.as_deref(),
        Some("session does not exist")
    );
    assert_eq!(failure.messages, ["No session token provided."]);
    let text = format!("{err:?} {err}");
    assert!(
        !text.contains("wrong-PASSWORD-text") && !text.contains("no-such-session"),
        "{text}"
    );

    // An unknown request name via the raw body is not possible (RequestType),
    // but a non-object body is refused before anything is sent.
    assert!(matches!(
        c.send(RequestType::UserList, json!([1])).await,
        Err(authnz_client::Error::Config(_))
    ));
    server.stop().await;
}
