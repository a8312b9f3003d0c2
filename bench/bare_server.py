"""The baseline for the startup benchmark: a pygls 2.x server that does nothing.

It is what any Python language server pays before its first line of its own code:
interpreter start, pygls and lsprotocol imports, the stdio loop and `initialize`.
"""

from pygls.lsp.server import LanguageServer


def main() -> None:
    server = LanguageServer("bare-pygls", "0.0.0")
    server.start_io()


if __name__ == "__main__":
    main()
