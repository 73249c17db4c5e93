"""Groups (PROTOCOL.md 3.10, not in the original), end to end through the
encrypted protocol: a superuser makes a group, names an owner, the owner
adds a member, an item shared with the group (`group:<id>` in
`target_sharedwith`) reaches the member through `user-check-access` until
they leave, and a plain user is refused what only managers and owners may
do."""

from __future__ import annotations

from helpers import ISO_RE, sign_up

SUPERUSER = {"user_id": 1, "user_role": "superuser"}


def _as(user: dict) -> dict:
    return {"user_id": user["user_id"], "user_role": "authenticated"}


def _view_shared(client, user: dict, owner: dict, sharedwith: str) -> dict:
    return client.ok(
        "user-check-access",
        {
            **_as(user),
            "action": "view",
            "target_name": "dataset",
            "target_owner": owner["user_id"],
            "target_visibility": "shared",
            "target_sharedwith": sharedwith,
        },
    )


def test_group_life_and_shared_access(server):
    client = server.client("10.44.9.1")
    owner = sign_up(client, "grp-owner")
    member = sign_up(client, "grp-member")
    author = sign_up(client, "grp-author")

    # Only managers make groups.
    env = client.ok("group-new", {**_as(owner), "group_name": "Nope"})
    assert env["success"] is False
    assert env["failure_reason"] == "action not permitted"
    env = client.ok("group-new", {**SUPERUSER, "group_name": "E2E readers"})
    assert env["success"] is True, env
    group = env["response"]["group"]
    assert group["group_name"] == "E2E readers" and group["created_by"] == 1
    assert ISO_RE.match(group["created_on"]), group
    gid = group["group_id"]

    # The superuser names an owner; the owner adds a plain member.
    env = client.ok("group-add-member", {**SUPERUSER, "group_id": gid, "member_id": owner["user_id"], "is_owner": True})  # fmt: skip
    assert env["success"] is True and env["response"]["added"] is True, env
    # A plain user (not yet a member) may not add anyone.
    env = client.ok("group-add-member", {**_as(member), "group_id": gid, "member_id": member["user_id"], "is_owner": False})  # fmt: skip
    assert env["success"] is False and env["failure_reason"] == "action not permitted"
    env = client.ok("group-add-member", {**_as(owner), "group_id": gid, "member_id": member["user_id"], "is_owner": False})  # fmt: skip
    assert env["success"] is True, env

    env = client.ok("group-members", {**_as(member), "group_id": gid})
    assert env["success"] is True, env
    assert env["response"]["members"] == sorted(
        [
            {"user_id": owner["user_id"], "is_owner": True},
            {"user_id": member["user_id"], "is_owner": False},
        ],
        key=lambda m: m["user_id"],
    )
    # A frontend reads a user's groups with group-list.
    env = client.ok("group-list", _as(member))
    assert env["success"] is True, env
    assert [(g["group_id"], g["is_owner"]) for g in env["response"]["groups"]] == [(gid, False)]

    # An item of `author` shared with the group: the member may view it.
    shared = f"group:{gid}"
    env = _view_shared(client, member, author, shared)
    assert env["success"] is True, env
    assert env["messages"] == ["Access request check successful. Access granted: True."]

    # After leaving, no more.
    env = client.ok("group-remove-member", {**_as(member), "group_id": gid, "member_id": member["user_id"]})  # fmt: skip
    assert env["success"] is True, env
    env = _view_shared(client, member, author, shared)
    assert env["success"] is False
    assert env["failure_reason"] == "action not permitted"

    # Only managers delete; afterwards the group is gone for everyone.
    env = client.ok("group-delete", {**_as(owner), "group_id": gid})
    assert env["success"] is False and env["failure_reason"] == "action not permitted"
    env = client.ok("group-delete", {**SUPERUSER, "group_id": gid})
    assert env["success"] is True, env
    env = client.ok("group-list", _as(owner))
    assert env["success"] is True and env["response"]["groups"] == [], env


def test_session_and_login_replies_keep_their_shape(server):
    """Groups add nothing to session-exists or user-login: a frontend that
    needs a user's groups asks group-list."""
    client = server.client("10.44.9.2")
    user = sign_up(client, "grp-shape")
    env = client.ok("group-new", {**SUPERUSER, "group_name": "Shape"})
    gid = env["response"]["group"]["group_id"]
    env = client.ok("group-add-member", {**SUPERUSER, "group_id": gid, "member_id": user["user_id"], "is_owner": False})  # fmt: skip
    assert env["success"] is True, env
    anon = client.ok(
        "session-new",
        {"ip_address": "10.44.9.2", "user_agent": "authnz-e2e/1.0", "user_id": None,
         "expires": "2100-01-01T00:00:00", "extra_info_json": None},
    )["response"]["session_token"]  # fmt: skip
    env = client.ok("user-login", {"session_token": anon, "email": user["email"], "password": user["password"]})  # fmt: skip
    assert env["success"] is True, env
    assert set(env["response"]) == {"success", "messages", "user_id", "user_role"}, env
    sess = client.ok(
        "session-new",
        {"ip_address": "10.44.9.2", "user_agent": "authnz-e2e/1.0", "user_id": user["user_id"],
         "expires": "2100-01-01T00:00:00", "extra_info_json": None},
    )["response"]["session_token"]  # fmt: skip
    env = client.ok("session-exists", {"session_token": sess})
    assert env["success"] is True, env
    assert "groups" not in env["response"] and "groups" not in env["response"]["session_info"], env
    client.ok("group-delete", {**SUPERUSER, "group_id": gid})
