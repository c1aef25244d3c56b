"""kolla-ha's tests; `python3 -m tests` runs them (see __main__.py)."""
