"""``gate puzzles``: the clue bank's commands, assembled in one place (no registration by import)."""

from __future__ import annotations

import typer

from puzzles.cli import bank, factory, files, health

app = typer.Typer(help="The clue bank.", no_args_is_help=True)
app.command("seed")(bank.puzzles_seed)
app.command("build")(bank.puzzles_build)
app.command("stats")(bank.puzzles_stats)
app.command("status")(health.puzzles_status)
app.command("refill")(health.puzzles_refill)
app.command("generate")(factory.puzzles_generate)
app.command("verify")(factory.puzzles_verify)
app.command("calibrate")(factory.puzzles_calibrate)
app.command("import")(files.puzzles_import)
app.command("export")(files.puzzles_export)
