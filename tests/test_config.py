"""Run configuration: bad keys and values are named; bad rows stop a run before models load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from fteval.config import (
    RunConfig,
    build_config,
    load_config_file,
    parse_adapter_flags,
    parse_name_paths,
)
from fteval.errors import ConfigError, InputError
from fteval.pipeline import run as runner
from tests.conftest import intent_rows, write_task


def _config_error(values: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        build_config(values)
    return str(caught.value)


# ---- build_config ----


def test_build_config_minimal_has_defaults():
    config = build_config({"base": "gpt2", "tasks": ["t.yaml"]})
    assert config.backend == "hf"
    assert config.device == "auto"
    assert [arm.name for arm in config.arms()] == ["base"]


def test_build_config_unknown_key_is_named_with_known_keys():
    message = _config_error({"base": "gpt2", "tasks": ["t.yaml"], "batchsize": 8})
    assert "arguments: unknown key 'batchsize'" in message
    assert "known keys:" in message and "batch_size" in message


def test_build_config_missing_required_key_is_named():
    assert "missing required key 'tasks'" in _config_error({"base": "gpt2"})


def test_build_config_empty_task_list_is_rejected():
    assert "key 'tasks'" in _config_error({"base": "gpt2", "tasks": []})


def test_build_config_bad_value_names_key_and_value():
    message = _config_error({"base": "gpt2", "tasks": ["t.yaml"], "batch_size": 0})
    assert "key 'batch_size'" in message
    assert "(value: 0)" in message


@pytest.mark.parametrize("name", ["base", "full"])
def test_reserved_adapter_names_are_rejected(name):
    message = _config_error({"base": "gpt2", "tasks": ["t.yaml"], "adapters": {name: "./a"}})
    assert "key 'adapters'" in message
    assert f"adapter name {name!r} is reserved" in message


def test_adapter_name_with_bad_characters_is_rejected():
    message = _config_error({"base": "gpt2", "tasks": ["t.yaml"], "adapters": {"my lora": "./a"}})
    assert "adapter name 'my lora'" in message


@pytest.mark.parametrize("device", ["gpu", "cuda:x", "cuda0", ""])
def test_invalid_device_is_rejected(device):
    message = _config_error({"base": "gpt2", "tasks": ["t.yaml"], "device": device})
    assert "key 'device'" in message
    assert "device must be auto, cpu, mps, cuda or cuda:N" in message
    assert repr(device) in message


@pytest.mark.parametrize("device", ["auto", "cpu", "mps", "cuda", "cuda:1"])
def test_valid_devices_are_accepted(device):
    assert build_config({"base": "gpt2", "tasks": ["t"], "device": device}).device == device


def test_arms_are_base_then_adapters_in_order_then_full():
    config = build_config(
        {
            "base": "b",
            "tasks": ["t"],
            "adapters": {"lora@seed2": "a2", "lora@seed1": "a1", "dora": "d"},
            "full": "f",
        }
    )
    arms = [(a.name, a.kind, a.path, a.group) for a in config.arms()]
    assert arms == [
        ("base", "base", "b", "base"),
        ("lora@seed2", "adapter", "a2", "lora"),
        ("lora@seed1", "adapter", "a1", "lora"),
        ("dora", "adapter", "d", "dora"),
        ("full", "full", "f", "full"),
    ]


# ---- parse_adapter_flags ----


def test_parse_adapter_flags_name_equals_path():
    assert parse_adapter_flags(["lora=./runs/lora", "dora=/abs/dora"]) == {
        "lora": "./runs/lora",
        "dora": "/abs/dora",
    }


def test_parse_adapter_flags_bare_path_takes_its_folder_name():
    assert parse_adapter_flags(["./runs/my-lora/"]) == {"my-lora": "./runs/my-lora/"}


def test_parse_adapter_flags_duplicate_name_is_rejected():
    with pytest.raises(ConfigError, match="--adapter name 'lora' is given twice"):
        parse_adapter_flags(["lora=./a", "lora=./b"])


@pytest.mark.parametrize(
    ("flag", "what", "values", "message"),
    [
        ("--data", "NAME", ["mmlu=./a", "mmlu=./b"], "--data name 'mmlu' is given twice"),
        ("--training-log", "ARM", ["lora=./s.json", "lora=./t.json"],
         "--training-log arm 'lora' is given twice"),
        ("--train-data", "ARM", ["./train.jsonl"],
         "--train-data expects ARM=PATH, got './train.jsonl'"),
        ("--data", "NAME", ["=./a"], "--data expects NAME=PATH, got '=./a'"),
        ("--data", "NAME", ["mmlu="], "--data expects NAME=PATH, got 'mmlu='"),
    ],
)  # fmt: skip
def test_name_path_flags_need_name_equals_path_once_per_name(flag, what, values, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_name_paths(values, flag, what=what)
    assert parse_name_paths(["a=x=y", "b=./z"], flag, what=what) == {"a": "x=y", "b": "./z"}


@pytest.mark.parametrize("flag", ["=./a", "lora="])
def test_parse_adapter_flags_empty_name_or_path_is_rejected(flag):
    with pytest.raises(ConfigError, match=r"--adapter expects NAME=PATH, got '"):
        parse_adapter_flags([flag])


def test_reserved_adapter_name_from_flags_is_rejected_by_the_config():
    adapters = parse_adapter_flags(["base=./a"])
    with pytest.raises(ConfigError, match="adapter name 'base' is reserved"):
        build_config({"base": "gpt2", "tasks": ["t"], "adapters": adapters})


# ---- YAML run config ----


def _write_config(folder: Path, values: dict) -> Path:
    path = folder / "run.yaml"
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


def test_config_file_resolves_relative_paths_against_its_folder(tmp_path, monkeypatch):
    folder = tmp_path / "exp"
    for sub in ("models/base", "models/lora", "models/full"):
        (folder / sub).mkdir(parents=True)
    (folder / "tasks").mkdir()
    (folder / "tasks" / "t.yaml").write_text("name: t\n")
    path = _write_config(
        folder,
        {
            "base": "models/base",
            "adapters": {"lora": "models/lora"},
            "full": "models/full",
            "tasks": ["tasks/t.yaml", "some_builtin"],
            "out": "runs/one",
        },
    )
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must not depend on the cwd
    config = load_config_file(path)
    assert config.base == str(folder / "models/base")
    assert config.adapters == {"lora": str(folder / "models/lora")}
    assert config.full == str(folder / "models/full")
    assert config.tasks == [str(folder / "tasks/t.yaml"), "some_builtin"]
    assert config.out == str(folder / "runs/one")


def test_config_file_keeps_hub_ids_and_absolute_paths(tmp_path):
    absolute = tmp_path / "elsewhere"
    absolute.mkdir()
    path = _write_config(tmp_path, {"base": "org/model", "full": str(absolute), "tasks": ["x"]})
    config = load_config_file(path)
    assert config.base == "org/model"
    assert config.full == str(absolute)


def test_config_file_overrides_replace_file_values(tmp_path):
    path = _write_config(tmp_path, {"base": "gpt2", "tasks": ["x"], "batch_size": 4})
    assert load_config_file(path, {"batch_size": 32}).batch_size == 32


def test_config_file_unknown_key_names_the_file_and_key(tmp_path):
    path = _write_config(tmp_path, {"base": "gpt2", "tasks": ["x"], "adapter": {"l": "a"}})
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert f"{path}: unknown key 'adapter'" in message
    assert "adapters" in message


def test_config_file_missing_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"run\.yaml: config file not found"):
        load_config_file(tmp_path / "run.yaml")


def test_config_file_empty_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="config file is empty"):
        load_config_file(path)


def test_config_file_that_is_not_a_mapping_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("- gpt2\n")
    with pytest.raises(ConfigError, match="expected a mapping of keys, got list"):
        load_config_file(path)


def test_config_file_with_bad_yaml_is_named(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("base: [unclosed\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: not valid YAML"):
        load_config_file(path)


# ---- bad input stops a run before any model loads ----


def _bad_row_config(tmp_path: Path) -> RunConfig:
    rows = intent_rows(6)
    rows[3]["label"] = "shipping"
    task = write_task(tmp_path, rows)
    return RunConfig(
        base=str(tmp_path / "no-such-model"),
        tasks=[str(task)],
        backend="hf",
        out=str(tmp_path / "run"),
    )


def test_bad_row_fails_the_run_before_any_model_loads_or_run_dir_exists(tmp_path):
    config = _bad_row_config(tmp_path)
    with pytest.raises(InputError) as caught:
        runner.execute(config, progress=False)
    message = str(caught.value)
    assert "data.jsonl, row 4, field 'label'" in message
    assert "(value: 'shipping')" in message
    assert not (tmp_path / "run").exists()


def test_bad_row_fails_the_run_before_a_backend_is_built(tmp_path, monkeypatch):
    def no_backend(*args, **kwargs):
        raise AssertionError("a backend was built before the tasks were checked")

    monkeypatch.setattr(runner, "make_backend", no_backend)
    with pytest.raises(InputError, match="row 4"):
        runner.execute(_bad_row_config(tmp_path), progress=False)
    assert not (tmp_path / "run").exists()


def test_speed_and_bos_flags_reach_the_config_and_the_hf_backend_settings(tmp_path):
    import argparse

    from fteval.cli import run as run_command

    parser = argparse.ArgumentParser()
    run_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "--base", "b", "--task", "t.yaml", "--add-bos-token",
                              "true", "--batch-tokens", "2048", "--threads", "3"])  # fmt: skip
    config = build_config(run_command._run_overrides(args))
    settings = runner.backend_settings(config)
    assert (settings["add_bos_token"], settings["batch_tokens"], settings["threads"]) == (
        "true", 2048, 3
    )  # fmt: skip
    assert "add_bos_token" in _config_error({"base": "b", "tasks": ["t"], "add_bos_token": "yes"})
    assert build_config({"base": "b", "tasks": ["t"]}).add_bos_token == "auto"
