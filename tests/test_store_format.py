"""The state store's records keep their stored shape: fields by name, in their order.

Links and intents are stored as msgpack maps keyed by field name (store.py); a release
that renamed or reordered a field would read older state stores wrong, or not at all.
These pin the shape against plain maps written by hand, as an older release wrote them.
"""

from __future__ import annotations

import msgspec

from replicator.model import Intent, Link

LINK = {
    "id": 7,
    "map": "customers",
    "key": '["usmf","C1"]',
    "ids": ["1", "a1"],
    "versions": ["3", ""],
    "shadow": {"name": "Contoso"},
    "tokens": [None, "t1"],
}


def test_a_link_is_stored_as_a_map_of_its_fields_by_name_in_order() -> None:
    link = Link(**LINK)  # type: ignore[arg-type]
    assert msgspec.msgpack.encode(link) == msgspec.msgpack.encode(LINK)


def test_an_intent_written_by_hand_reads_back_whole() -> None:
    """An intent as stored (its link nested), with and without ``written`` (older
    releases had none)."""
    stored = {"token": "t1", "side": 1, "link": LINK, "created_at": 12.5}
    intent = msgspec.msgpack.decode(msgspec.msgpack.encode(stored), type=Intent)
    assert intent == Intent(token="t1", side=1, link=Link(**LINK), created_at=12.5)  # type: ignore[arg-type]
    assert intent.written is None
    with_written = {**stored, "written": {"name": "Fabrikam"}}
    assert msgspec.msgpack.encode(
        msgspec.msgpack.decode(msgspec.msgpack.encode(with_written), type=Intent)
    ) == msgspec.msgpack.encode(with_written)
