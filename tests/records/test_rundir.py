"""Run-directory hygiene: one file mode for every file, no lock left after a run."""

from __future__ import annotations

import os
import stat

import pytest

from fteval.api import evaluate
from fteval.errors import FtevalError
from fteval.records.jsonio import atomic_write_text, new_file_mode
from fteval.records.rundir import LOCK, RunDirectory
from tests.conftest import intent_rows, write_task


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def test_every_file_of_a_run_has_the_mode_a_new_file_gets(tmp_path, umask_027):
    task = write_task(tmp_path, intent_rows(12))
    results = evaluate(
        "b", adapters={"lora": "a"}, tasks=[str(task)], out=tmp_path / "run",
        backend="fake", progress=False, cache_dir="off",
    )  # fmt: skip
    files = sorted(p for p in results.run_dir.iterdir() if p.is_file())
    assert {p.name for p in files} >= {"manifest.json", "samples.jsonl", "results.json"}
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
    assert set(modes.values()) == {0o640}, modes  # 0o666 less the umask, for every file
    assert new_file_mode() == 0o640


def test_an_atomic_write_gets_the_umask_mode_not_mkstemps_owner_only(tmp_path, umask_027):
    atomic_write_text(tmp_path / "a.txt", "x")
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640


def test_the_lock_is_held_during_a_run_and_removed_after(tmp_path):
    directory = RunDirectory(tmp_path / "run")
    with directory.lock():
        assert (directory.path / LOCK).read_text() == str(os.getpid())
        with pytest.raises(FtevalError, match="another fteval process"), directory.lock():
            pass  # a second holder is refused (flock is per open file, so this works here)
        assert (directory.path / LOCK).exists()
    assert not (directory.path / LOCK).exists()


def test_a_clean_run_leaves_no_lock_file(tmp_path):
    task = write_task(tmp_path, intent_rows(6))
    results = evaluate(
        "b", tasks=[str(task)], out=tmp_path / "run", backend="fake", progress=False,
        cache_dir="off",
    )  # fmt: skip
    assert not (results.run_dir / LOCK).exists()
    assert (results.run_dir / "results.json").exists()
