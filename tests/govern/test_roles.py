"""Roles: each may do its own work and no more; a refusal names the roles that would do."""

import pytest

from prodml.errors import ForbiddenError
from prodml.govern.roles import (
    ADMIN,
    APPROVE,
    LABEL,
    PERMISSIONS,
    PREDICT,
    READ,
    ROLES,
    Principal,
    require,
)


def test_a_client_predicts_and_nothing_else():
    client = Principal("shop", "client")
    assert client.may(PREDICT, "churn")
    for permission in set(PERMISSIONS) - {PREDICT}:
        assert not client.may(permission, "churn")


def test_a_client_cannot_post_labels_or_move_an_alias_and_is_told_who_can():
    client = Principal("shop", "client")
    with pytest.raises(ForbiddenError, match="needs the role labeler"):
        require(client, LABEL, "churn")
    with pytest.raises(ForbiddenError, match="needs the role approver, controller"):
        require(client, APPROVE, "churn")


def test_a_scoped_token_touches_its_model_only():
    scoped = Principal("lead", "approver", model="churn")
    require(scoped, APPROVE, "churn")
    with pytest.raises(ForbiddenError, match="scoped to model 'churn'"):
        require(scoped, APPROVE, "loans")


def test_only_an_admin_administers_and_every_role_reads_or_works():
    assert [r for r, held in ROLES.items() if ADMIN in held] == ["admin"]
    assert all(held for held in ROLES.values())
    assert {r for r, held in ROLES.items() if READ not in held} == {"client", "labeler"}
