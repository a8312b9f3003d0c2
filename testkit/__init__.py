"""Test support shared by `tests/` and `bench/`: the provider doubles and a raw-pipe
JSON-RPC driver for the sidecar. Neither `tests` nor `bench` is imported from here,
and they import each other only through this package."""
