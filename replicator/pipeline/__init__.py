"""The live pipeline: a change from a side's feed to the other side and the state store.

    side -> intake (journal.py) -> router (router.py, actors.py, replay.py) -> record actor
         (actor.py, apply.py, pair.py) -> writer (writer.py) -> other side
                                 -> committer (committer.py) -> state.db

Each stage works in batches: an intake journals what its feed read in one transaction;
the router resolves a dispatch with one store query by native id and one by key
(lookup.py) and never waits for a commit; the actors' row reads become one side call per
entity (reader.py), their writes one transaction or ``$batch`` per side (writer.py), their
intents and outcomes one state-store transaction (committer.py). What the journal
replays, and when (at start, after a pause, after a held-back change), is replay.py's.
batcher.py is what the readers, writers and committer share: many waiters, one batch,
one event.

Why records stay actors (one coroutine, one mailbox, while active) rather than states of
a batch loop: actor.py's docstring.
"""
