"""The manifest's task records say which split was evaluated and which Hugging Face dataset
the data is: its id, configuration and revision when fteval read it from the Hub, no
revision for a local copy, nothing for a task's own files (the model card reads these)."""

from __future__ import annotations

import pytest

from fteval.pipeline.manifest import task_record
from fteval.tasks import TaskOptions, load_task
from fteval.tasks.builtin import HUB_DATASETS, catalogue, hub_dataset
from tests.conftest import intent_rows, write_task

datasets = pytest.importorskip("datasets")

SST2_REVISION = "bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"


def _sst2():
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
            "idx": datasets.Value("int32"),
        }
    )
    rows = {"sentence": ["a fine film ", "dull "], "label": [1, 0], "idx": [0, 1]}
    return datasets.Dataset.from_dict(rows, features=features)


def test_a_builtin_read_from_the_hub_records_its_dataset_and_revision(monkeypatch):
    def from_hub(path, name=None, *, split, revision=None, **kwargs):
        if split != "validation":
            raise FileNotFoundError(f"no split {split}")
        return _sst2()

    monkeypatch.setattr(datasets, "load_dataset", from_hub)
    record = task_record(load_task("sst2", options=TaskOptions(num_fewshot=0)))
    assert record["split"] == "validation"
    assert record["dataset"] == {
        "id": "nyu-mll/glue",
        "config": "sst2",
        "revision": SST2_REVISION,
        "loaded_from": "hub",
    }


def test_a_local_copy_of_a_builtin_is_that_dataset_at_an_unknown_revision(tmp_path):
    dev = tmp_path / "dev.tsv"
    dev.write_text("sentence\tlabel\na fine film \t1\ndull \t0\n", encoding="utf-8")
    task = load_task("sst2", options=TaskOptions(data=str(dev), num_fewshot=0))
    assert task_record(task)["dataset"] == {
        "id": "nyu-mll/glue",
        "config": "sst2",
        "revision": None,
        "loaded_from": "local copy",
    }


def test_a_task_file_names_its_hub_dataset_or_none(tmp_path, monkeypatch):
    rows = intent_rows(6)
    (tmp_path / "own").mkdir()
    (tmp_path / "hub").mkdir()
    own = task_record(load_task(str(write_task(tmp_path / "own", rows, split="test"))))
    assert own["split"] == "test" and own["dataset"] is None

    def from_hub(path, name=None, *, split, revision=None, **kwargs):
        assert (path, name, revision) == ("my-org/tickets", "v2", "abc123")
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", from_hub)
    hub = {"path": "my-org/tickets", "name": "v2", "revision": "abc123"}
    spec = write_task(tmp_path / "hub", rows, data=None, hf_dataset=hub, split="validation")
    record = task_record(load_task(str(spec)))
    assert record["split"] == "validation"
    assert record["dataset"] == {
        "id": "my-org/tickets",
        "config": "v2",
        "revision": "abc123",
        "loaded_from": "hub",
    }


def test_every_builtin_read_from_the_hub_names_the_dataset_its_catalogue_entry_pins():
    for name, entry in catalogue().items():
        hub = hub_dataset(f"builtin:{name}")
        assert hub is not None, name
        if entry.source.startswith("hf:"):
            assert f"hf:{hub.describe()}" == entry.source, name
    assert hub_dataset("builtin:mmlu_abstract_algebra") is HUB_DATASETS["mmlu"]
    assert hub_dataset("tasks/my_task.yaml") is None
    assert hub_dataset("lmeval:arc_easy") is None
