"""Command-line jobs: one module a subcommand (see fastnet.cli)."""
