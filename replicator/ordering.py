"""Prerequisite ordering of maps: pure functions over a dependency graph.

A graph maps each node to the set of nodes it depends on (its prerequisites).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Set


def find_cycle(graph: Mapping[str, Set[str]]) -> list[str] | None:
    """A cycle in ``graph`` (node -> the nodes it depends on) as ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state and (found := visit(dep)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def topological_order(graph: Mapping[str, Set[str]]) -> list[str]:
    """The nodes of ``graph``, each after its dependencies, otherwise in ``graph``'s own order.

    At each step the next node is the first one, in ``graph``'s order, whose dependencies
    are all placed: maps run in config order unless a prerequisite holds one back.
    Dependencies that are not nodes of ``graph``, and a node's dependency on itself, are
    ignored. ``ValueError`` names a cycle between nodes.
    """
    waiting = {node: {d for d in deps if d in graph and d != node} for node, deps in graph.items()}
    if cycle := find_cycle(waiting):
        raise ValueError("dependency cycle: " + " -> ".join(cycle))
    nodes = list(graph)
    position = {node: i for i, node in enumerate(nodes)}
    dependents: dict[str, list[str]] = {node: [] for node in nodes}
    for node, deps in waiting.items():
        for dep in deps:
            dependents[dep].append(node)
    ready = [i for i, node in enumerate(nodes) if not waiting[node]]
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for other in dependents[node]:
            waiting[other].discard(node)
            if not waiting[other]:
                heapq.heappush(ready, position[other])
    return order


def held_by(graph: Mapping[str, Set[str]], paused: Set[str]) -> dict[str, str]:
    """Maps that must wait, each with the paused map it waits on (itself if paused)."""
    held: dict[str, str] = {}

    def blocker(node: str, seen: frozenset[str]) -> str | None:
        if node in paused:
            return node
        for dep in sorted(graph.get(node, ())):
            if dep not in seen and (found := blocker(dep, seen | {dep})):
                return found
        return None

    for node in graph:
        found = blocker(node, frozenset({node}))
        if found is not None:
            held[node] = found
    return held
