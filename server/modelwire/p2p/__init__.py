"""Sharing a model over Hyperswarm: the LocalLLM wire protocol, host and client sessions.

Hyperswarm runs in a Node bridge process (`js/bridge.js`, transport only); every
protocol rule lives in these modules, which import nothing from the core.
"""
