//! The README's "From Rust" example (`examples/quickstart.rs`) runs against
//! a real authnzrv, and the README shows exactly its code.

use base64::Engine as _;

use crate::common::{ADMIN_EMAIL, ADMIN_PASSWORD, Server};

#[path = "../../examples/quickstart.rs"]
#[allow(dead_code)]
mod example;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_runs() {
    let server = Server::start().await;
    let data = tempfile::tempdir().expect("temp dir");
    let key = base64::engine::general_purpose::URL_SAFE.encode(server.key);
    std::fs::write(data.path().join(".authnzerver-secret-key"), key).expect("key file");
    std::fs::write(
        data.path().join(".authnzerver-admin-credentials"),
        format!("{ADMIN_EMAIL} {ADMIN_PASSWORD}\n"),
    )
    .expect("credentials file");
    let user = example::quickstart(&server.url, data.path())
        .await
        .expect("the example runs");
    assert_eq!(user, Some(1), "logged in as the superuser");

    // A wrong password is a refusal, not an error.
    std::fs::write(
        data.path().join(".authnzerver-admin-credentials"),
        format!("{ADMIN_EMAIL} not-the-Password-5\n"),
    )
    .expect("credentials file");
    let user = example::quickstart(&server.url, data.path())
        .await
        .expect("the example runs");
    assert_eq!(user, None);
    server.stop().await;
}

#[test]
fn the_readme_shows_the_example() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    let example = std::fs::read_to_string(root.join("authnz-client/examples/quickstart.rs"))
        .expect("example");
    let section = readme
        .split("\n## From Rust\n")
        .nth(1)
        .expect("README has a \"From Rust\" section");
    let code = section
        .split("```rust\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a rust code block in the section");
    assert!(code.lines().count() > 20, "the block is the example");
    assert!(
        example.contains(code),
        "README's \"From Rust\" code is not a verbatim part of examples/quickstart.rs"
    );
}
