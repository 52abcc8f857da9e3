"""The ``breastbench`` command line.

Each subpackage registers its own sub-commands (``data``, ``models``, ``run``, ``predict``,
``report``, ``power``, ``demo``); this module only wires them together and turns a
:class:`UserError` into one clear line on stderr and a non-zero exit;
:mod:`breastbench.boundary` does the same for operating-system errors and signals.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from breastbench.boundary import Terminated, describe, expand_user_paths, sigterm_as_interrupt
from breastbench.errors import UserError

# module path of every command group; each exposes ``register(subparsers)``.
COMMAND_MODULES = (
    "breastbench.data.cli",
    "breastbench.models.cli",
    "breastbench.experiment.cli",
    "breastbench.report.cli",
    "breastbench.report.power",
    "breastbench.demo",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="breastbench",
        description="CNN-vs-VLM benchmarks for breast imaging: data, models, runs, reports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the process exit code (0 ok, 2 user error, 130/143 stopped).

    The one boundary of every command (:mod:`breastbench.boundary`): a :class:`UserError` or
    an operating-system error becomes one line on stderr and exit 2, SIGTERM stops a command
    as Ctrl-C does (temporaries are removed on the way out), ``~`` in paths is expanded.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    expand_user_paths(args)
    try:
        with sigterm_as_interrupt():
            return int(args.func(args) or 0)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
    except (OSError, UnicodeError) as err:
        print(f"error: {describe(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        return _stopped(stop)
    except Exception as err:
        # A signal that lands while a C extension initialises (matplotlib's Agg backend on the
        # first figure) surfaces as ``ImportError: initialization failed`` raised *from* the
        # KeyboardInterrupt: it is still the user's stop, not a crash.
        stop = _interrupt_in_chain(err)
        if stop is None:
            raise
        return _stopped(stop)


def _interrupt_in_chain(err: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (or Terminated) this exception was raised from, if any."""
    seen: set[int] = set()
    cause: BaseException | None = err
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return cause
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return None


def _stopped(stop: KeyboardInterrupt) -> int:
    """One line and the conventional exit code for SIGTERM (143) or Ctrl-C (130)."""
    if isinstance(stop, Terminated):
        print("terminated", file=sys.stderr)
        return 143
    print("interrupted", file=sys.stderr)
    return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
