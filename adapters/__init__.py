"""Adapters: one module per kind of side, each implementing ``replicator.adapter.Side``.

The core loads ``adapters.<name>`` from the config and calls its ``create_side``.
Adapters depend on the core's protocol, never on each other.
"""
