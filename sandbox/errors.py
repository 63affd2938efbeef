"""Errors of the sandbox package; each names the file or field, the value and the fix."""

from __future__ import annotations


class SandboxError(Exception):
    """Base class of the sandbox package's errors."""


class ScenarioError(SandboxError):
    """A scenario file is invalid or a step failed."""
