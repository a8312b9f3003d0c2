"""Adapters: one module per provider wire protocol, plus the network policy.

Adapters import nothing from `modelwire.core` or the front doors (imports flow one way:
front doors → core → adapters). They raise `modelwire.errors.ModelWireError`.
"""
