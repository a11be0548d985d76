"""Typed errors. Each carries the exit code the CLI returns for it.

Messages are one paragraph that names the file, node or tensor, the target,
and what to do. The CLI prints the message; tracebacks only with ``--debug``.
"""

from __future__ import annotations


class EdgecError(Exception):
    """Base class of every error edgec reports to a user."""

    exit_code = 1


class UsageError(EdgecError):
    """A command-line argument is malformed or inconsistent."""

    exit_code = 2


class ModelError(EdgecError):
    """The input model cannot be read or is not valid ONNX."""

    exit_code = 3


class UnsupportedOpError(EdgecError):
    """The model uses ops that edgec (or the chosen target) cannot handle."""

    exit_code = 4


class ShapeError(EdgecError):
    """A shape is dynamic where a static one is needed, or inconsistent."""

    exit_code = 5


class TargetError(EdgecError):
    """Unknown target, malformed catalogue, or a request the target cannot honour."""

    exit_code = 6


class AccuracyError(EdgecError):
    """The artifact falls outside the accuracy budget."""

    exit_code = 7


class OutputExistsError(EdgecError):
    """The output directory exists and ``--force`` was not given."""

    exit_code = 8


class VerificationError(EdgecError):
    """An IR invariant is broken: a bug in a pass or in the frontend."""

    exit_code = 70


class PassError(EdgecError):
    """A pass failed or left the graph invalid; names the pass and those before it."""

    exit_code = 70


class BundleMismatchError(EdgecError):
    """``edgec verify``: a bundle file differs from manifest.json, is missing, or is not listed."""

    exit_code = 20


class SignatureError(EdgecError):
    """``edgec verify --public-key``: the manifest's signature is missing or does not verify."""

    exit_code = 21


class OutputMismatchError(EdgecError):
    """``edgec verify``: the artifact's output on sample_input.npz is outside the precision's tolerance."""

    exit_code = 22
