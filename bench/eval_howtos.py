"""Write the Python HOWTO texts of the evaluation suite (`src/docqa/data/eval/howto/*.txt`) from Debian's
`python3.11-doc` HTML: the title, then headings, paragraphs and list items as blank-line separated paragraphs;
code blocks, doctests, tables and footnotes are dropped, so the documents read as prose.

    apt-get install -y python3.11-doc && python -m bench.eval_howtos
"""
from __future__ import annotations

import sys
from pathlib import Path

HTML = Path("/usr/share/doc/python3.11/html/howto")
OUT = Path(__file__).resolve().parents[1] / "src/docqa/data/eval/howto"
NAMES = ("sorting", "logging", "regex", "unicode", "argparse", "functional", "descriptor",  # indexed
         "sockets", "curses", "ipaddress")  # absent: asked about, never indexed
BLOCKS = {"h1", "h2", "h3", "h4", "p", "dt"}
SKIP = {"pre", "table", "script", "style", "aside"}


def _text(element) -> str:
    return " ".join(element.text_content().split())


def paragraphs(html: bytes) -> list[str]:
    """The prose blocks of a Sphinx page's main body, in reading order."""
    from lxml import html as lxml_html

    root = lxml_html.fromstring(html)
    body = root.xpath('//div[@role="main"]')[0]
    for link in body.xpath('.//a[@class="headerlink"]'):
        link.drop_tree()
    out: list[str] = []
    for element in body.iter():
        if not isinstance(element.tag, str) or element.tag not in BLOCKS:
            continue
        if any(a.tag in SKIP or "footnote" in (a.get("class") or "") or "toctree" in (a.get("class") or "")
               or "field-list" in (a.get("class") or "") for a in element.iterancestors()):
            continue
        text = _text(element)
        if text and (not out or out[-1] != text):
            out.append(text)
    return out


def main() -> int:
    if not HTML.is_dir():
        print(f"{HTML} not found: apt-get install -y python3.11-doc", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    for name in NAMES:
        blocks = paragraphs((HTML / f"{name}.html").read_bytes())
        (OUT / f"{name}.txt").write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
        print(f"{name}: {len(blocks)} paragraphs, {sum(map(len, blocks))} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
