"""What the remote Dynamics 365 sides share: sign-in, HTTP with pacing, ``$batch``, options.

Both the Dataverse side (``adapters.dataverse``) and the F&O side (``adapters.fno``) are
OData services behind Entra ID. The pieces that do not depend on which one live here:

* ``auth.py``: the application's access token (msal: a secret or a certificate);
* ``transport.py``: the one place a side speaks HTTP (retries, 401 refresh, 429 waits);
* ``pacing.py``: retries' backoff, the request budget, throttling pauses, concurrency;
* ``batch.py``: the OData ``$batch`` multipart codec;
* ``errors.py``: the OData error of one answer;
* ``odata.py``: batched reads' ``$filter`` OR-chains under a URL budget, collection answers;
* ``writes.py``: what write answers share (an op never sent, a refusal's wording, Retry-After);
* ``options.py``: the sign-in options every remote side has, and their checks.

Each adapter subclasses what it needs to name itself (its log events say ``dataverse_…`` or
``fno_…``) and to add its service's own habits. The package is private (``_remote``): it is
not an adapter, and ``known_adapters`` does not list it.
"""
