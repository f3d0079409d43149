"""Every official TOON conformance fixture (spec v4.0 and v4.1.1 sets), one test per case.

The fixture files are vendored under tests/data/toon/ (see PROVENANCE.md there). Each case runs
through the public API with its options mapped to keyword arguments:
``indentSize`` -> ``indent``, ``delimiter`` -> ``delimiter``, ``strict`` -> ``strict``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from armature_ext.toon import ToonDecodeError, decode, encode

DATA = Path(__file__).parent / "data" / "toon"
SETS = {"v4.0": 516, "v4.1.1": 538}

# Optional non-strict leniency cases (fixtures README, "Non-Strict Tests") this implementation
# does NOT implement, keyed by (set, "category/file.json", test name) -> reason. They run as
# xfail(strict=True), so a case that starts passing (or disappears) fails the suite.
# Currently empty: every optional leniency the fixtures describe is implemented.
LENIENCY_XFAIL: dict[tuple[str, str, str], str] = {}

_OPTION_NAMES = {"indentSize": "indent", "delimiter": "delimiter", "strict": "strict"}


def _load() -> list[tuple[str, str, dict[str, Any]]]:
    cases = []
    for set_name in SETS:
        root = DATA / set_name / "fixtures"
        for path in sorted(root.glob("*/*.json")):
            doc = json.loads(path.read_text(encoding="utf-8"))
            rel = f"{path.parent.name}/{path.name}"
            assert doc["category"] == path.parent.name
            cases.extend((set_name, rel, case) for case in doc["tests"])
    return cases


CASES = _load()


def _params() -> list[Any]:
    params = []
    for set_name, rel, case in CASES:
        marks = []
        reason = LENIENCY_XFAIL.get((set_name, rel, case["name"]))
        if reason is not None:
            marks.append(pytest.mark.xfail(reason=reason, strict=True))
        params.append(
            pytest.param(set_name, rel, case, id=f"{set_name}/{rel}:{case['name']}", marks=marks)
        )
    return params


def _kwargs(category: str, options: dict[str, Any] | None) -> dict[str, Any]:
    kwargs = {}
    for name, value in (options or {}).items():
        assert name in _OPTION_NAMES, f"fixture uses an unmapped option {name!r}"
        if category == "encode" and name == "strict":
            continue
        kwargs[_OPTION_NAMES[name]] = value
    return kwargs


@pytest.mark.parametrize(("set_name", "rel", "case"), _params())
def test_fixture(set_name: str, rel: str, case: dict[str, Any]) -> None:
    category = rel.split("/")[0]
    kwargs = _kwargs(category, case.get("options"))
    if category == "encode":
        assert not case.get("shouldError"), "no encode fixture expects an error"
        assert encode(case["input"], **kwargs) == case["expected"]
        return
    if case.get("shouldError"):
        with pytest.raises(ToonDecodeError) as info:
            decode(case["input"], **kwargs)
        err = info.value
        assert err.line >= 1 and err.column >= 1
        assert f"(line {err.line}, column {err.column})" in str(err)
        return
    assert decode(case["input"], **kwargs) == case["expected"]


def test_case_counts_match_provenance() -> None:
    counts = dict.fromkeys(SETS, 0)
    for set_name, _, _ in CASES:
        counts[set_name] += 1
    assert counts == SETS


def test_leniency_xfail_list_names_real_non_strict_cases() -> None:
    by_key = {(s, rel, case["name"]): case for s, rel, case in CASES}
    for key in LENIENCY_XFAIL:
        assert key in by_key, f"stale LENIENCY_XFAIL entry {key}"
        assert by_key[key].get("options", {}).get("strict") is False


def test_encode_fixtures_round_trip() -> None:
    """Each encode fixture's expected TOON decodes back to the (normalised) input."""
    for _, rel, case in CASES:
        if not rel.startswith("encode/"):
            continue
        kwargs = _kwargs("encode", case.get("options"))
        kwargs.pop("delimiter", None)
        assert decode(case["expected"], **kwargs) == case["input"], case["name"]
