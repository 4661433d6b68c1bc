"""Hostile scenario files fail early with a ScenarioError, never a crash or a hang."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario import yamlload as yamlload
from harness.scenario.loader import load
from tests.scenario.util import load_text
from tests.scenario.util import project
from tests.scenario.util import scenario_text
from tests.scenario.util import write_scenario


def billion_laughs() -> str:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_stops_at_the_first_alias_over_the_bound(tmp_path: Path) -> None:
    text = billion_laughs()
    with pytest.raises(ScenarioError) as info:
        load_text(project(tmp_path), text)
    err = info.value
    assert "aliases expand to more than 100000 nodes" in err.message
    # 9**5 > 100000: it stops on the 6th line of 10, long before the 10**9 nodes at the end
    assert err.line == 6
    assert err.fix


def test_moderate_aliases_are_fine() -> None:
    doc = yamlload.load_one("base: &b {app: web}\nx: *b\ny: *b\n", "f")
    assert doc["x"] == doc["y"] == {"app": "web"}


def test_deep_nesting_stops_at_level_51(tmp_path: Path) -> None:
    text = "".join("  " * i + f"k{i}:\n" for i in range(200)) + "  " * 200 + "x: 1\n"
    with pytest.raises(ScenarioError) as info:
        load_text(project(tmp_path), text)
    assert "nesting deeper than 50 levels" in info.value.message
    assert info.value.line == 51  # the mapping that would be level 51 starts there


def test_deep_flow_nesting() -> None:
    with pytest.raises(ScenarioError, match="nesting deeper than 50") as info:
        yamlload.load_one("x: " + "[" * 10000 + "]" * 10000 + "\n", "f")
    assert info.value.line == 1


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object:os.system",
        "!!python/object/apply:os.system",
        "!!python/name:os.system",
        "!!binary",
        "!!set",
        "!custom",
    ],
)
def test_object_constructing_tags_are_refused(tmp_path: Path, tag: str) -> None:
    text = scenario_text(
        head="apiVersion: netpol-harness.dev/v1alpha1\nkind: Scenario\n"
        f"metadata: {tag} {{name: x}}\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_text(project(tmp_path), text)
    assert "is not allowed" in info.value.message
    assert info.value.line == 3


def test_non_utf8_bytes(tmp_path: Path) -> None:
    data = scenario_text().encode() + b"# caf\xe9\n"
    path = write_scenario(project(tmp_path), data)
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert "not UTF-8" in info.value.message
    assert info.value.line == data.count(b"\n")
    assert "save the file as UTF-8" in info.value.fix


def test_utf16_file_is_refused(tmp_path: Path) -> None:
    path = write_scenario(project(tmp_path), scenario_text().encode("utf-16"))
    with pytest.raises(ScenarioError, match="not UTF-8") as info:
        load(path)
    assert info.value.line == 1


def test_2mib_file_is_refused_from_its_size(tmp_path: Path) -> None:
    path = project(tmp_path) / "scenarios" / "big.netpol.yaml"
    with path.open("wb") as fh:
        fh.truncate(2 * 1024 * 1024)  # sparse: refused by stat, nothing is read or parsed
    with pytest.raises(ScenarioError) as info:
        load(path)
    assert "2.0 MiB, larger than the 1 MiB limit" in info.value.message
    assert info.value.line is None
    assert str(info.value).startswith(str(path) + ": ")


def test_2mib_of_bytes_refused_by_the_loader() -> None:
    with pytest.raises(ScenarioError, match="larger than the 1 MiB limit"):
        yamlload.load_one(b"a: b\n" * (420 * 1024), "f")


def test_control_characters() -> None:
    with pytest.raises(ScenarioError, match="invalid YAML"):
        yamlload.load_one("a: \x00b\n", "f")


def test_mapping_as_key_is_refused() -> None:
    with pytest.raises(ScenarioError, match="mapping key must be a plain value") as info:
        yamlload.load_one("a: 1\n? [x]\n: 2\n", "f")
    assert info.value.line == 2


def test_huge_integer_is_refused_not_crashing() -> None:
    with pytest.raises(ScenarioError, match="is not a valid int"):
        yamlload.load_one("port: !!int " + "9" * 5000 + "\n", "f")


def test_lines_of_keys_values_and_items() -> None:
    doc = yamlload.load_one("a: 1\nb:\n  - x\n  - {c: d}\nm:\n  <<: {p: 1}\n  q: 2\n", "f")
    assert (doc.key_line("a"), doc.key_line("b"), doc.value_line("b")) == (1, 2, 3)
    assert doc["b"].item_lines == [3, 4]
    assert doc["m"] == {"q": 2, "p": 1}
    assert doc["m"].key_line("q") == 7
    assert yamlload.to_plain(doc) == {"a": 1, "b": ["x", {"c": "d"}], "m": {"q": 2, "p": 1}}


def test_scalar_types_follow_yaml_core() -> None:
    doc = yamlload.load_one("a: 1\nb: true\nc: null\nd: '1'\ne: 1.5\nf: 2024-01-01\ng: 0x10\n", "f")
    assert doc == {"a": 1, "b": True, "c": None, "d": "1", "e": 1.5, "f": "2024-01-01", "g": 16}


def test_2mib_string_refused_by_the_loader() -> None:
    with pytest.raises(ScenarioError, match="larger than the 1 MiB limit"):
        yamlload.load_all("a: b\n" * (420 * 1024), "f")


def test_random_corruptions_only_ever_raise_scenario_errors(tmp_path: Path) -> None:
    """Seeded mutations of a valid scenario: a ScenarioError with a line, or a valid load."""
    import random

    root = project(tmp_path)
    base = scenario_text(
        expect="expect:\n  default: deny\n  allow:\n    - web -> api:8080\n"
        "    - '* -> db'\n    - {from: web, to: pay}\n  deny: [web -> svc:api:http]\n"
    )
    tokens = ["", "*", "-", "[]", "{}", "null", "1", "-1", "99999", "'", ":", "dns", "svc:"]
    tokens += ["->", "/UDP", "true", "&a", "*a", "!!str", "\t", "  ", "\n", "web", "port"]
    rng = random.Random(1)
    errors = 0
    for _ in range(300):
        text = list(base)
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(text))
            if rng.random() < 0.5:
                del text[pos : pos + rng.randint(1, 5)]
            else:
                text.insert(pos, rng.choice(tokens))
        try:
            load_text(root, "".join(text))
        except ScenarioError as exc:
            errors += 1
            assert exc.line is not None and exc.line >= 1, str(exc)
    assert errors > 100  # the corruptions were mostly caught, each with a line
