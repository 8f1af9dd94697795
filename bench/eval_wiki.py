"""Write the encyclopedia articles of the evaluation suite (`src/docqa/data/eval/wiki/*.md`) from the Wikipedia
dump excerpt in gensim's test data: each article's wikitext through gensim's `filter_wiki`, headings written as
Markdown, the reference sections ("See also", "References", ...) left out, bold and italic marks dropped, and lines
that are table rows, templates or short captions skipped. What the markup held and `filter_wiki` drops (converted
figures, pronunciations) stays dropped: documents users add are like that too.

    pip install gensim && python -m bench.eval_wiki
"""
from __future__ import annotations

import bz2
import re
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/docqa/data/eval/wiki"
TITLES = ("Andorra", "Albania", "Atlantic Ocean")
DUMP = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
DROP = {"see also", "references", "external links", "further reading", "notes", "bibliography", "sources",
        "citations", "footnotes"}


def markdown(title: str, plain: str) -> str:
    """One article's `filter_wiki` text as Markdown: "# Title", then its paragraphs and headings."""
    out = [f"# {title}", ""]
    skipping = False
    for line in plain.split("\n"):
        s = line.strip()
        heading = re.fullmatch(r"(={2,6})\s*(.*?)\s*\1", s)
        if heading:
            name = heading.group(2).replace("'''", "").replace("''", "")
            skipping = heading.group(1) == "==" and name.lower() in DROP or (skipping and len(heading.group(1)) > 2)
            if not skipping:
                out += ["#" * len(heading.group(1)) + " " + name, ""]
            continue
        if skipping:
            continue
        s = s.replace("'''", "").replace("''", "")
        s = re.sub(r"\s*\((?:[;,\s]*)\)", "", s)  # "(; , )" where a pronunciation stood
        s = re.sub(r"\(\s*[;,]\s*", "(", s)
        s = re.sub(r"[ \t]{2,}", " ", s)
        if s.startswith("*") and len(s) > 40:  # a list item with something to say
            out += [s, ""]
        elif s and not s.startswith(("|", "{", "!", "*", ":", "thumb", "File:", "Image:")) and (
                len(s) >= 40 or s.endswith(".")):
            out += [s, ""]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out))
    text = re.sub(r"(?m)^(#{2,6} .*)\n\n(?=#{2,6} |\Z)", "", text)  # headings left with nothing under them
    return text.strip() + "\n"


def main() -> None:
    import gensim
    from gensim.corpora.wikicorpus import extract_pages, filter_wiki

    dump = Path(gensim.__file__).parent / "test" / "test_data" / DUMP
    OUT.mkdir(parents=True, exist_ok=True)
    for title, text, _ in extract_pages(bz2.open(dump), filter_namespaces=("0",)):
        if title in TITLES:
            path = OUT / (title.lower().replace(" ", "-") + ".md")
            path.write_text(markdown(title, filter_wiki(text)), encoding="utf-8")
            print(path)


if __name__ == "__main__":
    main()
