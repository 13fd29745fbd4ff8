"""Prerequisite ordering: cycles are found, and maps run in config order unless held back."""

from __future__ import annotations

import pytest

from replicator.ordering import find_cycle, topological_order


def is_cycle_of(cycle: list[str], graph: dict[str, set[str]]) -> bool:
    """Whether ``cycle`` is ``[a, ..., a]`` and each step is an edge of ``graph``."""
    steps = zip(cycle, cycle[1:], strict=False)
    return cycle[0] == cycle[-1] and all(b in graph.get(a, set()) for a, b in steps)


def test_graph_without_cycle_has_none() -> None:
    """A graph whose dependencies all end has no cycle."""
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_empty_graph_has_no_cycle() -> None:
    """An empty graph has no cycle."""
    assert find_cycle({}) is None


def test_two_nodes_needing_each_other_are_a_cycle() -> None:
    """``a -> b -> a`` is found and starts and ends on the same node."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]


def test_node_needing_itself_is_a_cycle() -> None:
    """A self-dependency is a cycle of one node."""
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_cycle_excludes_the_nodes_leading_into_it() -> None:
    """A node that only depends on a cycle is not part of the cycle reported."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"d"}, "d": {"b"}}
    cycle = find_cycle(graph)
    assert cycle == ["b", "c", "d", "b"]
    assert is_cycle_of(cycle, graph)


def test_dependencies_outside_the_graph_are_no_cycle() -> None:
    """A dependency that is not a node of the graph (an unknown map) is a dead end."""
    assert find_cycle({"a": {"missing"}, "b": {"a"}}) is None


def test_order_keeps_input_order_without_dependencies() -> None:
    """Without dependencies the order is the input's, not alphabetical."""
    assert topological_order({"zeta": set(), "alpha": set(), "mid": set()}) == [
        "zeta",
        "alpha",
        "mid",
    ]


def test_dependency_runs_before_the_node_that_needs_it() -> None:
    """A node is placed after every node it depends on."""
    assert topological_order({"customers": {"groups"}, "groups": set()}) == [
        "groups",
        "customers",
    ]


def test_node_held_back_lets_later_ready_nodes_go_first() -> None:
    """Each step takes the first node in input order whose dependencies are all placed."""
    graph = {"a": {"c"}, "b": set(), "c": set(), "d": set()}
    assert topological_order(graph) == ["b", "c", "a", "d"]


def test_chain_of_dependencies_is_ordered_transitively() -> None:
    """Dependencies of dependencies come first, whatever the input order."""
    graph = {"lines": {"orders"}, "orders": {"customers"}, "customers": {"groups"}, "groups": set()}
    assert topological_order(graph) == ["groups", "customers", "orders", "lines"]


def test_order_holds_every_node_once_after_its_dependencies() -> None:
    """Every node appears exactly once, after all of its dependencies."""
    graph = {"e": {"b", "d"}, "d": {"a"}, "c": set(), "b": {"a", "c"}, "a": set()}
    order = topological_order(graph)
    assert sorted(order) == sorted(graph)
    assert all(order.index(dep) < order.index(node) for node in graph for dep in graph[node])


def test_unknown_dependencies_and_self_dependencies_are_ignored() -> None:
    """A dependency outside the graph, or on the node itself, does not hold a node back."""
    assert topological_order({"a": {"a", "missing"}, "b": set()}) == ["a", "b"]


def test_order_of_a_cycle_is_refused_naming_it() -> None:
    """A cycle has no order: ValueError names the cycle instead of dropping its nodes."""
    with pytest.raises(ValueError, match=r"a -> b -> a"):
        topological_order({"a": {"b"}, "b": {"a"}, "c": set()})
