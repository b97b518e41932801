"""The token trie: each distinct prefix once, every target at the position predicting it."""

from __future__ import annotations

import random

import pytest

from fteval.backends.hf_scoring import ModelInput
from fteval.backends.hf_trie import (
    Node,
    build_forest,
    common_prefix,
    distinct_prefix_tokens,
    radix_tree,
)


def random_rows(rng: random.Random, n: int) -> list[ModelInput]:
    """Rows over a small alphabet sharing prefixes at random depths, as few-shot items do."""
    header = tuple(rng.randrange(4) for _ in range(rng.randint(0, 12)))
    rows = []
    for _ in range(n):
        context = header[: rng.randint(0, len(header))] + tuple(
            rng.randrange(4) for _ in range(rng.randint(1, 6))
        )
        target = tuple(rng.randrange(4) for _ in range(rng.randint(1, 4)))
        sequence = context + target
        rows.append(ModelInput(sequence[:-1], target, 0))
    return rows


def prefixes(sequences) -> set[tuple[int, ...]]:
    return {tuple(s[:k]) for s in sequences for k in range(1, len(s) + 1)}


def nodes(roots: list[Node]) -> list[Node]:
    return [node for root in roots for node in root.walk()]


def test_common_prefix_matches_a_token_by_token_count():
    rng = random.Random(1)
    for _ in range(500):
        a = [rng.randrange(3) for _ in range(rng.randint(0, 20))]
        b = a[: rng.randint(0, len(a))] + [rng.randrange(3) for _ in range(rng.randint(0, 5))]
        expected = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert common_prefix(tuple(a), tuple(b)) == expected


def test_radix_tree_holds_each_distinct_prefix_once_and_ends_every_sequence():
    rng = random.Random(2)
    for _ in range(200):
        sequences = [row.input_ids for row in random_rows(rng, rng.randint(1, 12))]
        roots, ends = radix_tree(sequences, "a")
        assert sum(len(node.tokens) for node in nodes(roots)) == len(prefixes(sequences))
        for sequence in sequences:
            end = ends[sequence]
            assert end.end == len(sequence) and end.tokens_from(0) == sequence
        for node in nodes(roots):
            assert node.tokens, "no empty node"
            assert len(node.children) != 1 or node in ends.values(), "chains are compacted"
            for child in node.children:
                assert child.parent is node and child.start == node.end


@pytest.mark.parametrize("shape", ["prefix_trie", "shared_context", "rows"])
def test_every_target_is_scored_once_at_the_position_that_predicts_it(shape):
    rng = random.Random(3)
    for _ in range(100):
        rows = random_rows(rng, rng.randint(1, 10))
        arms = [rng.choice("ab") for _ in rows]
        roots = build_forest(rows, arms, shape, max_node_tokens=rng.choice([None, 1, 3]))
        seen = {}
        for node in nodes(roots):
            for position, token, index in node.scored:
                assert node.start <= position < node.end
                assert node.arm == arms[index]
                path = node.tokens_from(0)
                row = rows[index]
                assert path[: position + 1] == row.input_ids[: position + 1]
                seen.setdefault(index, []).append((position, token))
        for index, row in enumerate(rows):
            start = len(row.input_ids) - len(row.target_ids)
            expected = [(start + j, t) for j, t in enumerate(row.target_ids)]
            assert sorted(seen[index]) == expected


def test_the_prefix_trie_shares_across_items_and_shared_context_only_within_one():
    header = (9, 9, 9, 9, 9, 9)
    rows = [ModelInput(header + item, (choice,), 0) for item in ((1,), (2,)) for choice in (5, 6)]
    arms = ["a"] * len(rows)
    trie = build_forest(rows, arms, "prefix_trie")
    assert len(trie) == 1 and trie[0].tokens == header  # the header once, items below it
    assert sorted(child.tokens for child in trie[0].children) == [(1,), (2,)]
    shared = build_forest(rows, arms, "shared_context")
    assert sorted(root.tokens for root in shared) == [(*header, 1), (*header, 2)]
    assert len(build_forest(rows, arms, "rows")) == len(rows)
    # each arm has its own trie: no cache is shared between arms
    assert len(build_forest(rows, ["a", "a", "b", "b"], "prefix_trie")) == 2


def test_long_nodes_split_into_chains_that_keep_the_tokens():
    rows = [ModelInput(tuple(range(20)), (20,), 0), ModelInput((*range(10), 99), (1,), 0)]
    roots = build_forest(rows, ["a", "a"], "prefix_trie", max_node_tokens=4)
    assert all(len(node.tokens) <= 4 for node in nodes(roots))
    leaves = [node for node in nodes(roots) if not node.children]
    assert sorted(leaf.tokens_from(0) for leaf in leaves) == sorted(r.input_ids for r in rows)


def test_distinct_prefix_tokens_counts_each_prefix_once_per_arm():
    rng = random.Random(4)
    for _ in range(100):
        rows = random_rows(rng, rng.randint(1, 10))
        arms = [rng.choice("ab") for _ in rows]
        expected = {
            arm: len(prefixes([r.input_ids for r, a in zip(rows, arms) if a == arm]))
            for arm in set(arms)
        }
        assert distinct_prefix_tokens(rows, arms) == expected
