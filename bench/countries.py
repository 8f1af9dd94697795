"""Writes src/docqa/data/countries.json: the English names of the world's countries and regions, from the Unicode
CLDR data that `babel` ships (installed with trafilatura). docqa reads the JSON (conversation.py: "he" or "she"
never stands for a country); loading babel's locale data at run time would cost the server ~9 MB for ~300 names.

    PYTHONPATH=src python -m bench.countries --write
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

TARGET = Path(__file__).resolve().parents[1] / "src" / "docqa" / "data" / "countries.json"


def names() -> list[str]:
    """CLDR's English territory names (countries, dependencies and world regions), sorted."""
    from babel import Locale

    return sorted(set(Locale("en").territories.values()))


def main(argv: list[str]) -> int:
    from babel import __version__

    data = {"description": "English names of countries and world regions (Unicode CLDR, via babel "
                           f"{__version__}; bench/countries.py)", "names": names()}
    text = json.dumps(data, ensure_ascii=False, indent=1) + "\n"
    if "--write" in argv:
        TARGET.write_text(text, encoding="utf-8")
        print(f"wrote {TARGET} ({len(data['names'])} names)")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
