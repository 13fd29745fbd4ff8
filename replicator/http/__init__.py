"""The daemon's HTTP endpoint (DESIGN §10): ``/healthz``, ``/api/…``, ``/hooks/<side>``, and
the routes others add (``/metrics``, the console at ``/``) through ``build_app(extra=...)``.

``app`` builds the Starlette app, ``server`` serves it with hypercorn inside the caller's
task group, ``auth`` guards it with the bearer token (and the console's login cookie and
CSRF tokens), ``client`` is the CLI's way to a running daemon.
"""
