"""YAML files (run configs, task files): read as checked UTF-8, parsed safely and strictly.

PyYAML's ``safe_load`` keeps the last of two equal keys and says nothing; here a key
given twice in one mapping is an error naming its line, as is a file that is not what
its name says (``fteval.data.encoding``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fteval.data.encoding import read_text
from fteval.errors import ConfigError

# libyaml's parser when PyYAML was built with it (about 10x faster); the same safe
# constructors either way
_SafeBase: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(_SafeBase):
    """A safe loader that refuses a key repeated within one mapping."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain value", key_node.start_mark
            ) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                f"the key {key!r} first given on line {seen[key]}",
                None,
                f"is given again on line {key_node.start_mark.line + 1}",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line + 1
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml(path: str | Path, *, what: str) -> Any:
    """The parsed content of a YAML file.

    Args:
        path: the file.
        what: what the file is, for messages ("config file", "task file").

    Raises:
        ConfigError: the file is missing or a directory; the text is not valid YAML,
            repeats a key, or nests too deeply.
        InputError: the file is unreadable or not UTF-8 text.
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a {what}")
    if not path.exists():
        raise ConfigError(f"{path}: {what} not found")
    text = read_text(path)
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except (yaml.YAMLError, ValueError) as error:  # ValueError: a malformed timestamp...
        raise ConfigError(f"{path}: not valid YAML ({what}): {error}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML ({what}): nested too deeply") from None
