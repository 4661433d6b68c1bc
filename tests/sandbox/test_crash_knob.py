"""The sandbox's crash_after fault knob: parsing, matching, and what the node does."""

from __future__ import annotations

import argparse
import json

import pytest

from netpol_sandbox import faults as faults_module
from netpol_sandbox.errors import ConfigError
from netpol_sandbox.faults import Faults


def test_crash_knob_matches_namespace_slash_name_patterns() -> None:
    faults = Faults.from_mapping({"crash-after": 2, "crash_pods": "prod-*/web,other-*/x"})
    assert faults.crash_after == 2.0
    assert faults.crash_pods == ("prod-*/web", "other-*/x")
    assert faults.crashes("prod-ab12", "web")
    assert faults.crashes("other-zz", "x")
    assert not faults.crashes("prod-ab12", "api")
    assert not faults.crashes("kube-system", "web")


def test_crash_knob_is_off_without_a_delay() -> None:
    assert not Faults(crash_pods=("*",)).crashes("a", "b")
    assert json.loads(Faults(crash_after=1.0, crash_pods=("a/*",)).to_json())["crash_pods"] == [
        "a/*"
    ]


def test_crash_knob_flags() -> None:
    parser = argparse.ArgumentParser()
    faults_module.add_arguments(parser)
    args = parser.parse_args(["--crash-after", "3", "--crash-pod", "a/*", "--crash-pod", "b/c"])
    faults = faults_module.from_args(args)
    assert faults.crash_after == 3.0 and faults.crash_pods == ("a/*", "b/c")


@pytest.mark.parametrize("bad", [{"crash_after": -1}, {"crash_pods": 5}])
def test_bad_crash_knobs_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="crash_"):
        Faults.from_mapping(bad)
