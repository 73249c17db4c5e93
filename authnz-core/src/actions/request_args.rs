//! The argument struct of each request type, decoded from the schema-checked
//! body (the field types are explained in `super::args`). Fields are named
//! and ordered as the request table's parameters (`RequestType::params`); a
//! test below fails if the two drift apart, and a handler that names a field
//! that is not there does not compile.

use authnz_proto::request::RequestType;
use serde_json::{Map, Value};

use super::ActionError;
use super::args::{IntArg, request_args};
use crate::mail::MailSettings;

request_args! {
    SessionNew => SessionNewArgs<'a> {
        ip_address: &'a str,
        user_agent: &'a str,
        /// `["int", "None"]` accepts anything.
        user_id: &'a Value,
        expires: &'a str,
        /// `["dict", "None"]` accepts anything.
        extra_info_json: &'a Value,
    }
    SessionExists => SessionExistsArgs<'a> {
        session_token: &'a str,
    }
    SessionDelete => SessionDeleteArgs<'a> {
        session_token: &'a str,
    }
    SessionDeleteUserid => SessionDeleteUseridArgs<'a> {
        session_token: &'a str,
        user_id: i64,
        keep_current_session: bool,
    }
    SessionJwtIssue => SessionJwtIssueArgs<'a> {
        session_token: &'a str,
        audience: &'a str,
        expires_seconds: i64,
    }
    UserLogin => UserLoginArgs<'a> {
        session_token: &'a str,
        email: &'a str,
        password: &'a str,
    }
    UserLoginSecondFactor => UserLoginSecondFactorArgs<'a> {
        session_token: &'a str,
        login_ticket: &'a str,
        totp_code: Option<&'a Value>,
        recovery_code: Option<&'a Value>,
        passkey_response: Option<&'a Value>,
    }
    UserTotpEnroll => UserTotpEnrollArgs<'a> {
        user_id: i64,
        password: &'a str,
    }
    UserTotpConfirm => UserTotpConfirmArgs<'a> {
        user_id: i64,
        totp_code: &'a str,
        session_token: Option<&'a Value>,
    }
    UserTotpDisable => UserTotpDisableArgs<'a> {
        user_id: i64,
        password: &'a str,
        totp_code: &'a str,
        session_token: Option<&'a Value>,
    }
    UserPasskeyRegisterStart => UserPasskeyRegisterStartArgs<'a> {
        user_id: i64,
        password: &'a str,
        name: Option<&'a Value>,
    }
    UserPasskeyRegisterFinish => UserPasskeyRegisterFinishArgs<'a> {
        user_id: i64,
        registration_id: &'a str,
        credential: &'a Map<String, Value>,
        name: Option<&'a Value>,
        session_token: Option<&'a Value>,
    }
    UserPasskeyLoginStart => UserPasskeyLoginStartArgs<'a> {
        session_token: &'a str,
    }
    UserPasskeyLoginFinish => UserPasskeyLoginFinishArgs<'a> {
        session_token: &'a str,
        login_id: &'a str,
        credential: &'a Map<String, Value>,
    }
    UserPasskeyList => UserPasskeyListArgs {
        user_id: i64,
    }
    UserPasskeyDelete => UserPasskeyDeleteArgs<'a> {
        user_id: i64,
        password: &'a str,
        passkey_id: i64,
        session_token: Option<&'a Value>,
    }
    UserPasskeySecondFactorStart => UserPasskeySecondFactorStartArgs<'a> {
        session_token: &'a str,
        login_ticket: &'a str,
    }
    UserLogout => UserLogoutArgs<'a> {
        session_token: &'a str,
        user_id: IntArg<'a>,
    }
    UserPasscheck => UserPasscheckArgs<'a> {
        session_token: &'a str,
        password: &'a str,
    }
    UserPasscheckNosession => UserPasscheckNosessionArgs<'a> {
        email: &'a str,
        password: &'a str,
    }
    UserNew => UserNewArgs<'a> {
        full_name: &'a str,
        email: &'a str,
        password: &'a str,
        extra_info: Option<&'a Value>,
        verify_retry_wait: Option<&'a Value>,
        system_id: Option<&'a Value>,
    }
    UserList => UserListArgs<'a> {
        /// `["int", "None"]` accepts anything.
        user_id: &'a Value,
    }
    UserLookupEmail => UserLookupEmailArgs<'a> {
        email: &'a str,
    }
    UserSetEmailverified => UserSetEmailverifiedArgs<'a> {
        email: &'a str,
    }
    UserChangepass => UserChangepassArgs<'a> {
        user_id: IntArg<'a>,
        session_token: &'a str,
        full_name: &'a str,
        email: &'a str,
        current_password: &'a str,
        new_password: &'a str,
    }
    UserChangepassNosession => UserChangepassNosessionArgs<'a> {
        user_id: IntArg<'a>,
        full_name: &'a str,
        email: &'a str,
        current_password: &'a str,
        new_password: &'a str,
    }
    UserResetpass => UserResetpassArgs<'a> {
        email_address: &'a str,
        new_password: &'a str,
        session_token: &'a str,
    }
    UserResetpassNosession => UserResetpassNosessionArgs<'a> {
        email_address: &'a str,
        new_password: &'a str,
        required_active: bool,
    }
    /// The optional policy arguments are accepted but not used (the
    /// server's policy wins).
    UserValidatepass => UserValidatepassArgs<'a> {
        password: &'a str,
        email: &'a str,
        full_name: &'a str,
        min_pass_length: Option<&'a Value>,
        max_unsafe_similarity: Option<&'a Value>,
        max_character_frequency: Option<&'a Value>,
        min_pwned_matches: Option<&'a Value>,
    }
    UserDelete => UserDeleteArgs<'a> {
        email: &'a str,
        user_id: IntArg<'a>,
        password: &'a str,
    }
    UserEdit => UserEditArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        session_token: &'a str,
        target_userid: i64,
        update_dict: &'a Map<String, Value>,
    }
    UserLock => UserLockArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        session_token: &'a str,
        target_userid: i64,
        action: &'a str,
    }
    UserLookupMatch => UserLookupMatchArgs<'a> {
        by: &'a str,
        /// `Any`: anything but null.
        r#match = "match": &'a Value,
    }
    UserSessionsList => UserSessionsListArgs<'a> {
        user_id: i64,
        session_token: &'a str,
    }
    UserSessionsRevoke => UserSessionsRevokeArgs<'a> {
        user_id: i64,
        session_token: &'a str,
        session_id: &'a str,
    }
    InternalUserLock => InternalUserLockArgs<'a> {
        target_userid: i64,
        action: &'a str,
    }
    InternalUserDelete => InternalUserDeleteArgs {
        target_userid: i64,
    }
    InternalUserEdit => InternalUserEditArgs<'a> {
        target_userid: i64,
        update_dict: &'a Map<String, Value>,
    }
    InternalSessionEdit => InternalSessionEditArgs<'a> {
        target_session_token: &'a str,
        update_dict: &'a Map<String, Value>,
    }
    InternalAuditList => InternalAuditListArgs<'a> {
        limit: i64,
        user_id: Option<&'a Value>,
        event: Option<&'a Value>,
        since: Option<&'a Value>,
        until: Option<&'a Value>,
        cursor: Option<&'a Value>,
    }
    UserCheckAccess => UserCheckAccessArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        action: &'a str,
        target_name: &'a str,
        target_owner: i64,
        target_visibility: &'a str,
        target_sharedwith: &'a str,
    }
    UserCheckLimit => UserCheckLimitArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        limit_name: &'a str,
        /// `Any`: anything but null.
        value_to_check: &'a Value,
    }
    GroupNew => GroupNewArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        group_name: &'a str,
    }
    GroupList => GroupListArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        /// An `int` when truthy; absent or falsy: no member filter.
        member_id: Option<&'a Value>,
    }
    GroupMembers => GroupMembersArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        group_id: i64,
    }
    GroupAddMember => GroupAddMemberArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        group_id: i64,
        member_id: i64,
        is_owner: bool,
    }
    GroupRemoveMember => GroupRemoveMemberArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        group_id: i64,
        member_id: i64,
    }
    GroupDelete => GroupDeleteArgs<'a> {
        user_id: i64,
        user_role: &'a str,
        group_id: i64,
    }
    ApikeyNew => ApikeyNewArgs<'a> {
        issuer: &'a Value,
        audience: &'a Value,
        /// `["str", "list"]`: a string or a list of strings.
        subject: &'a Value,
        /// `["str", "int"]`.
        apiversion: &'a Value,
        expires_days: i64,
        /// `["float", "int"]`.
        not_valid_before: &'a Value,
        user_id: i64,
        user_role: &'a str,
        ip_address: &'a str,
        user_agent: &'a str,
        session_token: &'a str,
    }
    ApikeyVerify => ApikeyVerifyArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
    }
    ApikeyRevoke => ApikeyRevokeArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
    }
    ApikeyNewNosession => ApikeyNewNosessionArgs<'a> {
        issuer: &'a Value,
        audience: &'a Value,
        /// `["str", "list"]`: a string or a list of strings.
        subject: &'a Value,
        /// `["str", "int"]`.
        apiversion: &'a Value,
        expires_seconds: i64,
        /// `["float", "int"]`.
        not_valid_before: &'a Value,
        user_id: i64,
        user_role: &'a str,
        ip_address: &'a str,
        refresh_expires: i64,
        /// `["float", "int"]`.
        refresh_nbf: &'a Value,
    }
    ApikeyVerifyNosession => ApikeyVerifyNosessionArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
    }
    ApikeyRevokeNosession => ApikeyRevokeNosessionArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
    }
    ApikeyRevokeallNosession => ApikeyRevokeallNosessionArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
    }
    ApikeyRefreshNosession => ApikeyRefreshNosessionArgs<'a> {
        apikey_dict: &'a Map<String, Value>,
        user_id: i64,
        user_role: &'a str,
        refresh_token: &'a str,
        ip_address: &'a str,
        expires_seconds: i64,
        /// `["int", "float"]`.
        not_valid_before: &'a Value,
        refresh_expires: i64,
        /// `["int", "float"]`.
        refresh_nbf: &'a Value,
    }
    /// `server_verify_url` is needed only without a non-empty
    /// `account_verify_url` string (the handler checks it).
    UserSendemailSignup => UserSendemailSignupArgs<'a> {
        email_address: &'a str,
        session_token: &'a str,
        created_info: &'a Map<String, Value>,
        server_name: &'a str,
        server_baseurl: &'a str,
        verification_token: &'a str,
        verification_expiry: i64,
        server_verify_url: Option<&'a Value>,
        account_verify_url: Option<&'a Value>,
        emailuser: Option<&'a Value>,
        emailpass: Option<&'a Value>,
        emailserver: Option<&'a Value>,
        emailport: Option<&'a Value>,
        emailsender: Option<&'a Value>,
    }
    UserSendemailForgotpass => UserSendemailForgotpassArgs<'a> {
        email_address: &'a str,
        session_token: &'a str,
        server_name: &'a str,
        server_baseurl: &'a str,
        password_forgot_url: &'a str,
        verification_token: &'a str,
        verification_expiry: i64,
        emailuser: Option<&'a Value>,
        emailpass: Option<&'a Value>,
        emailserver: Option<&'a Value>,
        emailport: Option<&'a Value>,
        emailsender: Option<&'a Value>,
    }
    UserSetEmailsent => UserSetEmailsentArgs<'a> {
        email: &'a str,
        email_type: &'a str,
    }
    UserOauthStart => UserOauthStartArgs<'a> {
        provider: &'a str,
        session_token: &'a str,
        redirect_uri: &'a str,
    }
    UserOauthFinish => UserOauthFinishArgs<'a> {
        provider: &'a str,
        session_token: &'a str,
        state: &'a str,
        code: &'a str,
        redirect_uri: &'a str,
    }
    UserOauthList => UserOauthListArgs {
        user_id: i64,
    }
    UserOauthUnlink => UserOauthUnlinkArgs<'a> {
        user_id: i64,
        provider: &'a str,
    }
}

/// The mail settings of a send request's arguments.
macro_rules! mail_settings {
    ($($name:ident)*) => {$(
        impl<'a> $name<'a> {
            /// The request's optional mail settings.
            pub fn mail_settings(&self) -> MailSettings<'a> {
                MailSettings {
                    emailuser: self.emailuser,
                    emailpass: self.emailpass,
                    emailserver: self.emailserver,
                    emailport: self.emailport,
                    emailsender: self.emailsender,
                }
            }
        }
    )*};
}
mail_settings!(UserSendemailSignupArgs UserSendemailForgotpassArgs);

#[cfg(test)]
mod tests {
    use super::*;

    /// Each argument struct has exactly the parameters of its request type,
    /// in schema order, each in a Rust type that holds its spec.
    #[test]
    fn argument_structs_match_the_request_table() {
        let declared = declared();
        for (kind, fields) in &declared {
            let params = kind.params();
            let names: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
            let wanted: Vec<&str> = params.iter().map(|p| p.name).collect();
            assert_eq!(names, wanted, "{kind:?}: fields against the schema");
            for ((name, fits), param) in fields.iter().zip(params) {
                assert!(
                    fits(param),
                    "{kind:?}: the type of field {name} cannot hold {:?} (required: {})",
                    param.spec,
                    param.required
                );
            }
        }
        let mut kinds: Vec<RequestType> = declared.iter().map(|(kind, _)| *kind).collect();
        let count = kinds.len();
        kinds.sort_unstable();
        kinds.dedup();
        assert_eq!(kinds.len(), count, "one struct per request type");
        let mut all = RequestType::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(kinds, all, "every request type has its argument struct");
    }

    /// Python's rules survive decoding (a boolean is an `int`, the value is
    /// echoed as given), and a body the schema would have refused is an
    /// error, not a default.
    #[test]
    fn decoding_keeps_python_rules_and_refuses_unchecked_bodies() {
        use crate::actions::args::Decode;
        let body = |v: Value| match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        let b = body(serde_json::json!({"session_token": "t", "user_id": true}));
        let args = UserLogoutArgs::decode(&b).expect("decodes");
        assert_eq!(args.session_token, "t");
        assert_eq!(args.user_id.value, 1);
        assert_eq!(args.user_id.given, &Value::Bool(true));
        for bad in [
            serde_json::json!({"session_token": "t"}),
            serde_json::json!({"session_token": 5, "user_id": 1}),
            serde_json::json!({"session_token": "t", "user_id": "1"}),
        ] {
            assert!(UserLogoutArgs::decode(&body(bad)).is_err());
        }
        let b = body(serde_json::json!({
            "session_token": "t", "user_id": 2, "keep_current_session": 1
        }));
        assert!(SessionDeleteUseridArgs::decode(&b).is_err());
    }
}
