"""Evaluation: retrieval, highlight, abstention and follow-up figures, on one gold set or on the suite of corpora
under `data/eval/` (each question tagged with a tuning or held-out split fixed before any tuning)."""
from __future__ import annotations

import hashlib
import json
import statistics
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from .assistant import Assistant
from .types import Answer, Passage

SPLITS = ("tune", "held-out")
ABSTAIN_KINDS = ("off_topic", "absent", "near_miss", "absent_aspect", "impossible")
SQUAD_FILE = "squad2-dev-rhine.json"


@dataclass(frozen=True)
class GoldSet:
    """Answerable questions with the phrase that answers them, off-topic questions and follow-up chains."""

    answerable: list[dict[str, str]]
    off_topic: list[str]
    follow_ups: list[dict[str, Any]]


@dataclass(frozen=True)
class EvalReport:
    """The figures `docqa eval --gold` prints, plus the questions that missed."""

    questions: int
    recall_at_1: float
    recall_at_3: float
    mrr: float
    highlight_at_1: float
    off_topic_abstained: float
    false_abstention: float
    follow_up_accuracy: float
    misses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_gold(path: str | Path | None = None) -> GoldSet:
    """Read a gold set JSON file (default: the bundled seed-article gold set)."""
    if path is None:
        raw = resources.files("docqa").joinpath("data/seed_gold.json").read_text(encoding="utf-8")
    else:
        raw = Path(path).read_text(encoding="utf-8")
    data = json.loads(raw)
    return GoldSet(data.get("answerable", []), data.get("off_topic", []), data.get("follow_ups", []))


def _norm(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())


def contains(passage: Passage, phrase: str) -> bool:
    """Whether the passage holds the gold phrase."""
    return _norm(phrase) in _norm(passage.text)


def highlight_covers(passage: Passage, phrase: str) -> bool:
    """Whether the passage's highlighted span holds the gold phrase."""
    return _norm(phrase) in _norm(passage.highlight_text)


def rank_of(passages: list[Passage], phrase: str) -> int | None:
    """1-based rank of the first passage holding the phrase."""
    return next((i for i, p in enumerate(passages, 1) if contains(p, phrase)), None)


def evaluate(assistant: Assistant, gold: GoldSet, top_k: int = 3) -> EvalReport:
    """Ask every gold question and score the answers."""
    ranks: list[int | None] = []
    highlights = 0
    false_abstentions = 0
    misses = []
    for item in gold.answerable:
        answer = assistant.ask(item["question"], top_k=top_k)
        rank = rank_of(answer.passages, item["answer"]) if answer.found else None
        ranks.append(rank)
        false_abstentions += not answer.found
        if answer.passages and contains(answer.passages[0], item["answer"]):
            highlights += highlight_covers(answer.passages[0], item["answer"])
        if rank != 1:
            misses.append(f"{item['question']} -> rank {rank}{'' if answer.found else ' (abstained)'}")
    abstained = sum(not assistant.ask(q, top_k=top_k).found for q in gold.off_topic)
    follow_hits = 0
    for chain in gold.follow_ups:
        final = _ask_chain(assistant, chain["turns"], top_k)[-1]
        hit = final.found and bool(final.passages) and contains(final.passages[0], chain["answer"])
        follow_hits += hit
        if not hit:
            misses.append(f"follow-up {chain['turns'][-1]!r} (searched {final.query!r})")
    n = len(ranks) or 1
    return EvalReport(
        questions=len(ranks),
        recall_at_1=sum(r == 1 for r in ranks) / n,
        recall_at_3=sum(r is not None and r <= 3 for r in ranks) / n,
        mrr=statistics.fmean(1 / r if r else 0.0 for r in ranks) if ranks else 0.0,
        highlight_at_1=highlights / n,
        off_topic_abstained=abstained / (len(gold.off_topic) or 1),
        false_abstention=false_abstentions / n,
        follow_up_accuracy=follow_hits / (len(gold.follow_ups) or 1),
        misses=misses,
    )


def _ask_chain(assistant: Assistant, turns: Sequence[str], top_k: int | None) -> list[Answer]:
    history: list[dict[str, str]] = []
    answers = []
    for turn in turns:
        answer = assistant.ask(turn, history=history, top_k=top_k)
        history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer.markdown}]
        answers.append(answer)
    return answers


def format_report(report: EvalReport) -> str:
    """The figures as an aligned table."""
    rows = [
        ("questions", f"{report.questions}"),
        ("R@1", f"{report.recall_at_1:.3f}"),
        ("R@3", f"{report.recall_at_3:.3f}"),
        ("MRR", f"{report.mrr:.3f}"),
        ("highlight@1", f"{report.highlight_at_1:.3f}"),
        ("off-topic abstained", f"{report.off_topic_abstained:.3f}"),
        ("false abstention", f"{report.false_abstention:.3f}"),
        ("follow-up accuracy", f"{report.follow_up_accuracy:.3f}"),
    ]
    lines = [f"{name:<22}{value:>8}" for name, value in rows]
    if report.misses:
        lines += ["", "misses:"] + [f"  {m}" for m in report.misses]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# The suite: several corpora, each question with an expectation and a split.


def split_of(key: str) -> str:
    """The split a question (keyed by its id) falls in: a third held out, by a hash fixed before any tuning."""
    return "held-out" if int(hashlib.sha256(f"docqa-eval:{key}".encode()).hexdigest(), 16) % 3 == 0 else "tune"


def split_documents(names: Iterable[str]) -> dict[str, str]:
    """Documents split whole: ordered by a hash of the name, the first third (rounded up) is held out."""
    ranked = sorted(names, key=lambda n: hashlib.sha256(f"docqa-eval:{n}".encode()).hexdigest())
    cut = -(-len(ranked) // 3)
    return {name: "held-out" if i < cut else "tune" for i, name in enumerate(ranked)}


@dataclass(frozen=True)
class Question:
    """One question (or, for a chat, one turn) with what a user should get.

    `expect` is "answer" (the top passage holds an answer span or phrase), "abstain", "either" (abstain, or
    answer rightly: other-language questions) or "overview" (each document cited with its title or opening)."""

    id: str
    kind: str
    split: str
    text: str
    expect: str
    document: str | None = None  # the sources-folder name that answers, when known
    spans: tuple[tuple[int, int], ...] = ()  # (start, end) answer spans in that document's text
    phrase: str | None = None  # the answer phrase, when no offset is given
    turns: tuple[Question, ...] = ()  # a chat: every turn, in order


@dataclass(frozen=True)
class Corpus:
    """Documents (sources-folder name -> text) and the questions asked over them."""

    name: str
    documents: dict[str, str]
    questions: tuple[Question, ...]
    description: str = ""


@dataclass(frozen=True)
class Figure:
    """A rate over `n` questions (or turns)."""

    value: float
    n: int


@dataclass(frozen=True)
class CorpusReport:
    """A corpus's figures per split ("tune", "held-out", "all") and the questions that missed."""

    name: str
    documents: int
    passages: int
    figures: dict[str, dict[str, Figure]]
    misses: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def data_dir() -> Path:
    """The bundled evaluation data folder."""
    return Path(str(resources.files("docqa").joinpath("data/eval")))


def project_root() -> Path:
    """The checkout's root (src/docqa/ -> ../..), where seeds/ and ../shared/ are looked up."""
    return Path(__file__).resolve().parents[2]


def squad_path() -> Path:
    """SQuAD 2.0's Rhine article: the shared copy beside the project when present, else the bundled one."""
    shared = project_root().parent / "shared" / "eval-data" / SQUAD_FILE
    return shared if shared.is_file() else data_dir() / "rhine" / SQUAD_FILE


def rhine_document(path: Path | None = None) -> tuple[str, list[int], dict]:
    """The Rhine article as one text ("Rhine", then each paragraph after a blank line), each paragraph's offset
    in it, and the SQuAD article."""
    article = json.loads((path or squad_path()).read_text(encoding="utf-8"))["data"][0]
    parts, offsets, cursor = [article["title"]], [], len(article["title"])
    for paragraph in article["paragraphs"]:
        cursor += 2
        offsets.append(cursor)
        parts.append(paragraph["context"])
        cursor += len(paragraph["context"])
    return "\n\n".join(parts) + "\n", offsets, article


def _squad_questions(kind_of_answerable: str, kind_of_impossible: str, document: str,
                     paragraph_split: dict[int, str]) -> list[Question]:
    _, offsets, article = rhine_document()
    out = []
    for i, paragraph in enumerate(article["paragraphs"]):
        for qa in paragraph["qas"]:
            spans = tuple(sorted({(offsets[i] + a["answer_start"], offsets[i] + a["answer_start"] + len(a["text"]))
                                  for a in qa["answers"]}))
            answerable = not qa["is_impossible"] and kind_of_answerable == "answerable"
            out.append(Question(qa["id"], kind_of_impossible if qa["is_impossible"] else kind_of_answerable,
                                paragraph_split[i], qa["question"].strip(), "answer" if answerable else "abstain",
                                document if answerable else None, spans if answerable else ()))
    return out


def _question(item: dict[str, Any], texts: dict[str, str], split: str | None = None) -> Question:
    turns = tuple(_question({"id": f"{item['id']}/{n}", "kind": "turn", **turn}, texts, split or item["split"])
                  for n, turn in enumerate(item.get("turns", []), 1))
    document = item.get("document")
    spans: tuple[tuple[int, int], ...] = ()
    if "answer_start" in item:  # the answer, and any other passage's words that answer as well ("also")
        spans = tuple((a["answer_start"], a["answer_start"] + len(a["answer"])) for a in [item, *item.get("also", [])])
    expect = "chat" if turns else item.get("expect") or ("answer" if "answer" in item else "abstain")
    return Question(item["id"], item["kind"], split or item["split"], item.get("question", ""), expect, document,
                    spans, None if spans else item.get("answer"), turns)


def _gold_questions(gold: GoldSet) -> list[Question]:
    out = []
    for n, item in enumerate(gold.answerable, 1):
        out.append(Question(f"gold-{n}", "answerable", split_of(item["question"]), item["question"], "answer",
                            phrase=item["answer"]))
    for n, text in enumerate(gold.off_topic, 1):
        out.append(Question(f"gold-off-{n}", "off_topic", split_of(text), text, "abstain"))
    for n, chain in enumerate(gold.follow_ups, 1):
        split = split_of(chain["turns"][0])
        turns = [Question(f"gold-chat-{n}/{i}", "turn", split, t, "any") for i, t in enumerate(chain["turns"][:-1], 1)]
        turns.append(Question(f"gold-chat-{n}/{len(chain['turns'])}", "turn", split, chain["turns"][-1], "answer",
                              phrase=chain["answer"]))
        out.append(Question(f"gold-chat-{n}", "chat", split, chain["turns"][0], "chat", turns=tuple(turns)))
    return out


def _read_document(entry: str) -> tuple[str, str]:
    """(sources-folder name, text) of a document entry in a corpus file."""
    if entry == "rhine":
        return "rhine.txt", rhine_document()[0]
    if entry.startswith("seeds/"):  # the checkout's seed article (else ./seeds, for an installed docqa)
        path = next((p for p in (project_root() / entry, Path.cwd() / entry) if p.is_file()), Path(entry))
    else:
        path = data_dir() / entry
    return path.name, path.read_text(encoding="utf-8")


def corpus_names() -> list[str]:
    """The bundled corpora, in the order the suite runs them."""
    return json.loads((data_dir() / "suite.json").read_text(encoding="utf-8"))["corpora"]


def load_corpus(name: str) -> Corpus:
    """A bundled corpus by name: its documents' texts and every question, each with its split."""
    spec = json.loads((data_dir() / f"{name}.json").read_text(encoding="utf-8"))
    texts = dict(_read_document(entry) for entry in spec["documents"])
    questions: list[Question] = []
    if spec.get("gold"):
        questions += _gold_questions(load_gold(data_dir() / spec["gold"]))
    if spec.get("squad"):
        squad = spec["squad"]
        paragraph_split = {int(i): s for s, ids in spec["paragraph_split"].items() for i in ids}
        questions += _squad_questions(squad["answerable"], squad["impossible"], "rhine.txt", paragraph_split)
    questions += [_question(item, texts) for item in spec.get("questions", [])]
    return Corpus(name, texts, tuple(questions), spec.get("description", ""))


# ---------------------------------------------------------------------------------------------------------------
# Scoring


def _hit(passage: Passage, q: Question) -> bool:
    if q.spans:
        return passage.source == q.document and any(passage.start <= s and e <= passage.end for s, e in q.spans)
    return q.phrase is not None and contains(passage, q.phrase)


def _highlight_hit(passage: Passage, q: Question) -> bool:
    if q.spans:
        lo, hi = passage.highlight
        return passage.source == q.document and any(lo <= s and e <= hi for s, e in q.spans)
    return q.phrase is not None and highlight_covers(passage, q.phrase)


def _rank(answer: Answer, q: Question) -> int | None:
    if not answer.found:
        return None
    return next((i for i, p in enumerate(answer.passages, 1) if _hit(p, q)), None)


def _passes(answer: Answer, q: Question, documents: Iterable[str]) -> bool:
    """Whether the answer is what a user asking `q` should get."""
    if q.expect == "any":
        return True
    if q.expect == "abstain":
        return not answer.found
    if q.expect == "overview":
        return answer.found and all(any(p.source == d and p.paragraph <= 2 for p in answer.passages)
                                    for d in documents)
    right = _rank(answer, q) == 1
    return right or (q.expect == "either" and not answer.found)


@dataclass
class _Tally:
    counts: dict[str, list[float]] = field(default_factory=dict)

    def add(self, name: str, value: float) -> None:
        self.counts.setdefault(name, []).append(float(value))

    def figures(self) -> dict[str, Figure]:
        return {name: Figure(statistics.fmean(v), len(v)) for name, v in self.counts.items()}


_LABELS = {"answerable": "answerable", "typo": "typo", "other_language": "other language"}


def _score(assistant: Assistant, q: Question, tally: _Tally, documents: Sequence[str], misses: list[str],
           top_k: int | None) -> None:
    if q.kind == "chat":
        answers = _ask_chain(assistant, [t.text for t in q.turns], top_k)
        results = [_passes(a, t, documents) for a, t in zip(answers, q.turns)]
        for turn, answer, ok in list(zip(q.turns, answers, results))[1:]:
            if turn.expect != "any":
                tally.add("follow-up turns right", ok)
                if not ok:
                    misses.append(f"[{q.split}] {turn.id} {turn.text!r}: {_said(answer)} (searched {answer.query!r})")
        tally.add("chats right in every turn", all(results))
        return
    answer = assistant.ask(q.text, top_k=top_k)
    ok = _passes(answer, q, documents)
    if q.kind in ABSTAIN_KINDS:
        tally.add(f"{q.kind.replace('_', '-')} abstained", ok)
    elif q.kind == "overview":
        tally.add("overview cites every document", ok)
    else:
        label = _LABELS.get(q.kind, q.kind)
        rank = _rank(answer, q)
        if q.expect == "either":
            tally.add(f"{label}: right or abstained", ok)
            tally.add(f"{label}: answered right", rank == 1)
        else:
            tally.add(f"{label} found", answer.found)
            tally.add(f"{label} R@1", rank == 1)
            if q.kind == "answerable":
                tally.add(f"{label} R@3", rank is not None and rank <= 3)
                tally.add(f"{label} MRR", 1 / rank if rank else 0.0)
                tally.add(f"{label} highlight@1", bool(answer.passages) and _highlight_hit(answer.passages[0], q))
    if not ok:
        misses.append(f"[{q.split}] {q.kind} {q.id} {q.text!r}: {_said(answer)}")


def _said(answer: Answer) -> str:
    if not answer.found:
        return "abstained"
    top = answer.passages[0]
    return f"{top.source} ¶{top.paragraph} {top.highlight_text[:80]!r}"


def typed_lower(q: Question) -> Question:
    """The question (and each turn of a chat) as people often type it: all in lower case."""
    return replace(q, text=q.text.lower(), turns=tuple(typed_lower(t) for t in q.turns))


def evaluate_corpus(assistant: Assistant, corpus: Corpus, split: str = "all", top_k: int | None = None,
                    limit: int | None = None, lower: bool = False) -> CorpusReport:
    """Ask every question of the corpus (in `split`, at most `limit` of each kind; with `lower`, typed in lower
    case) and score the answers."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {', '.join((*SPLITS, 'all'))}, not {split!r}")
    tallies = {s: _Tally() for s in SPLITS}
    misses: list[str] = []
    seen: dict[str, int] = {}
    documents = sorted(corpus.documents)
    for q in corpus.questions:
        if split != "all" and q.split != split:
            continue
        seen[q.kind] = seen.get(q.kind, 0) + 1
        if limit is not None and seen[q.kind] > limit:
            continue
        _score(assistant, typed_lower(q) if lower else q, tallies[q.split], documents, misses, top_k)
    figures = {s: tallies[s].figures() for s in SPLITS if tallies[s].counts}
    if split == "all":
        both = _Tally()
        for s in SPLITS:
            for name, values in tallies[s].counts.items():
                both.counts.setdefault(name, []).extend(values)
        figures["all"] = both.figures()
    passages = len(assistant.retriever.stored.chunks)
    return CorpusReport(corpus.name, len(corpus.documents), passages, figures, misses)


def build_assistant(corpus: Corpus, folder: Path, embedder, settings=None) -> Assistant:
    """An Assistant over the corpus's documents, written into `folder`, with its index built there."""
    sources = folder / "sources"
    sources.mkdir(parents=True)
    for name, text in corpus.documents.items():
        (sources / name).write_text(text, encoding="utf-8")
    assistant = Assistant(sources=sources, index_dir=folder / "index", settings=settings, embedder=embedder)
    assistant.load()
    return assistant


def run_suite(names: Sequence[str] | None = None, split: str = "all", embedder=None, settings=None,
              top_k: int | None = None, limit: int | None = None, progress: bool = False,
              lower: bool = False) -> list[CorpusReport]:
    """Build each corpus's index in a temporary folder (corpora with the same documents share one), ask its
    questions through the public Assistant (with `lower`, typed in lower case) and score them. `progress` prints
    each step's time to stderr."""
    import sys
    import time

    from .settings import Settings

    known = corpus_names()
    names = list(names or known)
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown corpus: {', '.join(unknown)}; known: {', '.join(known)}")
    settings = settings or Settings()
    if embedder is None:
        from .embedding import get_embedder

        embedder = get_embedder(settings.model_name, settings.encode_batch_size)
    reports = []
    with tempfile.TemporaryDirectory(prefix="docqa-eval-") as tmp:
        built: dict[tuple[tuple[str, str], ...], Assistant] = {}
        for n, name in enumerate(names):
            corpus = load_corpus(name)
            key = tuple(sorted((doc, hashlib.sha256(text.encode()).hexdigest())
                               for doc, text in corpus.documents.items()))
            start = time.perf_counter()
            if key not in built:
                built[key] = build_assistant(corpus, Path(tmp) / str(n), embedder, settings)
            indexed = time.perf_counter()
            reports.append(evaluate_corpus(built[key], corpus, split, top_k, limit, lower))
            if progress:
                print(f"docqa: eval {name}: {reports[-1].passages} passages indexed in {indexed - start:.0f} s, "
                      f"questions asked in {time.perf_counter() - indexed:.0f} s", file=sys.stderr, flush=True)
    return reports


def format_suite(reports: Sequence[CorpusReport], misses: bool = True) -> str:
    """Each corpus's figures as a table, one column per split, then its misses."""
    out = []
    for report in reports:
        columns = list(report.figures)
        names = list(dict.fromkeys(name for figs in report.figures.values() for name in figs))
        out.append(f"## {report.name}: {report.documents} document(s), {report.passages} passages")
        out.append(f"{'figure':<34}" + "".join(f"{c:>18}" for c in columns))
        for name in names:
            cells = [report.figures[c].get(name) for c in columns]
            out.append(f"{name:<34}" + "".join(f"{f'{f.value:.3f} ({f.n})' if f else '-':>18}" for f in cells))
        if misses and report.misses:
            out += ["", f"misses ({len(report.misses)}):"] + [f"  {m}" for m in report.misses]
        out.append("")
    return "\n".join(out)
