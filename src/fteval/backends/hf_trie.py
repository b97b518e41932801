"""A token trie (radix tree) over the rows a scorer feeds: each distinct prefix once.

Every log-likelihood row feeds ``input_ids`` and scores its targets at the last
positions. Rows that share a prefix of tokens share the model's computation of it: the
logits and the KV cache at a position depend only on the tokens up to it. The trie puts
each distinct prefix in exactly one node; a node's tokens run once, on the KV cache of
its parent, and every row through it scores its targets at the node's positions. In
5-shot MMLU, every item of a subject starts with the same description and five solved
examples: one node, computed once, under which each item's question hangs; the item's
answer choices score their first token at the question's last position and any further
tokens in child nodes.

Three shapes of forest, one per scoring strategy:

* ``prefix_trie``: one radix tree per arm over every row (prefixes shared across items);
* ``shared_context``: one tree per distinct context part (the tokens up to the one that
  predicts a row's first target): only the choices of one item share;
* ``rows``: every row its own node (nothing shared; the head-only projection remains).

``max_node_tokens`` splits longer nodes into chains (a long prefix then runs in chunks,
each on the cache of those before, so activations stay bounded). ``distinct_prefix_tokens``
is the floor every scorer must feed (the trie's node tokens), whatever the strategy.
Pure Python: no model, no torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from fteval.backends.hf_scoring import ModelInput

TRIE_SHAPES = ("prefix_trie", "shared_context", "rows")


@dataclass(eq=False)
class Node:
    """One run of tokens on the path of some rows (compared by identity).

    Attributes:
        arm: the arm whose rows pass through (each arm has its own trie).
        start: absolute position of the node's first token in those rows.
        tokens: the node's own tokens.
        parent: the node before it (None at a root).
        children: the nodes after it.
        scored: (absolute position, target token, row index) scored at its positions.
    """

    arm: str
    start: int
    tokens: tuple[int, ...]
    parent: Node | None = None
    children: list[Node] = field(default_factory=list)
    scored: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def end(self) -> int:
        """Absolute position just after the node's last token."""
        return self.start + len(self.tokens)

    @property
    def positions(self) -> list[int]:
        """The distinct absolute positions the node scores, in order."""
        return sorted({p for p, _, _ in self.scored})

    def tokens_from(self, position: int) -> tuple[int, ...]:
        """The path's tokens from absolute ``position`` (an ancestor's end, or 0) to the
        end of this node."""
        parts = []
        node: Node | None = self
        while node is not None and node.end > position:
            parts.append(node.tokens[max(0, position - node.start) :])
            node = node.parent
        return tuple(token for part in reversed(parts) for token in part)

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, parents first."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if a[:n] == b[:n]:
        return n
    low, high = 0, n  # a[:low] == b[:low], a[:high] != b[:high]
    while high - low > 1:
        middle = (low + high) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle
    return low


def radix_tree(sequences: Sequence[tuple[int, ...]], arm: str) -> tuple[list[Node], dict]:
    """The compacted trie over ``sequences`` (repeats allowed).

    Returns:
        The roots, and each distinct sequence -> the node where it ends.
    """
    root = Node(arm, 0, ())
    path = [root]  # the previous sequence's path: always the last child at each level
    ends: dict[tuple[int, ...], Node] = {}
    previous: tuple[int, ...] = ()
    for sequence in sorted(set(sequences)):
        shared = common_prefix(previous, sequence)
        while len(path) > 1 and path[-1].start >= shared:
            path.pop()
        last = path[-1]
        if last.end > shared:  # split the node where the new sequence leaves it
            upper = Node(arm, last.start, last.tokens[: shared - last.start], last.parent)
            assert upper.parent is not None and upper.parent.children[-1] is last
            upper.parent.children[-1] = upper
            last.tokens, last.start, last.parent = last.tokens[shared - last.start :], shared, upper
            upper.children.append(last)
            path[-1] = last = upper
        if len(sequence) > shared:
            leaf = Node(arm, shared, sequence[shared:], last)
            last.children.append(leaf)
            path.append(leaf)
            last = leaf
        ends[sequence] = last
        previous = sequence
    for node in root.children:
        node.parent = None
    return root.children, ends


def context_part(row: ModelInput) -> tuple[int, ...]:
    """The tokens of ``row``'s input up to the one predicting its first target."""
    return row.input_ids[: len(row.input_ids) - (len(row.target_ids) - 1)]


def build_forest(
    rows: Sequence[ModelInput],
    arms: Sequence[str],
    shape: str,
    *,
    max_node_tokens: int | None = None,
) -> list[Node]:
    """The roots of the forest that scores ``rows`` (see the module docstring).

    Args:
        rows: the model inputs, with their targets.
        arms: the arm of each row (rows of different arms never share a node).
        shape: one of ``TRIE_SHAPES``.
        max_node_tokens: split longer nodes into chains of at most this many tokens.

    Returns:
        Root nodes; every row's targets are scored at exactly one node position each.
    """
    if shape not in TRIE_SHAPES:
        raise ValueError(f"shape must be one of {TRIE_SHAPES}, got {shape!r}")
    groups: dict[tuple, list[int]] = {}
    for index, (row, arm) in enumerate(zip(rows, arms)):
        if shape == "prefix_trie":
            key: tuple = (arm,)
        elif shape == "shared_context":
            key = (arm, context_part(row))
        else:
            key = (arm, index)
        groups.setdefault(key, []).append(index)
    roots: list[Node] = []
    for key, members in groups.items():
        trees, ends = radix_tree([rows[i].input_ids for i in members], key[0])
        if max_node_tokens is not None:
            for tree in trees:
                _split_long(tree, max_node_tokens, trees)
        for index in members:
            _attach_targets(ends[rows[index].input_ids], rows[index], index)
        roots.extend(trees)
    return roots


def _split_long(tree: Node, limit: int, roots: list[Node]) -> None:
    """Split every node of ``tree`` longer than ``limit`` into a chain (the node object
    stays the chain's last link, so references to where rows end stay valid)."""
    for node in list(tree.walk()):
        while len(node.tokens) > limit:
            head = Node(node.arm, node.start, node.tokens[:limit], node.parent)
            siblings = node.parent.children if node.parent is not None else roots
            siblings[siblings.index(node)] = head
            head.children.append(node)
            node.parent, node.start, node.tokens = head, node.start + limit, node.tokens[limit:]


def _attach_targets(end: Node, row: ModelInput, index: int) -> None:
    """Record each of the row's targets at the node holding the position that predicts it."""
    length, count = len(row.input_ids), len(row.target_ids)
    node: Node | None = end
    for j in reversed(range(count)):
        position = length - count + j
        while node is not None and position < node.start:
            node = node.parent
        assert node is not None, "a target's position lies on the row's own path"
        node.scored.append((position, row.target_ids[j], index))


def distinct_prefix_tokens(rows: Sequence[ModelInput], arms: Sequence[str]) -> dict[str, int]:
    """Per arm, the tokens any scorer must feed: each distinct prefix of the rows' inputs
    once (the node tokens of the arm's token trie)."""
    out: dict[str, int] = {}
    for arm in dict.fromkeys(arms):
        sequences = [row.input_ids for row, a in zip(rows, arms) if a == arm]
        trees, _ = radix_tree(sequences, arm)
        out[arm] = sum(len(node.tokens) for tree in trees for node in tree.walk())
    return out
