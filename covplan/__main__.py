"""``python -m covplan`` (also what ``torchrun -m covplan`` runs)."""

from covplan.cli import cli

if __name__ == "__main__":
    cli()
