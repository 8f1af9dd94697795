"""BM25 tokenisation: an index whose terms were cut by another tokeniser is tokenised again rather than searched
with mismatched terms."""
from __future__ import annotations

import json
from pathlib import Path

from docqa import Settings
from docqa import lexical
from docqa.indexing import sync_index
from docqa.lexical import TOKENISER, LexicalIndex
from docqa.store import LEXICAL_DIR, MANIFEST, read_index, version_dir


def test_an_index_cut_by_another_tokeniser_is_tokenised_again_and_then_rebuilt(
    seed_dir: Path, tmp_path: Path, fake_embedder, monkeypatch
):
    index = tmp_path / "index"
    # An "old" tokeniser that made "troops" a stop word, recorded under its own name.
    with monkeypatch.context() as m:
        m.setattr(lexical, "_stopwords", lambda: frozenset({"the", "a", "troops"}))
        sync_index(seed_dir, index, Settings(), fake_embedder)
    path = version_dir(index) / MANIFEST
    path.write_text(json.dumps({**json.loads(path.read_text()), "tokeniser": "old/1"}))
    assert not LexicalIndex.load(version_dir(index) / LEXICAL_DIR).knows("troop")

    assert read_index(index).lexical.knows("troop"), "terms are cut again at load, not served mismatched"

    fake_embedder.calls.clear()
    stored, docs, report = sync_index(seed_dir, index, Settings(), fake_embedder)
    assert report.rebuilt and any("tokeniser changed" in r for r in report.reasons)
    assert fake_embedder.calls == [] and report.reused == tuple(docs), "passages and vectors are kept"
    assert stored.manifest.tokeniser == TOKENISER
    assert LexicalIndex.load(version_dir(index) / LEXICAL_DIR).knows("troop")
