"""The `docqa` command: index, ask, eval, serve. Heavy imports happen inside each command."""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .errors import DocQAError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", type=Path, default=None,
                        help="folder of documents (default: $DOCQA_SOURCES or ./seeds)")
    parser.add_argument("--index", dest="index_dir", type=Path, default=None,
                        help="index folder (default: $DOCQA_INDEX or ./index)")


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other docqa error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="docqa", description="Answer questions about your documents with exact, cited passages. Offline."
    )
    parser.add_argument("--version", action="version", version=f"docqa {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("index", help="build or refresh the index", description="Build or refresh the index.")
    _common(p)
    p.add_argument("--rebuild", action="store_true", help="re-embed everything even if the index is fresh")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("add", help="copy documents into the sources folder and index them",
                       description="Copy .txt, .md, .html or .pdf files into the sources folder and index them. "
                                   "A file already indexed (same content) is skipped; a bad file stops the "
                                   "command before anything is copied.")
    _common(p)
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files to add")
    p.set_defaults(func=cmd_add)

    p = sub.add_parser("remove", help="remove a document", description="Delete a document and its passages.")
    _common(p)
    p.add_argument("name", help="the document's name, as `docqa list` shows it")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="list the indexed documents",
                       description="List the indexed documents with their passage counts.")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("ask", help="answer a question", description="Answer a question with cited passages.")
    _common(p)
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--top-k", type=int, default=3, help="how many passages at most (default 3)")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure retrieval quality on a gold set",
                       description="Measure R@1, R@3, MRR, highlight@1, abstention and follow-ups on a gold set.")
    _common(p)
    p.add_argument("--gold", type=Path, default=None, help="gold set JSON (default: the bundled seed gold set)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="start the web chat", description="Start the web chat (Gradio).")
    _common(p)
    p.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    p.add_argument("--auth", default=None, help="USER:PASS, required to log in (use with --host 0.0.0.0)")
    p.set_defaults(func=cmd_serve)
    return parser


def _assistant(args: argparse.Namespace):
    from .assistant import Assistant

    return Assistant(sources=args.sources, index_dir=args.index_dir)


def cmd_index(args: argparse.Namespace) -> int:
    assistant = _assistant(args)
    report = assistant.load(progress=True, force=args.rebuild)
    stored = assistant.retriever.stored
    if report.rebuilt:
        print(f"indexed {stored.manifest.passage_count} passages from {len(assistant.documents)} document(s) "
              f"into {assistant.index_dir} (embedded: {', '.join(report.embedded) or 'none'}; "
              f"reused: {', '.join(report.reused) or 'none'})")
    else:
        print(f"index is up to date: {stored.manifest.passage_count} passages from "
              f"{len(assistant.documents)} document(s) in {assistant.index_dir}")
    return 0


def _print_report(assistant, report) -> None:
    for line in report.skipped:
        print(f"docqa: skipped {line}", file=sys.stderr)
    print(f"{len(report.embedded)} document(s) embedded, {len(report.reused)} unchanged, "
          f"{len(report.removed)} removed; {assistant.retriever.stored.manifest.passage_count} passages in all")


def cmd_add(args: argparse.Namespace) -> int:
    assistant = _assistant(args)
    _print_report(assistant, assistant.add(args.paths, progress=True))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    assistant = _assistant(args)
    _print_report(assistant, assistant.remove(args.name, progress=True))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    assistant = _assistant(args)
    assistant.load(progress=True)
    docs = assistant.list_documents()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    for d in docs:
        pages = f", {d.pages} pages" if d.pages else ""
        print(f"{d.name}\t{d.passages} passages{pages}\t{d.title}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .render import render_plain

    assistant = _assistant(args)
    assistant.load(progress=True)
    answer = assistant.ask(args.question, top_k=args.top_k)
    if args.json:
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_plain(answer, color=sys.stdout.isatty()))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import evaluate, format_report, load_gold

    assistant = _assistant(args)
    assistant.load(progress=True)
    report = evaluate(assistant, load_gold(args.gold))
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serving import serve

    serve(sources=args.sources, index_dir=args.index_dir, host=args.host, port=args.port, auth=args.auth)
    return 0


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("docqa: %(message)s"))
    log = logging.getLogger("docqa")
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `docqa` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose or args.command == "index")
    try:
        return args.func(args)
    except DocQAError as exc:
        print(f"docqa: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad arguments, e.g. --top-k 0
        print(f"docqa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("docqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `docqa ask ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
