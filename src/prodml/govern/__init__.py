"""Governance: who may do what (roles and tokens) and a tamper-evident record of who did
(the audit log). It sits just above the stores, so every part of the flow can record."""

from prodml.govern.audit import AuditLog, Verdict
from prodml.govern.guard import Guard
from prodml.govern.roles import ROLES, Principal, require
from prodml.govern.tokens import Tokens

__all__ = ["ROLES", "AuditLog", "Guard", "Principal", "Tokens", "Verdict", "require"]
