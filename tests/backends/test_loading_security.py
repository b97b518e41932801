"""Loading security: names never escape the output directory; YAML never executes code."""

from __future__ import annotations

import pytest

from fteval.config import build_config, load_config_file, parse_adapter_flags
from fteval.errors import ConfigError
from fteval.tasks import load_task_file
from tests.conftest import intent_rows, write_task

BAD_NAMES = ["../escape", "/etc/passwd", "a/b", "nul\x00byte", "x" * 65, "ünïcode", ".hidden", ""]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_task_names_that_could_escape_are_rejected(tmp_path, name):
    path = write_task(tmp_path, intent_rows(3), name=name)
    with pytest.raises(ConfigError, match="name"):
        load_task_file(path)


@pytest.mark.parametrize("name", BAD_NAMES)
def test_adapter_names_that_could_escape_are_rejected(name):
    with pytest.raises(ConfigError, match="adapter name"):
        build_config({"base": "b", "tasks": ["t.yaml"], "adapters": {name: "dir"}})


def test_adapter_flag_names_are_checked_too():
    adapters = parse_adapter_flags(["../x=dir"])
    with pytest.raises(ConfigError, match="adapter name"):
        build_config({"base": "b", "tasks": ["t.yaml"], "adapters": adapters})


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    payload = f'!!python/object/apply:os.system ["touch {marker}"]'
    task = tmp_path / "task.yaml"
    task.write_text(f"name: {payload}\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_task_file(task)
    config = tmp_path / "run.yaml"
    config.write_text(f"base: {payload}\ntasks: [t.yaml]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_file(config)
    assert not marker.exists()


def test_template_cannot_reach_python_attributes(tmp_path):
    path = write_task(tmp_path, intent_rows(3), template="{text.__class__.__mro__}")
    with pytest.raises(ConfigError, match="template"):
        load_task_file(path)


def test_trust_remote_code_is_off_unless_asked():
    config = build_config({"base": "b", "tasks": ["t.yaml"]})
    assert config.trust_remote_code is False
    assert config.allow_pickle is False
    assert build_config(
        {"base": "b", "tasks": ["t.yaml"], "trust_remote_code": True}
    ).trust_remote_code
