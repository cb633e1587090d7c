"""Tokens: shown once, kept as a hash, refused with a reason when malformed, unknown,
wrong, revoked or expired; issuing and revoking are audited without the secret."""

from datetime import timedelta

import pytest

from prodml.errors import AuthError, ConfigError, NotFoundError


def test_a_token_authenticates_as_its_role_and_scope_and_only_its_hash_is_kept(workspace):
    record, secret = workspace.tokens.create("client", name="checkout", actor="root", model="churn")
    principal = workspace.tokens.authenticate(secret)
    assert (principal.role, principal.model) == ("client", "churn")
    assert "checkout" in principal.name
    stored = workspace.metadata.token(record.id)
    assert secret.split("_")[-1] not in repr(stored)
    assert stored.expires_at - stored.created_at == timedelta(days=90)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: "not a token", "malformed"),
        (lambda s: s[:-1] + ("A" if s[-1] != "A" else "B"), "not a valid token"),
        (lambda s: "pml_000000000000_" + s.split("_", 2)[2], "not a valid token"),
    ],
    ids=["malformed", "wrong-secret", "unknown-id"],
)
def test_a_bad_token_is_refused_with_a_reason(workspace, mangle, message):
    _, secret = workspace.tokens.create("viewer", name="pm", actor="root")
    with pytest.raises(AuthError, match=message):
        workspace.tokens.authenticate(mangle(secret))


def test_a_revoked_or_expired_token_is_refused(workspace, clock):
    record, secret = workspace.tokens.create("labeler", name="ops", actor="root")
    workspace.tokens.revoke(record.id, actor="root", reason="left the team")
    workspace.tokens.revoke(record.id, actor="root")  # again: nothing more happens
    with pytest.raises(AuthError, match="revoked"):
        workspace.tokens.authenticate(secret)
    _, short = workspace.tokens.create(
        "viewer", name="pm", actor="root", lifetime=timedelta(hours=1)
    )
    clock.advance(timedelta(hours=2))
    with pytest.raises(AuthError, match="expired"):
        workspace.tokens.authenticate(short)
    with pytest.raises(NotFoundError, match="auth token list"):
        workspace.tokens.revoke("000000000000", actor="root")


def test_issuing_and_revoking_are_audited_without_the_secret(workspace):
    record, secret = workspace.tokens.create("approver", name="lead", actor="root")
    workspace.tokens.revoke(record.id, actor="root", reason="rotated")
    events = list(workspace.audit.events())
    assert [(e.actor, e.action, e.target) for e in events] == [
        ("root", "token.create", f"token/{record.id}"),
        ("root", "token.revoke", f"token/{record.id}"),
    ]
    assert events[1].reason == "rotated"
    assert all(secret.split("_")[-1] not in repr(e) for e in events)
    assert workspace.audit.verify().ok


def test_an_unknown_role_is_refused_with_the_roles_there_are(workspace):
    with pytest.raises(ConfigError, match="data-scientist"):
        workspace.tokens.create("superuser", name="x", actor="root")
