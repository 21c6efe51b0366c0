"""Write the usage blocks of docs/commands.md from the Typer app; the prose stays hand-written.

Each command's block sits between `<!-- usage: COMMAND -->` and `<!-- /usage -->` and holds what
`ordertrack COMMAND --help` prints below its description: the usage line, the arguments and the
options, at a fixed width of 100 and without colour, so it is the same on every machine.
Every command needs a marker; a marker naming no command is an error.

    python scripts/gen_commands_doc.py           # rewrite the blocks in docs/commands.md
    python scripts/gen_commands_doc.py --check   # exit 1 if docs/commands.md is stale
"""

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DOC = Path(__file__).resolve().parent.parent / "docs" / "commands.md"
WIDTH = 100
BLOCK = re.compile(r"<!-- usage: (?P<name>[a-z -]+?) -->\n.*?<!-- /usage -->", re.S)


def _commands() -> Iterator[tuple[str, object, object]]:
    """(name, click command, its context) for `ordertrack` itself and every leaf command."""
    import typer

    from ordertrack.cli.app import app

    root = typer.main.get_command(app)
    root_ctx = root.make_context("ordertrack", [], resilient_parsing=True)
    yield "ordertrack", root, root_ctx

    def walk(group, ctx, prefix):  # type: ignore[no-untyped-def]
        for name in group.list_commands(ctx):
            command = group.get_command(ctx, name)
            if command is None or command.hidden:
                continue
            sub = command.make_context(name, [], parent=ctx, resilient_parsing=True)
            if hasattr(command, "list_commands"):
                yield from walk(command, sub, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command, sub

    yield from walk(root, root_ctx, "")


def usage(command, ctx) -> str:  # type: ignore[no-untyped-def]
    """The usage line, then Arguments and Options as Typer lays them out (for `ordertrack`
    itself without its commands list, which the hand-written table already gives)."""
    from typer import _click

    formatter = _click.HelpFormatter(width=WIDTH, max_width=WIDTH)
    command.format_usage(ctx, formatter)
    records: dict[str, list[tuple[str, str]]] = {"argument": [], "option": []}
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is not None:
            records[param.param_type_name].append(record)
    for section, kind in (("Arguments", "argument"), ("Options", "option")):
        if records[kind]:
            with formatter.section(section):
                formatter.write_dl(records[kind])
    return formatter.getvalue().rstrip() + "\n"


def blocks() -> dict[str, str]:
    return {name: usage(command, ctx) for name, command, ctx in _commands()}


def render(text: str, generated: dict[str, str]) -> str:
    found = [m["name"] for m in BLOCK.finditer(text)]
    unknown = sorted(set(found) - set(generated))
    missing = sorted(set(generated) - set(found))
    if unknown or missing:
        raise SystemExit(
            f"{DOC.name}: markers for unknown commands {unknown}, "
            f"commands without a marker {missing}"
        )

    def fill(m: re.Match[str]) -> str:
        return f"<!-- usage: {m['name']} -->\n```\n{generated[m['name']]}```\n<!-- /usage -->"

    return BLOCK.sub(fill, text)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    check = parser.parse_args().check
    text = DOC.read_text(encoding="utf-8")
    new = render(text, blocks())
    if check:
        if new != text:
            print(f"{DOC} is stale: run python scripts/gen_commands_doc.py")
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    print(f"{DOC}: {len(BLOCK.findall(new))} usage blocks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
