"""Where built-in rows come from: the pinned Hub dataset (mocked: no network here), the
Hub's Parquet layout, ``save_to_disk`` folders, and clear errors for everything else."""

from __future__ import annotations

import pytest

from fteval.errors import ConfigError
from fteval.tasks import TaskOptions, load_task, load_tasks

datasets = pytest.importorskip("datasets")


def _sst2_dataset():
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=["negative", "positive"]),
            "idx": datasets.Value("int32"),
        }
    )
    return datasets.Dataset.from_dict(
        {"sentence": ["a fine film ", "dull "], "label": [1, 0], "idx": [0, 1]}, features=features
    )


def _trec_dataset():
    fine = ["ABBR:abb", "ABBR:exp", "NUM:dist", "LOC:city"]
    features = datasets.Features(
        {
            "text": datasets.Value("string"),
            "coarse_label": datasets.ClassLabel(
                names=["ABBR", "ENTY", "DESC", "HUM", "LOC", "NUM"]
            ),
            "fine_label": datasets.ClassLabel(names=fine),
        }
    )
    return datasets.Dataset.from_dict(
        {"text": ["How far ?", "What city ?"], "coarse_label": [5, 4], "fine_label": [2, 3]},
        features=features,
    )


def test_hub_loading_pins_the_dataset_id_and_revision(monkeypatch):
    calls = []

    def fake_load_dataset(path, name=None, *, split, revision=None, **kwargs):
        calls.append((path, name, split, revision))
        if split != "validation":
            raise FileNotFoundError(f"no split {split}")
        return _sst2_dataset()

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    task = load_task("sst2")
    assert [e.target for e in task.examples] == ["positive", "negative"]
    assert task.examples[0].prompt.startswith("a fine film \nQuestion:")
    assert calls[0][:3] == ("nyu-mll/glue", "sst2", "validation")
    assert task.data_sha256 == {"hub": "nyu-mll/glue/sst2@bcdcba79d07bc864c1c254ccfcedcce55bcc9a8c"}

    calls.clear()
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda path, name=None, *, split, revision=None, **kw: (
            calls.append(revision) or (_ for _ in ()).throw(ConnectionError("offline"))
        ),
    )
    with pytest.raises(ConfigError) as caught:
        load_tasks("mmlu")
    assert calls == ["c30699e8356da336a370243923dbaf21066bb9fe"]
    assert "--data mmlu=PATH" in str(caught.value)
    assert "cais/mmlu/all@c30699e8356d" in str(caught.value)


def test_hub_class_ids_become_the_dataset_names(monkeypatch):
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda path, name=None, *, split, revision=None, **kw: _trec_dataset(),
    )
    assert [e.target for e in load_task("trec").examples] == ["NUM", "LOC"]
    assert [e.target for e in load_task("trec50").examples] == ["NUM:dist", "LOC:city"]


def test_hub_parquet_layout_and_save_to_disk_folders_load_with_data(tmp_path):
    parquet = tmp_path / "glue-sst2"
    (parquet / "data").mkdir(parents=True)
    _sst2_dataset().to_parquet(str(parquet / "data" / "validation-00000-of-00001.parquet"))
    task = load_task("sst2", options=TaskOptions(data=str(parquet)))
    assert [e.target for e in task.examples] == ["positive", "negative"]

    saved = tmp_path / "trec"
    datasets.DatasetDict({"test": _trec_dataset()}).save_to_disk(str(saved))
    task = load_task("trec50", options=TaskOptions(data=str(saved)))
    assert [e.target for e in task.examples] == ["NUM:dist", "LOC:city"]

    single = tmp_path / "one.parquet"
    _trec_dataset().to_parquet(str(single))
    assert load_task("trec", options=TaskOptions(data=str(single))).examples[1].target == "LOC"


def test_mmlu_from_a_hub_copy_splits_the_all_configuration_by_subject(tmp_path):
    rows = {
        "question": [" Q one? ", "Q two?"],
        "subject": ["anatomy", "virology"],
        "choices": [["a", "b", "c", "d"], ["e", "f", "g", "h"]],
        "answer": [2, 0],
    }
    saved = tmp_path / "mmlu"
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows)}).save_to_disk(str(saved))
    options = TaskOptions(data=str(saved), num_fewshot=0)
    task = load_task("mmlu_anatomy", options=options)
    assert task.examples[0].prompt == (
        "The following are multiple choice questions (with answers) about anatomy.\n\n"
        "Q one?\nA. a\nB. b\nC. c\nD. d\nAnswer:"
    )
    assert task.examples[0].target == "C"
    with pytest.raises(ConfigError, match="has no rows"):
        load_tasks("mmlu", options=options)


def test_unknown_layout_missing_path_and_unknown_setting_are_clear_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ConfigError, match="not a known layout"):
        load_task("sst2", options=TaskOptions(data=str(tmp_path)))
    with pytest.raises(ConfigError, match="no such file"):
        load_task("sst2", options=TaskOptions(data=str(tmp_path / "missing")))
    with pytest.raises(ConfigError, match=r"no setting 'n_sample' \(settings: .*n_samples"):
        load_task("humaneval", options=TaskOptions(settings={"n_sample": 5}))
    with pytest.raises(ConfigError, match="temperature"):
        load_task("humaneval", options=TaskOptions(settings={"n_samples": 5}))


def test_lm_eval_is_never_imported_for_other_tasks():
    import subprocess
    import sys

    code = (
        "import sys; from fteval.tasks import builtin_tasks, load_task; builtin_tasks(); "
        "import fteval.pipeline.run, fteval.cli; print('lm_eval' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
