"""The command line's help: a user-facing overview, a help text for every option, examples for
every command, one --device default, and the test-only preset kept out of sight."""

from __future__ import annotations

import argparse
import contextlib
import io

import pytest

from catlas.cli import PUBLIC_PRESETS, build_parser


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _help(*args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*args, "--help"])
    return out.getvalue()


def test_top_level_help_is_for_users():
    text = _help()
    assert "reconstructs" in text and "thin wrappers" not in text
    for name in _commands():
        assert name in text
    assert text.count("  catlas ") >= 3  # the example lines


@pytest.mark.parametrize("name", sorted(_commands()))
def test_every_option_has_help_and_every_command_examples(name):
    parser = _commands()[name]
    missing = [a.dest for a in parser._actions if not a.help]
    assert not missing, f"catlas {name}: no help for {missing}"
    text = _help(name)
    assert "examples:" in text and f"catlas {name} " in text.split("examples:")[1]


@pytest.mark.parametrize("name", sorted(_commands()))
def test_device_defaults_to_auto(name):
    parser = _commands()[name]
    devices = [a for a in parser._actions if a.dest == "device"]
    for a in devices:  # fit leaves it to the config, whose default is auto
        assert a.default in ("auto", None), (name, a.default)
        assert "auto" in a.help
    if name == "fit":
        from catlas.config import FitConfig

        assert FitConfig().device == "auto"


def test_tiny_preset_accepted_but_not_shown():
    for name in ("fit", "bench"):
        assert "tiny" not in _help(name)
    args = build_parser().parse_args(["fit", "in", "--out", "o", "--preset", "tiny"])
    assert args.preset == "tiny"
    args = build_parser().parse_args(["bench", "--preset", "tiny", "fast"])
    assert args.preset == ["tiny", "fast"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        build_parser().parse_args(["fit", "in", "--out", "o", "--preset", "nope"])
    assert "nope" in err.getvalue() and "tiny" not in err.getvalue()
    assert all(p in err.getvalue() for p in PUBLIC_PRESETS)
