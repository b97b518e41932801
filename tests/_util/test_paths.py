"""Output folders are checked by doing: a temporary entry is made and removed."""

from __future__ import annotations

import errno
import os
import tempfile

import pytest

from fteval._util.paths import check_dir_target
from fteval.errors import ConfigError


def _read_only(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def test_a_read_only_folder_is_refused_in_words(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "TemporaryFile", _read_only)
    with pytest.raises(ConfigError, match=r"cache_dir .*: not writable: Read-only file system"):
        check_dir_target(tmp_path, "cache_dir")


def test_a_folder_that_cannot_be_created_is_refused_naming_the_parent(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "mkdtemp", _read_only)
    with pytest.raises(ConfigError, match=r"not writable \(nothing can be created in"):
        check_dir_target(tmp_path / "new" / "run", "--out")


def test_a_writable_folder_passes_and_keeps_nothing_of_the_probe(tmp_path):
    check_dir_target(tmp_path, "--out")
    check_dir_target(tmp_path / "new" / "run", "--out")
    assert list(tmp_path.iterdir()) == []


def test_a_name_too_long_is_refused_in_words(tmp_path):
    with pytest.raises(ConfigError, match="File name too long"):
        check_dir_target(tmp_path / ("x" * 300) / "run", "--out")
