# ruff: noqa: E501  (the case tables keep one case per line, as a matrix reads)
"""A matrix of hostile inputs to ``run``, ``score``, ``check`` and ``split``.

Each bad input must end in exit 2 with a message naming where the problem is (the file
and row, the flag, or the JSON path) and leave no run directory behind; each
valid-but-unusual input must end in exit 0 with the right numbers. ``run`` uses the fake
backend, so every case takes milliseconds.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from fteval.cli import main
from tests.backends.checkpoints import gpt2_folder, lora_folder
from tests.conftest import INTENTS, intent_rows

# ------------------------------------------------------------------------ workspace


class Workspace:
    """A folder of valid inputs; each case writes its own hostile files beside them."""

    def __init__(self, root: Path, results: dict[str, Any], run: Path | None = None) -> None:
        self.root = root
        self.out = root / "out"
        self.valid_results = results
        self.valid_run = run
        self.preds = self.jsonl("preds.jsonl", _pred_rows())
        self.tuned = self.jsonl("tuned.jsonl", _pred_rows(shift=1))
        self.data = self.jsonl("data.jsonl", intent_rows(12))
        self.task = self.yaml("task.yaml", _task_spec())
        self.results = self.text("results.json", json.dumps(results))
        (root / "a_file").write_text("not a directory\n")

    def path(self, name: str) -> Path:
        return self.root / name

    def text(self, name: str, content: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
        return path

    def bytes(self, name: str, content: bytes) -> Path:
        path = self.root / name
        path.write_bytes(content)
        return path

    def jsonl(self, name: str, rows: list[Any]) -> Path:
        return self.text(name, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))

    def yaml(self, name: str, spec: Any) -> Path:
        return self.text(name, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True))

    def task_with(self, rows: list[dict] | None = None, **keys) -> Path:
        """t.yaml over ``rows`` (default: the intents) in t.jsonl, with keys overridden."""
        data = self.jsonl("t.jsonl", rows if rows is not None else intent_rows(12))
        spec = {**_task_spec(), "data": data.name, **keys}
        return self.yaml("t.yaml", {k: v for k, v in spec.items() if v is not None})

    def results_with(self, change: Callable[[dict[str, Any]], Any]) -> Path:
        results = json.loads(json.dumps(self.valid_results))
        change(results)
        return self.text("bad/results.json", json.dumps(results))

    def config(self, name: str = "run.yaml", **keys) -> Path:
        spec = {"base": "b", "tasks": [str(self.task)], "backend": "fake", **keys}
        return self.yaml(name, spec)

    def run_copy(self, name: str = "run", change: Callable[[Path], Any] | None = None) -> Path:
        """A copy of a valid run directory (fake backend, base + adapter), then changed."""
        assert self.valid_run is not None
        target = self.root / name
        shutil.copytree(self.valid_run, target)
        if change is not None:
            change(target)
        return target

    def model(self, name: str = "m", **keys: Any) -> Path:
        """A tiny GPT-2 checkpoint folder (config, safetensors, tokenizer), see
        tests/backends/checkpoints.py; ``keys`` go to ``gpt2_folder``."""
        return gpt2_folder(self.root / name, **keys)

    def adapter(self, name: str = "lora", **keys: Any) -> Path:
        return lora_folder(self.root / name, **keys)


def _pred_rows(n: int = 6, shift: int = 0) -> list[dict]:
    refs = ["the cat sat", "a dog ran", "birds fly", "rain falls", "sun shines", "fish swim"]
    return [
        {"id": i, "prediction": refs[(i + shift) % n] if i % 2 else refs[i], "reference": refs[i]}
        for i in range(n)
    ]


def _task_spec() -> dict[str, Any]:
    return {
        "name": "intents",
        "data": "data.jsonl",
        "id_field": "id",
        "template": "Message: {text}\nIntent:",
        "choices": INTENTS,
        "label_field": "label",
        "metrics": ["acc"],
    }


def make_valid_results(root: Path) -> dict[str, Any]:
    """A real results object with comparisons, made by ``fteval score`` under ``root``."""
    a = root / "a.jsonl"
    b = root / "b.jsonl"
    a.write_text("".join(json.dumps(r) + "\n" for r in _pred_rows()))
    b.write_text("".join(json.dumps(r) + "\n" for r in _pred_rows(shift=1)))
    code, _, err = invoke(["score", str(a), str(b), "--metric", "exact_match",
                           "--out", str(root / "run"), "--bootstrap", "100",
                           "--permutations", "100"])  # fmt: skip
    assert code == 0, err
    return json.loads((root / "run" / "results.json").read_text())


@pytest.fixture(scope="module")
def valid_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_valid_results(tmp_path_factory.mktemp("valid"))


@pytest.fixture(scope="module")
def valid_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete run directory: fake backend, base and one adapter, 12 items."""
    root = tmp_path_factory.mktemp("valid-run")
    task = Workspace(root, {}).task
    out = root / "run"
    code, _, err = invoke(["run", "--base", "b", "--adapter", "lora=x", "--task", str(task),
                           "--backend", "fake", "--out", str(out), "--quiet",
                           "--bootstrap", "100", "--permutations", "100"])  # fmt: skip
    assert code == 0, err
    return out


@pytest.fixture
def ws(tmp_path: Path, valid_results: dict[str, Any], valid_run: Path) -> Workspace:
    return Workspace(tmp_path, valid_results, valid_run)


def invoke(argv: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process: (exit code, stdout, stderr); argparse's exits included."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse refuses a value: exit 2 with usage
            code = stop.code if isinstance(stop.code, int) else 2
    return code, out.getvalue(), err.getvalue()


# ---------------------------------------------------------------------- the cases

Argv = Callable[[Workspace], list[str]]


@dataclass(frozen=True)
class Bad:
    """A hostile input: exit 2, and each ``where`` fragment (formatted with ``ws``) in
    stderr. ``fresh_out``: the run directory must not exist afterwards."""

    id: str
    argv: Argv
    where: tuple[str, ...]
    fresh_out: bool = True
    marks: tuple[Any, ...] = field(default=())


def score(*files: str, extra: tuple[str, ...] = ()) -> Argv:
    def argv(ws: Workspace) -> list[str]:
        return ["score", *files, *extra]

    return argv


def S(build: Callable[[Workspace], list[str]]) -> Argv:
    """A score command over files the case writes; --out and a metric are added."""

    def argv(ws: Workspace) -> list[str]:
        args = build(ws)
        if not any(a.startswith("--metric") or a == "--problems" for a in args):
            args += ["--metric", "exact_match"]
        if "--out" not in args:
            args += ["--out", str(ws.out)]
        return ["score", *args]

    return argv


def one(name: str, content: str | bytes) -> Callable[[Workspace], list[str]]:
    """Score one file with this content."""

    def build(ws: Workspace) -> list[str]:
        path = ws.bytes(name, content) if isinstance(content, bytes) else ws.text(name, content)
        return [str(path)]

    return build


def rows(name: str, *items: Any) -> Callable[[Workspace], list[str]]:
    return one(name, "".join(json.dumps(r) + "\n" for r in items))


def opts(*flags: str) -> Callable[[Workspace], list[str]]:
    """Score the valid preds/tuned files with these flags."""

    def build(ws: Workspace) -> list[str]:
        return [str(ws.preds), str(ws.tuned), *(f.format(ws=ws) for f in flags)]

    return build


def R(build: Callable[[Workspace], list[str]]) -> Argv:
    """A run command (fake backend, quiet, --out added unless given)."""

    def argv(ws: Workspace) -> list[str]:
        args = build(ws)
        given = "--base" in args or (args[:1] and args[0].endswith(".yaml"))
        base = [] if given else ["--base", "b"]
        if "--out" not in args:
            args += ["--out", str(ws.out)]
        return ["run", *args, *base, "--backend", "fake", "--quiet"]

    return argv


def task_flag(**keys: Any) -> Callable[[Workspace], list[str]]:
    rows_ = keys.pop("rows", None)

    def build(ws: Workspace) -> list[str]:
        return ["--task", str(ws.task_with(rows=rows_, **keys))]

    return build


def config_text(content: str | bytes, name: str = "cfg.yaml") -> Callable[[Workspace], list[str]]:
    def build(ws: Workspace) -> list[str]:
        text = content if isinstance(content, bytes) else content.format(task=ws.task)
        path = ws.bytes(name, text) if isinstance(text, bytes) else ws.text(name, text)
        return [str(path)]

    return build


def C(build: Callable[[Workspace], Path | str], *flags: str) -> Argv:
    def argv(ws: Workspace) -> list[str]:
        return ["check", str(build(ws)), *flags]

    return argv


def bad_results(change: Callable[[dict[str, Any]], Any]) -> Callable[[Workspace], Path]:
    return lambda ws: ws.results_with(change)


def raw_results(content: str | bytes) -> Callable[[Workspace], Path]:
    def build(ws: Workspace) -> Path:
        if isinstance(content, bytes):
            return ws.bytes("r.json", content)
        return ws.text("r.json", content)

    return build


def P(build: Callable[[Workspace], list[str]]) -> Argv:
    def argv(ws: Workspace) -> list[str]:
        return ["split", *build(ws)]

    return argv


def split_rows(name: str, items: list[Any], *flags: str) -> Callable[[Workspace], list[str]]:
    def build(ws: Workspace) -> list[str]:
        path = ws.jsonl(name, items)
        return [str(path), "--label-field", "label", *(f.format(ws=ws) for f in flags)]

    return build


def split_file(name: str, content: str | bytes, *flags: str) -> Callable[[Workspace], list[str]]:
    def build(ws: Workspace) -> list[str]:
        path = ws.bytes(name, content) if isinstance(content, bytes) else ws.text(name, content)
        return [str(path), "--label-field", "label", *flags]

    return build


def _damaged_gzip(at: int) -> bytes:
    """Valid gzip of three rows with 10 bytes (or the checksum byte at -8) overwritten."""
    data = bytearray(gzip.compress((GOOD * 50).encode()))
    if at < 0:
        data[at] ^= 0xFF
    else:
        data[at : at + 10] = b"\xff" * 10
    return bytes(data)


def folder(ws: Workspace, name: str) -> Path:
    path = ws.root / name
    path.mkdir()
    return path


GOOD = '{"id": 1, "prediction": "a", "reference": "a"}\n'
UTF16_TEXT = (GOOD * 3).encode("utf-16-le")
LABELLED = [{"id": i, "text": f"t{i}", "label": "ab"[i % 2]} for i in range(10)]


def _comparison(results: dict[str, Any]) -> dict[str, Any]:
    return results["comparisons"][0]


def T(*options: str, task: str = "humaneval") -> Argv:
    """A run of a built-in task with these --task-option values (checked before any data)."""

    def argv(ws: Workspace) -> list[str]:
        flags = [x for option in options for x in ("--task-option", option)]
        return ["run", "--task", task, *flags, "--base", "b", "--backend", "fake",
                "--out", str(ws.out), "--quiet"]  # fmt: skip

    return argv


def M(build: Callable[[Workspace], list[str]]) -> Argv:
    """A run on the default (hf) backend over model folders the case writes: every one of
    these is refused by the pre-flight, before torch is imported or a model loads."""

    def argv(ws: Workspace) -> list[str]:
        return ["run", *build(ws), "--task", str(ws.task), "--out", str(ws.out), "--quiet",
                "--cache-dir", "off"]  # fmt: skip

    return argv


def base(
    edit: Callable[[Path], Any] | None = None, **keys: Any
) -> Callable[[Workspace], list[str]]:
    """``--base`` a tiny checkpoint folder (``keys`` shape it), then ``edit`` it."""

    def build(ws: Workspace) -> list[str]:
        folder = ws.model(**keys)
        if edit is not None:
            edit(folder)
        return ["--base", str(folder)]

    return build


def with_adapter(
    edit: Callable[[Path], Any] | None = None, **keys: Any
) -> Callable[[Workspace], list[str]]:
    """A sound base and ``--adapter lora=`` a LoRA folder (``keys`` shape it), then ``edit``."""

    def build(ws: Workspace) -> list[str]:
        adapter = ws.adapter(**keys)
        if edit is not None:
            edit(adapter)
        return ["--base", str(ws.model()), "--adapter", f"lora={adapter}"]

    return build


def cut(name: str, keep: int) -> Callable[[Path], Any]:
    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[:keep])

    return edit


def write(name: str, content: str | bytes) -> Callable[[Path], Any]:
    def edit(folder: Path) -> None:
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)

    return edit


def remove(*names: str) -> Callable[[Path], Any]:
    def edit(folder: Path) -> None:
        for name in names:
            (folder / name).unlink()

    return edit


def manifest_edit(change: Callable[[dict[str, Any]], Any]) -> Callable[[Path], Any]:
    def edit(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        change(manifest)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return edit


def keep_lines(fraction: float, *, torn: bool = False) -> Callable[[Path], Any]:
    """samples.jsonl cut to ``fraction`` of its lines (``torn``: of its bytes, mid-line)."""

    def edit(run: Path) -> None:
        path = run / "samples.jsonl"
        if torn:
            data = path.read_bytes()
            path.write_bytes(data[: int(len(data) * fraction)])
        else:
            lines = path.read_text().splitlines(keepends=True)
            path.write_text("".join(lines[: int(len(lines) * fraction)]))

    return edit


def on_run(command: str, *flags: str, change: Callable[[Path], Any] | None = None) -> Argv:
    """``report``/``check``/``compare`` on a copy of a valid run (changed); ``{run}`` in a
    flag is that copy, ``{ws.root}`` the workspace."""

    def argv(ws: Workspace) -> list[str]:
        run = ws.run_copy(change=change)
        shown = [f.format(run=run, ws=ws) for f in flags]
        if command == "compare":
            return ["compare", str(ws.run_copy("other")), str(run), "--out", str(ws.out), *shown]
        if command == "check":
            return ["check", str(run), "--fail-on", "none", *shown]
        return [command, str(run), *shown]

    return argv


def _cache_with_a_folder(ws: Workspace) -> Path:
    cache = ws.root / "cache"
    (cache / "responses.sqlite").mkdir(parents=True)
    return cache


def _cut_model(ws: Workspace, name: str) -> Path:
    model = ws.model(name)
    cut("model.safetensors", 900)(model)
    return model


def judged(judge: Callable[[Workspace], str]) -> Argv:
    """A run of alpaca_eval (a tiny local copy) judged by ``judge``."""

    def argv(ws: Workspace) -> list[str]:
        rows_ = [{"instruction": f"say {w}", "output": w, "generator": "r", "dataset": "t"}
                 for w in ("alpha", "beta", "gamma")]  # fmt: skip
        data = ws.jsonl("alpaca.jsonl", rows_)
        return ["run", "--base", "b", "--backend", "fake", "--task", "alpaca_eval", "--data",
                f"alpaca_eval={data}", "--judge", judge(ws), "--out", str(ws.out), "--quiet"]  # fmt: skip

    return argv


def _fifo(ws: Workspace, name: str) -> Path:
    path = ws.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def _rename_arm(manifest: dict[str, Any]) -> None:
    manifest["arms"][1]["name"] = "lora2"


def _link(ws: Workspace, target: str) -> str:
    link = ws.root / "innocent.html"
    link.symlink_to(ws.root / "run" / target)
    return str(link)


# fmt: off
SCORE_FILES = [
    Bad("missing file", S(lambda ws: [str(ws.path("nope.jsonl"))]), ("nope.jsonl: file not found",)),
    Bad("directory as data", S(lambda ws: [str(folder(ws, "d.jsonl"))]), ("d.jsonl: is a directory",)),
    Bad("unsupported extension", S(one("p.txt", GOOD)), ("p.txt: unsupported file type '.txt'",)),
    Bad("no extension", S(one("preds", GOOD)), ("preds: unsupported file type",)),
    Bad("empty file", S(one("e.jsonl", "")), ("e.jsonl: file has no data rows",)),
    Bad("blank lines only", S(one("b.jsonl", "\n  \n\n")), ("b.jsonl: file has no data rows",)),
    Bad("not gzip", S(one("p.jsonl.gz", b"plain text, not gzip")), ("p.jsonl.gz: not a gzip file",)),
    Bad("truncated gzip", S(one("t.jsonl.gz", gzip.compress((GOOD * 50).encode())[:-12])), ("t.jsonl.gz: truncated gzip",)),
    Bad("corrupt gzip", S(one("c.jsonl.gz", _damaged_gzip(15))), ("c.jsonl.gz: corrupt gzip", "invalid distance")),
    Bad("gzip with a bad checksum", S(one("crc.jsonl.gz", _damaged_gzip(-8))), ("crc.jsonl.gz: corrupt gzip", "CRC check failed")),
    Bad("UTF-16 with BOM", S(one("b16.jsonl", b"\xff\xfe" + UTF16_TEXT)), ("b16.jsonl: file is UTF-16-LE encoded",)),
    Bad("UTF-16-LE without BOM", S(one("u16.jsonl", UTF16_TEXT)), ("u16.jsonl: looks like UTF-16-LE",)),
    Bad("UTF-16-BE without BOM", S(one("u16be.jsonl", (GOOD * 3).encode("utf-16-be"))), ("u16be.jsonl: looks like UTF-16-BE",)),
    Bad("UTF-32 without BOM", S(one("u32.jsonl", (GOOD * 3).encode("utf-32-le"))), ("u32.jsonl: looks like UTF-32-LE",)),
    Bad("invalid UTF-8 on row 3", S(one("x.jsonl", (GOOD * 2).encode() + b'{"id": 3, "prediction": "\xff", "reference": "a"}\n')), ("x.jsonl, row 3: bytes that are not UTF-8 on line 3",)),
    Bad("BOM inside the file", S(one("bom.jsonl", GOOD + "\ufeff" + GOOD)), ("bom.jsonl, row 2: a byte-order mark",)),
    Bad("zero byte", S(one("nul.jsonl", GOOD + '{"id": 2, "prediction": "a\x00"}\n')), ("nul.jsonl, row 2: a zero byte",)),
    Bad("gzip data named .jsonl", S(one("z.jsonl", gzip.compress(GOOD.encode()))), ("z.jsonl: not text: the file starts like gzip",)),
    Bad("xlsx named .csv", S(one("sheet.csv", b"PK\x03\x04" + b"\x00" * 40)), ("sheet.csv: not text: the file starts like a zip",)),
    Bad("garbage parquet", S(one("p.parquet", b"not parquet at all")), ("p.parquet: not a readable Parquet file",)),
    Bad("malformed JSON line", S(one("m.jsonl", GOOD + '{"id": 2, "prediction": "a",}\n')), ("m.jsonl, row 2: malformed JSON",)),
    Bad("array line", S(one("arr.jsonl", GOOD + "[1, 2]\n")), ("arr.jsonl, row 2: expected a JSON object, got list",)),
    Bad("duplicate key", S(one("dup.jsonl", '{"id": 1, "prediction": "a", "prediction": "b", "reference": "a"}\n')), ("dup.jsonl, row 1: malformed JSON: the key 'prediction' appears twice",)),
    Bad("deep nesting", S(one("deep.jsonl", '{"id": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}\n")), ("deep.jsonl, row 1: malformed JSON: nested too deeply",)),
    Bad("5000-digit integer", S(one("big.jsonl", '{"id": 1, "prediction": ' + "9" * 5000 + ', "reference": "a"}\n')), ("big.jsonl, row 1: malformed JSON",)),
    Bad("JSON document not a list", S(one("doc.json", '{"rows": []}')), ("doc.json: expected a list of objects",)),
    Bad("JSON list with a string", S(one("doc2.json", '[{"id": 1, "prediction": "a", "reference": "a"}, "x"]')), ("doc2.json, row 2: expected a JSON object, got str",)),
    Bad("CSV ragged row after a multi-line record", S(one("r.csv", 'id,prediction,reference\n1,"two\nlines",a\n2,b\n')), ("r.csv, row 2: ragged row",)),
    Bad("CSV duplicate header", S(one("h.csv", "id,prediction,prediction\n1,a,b\n")), ("h.csv, field 'prediction': the header names this column twice",)),
    Bad("CSV empty header name", S(one("h2.csv", "id,,reference\n1,a,b\n")), ("h2.csv: the header has an empty column name",)),
    Bad("CSV unclosed quote", S(one("q.csv", 'id,prediction,reference\n1,"a,b\n')), ("q.csv, row 1: malformed CSV",)),
    Bad("CSV bad byte after a multi-line record", S(one("u.csv", b'id,prediction,reference\n1,"x\ny\nz",a\n2,\xff,b\n')), ("u.csv, row 2: bytes that are not UTF-8 on line 5",)),
    Bad("missing prediction field", S(rows("mp.jsonl", {"id": 1, "reference": "a"})), ("mp.jsonl, row 1, field 'prediction': missing field",)),
    Bad("missing reference field", S(rows("mr.jsonl", {"id": 1, "prediction": "a"})), ("mr.jsonl, row 1, field 'reference': missing field",)),
    Bad("null prediction", S(rows("np.jsonl", {"id": 1, "prediction": None, "reference": "a"})), ("np.jsonl, row 1, field 'prediction': empty value",)),
    Bad("NaN prediction", S(one("nan.jsonl", '{"id": 1, "prediction": NaN, "reference": "a"}\n')), ("nan.jsonl, row 1, field 'prediction': empty value",)),
    Bad("infinite prediction", S(one("inf.jsonl", '{"id": 1, "prediction": 1e400, "reference": "a"}\n')), ("inf.jsonl, row 1, field 'prediction': not a finite number",)),
    Bad("object prediction", S(rows("op.jsonl", {"id": 1, "prediction": {"t": "a"}, "reference": "a"})), ("op.jsonl, row 1, field 'prediction': expected a string, number or boolean",)),
    Bad("list prediction", S(rows("lp.jsonl", {"id": 1, "prediction": ["a"], "reference": "a"})), ("lp.jsonl, row 1, field 'prediction': expected a string, number or boolean",)),
    Bad("empty reference list", S(rows("er.jsonl", {"id": 1, "prediction": "a", "reference": []})), ("er.jsonl, row 1, field 'reference': an empty list of references",)),
    Bad("object in a reference list", S(rows("or.jsonl", {"id": 1, "prediction": "a", "reference": ["a", {}]})), ("or.jsonl, row 1, field 'reference': expected a string, number or boolean",)),
    Bad("duplicate ids", S(rows("di.jsonl", {"id": 1, "prediction": "a", "reference": "a"}, {"id": 1, "prediction": "b", "reference": "b"})), ("di.jsonl, row 2, field 'id': duplicate id",)),
    Bad("unpaired ids", S(lambda ws: [str(ws.preds), str(ws.jsonl("short.jsonl", _pred_rows()[:-1]))]), ("arm 'short' does not have the same ids",)),
    Bad("other references in another arm", S(lambda ws: [str(ws.preds), str(ws.jsonl("other.jsonl", [{**r, "reference": "x"} for r in _pred_rows()]))]), ("other.jsonl, row 1, field 'reference': id '0' has another reference",)),
    Bad("arm name from a file name with a space", S(lambda ws: [str(ws.jsonl("my preds.jsonl", _pred_rows()))]), ("the arm name of", "my preds.jsonl", "NAME=PATH")),
    Bad("arm name with a newline", S(lambda ws: [f"a\n={ws.preds}"]), ("the arm name of", "'a\\n'")),
    Bad("arm name without a file", S(lambda ws: ["base="]), ("'base=': no file given",)),
    Bad("arm names repeat", S(lambda ws: [f"x={ws.preds}", f"x={ws.tuned}"]), ("arm names repeat: ['x']",)),
    Bad("arm field value not a name", S(lambda ws: [str(ws.jsonl("arms.jsonl", [{**r, "arm": "a b"} for r in _pred_rows()])), "--arm-field", "arm"]), ("arms.jsonl, row 1, field 'arm': an arm name must be",)),
]

SCORE_OPTIONS = [
    Bad("confidence above 1", S(opts("--confidence", "1.5")), ("--confidence", "1.5")),
    Bad("confidence below 0.5", S(opts("--confidence", "0.4")), ("--confidence", "0.4")),
    Bad("confidence NaN", S(opts("--confidence", "nan")), ("--confidence", "nan")),
    Bad("alpha 0.9", S(opts("--alpha", "0.9")), ("--alpha", "0.9")),
    Bad("alpha 0", S(opts("--alpha", "0")), ("--alpha",)),
    Bad("bootstrap 0", S(opts("--bootstrap", "0")), ("--bootstrap", "(value: 0)")),
    Bad("bootstrap 50", S(opts("--bootstrap", "50")), ("--bootstrap", "(value: 50)")),
    Bad("permutations 0", S(opts("--permutations", "0")), ("--permutations", "(value: 0)")),
    Bad("bootstrap not a number", S(opts("--bootstrap", "many")), ("--bootstrap", "'many'")),
    Bad("unknown correction", S(opts("--correction", "bonferroni")), ("--correction", "'bonferroni'")),
    Bad("unknown metric", S(opts("--metric", "blue")), ("unknown metric 'blue'",)),
    Bad("int option given 2.5", S(opts("--metric", "bleu:max_ngram_order=2.5")), ("metric 'bleu'", "max_ngram_order='2.5'", "expected an integer")),
    Bad("int option given 0", S(opts("--metric", "bleu:max_ngram_order=0")), ("bleu", "max_ngram_order must be >= 1")),
    Bad("bool option given maybe", S(opts("--metric", "exact_match:normalize_whitespace=maybe")), ("metric 'exact_match'", "normalize_whitespace='maybe'", "expected a boolean")),
    Bad("bool option given 2", S(opts("--metric", "exact_match:lowercase=2")), ("lowercase='2'", "expected a boolean")),
    Bad("unknown tokenizer", S(opts("--metric", "bleu:tokenize=klingon")), ("bleu: unknown tokenize='klingon'",)),
    Bad("misspelt option", S(opts("--metric", "bleu:lowercas=true")), ("metric 'bleu' has no option 'lowercas'",)),
    Bad("option given twice", S(opts("--metric", "bleu:lowercase=true,lowercase=false")), ("'lowercase' is given twice",)),
    Bad("option without a value", S(opts("--metric", "bleu:lowercase")), ("--metric 'bleu:lowercase': options are key=value pairs",)),
    Bad("negative chrF beta", S(opts("--metric", "chrf:beta=-1")), ("chrf: beta must be >= 0",)),
    Bad("chrF order not a number", S(opts("--metric", "chrf:char_order=six")), ("char_order='six'", "expected an integer")),
    Bad("float option NaN", S(opts("--metric", "meteor:alpha=nan")), ("alpha='nan'", "expected a finite number")),
    Bad("unknown ROUGE tokenizer", S(opts("--metric", "rougeL:tokenizer=ascii")), ("rougeL: unknown tokenizer='ascii'",)),
    Bad("invalid regex", S(opts("--metric", "exact_match:ignore_regex=(")), ("exact_match: invalid ignore_regex",)),
    Bad("perplexity on prediction files", S(opts("--metric", "perplexity")), ("--metric perplexity", "fteval run")),
    Bad("cross_entropy on prediction files", S(opts("--metric", "cross_entropy")), ("--metric cross_entropy",)),
    Bad("acc_norm on prediction files", S(opts("--metric", "acc_norm")), ("--metric acc_norm", "use acc")),
    Bad("pass@1 without --problems", S(opts("--metric", "pass@1")), ("--metric pass@1", "--problems", "--k")),
    Bad("pass@k without --problems", S(opts("--metric", "pass@k:k=3")), ("--metric pass@k", "--problems")),
    Bad("ROUGE default tokenizer on Chinese", S(lambda ws: [str(ws.jsonl("zh.jsonl", [{"id": 1, "prediction": "猫", "reference": "猫坐在垫子上"}])), "--metric", "rougeL"]), ("--metric rougeL", "tokenizer='unicode'")),
    Bad("no metric", lambda ws: ["score", str(ws.preds), "--out", str(ws.out)], ("needs at least one --metric",)),
    Bad("empty task name", S(opts("--task-name", "")), ("--task-name", "must not be empty")),
    Bad("task name with a trailing newline", S(opts("--task-name", "scored\n")), ("--task-name", "'scored\\n'")),
    Bad("task name with a space", S(opts("--task-name", "my task")), ("--task-name", "'my task'")),
    Bad("empty labels", S(opts("--labels", "", "--metric", "acc")), ("--labels", "(value: '')")),
    Bad("an empty label", S(opts("--labels", "a,,b", "--metric", "acc")), ("--labels", "'a,,b'")),
    Bad("a label twice", S(opts("--labels", "x,x", "--metric", "acc")), ("--labels", "['x'] given more than once")),
    Bad("labels that cover no reference", S(opts("--labels", "yes,no", "--metric", "acc")), ("preds.jsonl, row 1, field 'reference'", "--labels yes,no do not cover the references", "'the cat sat'")),
    Bad("labels that cover some references", S(lambda ws: [str(ws.jsonl("cls.jsonl", [{"id": i, "prediction": "a", "reference": "abc"[i % 3]} for i in range(6)])), "--labels", "a,b", "--metric", "acc"]), ("cls.jsonl, row 3, field 'reference'", "do not cover the references 'c'")),
    Bad("empty prediction field name", S(opts("--prediction-field", " ")), ("--prediction-field: an empty field name",)),
    Bad("--out is a file", S(opts("--out", "{ws.root}/a_file")), ("--out", "a_file: is a file, not a directory")),
    Bad("--out under a file", S(opts("--out", "{ws.root}/a_file/run")), ("--out", "lies under", "a_file, which is a file")),
    Bad("--k 0", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--k", "0"]), ("--k: every k must be an integer >= 1",)),
    Bad("--timeout -1", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--timeout", "-1"]), ("--timeout", "(value: -1.0)")),
    Bad("--timeout NaN", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--timeout", "nan"]), ("--timeout",)),
    Bad("--workers 0", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--workers", "0"]), ("--workers: must be an integer >= 1",)),
    Bad("--k without --problems", S(opts("--k", "1")), ("--k needs --problems",)),
    Bad("--timeout without --problems", S(opts("--timeout", "0")), ("--timeout needs --problems",)),
    Bad("--allow-unsafe-execution without --problems", S(opts("--allow-unsafe-execution")), ("--allow-unsafe-execution needs --problems",)),
    Bad("--labels with --problems", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--labels", ""]), ("--labels does not apply with --problems",)),
    Bad("--metric with --problems", S(lambda ws: [str(ws.preds), "--problems", str(ws.preds), "--metric", "bleu"]), ("--metric does not apply with --problems",)),
    Bad("--problems file missing", S(lambda ws: [str(ws.preds), "--problems", str(ws.path("nope.jsonl"))]), ("nope.jsonl: file not found",)),
    Bad("--problems is a directory", S(lambda ws: [str(ws.preds), "--problems", str(ws.root)]), ("is a directory, not a file",)),
    Bad("--problems in UTF-16", S(lambda ws: [str(ws.preds), "--problems", str(ws.bytes("pr.jsonl", UTF16_TEXT))]), ("pr.jsonl: looks like UTF-16-LE",)),
    Bad("seed not an integer", S(opts("--seed", "1.5")), ("--seed", "'1.5'")),
]

CHECK = [
    Bad("empty list", C(raw_results("[]")), ("r.json", "(top level): [] is not of type 'object'")),
    Bad("empty object", C(raw_results("{}")), ("r.json", "'schema_version' is a required property")),
    Bad("null", C(raw_results("null")), ("r.json", "None is not of type 'object'")),
    Bad("a string", C(raw_results('"results"')), ("r.json", "is not of type 'object'")),
    Bad("a number", C(raw_results("42")), ("r.json", "42 is not of type 'object'")),
    Bad("empty file", C(raw_results("")), ("r.json: not valid JSON on line 1",)),
    Bad("truncated JSON", C(lambda ws: ws.text("r.json", json.dumps(ws.valid_results)[:-40])), ("r.json: not valid JSON",)),
    Bad("UTF-16 results", C(lambda ws: ws.bytes("r.json", json.dumps(ws.valid_results).encode("utf-16"))), ("r.json: file is UTF-16",)),
    Bad("UTF-16 results without BOM", C(lambda ws: ws.bytes("r.json", json.dumps(ws.valid_results).encode("utf-16-le"))), ("r.json: looks like UTF-16-LE",)),
    Bad("gzip bytes as results", C(lambda ws: ws.bytes("r.json", gzip.compress(b"{}"))), ("r.json: not text",)),
    Bad("NaN in results", C(lambda ws: ws.text("r.json", json.dumps(ws.valid_results)[:-1] + ', "x": NaN}')), ("r.json: not valid JSON", "NaN is not a JSON value")),
    Bad("duplicate key", C(raw_results('{"schema_version": "1", "schema_version": "1"}')), ("r.json: not valid JSON", "'schema_version' appears twice")),
    Bad("missing file", C(lambda ws: ws.path("none.json")), ("none.json: file not found",)),
    Bad("directory without results", C(lambda ws: folder(ws, "sub")), ("sub/results.json: file not found",)),
    Bad("comparison without a verdict", C(bad_results(lambda r: _comparison(r).pop("verdict"))), ("comparisons[0]: 'verdict' is a required property",)),
    Bad("verdict null", C(bad_results(lambda r: _comparison(r).update(verdict=None))), ("comparisons[0].verdict: None is not one of",)),
    Bad("unknown verdict", C(bad_results(lambda r: _comparison(r).update(verdict="better"))), ("comparisons[0].verdict: 'better' is not one of",)),
    Bad("scores is a string", C(bad_results(lambda r: r.update(scores="none"))), ("scores: 'none' is not of type 'array'",)),
    Bad("comparisons is an object", C(bad_results(lambda r: r.update(comparisons={}))), ("comparisons: {{}} is not of type 'array'",)),
    Bad("arms is a string", C(bad_results(lambda r: r.update(arms="base"))), ("arms: 'base' is not of type 'array'",)),
    Bad("unknown arm kind", C(bad_results(lambda r: r["arms"][0].update(kind="teacher"))), ("arms[0].kind: 'teacher' is not one of",)),
    Bad("p-value above 1", C(bad_results(lambda r: _comparison(r).update(p_value=1.5))), ("comparisons[0].p_value: 1.5 is greater than the maximum of 1",)),
    Bad("negative n", C(bad_results(lambda r: r["scores"][0].update(n=-1))), ("scores[0].n: -1 is less than the minimum of 0",)),
    Bad("delta as text", C(bad_results(lambda r: _comparison(r).update(delta="0.1"))), ("comparisons[0].delta: '0.1' is not of type 'number', 'null'",)),
    Bad("other schema version", C(bad_results(lambda r: r.update(schema_version="2"))), ("schema_version: '1' was expected",)),
    Bad("a contract section as a string", C(bad_results(lambda r: r.update(robustness="none"))), ("robustness: 'none' is not of type 'array'",)),
    Bad("no comparisons", C(bad_results(lambda r: r.update(comparisons=[]))), ("results.json, field 'comparisons': nothing to gate",)),
    Bad("--require without a want", C(lambda ws: ws.results, "--require", "scored/exact_match"), ("--require", "'scored/exact_match'")),
    Bad("--require with an unknown want", C(lambda ws: ws.results, "--require", "scored=better"), ("--require", "'scored=better'")),
    Bad("--fail-on unknown", C(lambda ws: ws.results, "--fail-on", "anything"), ("--fail-on", "'anything'")),
]

SPLIT = [
    Bad("missing data", P(lambda ws: [str(ws.path("none.jsonl")), "--label-field", "label"]), ("none.jsonl: file not found",)),
    Bad("directory as data", P(lambda ws: [str(ws.root), "--label-field", "label"]), ("cannot write split files",)),
    Bad("directory named like data", P(lambda ws: [str(folder(ws, "dd.jsonl")), "--label-field", "label"]), ("dd.jsonl: is a directory",)),
    Bad("parquet cannot be written", P(split_file("d.parquet", b"PAR1")), ("d.parquet: cannot write split files in the '.parquet' format",)),
    Bad("gzip cannot be written", P(split_file("d.jsonl.gz", gzip.compress(b"{}"))), ("d.jsonl.gz: cannot write split files",)),
    Bad("text file", P(split_file("d.txt", "x")), ("d.txt: cannot write split files",)),
    Bad("label field missing", P(split_rows("nolabel.jsonl", [{"id": 1, "text": "x"}])), ("nolabel.jsonl, row 1, field 'label': missing field",)),
    Bad("empty label field flag", P(lambda ws: [str(ws.data), "--label-field", ""]), ("--label-field: must not be empty",)),
    Bad("validation 0", P(lambda ws: [str(ws.data), "--label-field", "label", "--validation", "0"]), ("--validation", "'0'")),
    Bad("validation 1", P(lambda ws: [str(ws.data), "--label-field", "label", "--validation", "1"]), ("--validation", "'1'")),
    Bad("validation NaN", P(lambda ws: [str(ws.data), "--label-field", "label", "--validation", "nan"]), ("--validation", "'nan'")),
    Bad("validation text", P(lambda ws: [str(ws.data), "--label-field", "label", "--validation", "half"]), ("--validation", "'half'")),
    Bad("--out-dir is a file", P(lambda ws: [str(ws.data), "--label-field", "label", "--out-dir", str(ws.root / "a_file")]), ("--out-dir", "a_file: is a file, not a directory")),
    Bad("--out-dir under a file", P(lambda ws: [str(ws.data), "--label-field", "label", "--out-dir", str(ws.root / "a_file" / "x")]), ("--out-dir", "which is a file")),
    Bad("null label", P(split_rows("nl.jsonl", [*LABELLED, {"id": 99, "label": None}])), ("nl.jsonl, row 11, field 'label': empty value",)),
    Bad("mixed label types", P(split_rows("mx.jsonl", [*LABELLED, {"id": 99, "label": 1}])), ("mx.jsonl, row 11, field 'label': mixed-type column",)),
    Bad("list label", P(split_rows("ll.jsonl", [{"id": i, "label": ["a"]} for i in range(4)])), ("ll.jsonl, row 1, field 'label'",)),
    Bad("every class a single row", P(split_rows("single.jsonl", [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}])), ("single.jsonl, field 'label': every class has a single row",)),
    Bad("UTF-16 data", P(split_file("s16.csv", "id,label\n1,a\n2,b\n".encode("utf-16-le"))), ("s16.csv: looks like UTF-16-LE",)),
    Bad("CSV ragged row", P(split_file("rg.csv", 'id,label\n1,"a\nb"\n2,b,extra\n')), ("rg.csv, row 2: ragged row",)),
]

RUN = [
    Bad("config is a directory", R(lambda ws: [str(ws.root)]), ("is a directory, not a config file",)),
    Bad("config missing", R(lambda ws: [str(ws.path("nope.yaml"))]), ("nope.yaml: config file not found",)),
    Bad("config with invalid UTF-8", R(config_text(b"base: b\ntasks: [\xff]\n")), ("cfg.yaml: bytes that are not UTF-8 on line 2",)),
    Bad("config in UTF-16", R(config_text("base: b\ntasks: [x.yaml]\n".encode("utf-16"))), ("cfg.yaml: file is UTF-16",)),
    Bad("config in UTF-16 without BOM", R(config_text("base: b\ntasks: [x.yaml]\n".encode("utf-16-le"))), ("cfg.yaml: looks like UTF-16-LE",)),
    Bad("config not YAML", R(config_text("base: [b\n")), ("cfg.yaml: not valid YAML",)),
    Bad("config is a list", R(config_text("- b\n")), ("cfg.yaml: expected a mapping of keys, got list",)),
    Bad("config is empty", R(config_text("")), ("cfg.yaml: config file is empty",)),
    Bad("config with an unknown key", R(config_text("base: b\ntasks: [{task}]\nbatchsize: 4\n")), ("cfg.yaml: unknown key 'batchsize'",)),
    Bad("config with a key twice", R(config_text("base: b\nbase: c\ntasks: [{task}]\n")), ("cfg.yaml: not valid YAML", "'base'", "line 2")),
    Bad("config with a non-string key", R(config_text("base: b\ntasks: [{task}]\n1: x\n")), ("cfg.yaml: key '1': Keys should be strings",)),
    Bad("config with a negative margin", R(config_text("base: b\ntasks: [{task}]\nnon_inferiority: {{intents: -2}}\n")), ("cfg.yaml: key 'non_inferiority'", "-2")),
    Bad("config with a NaN margin", R(config_text("base: b\ntasks: [{task}]\nnon_inferiority: {{intents: .nan}}\n")), ("cfg.yaml: key 'non_inferiority.intents'", "finite")),
    Bad("config margin for an unknown task", R(config_text("base: b\ntasks: [{task}]\nnon_inferiority: {{other: 2}}\n")), ("non_inferiority: 'other' names no task of this run",)),
    Bad("config margin for an unknown metric", R(config_text("base: b\ntasks: [{task}]\nnon_inferiority: {{intents/bleu: 2}}\n")), ("non_inferiority: 'intents/bleu' names no metric",)),
    Bad("config adapter name with a newline", R(config_text('base: b\ntasks: [{task}]\nadapters: {{"a\\n": x}}\n')), ("cfg.yaml: key 'adapters'", "'a\\n'")),
    Bad("config device with a newline", R(config_text('base: b\ntasks: [{task}]\ndevice: "cpu\\n"\n')), ("cfg.yaml: key 'device'",)),
    Bad("config with an empty out", lambda ws: ["run", *config_text('base: b\ntasks: [{task}]\nout: ""\n')(ws), "--backend", "fake", "--quiet"], ("cfg.yaml: key 'out'", "must not be empty")),
    Bad("config with a confidence of 1.5", R(config_text("base: b\ntasks: [{task}]\nconfidence: 1.5\n")), ("cfg.yaml: key 'confidence'",)),
    Bad("empty --base", R(lambda ws: ["--task", str(ws.task), "--base", ""]), ("key 'base'", "must not be empty")),
    Bad("empty --task", R(lambda ws: ["--task", ""]), ("key 'tasks'", "an empty path")),
    Bad("--out is a file", R(lambda ws: ["--task", str(ws.task), "--out", str(ws.root / "a_file")]), ("out (the run directory)", "a_file: is a file")),
    Bad("--cache-dir is a file", R(lambda ws: ["--task", str(ws.task), "--cache-dir", str(ws.root / "a_file")]), ("cache_dir (the response cache)", "a_file: is a file")),
    Bad("--cache-dir under a file", R(lambda ws: ["--task", str(ws.task), "--cache-dir", str(ws.root / "a_file" / "c")]), ("cache_dir", "which is a file")),
    Bad("--confidence 1.5", R(lambda ws: ["--task", str(ws.task), "--confidence", "1.5"]), ("key 'confidence'", "1.5")),
    Bad("--alpha 0.9", R(lambda ws: ["--task", str(ws.task), "--alpha", "0.9"]), ("key 'alpha'", "0.9")),
    Bad("--bootstrap 0", R(lambda ws: ["--task", str(ws.task), "--bootstrap", "0"]), ("key 'bootstrap_resamples'",)),
    Bad("--batch-size 0", R(lambda ws: ["--task", str(ws.task), "--batch-size", "0"]), ("key 'batch_size'",)),
    Bad("--limit 0", R(lambda ws: ["--task", str(ws.task), "--limit", "0"]), ("key 'limit'",)),
    Bad("--non-inferiority below 0", R(lambda ws: ["--task", str(ws.task), "--non-inferiority", "intents=-1"]), ("--non-inferiority", "'intents=-1'")),
    Bad("--require misspelt", R(lambda ws: ["--task", str(ws.task), "--require", "intents=improve"]), ("--require", "'intents=improve'")),
    Bad("--adapter with an empty name", R(lambda ws: ["--task", str(ws.task), "--adapter", "=a"]), ("--adapter expects NAME=PATH",)),
    Bad("task file missing", R(lambda ws: ["--task", str(ws.path("none.yaml"))]), ("none.yaml: task file not found",)),
    Bad("task file is a directory", R(lambda ws: ["--task", str(folder(ws, "t.yaml"))]), ("t.yaml: is a directory, not a task file",)),
    Bad("task file with invalid UTF-8", R(lambda ws: ["--task", str(ws.bytes("bad.yaml", b"name: \xff\n"))]), ("bad.yaml: bytes that are not UTF-8 on line 1",)),
    Bad("task name with a trailing newline", R(task_flag(name="intents\n")), ("t.yaml: key 'name'", "'intents\\n'")),
    Bad("task with an empty choice", R(task_flag(choices=["login", "", "refund"])), ("t.yaml: key 'choices': an empty choice",)),
    Bad("per-row choices that repeat", R(task_flag(choices=None, choices_field="opts", rows=[{"id": f"r{i}", "text": "x", "opts": ["same", "same"], "label": 0} for i in range(3)])), ("t.jsonl, row 1, field 'opts': the choice 'same' repeats",)),
    Bad("per-row choice that is empty", R(task_flag(choices=None, choices_field="opts", rows=[{"id": f"r{i}", "text": "x", "opts": ["yes", ""], "label": 0} for i in range(3)])), ("t.jsonl, row 1, field 'opts': an empty choice",)),
    Bad("per-row choice that is null", R(task_flag(choices=None, choices_field="opts", rows=[{"id": "r1", "text": "x", "opts": ["yes", None], "label": 0}])), ("t.jsonl, row 1, field 'opts': empty value",)),
    Bad("task data not gzip", R(lambda ws: ["--task", str(ws.yaml("gz.yaml", {**_task_spec(), "data": ws.bytes("g.jsonl.gz", b"nope").name}))]), ("g.jsonl.gz: not a gzip file",)),
    Bad("task data in UTF-16", R(lambda ws: ["--task", str(ws.yaml("u.yaml", {**_task_spec(), "data": ws.bytes("u.jsonl", json.dumps(intent_rows(3)[0]).encode("utf-16-le")).name}))]), ("u.jsonl: looks like UTF-16-LE",)),
    Bad("task metric bool option maybe", R(task_flag(type="generate", reference_field="label", choices=None, label_field=None, metrics=[{"name": "exact_match", "lowercase": "maybe"}])), ("t.yaml", "metric 'exact_match'", "lowercase='maybe'")),
    Bad("task metric int option 2.5", R(task_flag(type="generate", reference_field="label", choices=None, label_field=None, metrics=[{"name": "bleu", "max_ngram_order": 2.5}])), ("t.yaml", "max_ngram_order=2.5", "expected an integer")),
    Bad("task key twice", R(lambda ws: ["--task", str(ws.text("twice.yaml", yaml.safe_dump(_task_spec()) + "name: again\n"))]), ("twice.yaml: not valid YAML", "'name'")),
    Bad("task label not a choice", R(task_flag(rows=[{**r, "label": "refnd"} if i == 3 else r for i, r in enumerate(intent_rows(6))])), ("t.jsonl, row 4, field 'label'", "'refnd'")),
]


RUN_OPTIONS = [
    Bad("sandbox switch given maybe", T("humaneval:allow_unsafe=maybe"), ("task 'humaneval': setting allow_unsafe='maybe'", "expected a boolean")),
    Bad("sandbox switch given on", T("humaneval:allow_unsafe=on"), ("allow_unsafe='on'", "true/false, yes/no or 1/0")),
    Bad("sandbox switch given twice", T("humaneval:allow_unsafe=false", "humaneval:allow_unsafe=true"), ("--task-option humaneval:allow_unsafe is given twice",)),
    Bad("task option given twice in one flag", T("humaneval:n_samples=1,n_samples=2"), ("humaneval:n_samples is given twice",)),
    Bad("task option not a number", T("humaneval:max_new_tokens=abc"), ("max_new_tokens='abc'", "expected an integer")),
    Bad("task option negative", T("squad:max_new_tokens=-5", task="squad"), ("task 'squad': setting max_new_tokens='-5'", "must be >= 1")),
    Bad("task option huge", T("gsm8k:max_new_tokens=1000000000000", task="gsm8k"), ("max_new_tokens='1000000000000'", "<= 32768")),
    Bad("task option NaN", T("humaneval:temperature=nan"), ("temperature='nan'", "expected a finite number")),
    Bad("task option infinite", T("humaneval:timeout_s=inf"), ("timeout_s='inf'", "finite")),
    Bad("task option below its range", T("humaneval:temperature=-1"), ("temperature='-1'", "must be >= 0")),
    Bad("task option above its range", T("humaneval:top_p=5"), ("top_p='5'", "must be > 0 and <= 1")),
    Bad("task option zero timeout", T("humaneval:timeout_s=0"), ("timeout_s='0'", "must be > 0")),
    Bad("task option fraction for a count", T("humaneval:n_samples=2.5"), ("n_samples='2.5'", "expected an integer")),
    Bad("task option not one of its choices", T("alpaca_eval:opponent=judge", task="alpaca_eval"), ("opponent='judge'", "must be one of 'reference', 'base'")),
    Bad("task option boolean given yes please", T("alpaca_eval:chat_template=yes please", task="alpaca_eval"), ("chat_template='yes please'", "expected a boolean")),
    Bad("task option without a value", T("humaneval:n_samples"), ("--task-option expects NAME:KEY=VALUE",)),
    Bad("task option with an empty key", T("humaneval:=3"), ("--task-option expects NAME:KEY=VALUE",)),
    Bad("task option misspelt", T("humaneval:nsamples=2"), ("task 'humaneval' has no setting 'nsamples'",)),
    Bad("config task option typed wrong", R(config_text("base: b\ntasks: [humaneval]\ntask_options: {{humaneval: {{allow_unsafe: maybe}}}}\n")), ("allow_unsafe='maybe'", "expected a boolean")),
    Bad("config boolean from an undocumented word", R(config_text('base: b\ntasks: [{task}]\nallow_pickle: "on"\n')), ("key 'allow_pickle'", "expected a boolean")),
    Bad("config boolean from text", R(config_text('base: b\ntasks: [{task}]\ntrust_remote_code: "maybe"\n')), ("key 'trust_remote_code'", "expected a boolean")),
    Bad("config infinite timeout", R(config_text("base: b\ntasks: [{task}]\nrequest_timeout_s: .inf\n")), ("key 'request_timeout_s'", "finite")),
    Bad("--threads beyond the machine", R(lambda ws: ["--task", str(ws.task), "--threads", "100000"]), ("key 'threads'", "100000 threads is more than 4 per CPU")),
    Bad("--seed negative", R(lambda ws: ["--task", str(ws.task), "--seed", "-1"]), ("key 'seed'", "greater than or equal to 0")),
    Bad("--seed beyond 64 bits", R(lambda ws: ["--task", str(ws.task), "--seed", str(2**70)]), ("key 'seed'",)),
    Bad("--guardrail-margin infinite", R(lambda ws: ["--task", str(ws.task), "--guardrail-margin", "inf"]), ("key 'guardrail_margin'", "finite")),
    Bad("--brittle-threshold NaN", R(lambda ws: ["--task", str(ws.task), "--brittle-threshold", "nan"]), ("key 'brittle_threshold'",)),
    Bad("--request-timeout-s huge", R(lambda ws: ["--task", str(ws.task), "--request-timeout-s", "1e300"]), ("key 'request_timeout_s'", "less than or equal to 86400")),
    Bad("--base-url not http", R(lambda ws: ["--task", str(ws.task), "--base-url", "ftp://host/v1"]), ("key 'base_url'", "http:// or https://")),
    Bad("--base-url port out of range", R(lambda ws: ["--task", str(ws.task), "--base-url", "http://host:99999/v1"]), ("key 'base_url'", "Port out of range")),
    Bad("--judge with no judged task", R(lambda ws: ["--task", str(ws.task), "--judge", str(ws.root)]), ("--judge", "no task of this run is judged", "alpaca_eval")),
    Bad("--train-data a folder", R(lambda ws: ["--task", str(ws.task), "--train-data", f"base={ws.root}"]), ("--train-data base=", "is a folder; give the file")),
    Bad("--training-log a folder", R(lambda ws: ["--task", str(ws.task), "--training-log", f"base={ws.root}"]), ("--training-log base=", "is a folder", "trainer_state.json")),
    Bad("--cache-dir holding a folder as its file", R(lambda ws: ["--task", str(ws.task), "--cache-dir", str(_cache_with_a_folder(ws))]), ("responses.sqlite is a folder where the cache file should be",)),
    Bad("--cache-dir that cannot be created", R(lambda ws: ["--task", str(ws.task), "--cache-dir", "/proc/fteval-cache"]), ("cache_dir (the response cache) /proc/fteval-cache: not writable",)),
    Bad("--out that cannot be created", R(lambda ws: ["--task", str(ws.task), "--out", "/proc/fteval-run"]), ("out (the run directory) /proc/fteval-run: not writable",), fresh_out=False),
]

RUN_MODELS = [
    Bad("config vocabulary disagrees with the weights", M(base(vocab=64, config={"vocab_size": 500})), ("config.json and the weights disagree: vocab_size is 500 but the token embedding has 64 rows",)),
    Bad("config hidden size disagrees with the weights", M(base(config={"n_embd": 16})), ("hidden size is 16 but the token embedding is 8 wide",)),
    Bad("config has more layers than the weights", M(base(config={"n_layer": 4})), ("4 layers in the config, 2 in the weights",)),
    Bad("weights cut in half", M(base(cut("model.safetensors", 1200))), ("model.safetensors", "truncated")),
    Bad("weights cut inside the header", M(base(cut("model.safetensors", 12))), ("model.safetensors", "not a safetensors file, or truncated")),
    Bad("weights empty", M(base(write("model.safetensors", b""))), ("model.safetensors: 0 bytes",)),
    Bad("weights garbage", M(base(write("model.safetensors", bytes(range(256)) * 8))), ("model.safetensors", "not a safetensors file")),
    Bad("weights padded", M(base(lambda f: (f / "model.safetensors").write_bytes((f / "model.safetensors").read_bytes() + b"\0" * 64))), ("model.safetensors", "truncated or padded")),
    Bad("a shard the index names is missing", M(base(write("model.safetensors.index.json", '{"weight_map": {"transformer.wte.weight": "model-00002-of-00002.safetensors"}}'))), ("names the shard 'model-00002-of-00002.safetensors'",)),
    Bad("config malformed", M(base(write("config.json", "{oops"))), ("config.json: malformed JSON",)),
    Bad("config a list", M(base(write("config.json", "[]"))), ("config.json: expected a JSON object, got list",)),
    Bad("config without model_type", M(base(write("config.json", '{"vocab_size": 64}'))), ("config.json: no 'model_type'",)),
    Bad("config missing", M(base(remove("config.json"))), ("not a model folder (no config.json)",)),
    Bad("no tokenizer files", M(base(tokenizer_tokens=None)), ("--base", "no tokenizer files")),
    Bad("a one-token tokenizer", M(base(tokenizer_tokens=1)), ("the tokenizer has 1 token(s)",)),
    Bad("a tokenizer beyond the vocabulary", M(base(tokenizer_tokens=200)), ("the tokenizer's ids go up to 199", "64 rows")),
    Bad("tokenizer config malformed", M(base(write("tokenizer_config.json", "{"))), ("tokenizer_config.json: malformed JSON",)),
    Bad("base is an adapter", M(lambda ws: ["--base", str(ws.adapter())]), ("--base", "this is an adapter", "pass it with --adapter")),
    Bad("full is an adapter", M(lambda ws: ["--base", str(ws.model()), "--full", str(ws.adapter())]), ("--full", "this is an adapter")),
    Bad("adapter is a full model", M(lambda ws: ["--base", str(ws.model()), "--adapter", f"x={ws.model('other')}"]), ("--adapter x=", "this is a full model", "pass it with --full")),
    Bad("base is a file", M(lambda ws: ["--base", str(ws.root / "a_file")]), ("a_file: is a file, not a model folder",)),
    Bad("base is a missing path", M(lambda ws: ["--base", str(ws.root / "no-model")]), ("no-model: no such folder",)),
    Bad("full weights truncated", M(lambda ws: ["--base", str(ws.model()), "--full", str(_cut_model(ws, "full"))]), ("full/model.safetensors", "truncated")),
    Bad("adapter for another base shape", M(with_adapter(hidden=12)), ("adapter 'lora'", "map 12 -> 36", "another shape")),
    Bad("adapter targets modules the base lacks", M(with_adapter(targets=["q_proj", "v_proj"])), ("adapter 'lora'", "['q_proj', 'v_proj'] name no module of the base")),
    Bad("adapter of rank 0", M(with_adapter(config={"r": 0})), ("adapter_config.json: 'r' (the LoRA rank) must be an integer >= 1",)),
    Bad("adapter config a list", M(with_adapter(write("adapter_config.json", "[]"))), ("adapter_config.json: expected a JSON object, got list",)),
    Bad("adapter weights truncated", M(with_adapter(cut("adapter_model.safetensors", 150))), ("adapter_model.safetensors", "truncated")),
    Bad("--max-length beyond the positions", M(lambda ws: ["--base", str(ws.model()), "--max-length", "100000"]), ("--max-length 100000: beyond the 32 positions",)),
    Bad("--device with no such GPU", M(lambda ws: ["--base", str(ws.model()), "--device", "cuda:99"]), ("--device cuda:99",)),
    Bad("--device mps where there is none", M(lambda ws: ["--base", str(ws.model()), "--device", "mps"]), ("--device mps",)),
    Bad("--base-url where nothing listens", lambda ws: ["run", "--backend", "openai", "--base", "openai:m", "--base-url", "http://127.0.0.1:1/v1", "--task", str(ws.task), "--out", str(ws.out), "--quiet"], ("--base-url http://127.0.0.1:1/v1: cannot connect",)),
    Bad("an arm's own server unknown", lambda ws: ["run", "--backend", "openai", "--base", "openai:m@http://no-such-host.invalid:8000/v1", "--task", str(ws.task), "--out", str(ws.out), "--quiet"], ("cannot resolve the host 'no-such-host.invalid'",)),
    Bad("--ray where nothing listens", R(lambda ws: ["--task", str(ws.task), "--ray", "127.0.0.1:1"]), ("--ray 127.0.0.1:1",)),
    Bad("--ray client address", R(lambda ws: ["--task", str(ws.task), "--ray", "ray://127.0.0.1:1"]), ("--ray ray://127.0.0.1:1",)),
    Bad("--ray port out of range", R(lambda ws: ["--task", str(ws.task), "--ray", "localhost:99999"]), ("key 'ray'", "not in 1..65535")),
    Bad("--base hub id not cached offline", M(lambda ws: ["--base", "no-org/no-such-model"]), ("--base no-org/no-such-model: not in the local Hugging Face cache",)),
    Bad("--adapter hub id not cached offline", M(lambda ws: ["--base", str(ws.model()), "--adapter", "a=no-org/no-such-lora"]), ("--adapter a=no-org/no-such-lora: not in the local Hugging Face cache",)),
    Bad("--base a path too long", M(lambda ws: ["--base", str(ws.root / ("x" * 300))]), ("--base", "File name too long")),
    Bad("--out a path too long", R(lambda ws: ["--task", str(ws.task), "--out", str(ws.root / ("x" * 300))]), ("out (the run directory)", "File name too long"), fresh_out=False),
    Bad("weights a folder", M(base(lambda f: ((f / "model.safetensors").unlink(), (f / "model.safetensors").mkdir()))), ("model.safetensors: cannot read: Is a directory",)),
    Bad("cache file a pipe", R(lambda ws: ["--task", str(ws.task), "--cache-dir", str(_fifo(ws, "pipecache/responses.sqlite").parent)]), ("responses.sqlite is not a regular file",)),
    Bad("--judge a missing folder", judged(lambda ws: str(ws.root / "no-judge")), ("--judge", "no-judge: no such folder",)),
    Bad("--judge an adapter", judged(lambda ws: str(ws.adapter())), ("--judge", "this is an adapter")),
    Bad("--judge a broken model", judged(lambda ws: str(_cut_model(ws, "judge"))), ("judge/model.safetensors", "truncated")),
    Bad("--judge served where nothing listens", judged(lambda ws: "openai:j@http://127.0.0.1:1/v1"), ("--judge http://127.0.0.1:1/v1: cannot connect",)),
    Bad("config batch size a boolean", R(config_text("base: b\ntasks: [{task}]\nbatch_size: true\n")), ("batch_size: expected a number, got the boolean True",)),
    Bad("config path with a NUL", R(config_text('base: b\ntasks: [{task}]\ncache_dir: "c\\0d"\n')), ("cache_dir: a NUL character",)),
]

RECORDS = [
    Bad("report --html over the run's results", on_run("report", "--html", "{run}/results.json"), ("--html", "is the run's own results.json", "would destroy the run"), fresh_out=False),
    Bad("report --md over the run's samples", on_run("report", "--md", "{run}/samples.jsonl"), ("is the run's own samples.jsonl",), fresh_out=False),
    Bad("report --model-card over the manifest", on_run("report", "--model-card", "{run}/manifest.json"), ("--model-card", "is the run's own manifest.json"), fresh_out=False),
    Bad("report --html over the items", on_run("report", "--html", "{run}/../run/items.jsonl"), ("is the run's own items.jsonl",), fresh_out=False),
    Bad("report --html through a link to the results", lambda ws: ["report", str(ws.run_copy()), "--html", _link(ws, "results.json")], ("innocent.html: is the run's own results.json",), fresh_out=False),
    Bad("report --html a directory", on_run("report", "--html", "{run}"), ("is a directory; give a file path",), fresh_out=False),
    Bad("report --html a pipe", lambda ws: ["report", str(ws.run_copy()), "--html", str(_fifo(ws, "pipe.html"))], ("--html", "pipe.html: is not a regular file"), fresh_out=False),
    Bad("report --html and --md one file", on_run("report", "--html", "{ws.root}/x.out", "--md", "{ws.root}/x.out"), ("--html writes there too",), fresh_out=False),
    Bad("report on another schema version", on_run("report", change=manifest_edit(lambda m: m.update(schema_version="2"))), ("manifest.json, field 'schema_version'", "(value: '2')"), fresh_out=False),
    Bad("report on a renamed arm", on_run("report", change=manifest_edit(_rename_arm)), ("results.json, field 'arms'", "differ from manifest.json's"), fresh_out=False),
    Bad("report on half the samples", on_run("report", change=keep_lines(0.5)), ("samples.jsonl: holds", "the file is truncated"), fresh_out=False),
    Bad("report on samples torn mid-line", on_run("report", change=keep_lines(0.6, torn=True)), ("samples.jsonl: holds", "truncated"), fresh_out=False),
    Bad("report on no samples", on_run("report", change=remove("samples.jsonl")), ("samples.jsonl: holds 0 of the 12 items",), fresh_out=False),
    Bad("report on arms that are not a list", on_run("report", change=manifest_edit(lambda m: m.update(arms="base"))), ("manifest.json, field 'arms'",), fresh_out=False),
    Bad("report on malformed tasks", on_run("report", change=manifest_edit(lambda m: m.update(tasks=[{"name": 3}]))), ("manifest.json, field 'tasks'",), fresh_out=False),
    Bad("check on another schema version", on_run("check", change=manifest_edit(lambda m: m.update(schema_version="9"))), ("field 'schema_version'",), fresh_out=False),
    Bad("check on half the samples", on_run("check", change=keep_lines(0.5)), ("samples.jsonl: holds",), fresh_out=False),
    Bad("check on a renamed arm", on_run("check", change=manifest_edit(_rename_arm)), ("field 'arms'",), fresh_out=False),
    Bad("compare with a renamed arm", on_run("compare", change=manifest_edit(_rename_arm)), ("field 'arms'",)),
    Bad("compare with half the samples", on_run("compare", change=keep_lines(0.5)), ("samples.jsonl: holds",)),
    Bad("compare --out one of its runs", lambda ws: ["compare", str(ws.run_copy()), str(ws.run_copy("other")), "--out", str(ws.root / "run")], ("--out", "being compared; writing there would destroy it"), fresh_out=False),
    Bad("score --out over its input", lambda ws: ["score", str(ws.jsonl("o/results.json", _pred_rows())), "--metric", "exact_match", "--out", str(ws.root / "o")], ("would write its results.json over the input",), fresh_out=False, marks=(pytest.mark.invalid_results,)),
]

METRIC_MODELS = [
    Bad("bertscore model that is not there", S(opts("--metric", "bertscore:model_type=/no/such/model")), ("bertscore: model_type /no/such/model: no such folder",)),
    Bad("bertscore model that is a file", S(lambda ws: [str(ws.preds), "--metric", f"bertscore:model_type={ws.preds}"]), ("is a file, not a model folder",)),
    Bad("bertscore model folder without a config", S(lambda ws: [str(ws.preds), "--metric", f"bertscore:model_type={folder(ws, 'enc')},num_layers=2"]), ("not a model folder (no config.json)",)),
    Bad("bertscore hub model not cached offline", S(opts("--metric", "bertscore:model_type=no-org/no-such-encoder,num_layers=2")), ("not in the local Hugging Face cache",)),
    Bad("bertscore layers beyond the model", S(opts("--metric", "bertscore:num_layers=99")), ("bertscore: num_layers=99 is outside 0..6",)),
    Bad("bertscore layers negative", S(opts("--metric", "bertscore:num_layers=-1")), ("option num_layers='-1': must be >= 0",)),
    Bad("bertscore device unknown", S(opts("--metric", "bertscore:device=gpu")), ("bertscore: device 'gpu': expected cpu, cuda, cuda:N or mps",)),
    Bad("bertscore device absent", S(opts("--metric", "bertscore:device=cuda:99")), ("bertscore: device cuda:99",)),
    Bad("bertscore batch size 0", S(opts("--metric", "bertscore:batch_size=0")), ("option batch_size='0': must be >= 1",)),
    Bad("bertscore rescale maybe", S(opts("--metric", "bertscore:rescale_with_baseline=maybe")), ("rescale_with_baseline='maybe'",)),
    Bad("bleurt checkpoint that is not there", S(opts("--metric", "bleurt:checkpoint=/no/such/bleurt")), ("bleurt: checkpoint /no/such/bleurt: no such folder",)),
    Bad("bleurt checkpoint not cached offline", S(opts("--metric", "bleurt:checkpoint=Elron/bleurt-tiny-512")), ("not in the local Hugging Face cache",)),
    Bad("bleurt device unknown", S(opts("--metric", "bleurt:checkpoint=/no/where,device=gpu")), ("bleurt: checkpoint /no/where: no such folder",)),
    Bad("bleurt max length 0", S(opts("--metric", "bleurt:checkpoint=/no/where,max_length=0")), ("option max_length='0': must be >= 1",)),
]

# fmt: on

BAD_CASES = [
    *(pytest.param(c, id=f"score/{c.id}") for c in SCORE_FILES + SCORE_OPTIONS),
    *(pytest.param(c, id=f"check/{c.id}", marks=pytest.mark.invalid_results) for c in CHECK),
    *(pytest.param(c, id=f"split/{c.id}") for c in SPLIT),
    *(pytest.param(c, id=f"run/{c.id}") for c in RUN),
    *(pytest.param(c, id=f"run-options/{c.id}") for c in RUN_OPTIONS),
    *(pytest.param(c, id=f"run-models/{c.id}") for c in RUN_MODELS),
    *(pytest.param(c, id=f"records/{c.id}", marks=c.marks) for c in RECORDS),
    *(pytest.param(c, id=f"metric-models/{c.id}") for c in METRIC_MODELS),
]


def test_the_matrix_holds_at_least_120_hostile_inputs():
    assert len(BAD_CASES) >= 120
    assert len({p.id for p in BAD_CASES}) == len(BAD_CASES)


@pytest.mark.parametrize("case", BAD_CASES)
def test_hostile_input_exits_2_naming_where(case: Bad, ws: Workspace):
    argv = case.argv(ws)
    code, _, err = invoke(argv)
    assert code == 2, f"exit {code} for {argv}: {err}"
    for fragment in case.where:
        assert fragment.format(ws=ws) in err, f"{fragment!r} not in: {err}"
    assert "Traceback" not in err
    if case.fresh_out:
        assert not ws.out.exists(), f"a half-made run directory was left: {list(ws.out.iterdir())}"


# ------------------------------------------------------------ valid but unusual


def _score_json(ws: Workspace, *args: str) -> dict[str, Any]:
    code, out, err = invoke(["score", *args, "--out", str(ws.out), "--json",
                             "--bootstrap", "100", "--permutations", "100"])  # fmt: skip
    assert code == 0, err
    return json.loads(out)


def _values(results: dict[str, Any], metric: str) -> dict[str, float]:
    return {r["arm"]: r["value"] for r in results["scores"] if r["metric"] == metric}


def _signature(results: dict[str, Any], metric: str) -> str:
    return next(r["signature"] for r in results["scores"] if r["metric"] == metric)


def test_u2028_inside_a_jsonl_string_is_valid_json(ws):
    line = {"id": 1, "prediction": "one\u2028two", "reference": "one\u2028two"}
    other = {"id": 2, "prediction": "x\u2029\x85y", "reference": "z"}
    path = ws.text("u.jsonl", json.dumps(line, ensure_ascii=False) + "\n"
                   + json.dumps(other, ensure_ascii=False) + "\n")  # fmt: skip
    results = _score_json(ws, str(path), "--metric", "exact_match:normalize_whitespace=false")
    assert _values(results, "exact_match") == {"u": 0.5}


def test_crlf_bom_and_gzip_read_as_the_plain_file(ws):
    plain = ws.preds.read_text()
    variants = {
        "crlf.jsonl": plain.replace("\n", "\r\n").encode(),
        "bom.jsonl": b"\xef\xbb\xbf" + plain.encode(),
        "packed.jsonl.gz": gzip.compress(plain.encode()),
    }
    expected = _score_json(ws, str(ws.preds), "--metric", "exact_match")
    for name, content in variants.items():
        ws.out = ws.root / f"out-{name}"
        results = _score_json(ws, f"preds={ws.bytes(name, content)}", "--metric", "exact_match")
        assert _values(results, "exact_match") == _values(expected, "exact_match"), name


def test_csv_rows_with_newlines_in_fields_are_scored_and_numbered_by_record(ws):
    path = ws.text("multi.csv", 'id,prediction,reference\n1,"a\nb","a\nb"\n2,x,y\n3,"""q""",q\n')
    results = _score_json(ws, str(path), "--metric", "exact_match")
    assert _values(results, "exact_match") == {"multi": pytest.approx(1 / 3)}
    gz = ws.bytes("multi2.csv.gz", gzip.compress(path.read_bytes() + b"4,only-two\n"))
    code, _, err = invoke(["score", str(gz), "--metric", "exact_match", "--out", str(ws.out)])
    assert code == 2 and "multi2.csv.gz, row 4: ragged row" in err


def test_json_booleans_and_numbers_are_text_by_one_rule_for_both_sides(ws):
    items = [
        {"id": 1, "prediction": True, "reference": "true"},
        {"id": 2, "prediction": 1, "reference": 1.0},
        {"id": 3, "prediction": "2.5", "reference": 2.5},
        {"id": 4, "prediction": False, "reference": True},
        {"id": 5, "prediction": 10, "reference": ["9", 10]},
    ]
    path = ws.jsonl("typed.jsonl", items)
    results = _score_json(ws, str(path), "--metric", "exact_match")
    assert _values(results, "exact_match") == {"typed": pytest.approx(4 / 5)}


def test_boolean_option_no_is_false_and_the_signature_says_so(ws):
    path = ws.jsonl("ws.jsonl", [{"id": 1, "prediction": "a  b", "reference": "a b"}])
    results = _score_json(ws, str(path), "--metric", "exact_match:normalize_whitespace=no")
    assert _values(results, "exact_match") == {"ws": 0.0}
    assert "|ws:no|" in _signature(results, "exact_match")
    ws.out = ws.root / "out2"
    results = _score_json(ws, str(path), "--metric", "exact_match:normalize_whitespace=YES")
    assert _values(results, "exact_match") == {"ws": 1.0}
    assert "|ws:yes|" in _signature(results, "exact_match")


def test_non_default_sacrebleu_options_equal_sacrebleu_and_are_signed(ws):
    sacrebleu = pytest.importorskip("sacrebleu")
    preds = [r["prediction"] for r in _pred_rows()]
    refs = [r["reference"] for r in _pred_rows()]
    results = _score_json(ws, str(ws.preds), "--metric", "chrf:beta=0",
                          "--metric", "bleu:max_ngram_order=2")  # fmt: skip
    chrf = sacrebleu.metrics.CHRF(beta=0).corpus_score(preds, [refs]).score
    bleu = sacrebleu.metrics.BLEU(max_ngram_order=2).corpus_score(preds, [refs]).score
    assert _values(results, "chrf") == {"preds": pytest.approx(chrf)}
    assert _values(results, "bleu") == {"preds": pytest.approx(bleu)}
    assert "|beta:0|" in _signature(results, "chrf")
    assert "|ngram:2|" in _signature(results, "bleu")


def test_nan_in_an_unused_column_and_labels_beyond_the_references_are_fine(ws):
    text = "".join(
        f'{{"id": {i}, "prediction": "{p}", "reference": "{t}", "score": NaN}}\n'
        for i, (p, t) in enumerate(zip("aabba", "abbba"))
    )
    path = ws.text("cls.jsonl", text)
    results = _score_json(ws, str(path), "--metric", "acc", "--labels", "a,b,c")
    assert _values(results, "acc") == {"cls": pytest.approx(4 / 5)}


def test_json_document_with_a_data_key_and_non_bmp_text(ws):
    rows_ = [{"id": 1, "prediction": "🙂 ok", "reference": "🙂 ok"}, {"id": 2, "prediction": "x",
             "reference": "𝔘"}]  # fmt: skip
    path = ws.text("doc.json", json.dumps({"data": rows_}, ensure_ascii=False))
    results = _score_json(ws, str(path), "--metric", "exact_match")
    assert _values(results, "exact_match") == {"doc": 0.5}


def test_run_with_distinct_per_row_choices_and_an_exotic_data_file_passes(ws):
    items = [
        {"id": f"r{i}", "text": f"line\u2028{i}", "opts": ["yes", "no", 3], "label": i % 3}
        for i in range(9)
    ]
    data = ws.bytes("rows.jsonl.gz", gzip.compress(
        "".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in items).encode()))  # fmt: skip
    spec = {k: v for k, v in _task_spec().items() if k != "choices"}
    task = ws.yaml(
        "opts.yaml", {**spec, "name": "opts", "data": data.name, "choices_field": "opts"}
    )
    code, out, err = invoke(["run", "--base", "b", "--task", str(task), "--backend", "fake",
                             "--out", str(ws.out), "--quiet", "--json"])  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    assert {r["n"] for r in results["scores"]} == {9}
    samples = [json.loads(x) for x in (ws.out / "samples.jsonl").read_text().splitlines()]
    assert [s["target"] for s in samples] == ["ABC"[i % 3] for i in range(9)]
    acc = sum(s["prediction"] == s["target"] for s in samples) / 9
    assert _values(results, "acc") == {"base": pytest.approx(acc)}


def test_split_counts_records_not_lines(ws):
    content = "id,label,text\n" + "".join(f'{i},{"ab"[i % 2]},"two\nlines"\n' for i in range(10))
    path = ws.text("multi.csv", content)
    code, out, err = invoke(["split", str(path), "--label-field", "label", "--json",
                             "--out-dir", str(ws.root / "parts")])  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["rows"] == {"total": 10, "train": 8, "validation": 2}


def test_check_passes_valid_results_and_a_run_directory(ws):
    code, out, err = invoke(["check", str(ws.results), "--fail-on", "none"])
    assert code == 0, err
    assert "gate passed" in out
    folder = ws.root / "dir"
    folder.mkdir()
    (folder / "results.json").write_text(ws.results.read_text())
    assert invoke(["check", str(folder), "--fail-on", "none"])[0] == 0


def test_check_accepts_added_sections_and_fields(ws):
    def add(results: dict[str, Any]) -> None:
        results["future_section"] = [{"anything": 1}]
        results["comparisons"][0]["new_field"] = "x"
        results["cost"] = [{"arm": "preds", "kind": "base", "tokens": 10, "memory_kind": "rss"}]

    path = ws.results_with(add)
    assert invoke(["check", str(path), "--fail-on", "none"])[0] == 0


# ------------------------------------------------------------ what a refusal leaves


REFUSED_WRITES = [
    ("--html", "results.json"),
    ("--md", "samples.jsonl"),
    ("--model-card", "manifest.json"),
    ("--html", "items.jsonl"),
    ("--md", "manifest.json"),
]


@pytest.mark.parametrize(("flag", "record"), REFUSED_WRITES)
def test_a_refused_report_leaves_every_record_byte_for_byte(ws, flag, record):
    run = ws.run_copy()
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, _, err = invoke(["report", str(run), flag, str(run / record)])
    assert code == 2, err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_report_may_rewrite_the_runs_own_reports_and_write_beside_it(ws):
    run = ws.run_copy()
    code, _, err = invoke(["report", str(run), "--html", str(run / "report.html"),
                           "--md", str(run / "extra.md")])  # fmt: skip
    assert code == 0, err
    assert (run / "extra.md").read_text().startswith("#")
    assert invoke(["report", str(run)])[0] == 0


def test_an_unfinished_run_is_reported_with_a_warning(ws):
    run = ws.run_copy(change=manifest_edit(lambda m: m.update(status="failed")))
    code, _, err = invoke(["report", str(run)])
    assert code == 0, err
    assert "warning" in err and "the run is 'failed', not complete" in err


def test_split_writes_json_rows_whatever_their_key_order_or_extra_keys(ws):
    rows_ = [{"id": 1, "label": "a", "text": "x"}, {"label": "b", "text": "y", "id": 2},
             {"text": "z", "id": 3, "label": "a"}, {"id": 4, "label": "b", "text": "w", "extra": 1},
             {"id": 5, "label": "a", "text": "v"}, {"id": 6, "label": "b", "text": "u"}]  # fmt: skip
    path = ws.jsonl("keys.jsonl", rows_)
    code, _, err = invoke(["split", str(path), "--label-field", "label", "--out-dir",
                           str(ws.root / "parts")])  # fmt: skip
    assert code == 0, err
    written = [json.loads(line) for name in ("keys.train.jsonl", "keys.validation.jsonl")
               for line in (ws.root / "parts" / name).read_text().splitlines()]  # fmt: skip
    assert sorted(written, key=lambda r: r["id"]) == sorted(rows_, key=lambda r: r["id"])


def test_split_of_csv_rows_with_other_columns_names_the_row(ws, monkeypatch):
    from fteval.data import split as split_module
    from fteval.data.readers import Row
    from fteval.errors import InputError

    path = ws.text("t.csv", "id,label\n1,a\n2,b\n")
    rows_ = ([Row(1, {"id": "1", "label": "a"})], [Row(2, {"label": "b", "id": "2"})])
    with pytest.raises(InputError, match=r"t.csv, row 2: columns \['label', 'id'\]"):
        split_module.write_split(path, rows_, ws.root / "a.csv", ws.root / "b.csv")


def test_a_guardrail_too_small_to_decide_is_named_and_inconclusive_fails_on_it(ws):
    guard = ws.yaml("guard.yaml", {**_task_spec(), "name": "guard"})
    common = ["run", "--base", "b", "--adapter", "lora=x", "--backend", "fake", "--task",
              str(ws.task), "--guardrail", str(guard), "--quiet", "--bootstrap", "100",
              "--permutations", "100"]  # fmt: skip
    code, _, err = invoke([*common, "--out", str(ws.root / "r1"), "--fail-on", "regression"])
    assert code == 0, err
    assert "fteval: gate: guardrail guard/acc@lora vs base: not decided (only 12 items" in err
    assert "--fail-on inconclusive fails on it" in err
    code, _, err = invoke([*common, "--out", str(ws.root / "r2"), "--fail-on", "inconclusive"])
    assert code == 3, err
    assert "guard/acc@lora vs base: inconclusive: only 12 items" in err
    code, out, err = invoke(["check", str(ws.root / "r1")])
    assert code == 0 and "not decided" in err and "gate passed" in out
    assert invoke(["check", str(ws.root / "r1"), "--fail-on", "inconclusive"])[0] == 3


def test_check_on_a_runs_results_file_checks_the_run_too(ws):
    run = ws.run_copy(change=manifest_edit(_rename_arm))
    code, _, err = invoke(["check", str(run / "results.json"), "--fail-on", "none"])
    assert code == 2 and "field 'arms'" in err, err
    lone = ws.root / "lone"
    lone.mkdir()
    (lone / "results.json").write_bytes((run / "results.json").read_bytes())
    assert invoke(["check", str(lone / "results.json"), "--fail-on", "none"])[0] == 0


def test_samples_copied_in_twice_are_reported_with_a_warning(ws):
    def twice(run: Path) -> None:
        path = run / "samples.jsonl"
        path.write_text(path.read_text() * 2)

    code, _, err = invoke(["report", str(ws.run_copy(change=twice))])
    assert code == 0, err
    assert "appear more than once (first: task 'intents'" in err
