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
from .errors import DocQAError, EmptySourcesError, SourcesFolderError
from .settings import Settings
from .sources import show_name, show_names


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sources", type=Path, default=None,
                        help="folder of documents (default: $DOCQA_SOURCES or ./seeds)")
    parser.add_argument("--index", dest="index_dir", type=Path, default=None,
                        help="index folder (default: $DOCQA_INDEX or ./index)")
    parser.add_argument("--store", default=None, metavar="STORE",
                        help="where the index lives: the index folder (default), milvus:./docqa.db (Milvus Lite) "
                             "or http://host:19530 (a Milvus server; token in $DOCQA_MILVUS_TOKEN); "
                             "default $DOCQA_STORE")


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

    p = sub.add_parser("remove", help="remove a document",
                       description="Delete a document from the sources folder and its passages from the index. "
                                   "Removing the last document needs --yes.")
    _common(p)
    p.add_argument("name", help="the document's name, as `docqa list` shows it")
    p.add_argument("--yes", action="store_true", help="confirm removing the last document")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("list", help="list the indexed documents",
                       description="List the indexed documents with their passage counts.")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("ask", help="answer a question", description="Answer a question with cited passages.")
    _common(p)
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--top-k", type=int, default=None,
                   help=f"how many passages at most (default {Settings.top_k})")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("eval", help="measure answer quality on the evaluation suite",
                       description="Run the evaluation suite: each corpus (the seed article, SQuAD's Rhine as a "
                                   "second and as an absent document, Python HOWTOs, personal notes and news articles "
                                   "with near misses, three encyclopedia articles with the Rhine's questions as near "
                                   "misses) is indexed in "
                                   "a temporary folder and every question asked; figures per tuning and held-out "
                                   "split. With --gold, score one gold set over --sources instead.")
    _common(p)
    p.add_argument("--gold", type=Path, default=None, help="score this gold set JSON over --sources, not the suite")
    p.add_argument("--split", choices=("tune", "held-out", "all"), default="all",
                   help="which questions to ask (default: all, reported per split)")
    p.add_argument("--corpus", action="append", default=None, metavar="NAME",
                   help="run only this corpus (repeatable): seed, rhine, howto, notes, news, rhine-absent, wiki")
    p.add_argument("--lower-case", action="store_true",
                   help="ask every question typed in lower case, as people often type (names included)")
    p.add_argument("--no-misses", action="store_true", help="print the figures only, not the missed questions")
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
    where = assistant.store.location if assistant.store else assistant.index_dir
    if report.rebuilt:
        print(f"indexed {stored.manifest.passage_count} passages from {len(assistant.list_documents())} document(s) "
              f"into {show_name(str(where))} (embedded: {show_names(list(report.embedded))}; "
              f"reused: {show_names(list(report.reused))})")
    else:
        print(f"index is up to date: {stored.manifest.passage_count} passages from "
              f"{len(assistant.list_documents())} document(s) in {show_name(str(where))}")
    return 0


def _print_report(assistant, report) -> None:
    for line in report.skipped:
        print(f"docqa: skipped {show_name(line)}", file=sys.stderr)
    print(f"{len(report.embedded)} document(s) embedded, {len(report.reused)} unchanged, "
          f"{len(report.removed)} removed; {assistant.retriever.stored.manifest.passage_count} passages in all")


def cmd_add(args: argparse.Namespace) -> int:
    from .sources import file_sha256

    assistant = _assistant(args)
    before = {d.name for d in assistant.list_documents()}
    report = assistant.add(args.paths, progress=True)
    documents = {d.name: d for d in assistant.list_documents()}
    by_hash: dict[str, str] | None = None
    for path in args.paths:
        name = path.name
        if name in report.embedded:
            verb = "updated" if name in before else "added"
            print(f"{verb} {show_name(name)}: {documents[name].passages} passages")
            continue
        if by_hash is None:  # hash the indexed files only when something was skipped
            by_hash = {file_sha256(assistant.sources / n): n for n in documents}
        same = by_hash.get(file_sha256(path))
        why = f"its content is already indexed as {show_name(same)}" if same else "not indexed"
        print(f"skipped {show_name(str(path))}: {why}")
    _print_report(assistant, report)
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    assistant = _assistant(args)
    names = [d.name for d in assistant.list_documents()]
    if names == [args.name] and not args.yes:
        print(f"docqa: error: {show_name(args.name)} is the last document in {show_name(str(assistant.sources))}; "
              "removing it leaves nothing to answer from. Run again with --yes to remove it", file=sys.stderr)
        return 1
    report = assistant.remove(args.name, progress=True)
    print(f"removed {show_name(args.name)}")
    _print_report(assistant, report)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    assistant = _assistant(args)
    assistant.load(progress=True)
    docs = assistant.list_documents()
    if args.json:
        print(json.dumps([asdict(d) for d in docs], ensure_ascii=False, indent=2))
        return 0
    if not docs:
        print(_empty_message(assistant.sources), file=sys.stderr)
    for d in docs:
        pages = f", {d.pages} pages" if d.pages else ""
        print(f"{show_name(d.name)}\t{d.passages} passages{pages}\t{show_name(d.title)}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from .render import render_plain

    assistant = _assistant(args)
    assistant.load(progress=True)
    answer = assistant.ask(args.question, top_k=args.top_k)
    if args.json:  # the document's text exactly as it is, control characters included
        print(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        print(render_plain(_terminal_safe(answer), color=sys.stdout.isatty()))
    return 0


def _terminal_safe(answer):
    """The answer with control and bidi characters of the documents made harmless: a document must not set the
    window title, clear the screen, write the clipboard (OSC 52) or hide a link (OSC 8). Offsets still hold."""
    from dataclasses import replace

    from .sources import terminal_text

    def passage(p):
        return replace(p, text=terminal_text(p.text), title=show_name(p.title), source=show_name(p.source))

    return replace(answer, question=terminal_text(answer.question), query=terminal_text(answer.query),
                   markdown=terminal_text(answer.markdown), passages=[passage(p) for p in answer.passages],
                   closest=[passage(p) for p in answer.closest])


def cmd_eval(args: argparse.Namespace) -> int:
    if args.gold is not None:
        from .evaluation import evaluate, format_report, load_gold

        assistant = _assistant(args)
        assistant.load(progress=True)
        report = evaluate(assistant, load_gold(args.gold))
        print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
        return 0
    from .evaluation import format_suite, run_suite

    reports = run_suite(args.corpus, split=args.split, progress=True, lower=args.lower_case)
    if args.json:
        print(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
    else:
        print(format_suite(reports, misses=not args.no_misses))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serving import serve

    serve(sources=args.sources, index_dir=args.index_dir, host=args.host, port=args.port, auth=args.auth)
    return 0


class _SafeFormatter(logging.Formatter):
    """Log lines with the control and bidi characters of file names escaped."""

    def format(self, record: logging.LogRecord) -> str:
        return show_name(super().format(record))


def _configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("docqa: %(message)s"))
    log = logging.getLogger("docqa")
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False


def _empty_message(folder: object) -> str:
    return (f"no documents in {show_name(str(folder))}; add some with `docqa add FILE...` "
            "(.txt, .md, .html or .pdf)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `docqa` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose or args.command == "index")
    if getattr(args, "store", None):  # every Assistant this command makes, the web app's included
        os.environ["DOCQA_STORE"] = args.store
    try:
        return args.func(args)
    except SourcesFolderError as exc:
        print(f"docqa: error: sources folder not found: {show_name(str(exc.folder))} (looked in "
              f"{show_name(os.getcwd())}); run docqa where your folders are, or point at them with "
              "--sources DIR or DOCQA_SOURCES, and --index DIR or DOCQA_INDEX", file=sys.stderr)
        return 1
    except EmptySourcesError as exc:
        print(f"docqa: error: {_empty_message(exc.folder)}", file=sys.stderr)
        return 1
    except DocQAError as exc:
        print(f"docqa: error: {show_name(str(exc))}", file=sys.stderr)
        return 1
    except ValueError as exc:  # bad arguments, e.g. --top-k 0
        print(f"docqa: error: {show_name(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("docqa: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `docqa ask ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
