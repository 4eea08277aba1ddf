"""The order in which definitions are computed: each after the ones it uses."""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["dependency_order"]


def dependency_order(roots: Iterable[str], uses: Callable[[str], Iterable[str]],
                     on_cycle: Callable[[list[str]], None] | None = None) -> list[str]:
    """``roots`` and all they use, transitively, each after the ones it uses: depth first,
    in the order ``roots`` and ``uses`` give. ``uses(n)`` names only nodes to visit.

    The walk keeps its own stack, so a chain of any length costs no Python stack. A use of
    a node still being visited closes a cycle: it is skipped, and ``on_cycle`` gets the
    path from that node to the one using it, the node repeated at the end."""
    order: list[str] = []
    done: dict[str, bool] = {}  # False while a node's uses are being visited
    for root in roots:
        if root in done:
            continue
        done[root] = False
        path = [root]
        pending = [iter(uses(root))]
        while path:
            for u in pending[-1]:
                state = done.get(u)
                if state is None:
                    done[u] = False
                    path.append(u)
                    pending.append(iter(uses(u)))
                    break
                if not state and on_cycle is not None:
                    on_cycle([*path[path.index(u):], u])
            else:
                n = path.pop()
                pending.pop()
                done[n] = True
                order.append(n)
    return order

