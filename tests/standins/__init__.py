"""Stand-in servers: small HTTP servers on 127.0.0.1 that speak the subset of a vendor's
API that its official SDK calls, so adapters are tested with the real SDKs, offline.

Each can be told to misbehave (answer 429 with ``Retry-After``, 500, or slowly) through
its ``faults``, and records what it was asked in ``requests``.
"""
