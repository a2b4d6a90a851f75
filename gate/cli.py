"""The ``gate`` command line, assembled.

The core owns only ``gate keys`` (pass signing keys).  Every other subcommand belongs to the package
it drives and reaches the ``gate`` command through the ``reasoning_gate.commands`` entry points
(pyproject.toml): a Typer app becomes a command group, a function a command.  So the core never
imports the packages above it, and a package left uninstalled simply brings no commands.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from gate.commands import console, errors

COMMANDS_GROUP = "reasoning_gate.commands"

keys_app = typer.Typer(help="Pass signing keys.", no_args_is_help=True)


@keys_app.command("generate")
def keys_generate(
    path: Annotated[Path, typer.Argument(help="Where to write the PEM key (0600).")],
) -> None:
    """Create a new Ed25519 signing key; point GATE_SIGNING_KEY_FILE at it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from gate.keys import key_id, write_private_key

    if path.exists():
        errors.print(f"[red]{path} exists; refusing to overwrite a key[/red]")
        raise typer.Exit(1)
    key = Ed25519PrivateKey.generate()
    write_private_key(path, key)
    console.print(f"Wrote {path} (key id {key_id(key.public_key())}).")


@keys_app.command("public")
def keys_public(
    path: Annotated[Path, typer.Argument(help="A PEM key, private or public.")],
) -> None:
    """Print a key's id and public key in the one-line form GATE_VERIFY_KEYS takes."""
    from gate.errors import ConfigError
    from gate.keys import key_id, load_public_key, public_key_text

    try:
        public = load_public_key(path)
    except ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    print(f"{key_id(public)} {public_key_text(public)}")


@keys_app.command("rotate")
def keys_rotate(
    path: Annotated[Path, typer.Argument(help="The signing key file (GATE_SIGNING_KEY_FILE).")],
) -> None:
    """Replace the signing key at PATH with a new one; the old one is kept beside it, retired."""
    from gate.errors import ConfigError
    from gate.keys import rotate_key_file

    try:
        old_kid, new_kid, retired = rotate_key_file(path)
    except ConfigError as exc:
        errors.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    console.print(
        f"New signing key {new_kid} at {path}; the old key {old_kid} moved to {retired}.\n"
        f"Restart every replica with GATE_VERIFY_KEY_FILES={retired} so that passes and "
        "challenges it signed stay valid; remove it once the longest pass lifetime of your "
        "policy has passed (docs/deploy.md#signing-keys-and-rotation)."
    )


def installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("reasoning-gate")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(wanted: bool) -> None:
    if wanted:
        print(f"gate (reasoning-gate) {installed_version()}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    """The root command: the core's ``keys`` group, then every package's commands by name."""
    root = typer.Typer(
        help="Reasoning Gate: make AI agents pay for access with reasoning puzzles.",
        no_args_is_help=True,
    )

    @root.callback()
    def main(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                is_eager=True,
                callback=_print_version,
                help="Print the installed version and exit.",
            ),
        ] = False,
    ) -> None:
        """Reasoning Gate: make AI agents pay for access with reasoning puzzles."""

    root.add_typer(keys_app, name="keys")
    for entry in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        command = entry.load()
        if isinstance(command, typer.Typer):
            root.add_typer(command, name=entry.name)
        else:
            root.command(entry.name)(command)
    return root


app = build_app()

if __name__ == "__main__":  # python -m gate.cli
    app()
