//! The bodies of the two mails the server sends (PROTOCOL.md 3.5): built-in text
//! and HTML templates for the sign-up verification and the password reset,
//! each replaceable by a file in `<basedir>/email-templates/`:
//!
//! | file | mail |
//! | --- | --- |
//! | `signup.txt`, `signup.html` | sign-up verification |
//! | `forgotpass.txt`, `forgotpass.html` | password reset |
//!
//! A template is text with `{placeholder}`s: `{server_name}`,
//! `{server_baseurl}`, `{user_email}`, `{browser}`, `{ip_address}`,
//! `{verification_code}` (wrapped at 70 characters a line),
//! `{verification_url}` (base URL + the request's URL path) and
//! `{verification_expiry}` (`<isoformat> (UTC time)`). Write `{{` and `}}`
//! for literal braces; unknown placeholders are left as written. Values are
//! HTML-escaped in the HTML templates (the browser string and the server
//! name come from outside). An empty HTML file turns the HTML part off.
//! Subjects are fixed by the protocol and not templated.

use std::path::Path;

use crate::validate::text::html_escape;

/// The folder in `basedir` that may hold template overrides.
pub const TEMPLATE_DIR: &str = "email-templates";

const SIGNUP_TEXT: &str = "\
Hello,

This is an automated message from {server_name} at {server_baseurl}.

We received an account sign up request for {user_email}. The request was
made with the browser

{browser}

from the IP address {ip_address}.

Please enter this code:

{verification_code}

into the account verification form at:

{verification_url}

to verify that you made this request. The code expires on
{verification_expiry}. You will also need your password to finish.

If you did not sign up for an account at {server_name}, please ignore
this mail.

Thanks,
{server_name} admins
{server_baseurl}
";

const SIGNUP_HTML: &str = "\
<!DOCTYPE html>
<html><body>
<p>Hello,</p>
<p>This is an automated message from {server_name} at
<a href=\"{server_baseurl}\">{server_baseurl}</a>.</p>
<p>We received an account sign up request for {user_email}. The request
was made with the browser <code>{browser}</code> from the IP address
{ip_address}.</p>
<p>Please enter this code:</p>
<pre>{verification_code}</pre>
<p>into the account verification form at
<a href=\"{verification_url}\">{verification_url}</a>
to verify that you made this request. The code expires on
{verification_expiry}. You will also need your password to finish.</p>
<p>If you did not sign up for an account at {server_name}, please ignore
this mail.</p>
<p>Thanks,<br>{server_name} admins<br>{server_baseurl}</p>
</body></html>
";

const FORGOT_TEXT: &str = "\
Hello,

This is an automated message from {server_name} at {server_baseurl}.

We received a password reset request for {user_email}. The request was
made with the browser

{browser}

from the IP address {ip_address}.

Please enter this code:

{verification_code}

into the password reset form at:

{verification_url}

to verify that you made this request. The code expires on
{verification_expiry}.

If you did not request a password reset at {server_name}, please ignore
this mail; your password stays as it is.

Thanks,
{server_name} admins
{server_baseurl}
";

const FORGOT_HTML: &str = "\
<!DOCTYPE html>
<html><body>
<p>Hello,</p>
<p>This is an automated message from {server_name} at
<a href=\"{server_baseurl}\">{server_baseurl}</a>.</p>
<p>We received a password reset request for {user_email}. The request
was made with the browser <code>{browser}</code> from the IP address
{ip_address}.</p>
<p>Please enter this code:</p>
<pre>{verification_code}</pre>
<p>into the password reset form at
<a href=\"{verification_url}\">{verification_url}</a>
to verify that you made this request. The code expires on
{verification_expiry}.</p>
<p>If you did not request a password reset at {server_name}, please
ignore this mail; your password stays as it is.</p>
<p>Thanks,<br>{server_name} admins<br>{server_baseurl}</p>
</body></html>
";

/// Which mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// `user-sendemail-signup`.
    Signup,
    /// `user-sendemail-forgotpass`.
    ForgotPass,
}

/// The text and (optional) HTML template of one mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub text: String,
    pub html: Option<String>,
}

/// Both mails' templates, loaded once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Templates {
    pub signup: Template,
    pub forgotpass: Template,
}

impl Default for Templates {
    fn default() -> Self {
        Templates {
            signup: Template {
                text: SIGNUP_TEXT.to_owned(),
                html: Some(SIGNUP_HTML.to_owned()),
            },
            forgotpass: Template {
                text: FORGOT_TEXT.to_owned(),
                html: Some(FORGOT_HTML.to_owned()),
            },
        }
    }
}

/// The values a template is filled with.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    pub server_name: &'a str,
    pub server_baseurl: &'a str,
    pub user_email: &'a str,
    pub browser: &'a str,
    pub ip_address: &'a str,
    pub verification_code: &'a str,
    pub verification_url: &'a str,
    pub verification_expiry: &'a str,
}

impl Fields<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        Some(match name {
            "server_name" => self.server_name,
            "server_baseurl" => self.server_baseurl,
            "user_email" => self.user_email,
            "browser" => self.browser,
            "ip_address" => self.ip_address,
            "verification_code" => self.verification_code,
            "verification_url" => self.verification_url,
            "verification_expiry" => self.verification_expiry,
            _ => return None,
        })
    }
}

/// Why the templates could not be loaded (start-up stops).
#[derive(Debug, thiserror::Error)]
#[error("cannot read the mail template {}: {source}", path.display())]
pub struct TemplateError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

fn read_override(dir: &Path, name: &str) -> Result<Option<String>, TemplateError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TemplateError { path, source }),
    }
}

impl Templates {
    /// The built-in templates, each replaced by its file in `dir` if that
    /// exists. A file that exists but cannot be read is an error.
    pub fn load(dir: &Path) -> Result<Templates, TemplateError> {
        let mut t = Templates::default();
        for (template, stem) in [(&mut t.signup, "signup"), (&mut t.forgotpass, "forgotpass")] {
            if let Some(text) = read_override(dir, &format!("{stem}.txt"))? {
                template.text = text;
            }
            if let Some(html) = read_override(dir, &format!("{stem}.html"))? {
                template.html = (!html.trim().is_empty()).then_some(html);
            }
        }
        Ok(t)
    }

    /// The template of `kind`.
    pub fn get(&self, kind: MailKind) -> &Template {
        match kind {
            MailKind::Signup => &self.signup,
            MailKind::ForgotPass => &self.forgotpass,
        }
    }
}

/// Fill `template`; in HTML mode every value is HTML-escaped.
pub fn render(template: &str, fields: &Fields<'_>, html: bool) -> String {
    let mut out = String::with_capacity(template.len() + 512);
    let mut rest = template;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if tail.starts_with('{')
            && let Some(end) = tail.find('}')
            && let Some(value) = fields.get(&tail[1..end])
        {
            if html {
                out.push_str(&html_escape(value));
            } else {
                out.push_str(value);
            }
            rest = &tail[end + 1..];
            continue;
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// The code as lines of at most 70 characters (PROTOCOL.md 3.5).
pub fn wrap_code(code: &str) -> String {
    let chars: Vec<char> = code.chars().collect();
    chars
        .chunks(70)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The subject of `kind` for `server_name` (PROTOCOL.md 3.5, exact).
pub fn subject(kind: MailKind, server_name: &str) -> String {
    match kind {
        MailKind::Signup => format!("[{server_name}] Please verify your account sign up request"),
        MailKind::ForgotPass => {
            format!("[{server_name}] Please verify your password reset request")
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn fields() -> Fields<'static> {
        Fields {
            server_name: "Srv <x>",
            server_baseurl: "https://srv.example",
            user_email: "u@example.org",
            browser: "Mozilla/5.0 <script>",
            ip_address: "10.0.0.1",
            verification_code: "CODE",
            verification_url: "https://srv.example/verify?a=1&b=2",
            verification_expiry: "2030-01-01T00:00:00 (UTC time)",
        }
    }

    #[test]
    fn placeholders_braces_and_escaping() {
        let t = "{server_name} {{literal}} {unknown} {browser} {verification_url}";
        assert_eq!(
            render(t, &fields(), false),
            "Srv <x> {literal} {unknown} Mozilla/5.0 <script> https://srv.example/verify?a=1&b=2"
        );
        assert_eq!(
            render(t, &fields(), true),
            "Srv &lt;x&gt; {literal} {unknown} Mozilla/5.0 &lt;script&gt; https://srv.example/verify?a=1&amp;b=2"
        );
        assert_eq!(render("a { b } c {", &fields(), false), "a { b } c {");
    }

    #[test]
    fn built_in_templates_use_every_field() {
        for kind in [MailKind::Signup, MailKind::ForgotPass] {
            let t = Templates::default();
            let t = t.get(kind);
            for text in [&t.text, t.html.as_ref().unwrap()] {
                for name in [
                    "server_name",
                    "server_baseurl",
                    "user_email",
                    "browser",
                    "ip_address",
                    "verification_code",
                    "verification_url",
                    "verification_expiry",
                ] {
                    assert!(
                        text.contains(&format!("{{{name}}}")),
                        "{kind:?} lacks {name}"
                    );
                }
            }
        }
    }

    #[test]
    fn code_wrapping() {
        let code: String = "x".repeat(150);
        let wrapped = wrap_code(&code);
        let lines: Vec<&str> = wrapped.lines().collect();
        assert_eq!(
            lines.iter().map(|l| l.len()).collect::<Vec<_>>(),
            [70, 70, 10]
        );
        assert_eq!(wrap_code("abc"), "abc");
        assert_eq!(wrap_code(""), "");
    }

    #[test]
    fn subjects() {
        assert_eq!(
            subject(MailKind::Signup, "Srv"),
            "[Srv] Please verify your account sign up request"
        );
        assert_eq!(
            subject(MailKind::ForgotPass, "Srv"),
            "[Srv] Please verify your password reset request"
        );
    }

    #[test]
    fn overrides_from_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("signup.txt"), "custom {user_email}").unwrap();
        std::fs::write(dir.path().join("forgotpass.html"), "  \n").unwrap();
        let t = Templates::load(dir.path()).unwrap();
        assert_eq!(t.signup.text, "custom {user_email}");
        assert_eq!(t.signup.html.as_deref(), Some(SIGNUP_HTML));
        assert_eq!(t.forgotpass.html, None);
        assert_eq!(t.forgotpass.text, FORGOT_TEXT);
        assert_eq!(
            Templates::load(&dir.path().join("missing")).unwrap(),
            Templates::default()
        );
    }
}
