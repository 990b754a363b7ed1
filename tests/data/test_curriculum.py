"""Curriculum files: shipped recipes, round trips and validation errors that say where."""

from __future__ import annotations

import json

import pytest

from atomlm.data.curriculum import CurriculumError, load_curriculum, parse_curriculum, shipped_curricula

CARD_TOTALS = {  # SPEC section 3
    "ultra-fineweb": 900_000_000,
    "fineweb-edu": 900_000_000,
    "finemath": 450_000_000,
    "cosmopedia-v2": 337_500_000,
    "ultradata-math-l2": 337_500_000,
    "ultra-fineweb-l3-qa": 225_000_000,
    "synthetic-arithmetic": 350_000_000,
}


def test_card_recipe_matches_spec_totals_and_order():
    curriculum = load_curriculum("atom2.7m")
    assert curriculum.total_tokens == 3_500_000_000
    assert curriculum.source_totals() == CARD_TOTALS
    first, last = curriculum.phases[0], curriculum.phases[-1]
    share = lambda phase, names: sum(t for n, t in phase.source_targets().items() if n in names) / phase.tokens
    web = {"ultra-fineweb", "fineweb-edu"}
    math = {"finemath", "ultradata-math-l2", "synthetic-arithmetic"}
    assert share(first, web) > share(last, web)
    assert share(last, math) > share(first, math)


@pytest.mark.parametrize("name", shipped_curricula())
def test_shipped_curricula_round_trip(name, tmp_path):
    assert name in shipped_curricula()
    curriculum = load_curriculum(name)
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(curriculum.to_json()))
    again = load_curriculum(path)
    assert again.to_json() == curriculum.to_json()
    for phase in curriculum.phases:
        assert sum(phase.source_targets().values()) == phase.tokens


def test_offline_recipe_uses_only_offline_sources():
    curriculum = load_curriculum("offline")
    assert set(curriculum.source_totals()) == {"kjv", "mathematics", "synthetic-arithmetic"}
    assert 25_000_000 <= curriculum.total_tokens <= 35_000_000
    assert curriculum.source_totals()["synthetic-arithmetic"] > curriculum.total_tokens / 2


def _write(tmp_path, data):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    "phase, message",
    [
        ({"name": "p", "tokens": 10, "sources": {"no-such-source": {"weight": 1}}}, "source 'no-such-source': unknown source"),
        ({"name": "p", "tokens": 10, "sources": {"kjv": {"weight": 0}}}, "source 'kjv': weight must be a positive number"),
        ({"name": "p", "tokens": 10, "sources": {"kjv": {"weight": -2}}}, "weight must be a positive number, got -2"),
        ({"name": "p", "tokens": 10, "sources": {"kjv": {"weight": "1"}}}, "weight must be a positive number"),
        ({"name": "p", "tokens": 10, "sources": {}}, "empty phase"),
        ({"name": "p", "tokens": 0, "sources": {"kjv": {"weight": 1}}}, "'tokens' must be a positive integer"),
        ({"name": "p", "tokens": 10, "sources": {"synthetic-arithmetic": {"weight": 1, "stage": 9}}}, "stage must be one of"),
        ({"name": "p", "tokens": 10, "sources": {"kjv": {"weight": 1, "stage": 2}}}, "'stage' applies only to"),
    ],
)
def test_validation_errors_name_file_phase_and_source(tmp_path, phase, message):
    path = _write(tmp_path, {"name": "bad", "phases": [{"name": "ok", "tokens": 5, "sources": {"kjv": 1}}, phase]})
    with pytest.raises(CurriculumError) as error:
        load_curriculum(path)
    text = str(error.value)
    assert str(path) in text and "phase 2 ('p')" in text and message in text


def test_other_validation_errors(tmp_path):
    with pytest.raises(CurriculumError, match="'phases' must be a non-empty list"):
        load_curriculum(_write(tmp_path, {"name": "x", "phases": []}))
    with pytest.raises(CurriculumError, match="not a shipped curriculum"):
        load_curriculum("no-such-recipe")
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('{"name": "x",\n "phases": [}')
    with pytest.raises(CurriculumError, match=r"broken.json:2: not valid JSON"):
        load_curriculum(bad_json)


def test_local_sources_are_defined_in_the_file(tmp_path):
    data = {"name": "local", "sources": {"my-notes": {"path": str(tmp_path)}},
            "phases": [{"name": "p", "tokens": 100, "sources": {"my-notes": {"weight": 1}}}]}
    curriculum = parse_curriculum(data)
    spec = curriculum.source_spec("my-notes")
    assert spec.kind == "local" and spec.path == str(tmp_path)
    with pytest.raises(CurriculumError, match="needs 'path'"):
        parse_curriculum({"name": "x", "sources": {"new": {"text_field": "body"}}, "phases": data["phases"]})
