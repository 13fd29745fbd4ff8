"""Emulators of the real services the adapters talk to, shipped with the project.

Each is a real HTTPS server on localhost with its own certificate authority, built from the
service's documented protocol (never from what our adapter happens to send), so partners can
try their maps offline and the tests exercise the adapters over real HTTP and TLS.
"""
