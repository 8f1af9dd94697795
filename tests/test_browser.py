"""The web chat in a real browser: Playwright from PyPI driving Debian's Chromium against the real server."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "artifacts"
ARTICLE_5 = "What did Hegseth say about Article 5?"
BROAD = "What did Hegseth say about NATO?"  # several passages answer: several citations to choose from
OFF_TOPIC = "What is the boiling point of mercury?"
WAIT = 30_000  # ms: the first answer of a session also warms the model up


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install chromium; never `playwright install`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, web_server: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(web_server, wait_until="domcontentloaded")
    page.get_by_test_id("textbox").wait_for()
    yield page
    context.close()


def _ask(page, question: str):
    """Type a question, press Enter, and return the locator of the reply it gets."""
    replies = page.locator('#docqa-chat [data-testid="bot"]')
    before = replies.count()
    box = page.get_by_test_id("textbox")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#docqa-chat [data-testid=\"bot\"]').length > n", arg=before, timeout=WAIT
    )
    return replies.nth(before)


def _in_view(page, selector: str) -> bool:
    """Whether the element lies inside the visible part of the viewer's scrolling box."""
    return page.evaluate(
        """sel => { const el = document.querySelector(sel), box = el && el.closest('.docqa-doc');
        if (!el || !box) return false;
        const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
        return r.bottom > b.top && r.top < b.bottom && r.height > 0; }""",
        selector,
    )


def test_article_5_reply_cites_the_passage_and_marks_it_in_reply_and_viewer(page) -> None:
    reply = _ask(page, ARTICLE_5)
    reply_mark = reply.locator("mark", has_text="Article 5")
    reply_mark.first.wait_for()
    assert reply_mark.first.is_visible()
    text = reply.inner_text()
    assert "[1]" in text and "Sources" in text
    assert re.search(r"Defense Secretary Pete Hegseth.*¶4", text)  # title and paragraph of the cited passage

    viewer_mark = page.locator("#docqa-viewer mark", has_text="Article 5")
    viewer_mark.first.wait_for()
    assert viewer_mark.first.is_visible()
    assert _in_view(page, "#docqa-viewer mark.docqa-focus")  # the first citation is scrolled into view
    assert "Article 5" in page.locator("#docqa-viewer mark.docqa-focus").inner_text()

    focused = page.evaluate("document.activeElement && document.activeElement.closest('#docqa-question') !== null")
    assert focused, "the question box keeps the focus after Enter"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-article-5.png"))
    if os.environ.get("DOCQA_SCREENSHOT"):  # DOCQA_SCREENSHOT=1 pytest tests/test_browser.py -k article_5
        page.screenshot(path=str(ROOT / "docs" / "screenshot.png"))


def test_choosing_a_citation_brings_its_span_into_view(page) -> None:
    _ask(page, BROAD)
    choices = page.locator("#docqa-citations label")
    choices.first.wait_for()
    count = choices.count()
    assert count >= 2
    for n in [count, *range(1, count)]:  # the last (far from the first) first, then the others
        choices.nth(n - 1).click()
        focus = page.locator(f'#docqa-viewer mark.docqa-focus[data-cites~="docqa-cite-{n}"]')
        focus.wait_for()
        page.wait_for_function(
            """n => {
            const el = document.querySelector(`#docqa-viewer mark.docqa-focus[data-cites~="docqa-cite-${n}"]`);
            const box = el && el.closest('.docqa-doc'); if (!box) return false;
            const r = el.getBoundingClientRect(), b = box.getBoundingClientRect();
            return r.bottom > b.top && r.top < b.bottom; }""",
            arg=n,
        )


def test_off_topic_question_shows_no_sources(page) -> None:
    reply = _ask(page, OFF_TOPIC)
    reply.get_by_text(re.compile(r"The documents? do(es)?n't say")).wait_for()
    assert reply.locator("mark").count() == 0
    assert "Sources" not in reply.inner_text()
    assert page.locator("#docqa-viewer mark").count() == 0
    assert not page.locator("#docqa-citations").is_visible()


def test_follow_up_in_the_chat_says_what_was_searched_for(page) -> None:
    _ask(page, ARTICLE_5)
    reply = _ask(page, "Does that apply to Ukraine?")  # points back ("that"): the subject of the question before
    reply.get_by_text("Searched for:").wait_for()
    searched = reply.inner_text().split("Searched for:", 1)[1].splitlines()[0]
    assert "Article 5 apply to Ukraine" in searched and ARTICLE_5 not in searched  # the subject, not the question
    assert reply.locator("mark").count() >= 1


def test_empty_question_shows_a_clear_error_and_no_reply(page) -> None:
    box = page.get_by_test_id("textbox")
    box.fill("   ")
    box.press("Enter")
    page.get_by_text("The question is empty").first.wait_for()
    assert page.locator('#docqa-chat [data-testid="bot"]').count() == 0
    assert "Traceback" not in page.content()


def test_example_click_asks_it_and_clear_starts_over(page, seed_assistant) -> None:
    from docqa.web import example_questions

    [example] = example_questions(seed_assistant)  # from the document's title: no question is written in code
    page.locator("#docqa-chat").get_by_text(example).first.click()
    page.locator('#docqa-chat [data-testid="bot"] mark').first.wait_for()
    assert page.locator('#docqa-chat [data-testid="user"]').last.inner_text().strip() == example
    assert page.locator("#docqa-chat button[aria-label='Clear']").count() == 1  # one clear control, no second one
    page.locator("#docqa-chat button[aria-label='Clear']").click()
    page.wait_for_function("document.querySelectorAll('#docqa-chat [data-testid=\"bot\"]').length === 0")
    page.locator("#docqa-chat").get_by_text(example).first.wait_for()  # the examples are back
    assert page.locator("#docqa-viewer mark").count() == 0


# --- Layout: the reply's first line and its question stay in view; the phone layout fits ---------------------------

_BOX = """sel => { const all = document.querySelectorAll(sel), el = all[all.length - 1];
  const r = el.getBoundingClientRect(); return [r.top, r.bottom, r.left, r.right]; }"""


def _first_line_box(page) -> list[float]:
    """The box of the first rendered line of the last reply (its first text node's first line)."""
    return page.evaluate("""() => {
      const replies = document.querySelectorAll('#docqa-chat [data-testid="bot"]');
      const walker = document.createTreeWalker(replies[replies.length - 1], NodeFilter.SHOW_TEXT,
        {acceptNode: n => n.textContent.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP});
      const range = document.createRange(); range.selectNodeContents(walker.nextNode());
      const r = range.getClientRects()[0]; return [r.top, r.bottom, r.left, r.right]; }""")


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_first_line_of_each_reply_and_its_question_are_in_view(browser, web_server: str, width, height) -> None:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    try:
        page.goto(web_server, wait_until="domcontentloaded")
        page.get_by_test_id("textbox").wait_for()
        for question in (ARTICLE_5, "Does that apply to Ukraine?", "And what about the troops?"):
            _ask(page, question).locator("mark").first.wait_for()
            page.wait_for_timeout(700)  # the page scrolls the chat after 100 and 400 ms
            top, bottom, left, right = page.evaluate(_BOX, "#docqa-chat .bubble-wrap")
            line = _first_line_box(page)
            assert top <= line[0] and line[1] <= bottom and left <= line[2] and line[3] <= right, (question, line)
            asked = page.evaluate(_BOX, '#docqa-chat [data-testid="user"]')
            assert top <= asked[0] and asked[1] <= bottom, (question, asked)  # the question is still in view
            labels = page.locator("#docqa-chat label, #docqa-chat [data-testid='block-label']")
            assert labels.count() == 0 or not labels.first.is_visible()  # no label sits over the chat
        if width < 500:  # on a phone: the whole placeholder shows; the file-type hint stays on one line
            fits = page.evaluate("""() => { const t = document.querySelector('#docqa-question textarea');
              const c = document.createElement('canvas').getContext('2d'); c.font = getComputedStyle(t).font;
              return c.measureText(t.placeholder).width <= t.clientWidth; }""")
            assert fits
            hint = page.locator("#docqa-hint p").first
            assert hint.evaluate("e => e.getClientRects().length") == 1
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"web-{width}px.png"))
    finally:
        context.close()


def test_a_single_document_offers_no_remove(browser, markup_web_server: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(markup_web_server, wait_until="domcontentloaded")
        page.locator("#docqa-viewer .docqa-doc").wait_for()
        page.wait_for_timeout(500)  # the page's refresh on load
        assert not page.locator("#docqa-remove").is_visible()
    finally:
        context.close()


# --- XSS: markup in a question or a document is shown as text, never run ------------------------------------------

XSS_QUESTION = '<img src=x onerror="window.__pwned=3">'  # "3": a number the markup document holds'


def test_markup_in_questions_and_documents_renders_as_text(browser, markup_web_server: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(WAIT)
    try:
        page.goto(markup_web_server, wait_until="domcontentloaded")
        viewer = page.locator("#docqa-viewer .docqa-doc")
        viewer.wait_for()
        assert "<script>window.__pwned = 2</script>" in viewer.inner_text()  # the document, shown literally

        reply = _ask(page, XSS_QUESTION)
        reply.locator("mark").first.wait_for()  # the markup document answers it: its passage is cited
        question = page.locator('#docqa-chat [data-testid="user"]').last
        assert XSS_QUESTION in question.inner_text()
        assert "<script>window.__pwned = 2</script>" in reply.inner_text()
        page.locator("#docqa-viewer mark").first.wait_for()
        assert "<script>" in page.locator("#docqa-viewer mark").first.inner_text()

        for root in ("#docqa-chat", "#docqa-viewer"):
            assert page.locator(f"{root} script").count() == 0
            assert page.locator(f"{root} img").count() == 0
            assert page.locator(f"{root} [onerror]").count() == 0
        page.wait_for_timeout(500)  # give a planted handler time to fire
        assert page.evaluate("typeof window.__pwned") == "undefined"
    finally:
        context.close()


# --- Own documents: upload, progress, document picker (a private server: uploads change its sources folder) -------


@pytest.fixture(scope="module")
def library_page_factory(browser, library_web_server: str):
    contexts = []

    def open_page():
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT)
        page.goto(library_web_server, wait_until="domcontentloaded")
        page.get_by_test_id("textbox").wait_for()
        return page

    yield open_page
    for context in contexts:
        context.close()


def _tree(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in sorted(folder.rglob("*")) if p.is_file()}


def _uploads_named(name: str) -> list[Path]:
    from docqa.web import upload_folder

    return list(upload_folder().rglob(name))


def _upload(page, path: Path) -> None:
    page.locator("#docqa-upload").locator("xpath=..").locator('input[type="file"]').set_input_files(str(path))


def _open_picker(page):
    """Open the document picker's list (the page's first refresh may close it: retry) and return its options."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    options = page.locator('#docqa-picker [role="option"]')
    box = page.locator("#docqa-picker input")
    for _ in range(5):
        box.blur()  # the list opens on focus
        box.click()
        try:
            options.first.wait_for(timeout=2_000)
            return options
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError("the document picker does not open")


def _picker_options(page) -> list[str]:
    texts = _open_picker(page).all_inner_texts()
    page.keyboard.press("Escape")
    return [t.replace("✓", "").strip() for t in texts]


def _viewer_source(page) -> str | None:
    return page.locator("#docqa-viewer .docqa-doc").get_attribute("data-source")


def test_uploaded_pdf_is_indexed_asked_about_and_shown(library_page_factory, library_assistant, tmp_path) -> None:
    from test_documents import make_pdf

    work = library_assistant.sources.parent
    before = _tree(work)
    pdf = make_pdf(tmp_path / "orchard.pdf", [
        "Orchard handbook\n\nApple trees are pruned in late winter while they are dormant.",
        "Pears ripen off the tree and should be picked while still firm and green.",
    ])
    page = library_page_factory()
    assert "Orchard handbook" not in _picker_options(page)
    _upload(page, pdf)
    status = page.locator("#docqa-status")
    status.get_by_text("Added orchard.pdf").wait_for()
    assert re.search(r"Added orchard\.pdf \(\d+ passages\)", status.inner_text())
    assert "Orchard handbook" in _picker_options(page)
    assert _viewer_source(page) == "orchard.pdf"  # the viewer shows what was just added

    reply = _ask(page, ARTICLE_5)  # the viewer follows the first citation to the seed ...
    reply.locator("mark").first.wait_for()
    page.wait_for_function("document.querySelector('#docqa-viewer .docqa-doc').dataset.source !== 'orchard.pdf'")
    reply = _ask(page, "When should pears be picked?")  # ... and back to the uploaded PDF
    reply.locator("mark").first.wait_for()
    text = reply.inner_text()
    assert "[1]" in text and re.search(r"Orchard handbook, p\. 2, ¶\d+ — Pears ripen", text)
    page.wait_for_function("document.querySelector('#docqa-viewer .docqa-doc').dataset.source === 'orchard.pdf'")
    mark = page.locator("#docqa-viewer mark.docqa-focus")
    assert "Pears ripen" in mark.inner_text() and mark.is_visible()
    assert _in_view(page, "#docqa-viewer mark.docqa-focus")

    # Added under its own name, in the sources folder; the index changed; nothing else written; Gradio's copy gone.
    assert (library_assistant.sources / "orchard.pdf").read_bytes() == pdf.read_bytes()
    after = _tree(work)
    changed = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
    assert changed and all(n.startswith(("sources/", "index/")) for n in changed), changed
    assert "sources/orchard.pdf" in changed
    assert _uploads_named("orchard.pdf") == []


def test_a_progress_indicator_runs_while_a_long_upload_is_indexed(library_page_factory, tmp_path) -> None:
    log = tmp_path / "weather-log.md"
    log.write_text("# Weather log\n\n" + "\n\n".join(
        f"Day {i}: the wind came from the {('north', 'south', 'east', 'west')[i % 4]} and {i % 17} mm of rain fell "
        f"on the allotment. The barometer read {990 + i % 40} hPa at noon." for i in range(300)), encoding="utf-8")
    page = library_page_factory()
    _upload(page, log)
    page.wait_for_function(  # Gradio's progress over the status line: what is being done, then how far along
        "() => /Embedding|Indexing/.test(document.querySelector('#docqa-status').innerText)", timeout=WAIT
    )
    page.locator("#docqa-status").get_by_text(re.compile(r"Added weather-log\.md \(\d{3} passages\)")).wait_for()


def test_refused_upload_shows_the_reason_and_adds_nothing(library_page_factory, library_assistant, tmp_path) -> None:
    fake = tmp_path / "holiday-photo.txt"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256)))
    page = library_page_factory()
    listed = library_assistant.list_documents()
    work = library_assistant.sources.parent
    before, options = _tree(work), _picker_options(page)
    _upload(page, fake)
    page.get_by_text("holiday-photo.txt: looks binary (NUL bytes), not a text document").first.wait_for()
    assert "Traceback" not in page.content()
    assert _picker_options(page) == options
    assert library_assistant.list_documents() == listed
    assert _tree(work) == before
    assert _uploads_named("holiday-photo.txt") == []
    secret = tmp_path / "secrets.env"  # a type docqa does not read: refused by the app, and its upload deleted
    secret.write_text("TOKEN=abc\n", encoding="utf-8")
    _upload(page, secret)
    page.get_by_text("secrets.env: unsupported type").first.wait_for()
    assert _tree(work) == before
    assert _uploads_named("secrets.env") == []


def test_document_picker_limits_the_question_to_the_chosen_documents(library_page_factory) -> None:
    from conftest import LIBRARY_DOC_NAME

    page = library_page_factory()
    reply = _ask(page, ARTICLE_5)
    reply.locator("mark", has_text="Article 5").first.wait_for()
    _open_picker(page).filter(has_text="Garden notes").click()
    page.keyboard.press("Escape")
    reply = _ask(page, ARTICLE_5)
    reply.get_by_text(re.compile(r"The documents? do(es)?n't say")).wait_for()
    assert "Article 5" not in reply.inner_text().split("doesn't say")[0]
    reply = _ask(page, "When is compost turned?")
    reply.locator("mark").first.wait_for()
    assert "Garden notes" in reply.inner_text()
    page.wait_for_function(
        "name => document.querySelector('#docqa-viewer .docqa-doc').dataset.source === name", arg=LIBRARY_DOC_NAME
    )


def test_remove_deletes_the_shown_document_after_confirmation(library_page_factory, library_assistant) -> None:
    """Removal is a quiet secondary button beside the source chooser, asks first, and is never offered for the last
    document (see test_a_single_document_offers_no_remove)."""
    note = library_assistant.sources.parent / "kettle.md"
    note.write_text("# Kettle care\n\nDescale the kettle every month with diluted vinegar.\n", encoding="utf-8")
    page = library_page_factory()
    _upload(page, note)
    page.locator("#docqa-status").get_by_text("Added kettle.md").wait_for()
    assert _viewer_source(page) == "kettle.md"
    dialogs: list[str] = []

    def answer(dialog, accept: bool) -> None:
        dialogs.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))  # cancelled: nothing happens
    page.locator("#docqa-remove").click()
    page.wait_for_timeout(1_000)
    assert "kettle.md" in {d.name for d in library_assistant.list_documents()}
    page.once("dialog", lambda d: answer(d, True))
    page.locator("#docqa-remove").click()
    page.locator("#docqa-status").get_by_text("Removed kettle.md").wait_for()
    assert dialogs and all("Remove kettle.md?" in d for d in dialogs)
    assert "kettle.md" not in {d.name for d in library_assistant.list_documents()}
    assert not (library_assistant.sources / "kettle.md").exists()
    assert "Kettle care" not in _picker_options(page)
    assert _viewer_source(page) != "kettle.md"
    reply = _ask(page, "How often should the kettle be descaled?")
    reply.get_by_text(re.compile(r"\w")).first.wait_for()
    assert "Kettle care" not in reply.inner_text() and "vinegar" not in reply.inner_text()
