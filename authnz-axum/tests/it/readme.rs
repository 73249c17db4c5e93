//! The README's axum example (`examples/site.rs`) works against a real
//! authnzrv, and the README shows exactly its code.

use authnz_axum::SiteKey;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Browser, Server};

#[path = "../../examples/site.rs"]
#[allow(dead_code)]
mod example;

#[test]
fn the_readme_shows_the_example() {
    let readme = include_str!("../../../README.md");
    let code = include_str!("../../examples/site.rs");
    assert!(
        readme.contains(code.trim()),
        "README.md must show authnz-axum/examples/site.rs verbatim"
    );
}

#[tokio::test]
async fn the_readme_example_signs_in_and_out() {
    let server = Server::start().await;
    let app = example::app(server.client(), SiteKey::from_bytes([3; 32]));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
    });
    let mut b = Browser::new(addr);
    let home = b.get("/").await;
    assert!(
        home.body.contains("Hello, anonymous user."),
        "{}",
        home.body
    );
    let csrf = home
        .body
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    // Not signed in: /me sends the browser to the login form.
    assert_eq!(b.get("/me").await.header("location").as_deref(), Some("/"));
    // Without the token: 403.
    let r = b
        .post_form(
            "/login",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post_form(
            "/login",
            &[
                ("_csrf", &csrf),
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(b.get("/me").await.body, "user 1 (superuser)");
    let home = b.get("/").await;
    assert!(home.body.contains("Hello, superuser user."));
    let csrf = home
        .body
        .split("name=\"_csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let r = b.post_form("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!(r.status, 303);
    assert_eq!(b.get("/me").await.status, 303);
    server.stop().await;
}
