"""The operator console (DESIGN §10, ``/``): web pages for a person who is not a developer,
in the vocabulary of Dual-write, served by the daemon's endpoint.

==================  =================================================================
``/``               the maps: state, links, backlog, lag, errors; pause and resume
``/maps/<m>``       one map: field maps in Dual-write's notation, value maps, key, rules,
                    prerequisites, companies, and a chart of its last hour
``/errors``         the error queue, filtered by map, side and reason; retry and discard
``/activity``       the recent change events, live
``/maps/<m>/edit``  what may change while it runs: field maps on or off, directions,
                    value maps, the conflict policy; a preview (diff and validate's lines),
                    then save
==================  =================================================================

Server-rendered HTML; htmx (served from this package) refreshes the live parts. Modules:
``app`` (the frame and routes), one per page (``maps``, ``map_page``, ``errors``,
``activity``, ``editing``), ``samples`` and ``chart`` (the last hour, drawn as SVG).
"""

from __future__ import annotations

from .app import Console

__all__ = ["Console"]
