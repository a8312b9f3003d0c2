"""The LSP front door: thin pygls handlers over the core."""
