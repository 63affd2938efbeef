"""A passed openapi-spec-validator check is remembered by content; a failed one never is."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.core.contract import load_contract
from simulators.core.errors import ContractError

GOOD = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n"
BAD = "openapi: 3.1.0\ninfo: {title: t}\npaths: {}\n"  # info.version missing


def remembered(cache: Path) -> list[Path]:
    return list((cache / "commerce-sandbox" / "spec-checked").glob("*"))


def test_a_passed_check_is_remembered_by_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "good.yaml"
    spec.write_text(GOOD)
    load_contract(spec)
    assert len(remembered(tmp_path / "cache")) == 1
    load_contract(spec)  # same content: same entry
    assert len(remembered(tmp_path / "cache")) == 1
    spec.write_text(GOOD.replace("title: t", "title: t2"))
    load_contract(spec)
    assert len(remembered(tmp_path / "cache")) == 2


def test_a_failed_check_is_never_remembered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD)
    for _ in range(2):
        with pytest.raises(ContractError) as e:
            load_contract(spec)
        assert "bad.yaml" in str(e.value) and "version" in str(e.value)
    assert remembered(tmp_path / "cache") == []
