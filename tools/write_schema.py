"""Write docs/results.schema.json and its packaged copy from fteval's typed rows.

Run after changing a results row type: ``python tools/write_schema.py``. The test suite
fails while the written files differ from ``fteval.results.results_schema_document()``.
"""

from __future__ import annotations

import json
from pathlib import Path

from fteval.results import results_schema_document

ROOT = Path(__file__).resolve().parent.parent
TARGETS = (
    ROOT / "docs" / "results.schema.json",
    ROOT / "src" / "fteval" / "records" / "results.schema.json",
)


def schema_text() -> str:
    """The schema as the files hold it (indented, key order kept, newline-terminated)."""
    return json.dumps(results_schema_document(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Write the schema to every target."""
    text = schema_text()
    for target in TARGETS:
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
