"""The web chat: a Gradio app over one Assistant, with cited passages, a source viewer and an `/ask` endpoint.

Gradio is imported inside functions only, so `import docqa` stays cheap.
"""
from __future__ import annotations

import html
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .answer import escape, location
from .assistant import Assistant
from .conversation import clean_question
from .errors import DocQAError
from .sources import READERS
from .types import Answer, Document

if TYPE_CHECKING:
    import gradio as gr

EXAMPLES = (
    "What did Hegseth say about Article 5?",
    "Will U.S. troops be sent to Ukraine?",
    "How much of their GDP should NATO members spend on defense?",
)

CSS = """
.docqa-doc { white-space: pre-wrap; overflow-y: auto; max-height: 430px; padding: 0.75rem 1rem;
  line-height: 1.55; border: 1px solid var(--border-color-primary); border-radius: var(--radius-lg);
  background: var(--background-fill-primary); color: var(--body-text-color); }
mark { background: #fde68a; color: #1c1917; padding: 0 0.1em; border-radius: 3px; }
.dark mark { background: #854d0e; color: #fefce8; }
.docqa-doc mark[data-ref]::before { content: attr(data-ref) " "; font-size: 0.75em; font-weight: 600;
  vertical-align: super; }
.docqa-doc mark.docqa-focus { outline: 2px solid #d97706; }
.docqa-empty { color: var(--body-text-color-subdued); }
"""

# Runs in the browser for the viewer: keep the focused (else the first) <mark> in view, scrolling only the panel.
_SCROLL_JS = """
const show = () => {
  const box = element.querySelector('.docqa-doc');
  if (!box) return;
  const mark = box.querySelector('mark.docqa-focus') || box.querySelector('mark');
  if (!mark) { box.scrollTop = 0; return; }
  const offset = mark.getBoundingClientRect().top - box.getBoundingClientRect().top;
  box.scrollTop = Math.max(0, box.scrollTop + offset - box.clientHeight / 4);
};
watch('value', show);
show();
"""

# After an answer: show the start of the reply (not its end, where Gradio scrolls to) and give the focus back
# to the question box unless the person has moved it elsewhere.
_AFTER_ANSWER_JS = """() => {
  const active = document.activeElement;
  if (!active || active === document.body) document.querySelector('#docqa-question textarea')?.focus();
  const show = () => {
    const replies = document.querySelectorAll('#docqa-chat [data-testid="bot"]');
    const last = replies[replies.length - 1];
    const wrap = last?.closest('.bubble-wrap');
    if (wrap) wrap.scrollTop += last.getBoundingClientRect().top - wrap.getBoundingClientRect().top - 8;
  };
  setTimeout(show, 100);
  setTimeout(show, 400);
}"""

# Before removing: ask the person to confirm; an empty name (cancelled) makes the handler do nothing.
_CONFIRM_REMOVE_JS = """(name, ...rest) => [
  name && confirm(`Remove ${name}? Its file is deleted from the sources folder.`) ? name : null, ...rest]"""


def import_gradio():
    """Import gradio with analytics off and a dedicated temporary folder (both read at import)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "docqa-gradio"))
    import gradio

    return gradio


def reply_markdown(answer: Answer) -> str:
    """The chat reply: `Answer.markdown`, after a "Searched for" line when a follow-up was rewritten."""
    if answer.kind != "chat" and answer.query and answer.query != answer.question:
        return f"*Searched for: {escape(answer.query)}*\n\n{answer.markdown}"
    return answer.markdown


def render_document(document: Document | None, passages: Sequence[dict[str, Any]] = (), focus: int = 0) -> str:
    """The whole document as escaped HTML, each cited answering span of `passages` in <mark>.

    `passages` are `Passage.to_dict()` dicts numbered from 1; those from other documents are skipped.
    The span of citation number `focus` (else the first shown) gets the class `docqa-focus`.
    """
    if document is None:
        return '<div class="docqa-doc docqa-empty">No document.</div>'
    text = document.text
    spans: list[tuple[int, int, list[int]]] = []  # merged (start, end, citation numbers)
    cited = sorted(
        (p["highlight"][0], p["highlight"][1], n)
        for n, p in enumerate(passages, 1)
        if p["source"] == document.name and 0 <= p["highlight"][0] < p["highlight"][1] <= len(text)
    )
    for start, end, n in cited:
        if spans and start < spans[-1][1]:
            last = spans[-1]
            spans[-1] = (last[0], max(last[1], end), last[2] + [n])
        else:
            spans.append((start, end, [n]))
    if spans and not any(focus in numbers for _, _, numbers in spans):
        focus = min(n for _, _, numbers in spans for n in numbers)
    parts = []
    pos = 0
    for start, end, numbers in spans:
        refs = " ".join(f"[{n}]" for n in numbers)
        ids = " ".join(f"docqa-cite-{n}" for n in numbers)
        cls = ' class="docqa-focus"' if focus in numbers else ""
        parts.append(html.escape(text[pos:start]))
        parts.append(f'<mark{cls} data-ref="{refs}" data-cites="{ids}">{html.escape(text[start:end])}</mark>')
        pos = end
    parts.append(html.escape(text[pos:]))
    return f'<div class="docqa-doc" data-source="{html.escape(document.name)}">{"".join(parts)}</div>'


def _citation_choices(passages: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f"[{n}] {location(_Loc(p))}", str(n)) for n, p in enumerate(passages, 1)]


class _Loc:
    """Just enough of a Passage for `answer.location`."""

    def __init__(self, p: dict[str, Any]) -> None:
        self.page, self.paragraph = p.get("page"), p["paragraph"]


def _document_choices(assistant: Assistant) -> list[tuple[str, str]]:
    """(label, name) for every indexed document: its title, with the name when two titles are the same."""
    infos = assistant.list_documents()
    titles = [info.title or info.name for info in infos]
    return [(t if titles.count(t) == 1 else f"{t} ({info.name})", info.name) for t, info in zip(titles, infos)]


def _check_sources(sources: Any) -> list[str] | None:
    """The `sources` argument of /ask: None or [] (every document), else a list of document names."""
    if sources is None or sources == []:
        return None
    if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
        raise ValueError("sources must be a list of document names, or null for every document")
    return sources


def _discard_uploads(paths: Sequence[Path]) -> None:
    """Delete Gradio's temporary copies of uploaded files (and their folders), once they are indexed or refused,
    so that nothing uploaded stays readable through /gradio_api/file=. Touches Gradio's upload folder only."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    for path in paths:
        path = path.resolve()
        if path.parent == root or not path.is_relative_to(root):
            continue
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()  # Gradio keeps each upload in its own folder, named by the content's hash
        except OSError:
            pass


def build_demo(
    assistant: Assistant,
    examples: Sequence[str] = EXAMPLES,
    concurrency: int | None = None,
    queue_size: int | None = None,
) -> gr.Blocks:
    """The chat app over a loaded `assistant` (call `assistant.load()` first: handlers never load the index).

    At most `concurrency` questions are answered at once and `queue_size` wait (default: the assistant's
    `Settings.web_concurrency` and `web_queue_size`); more are refused as busy."""
    gr = import_gradio()
    settings = assistant.settings
    concurrency = settings.web_concurrency if concurrency is None else concurrency
    queue_size = settings.web_queue_size if queue_size is None else queue_size
    choices = _document_choices(assistant)
    first = choices[0][1] if choices else None
    max_chars = settings.max_question_chars
    file_types = sorted(READERS)

    def view(name: str | None, passages: Sequence[dict[str, Any]] = (), focus: int = 0) -> str:
        try:
            document = assistant.document(name) if name else None
        except DocQAError:  # removed meanwhile
            document = None
        return render_document(document, passages, focus)

    def source_dropdown(name: str | None) -> tuple[str | None, Any]:
        """The document shown (`name` if it is still indexed, else the first) and the viewer's document chooser,
        refreshed with the current documents."""
        current = _document_choices(assistant)
        names = [n for _, n in current]
        shown = name if name in names else (names[0] if names else None)
        return shown, gr.Dropdown(choices=current, value=shown, interactive=len(names) > 1)

    def picker(picked: Sequence[str] | None) -> Any:
        """The document picker, with the current documents, keeping the chosen ones that still exist."""
        current = _document_choices(assistant)
        names = {n for _, n in current}
        return gr.Dropdown(choices=current, value=[n for n in picked or () if n in names])

    def check(question: str) -> str:
        """The question, cleaned; gr.Error (a message, no traceback) if it is empty or too long."""
        try:
            return clean_question(question, max_chars)
        except DocQAError as exc:
            raise gr.Error(str(exc).capitalize(), print_exception=False) from None

    def pick_example(evt: gr.SelectData) -> str:
        return check(evt.value["text"])

    pick_example.__annotations__["evt"] = gr.SelectData  # Gradio looks for the class, not its name

    def show_question(question: str, messages: list[dict[str, Any]]):
        """Put the checked question in the chat, as text (not Markdown or HTML), and empty the box."""
        return "", [*messages, {"role": "user", "content": escape(question)}]

    def respond(question: str, messages: list[dict[str, Any]], history: list[dict[str, str]],
                picked: list[str] | None, shown: str | None):
        """Answer the question shown last in the chat, searching the `picked` documents (all if none); show the
        first cited document in the viewer and list the citations.

        `history` is the conversation as typed (the chat shows questions escaped), for follow-ups."""
        try:
            answer = assistant.ask(question, history=history, sources=picked or None)
        except (DocQAError, ValueError) as exc:
            raise gr.Error(str(exc).capitalize(), print_exception=False) from None
        passages = [p.to_dict() for p in answer.passages]
        reply = {"role": "assistant", "content": reply_markdown(answer)}
        shown, dropdown = source_dropdown(passages[0]["source"] if passages else shown)
        turn = [{"role": "user", "content": question}, {"role": "assistant", "content": answer.markdown}]
        return (
            [*messages, reply],
            view(shown, passages),
            gr.Radio(choices=_citation_choices(passages), value=None, visible=bool(passages)),
            dropdown,
            passages,
            [*history, *turn][-settings.max_history_messages :],
        )

    def show_citation(choice: str | None, passages: list[dict[str, Any]]):
        """Bring citation number `choice` into view, switching document if needed."""
        if not choice or not passages or not choice.isdigit() or not 1 <= int(choice) <= len(passages):
            return gr.skip(), gr.skip()
        shown, dropdown = source_dropdown(passages[int(choice) - 1]["source"])
        return view(shown, passages, int(choice)), dropdown

    def show_document(name: str | None, passages: list[dict[str, Any]]):
        return view(name, passages)

    def refresh(picked: list[str] | None, shown: str | None, passages: list[dict[str, Any]]):
        """On page load: the current documents (the page was built with those of start-up)."""
        shown, dropdown = source_dropdown(shown)
        return picker(picked), dropdown, view(shown, passages)

    def clear(shown: str | None):
        shown, dropdown = source_dropdown(shown)
        return [], "", view(shown), gr.Radio(choices=[], value=None, visible=False), dropdown, [], []

    def add_files(files: list[str] | None, picked: list[str] | None, passages: list[dict[str, Any]],
                  progress: gr.Progress = gr.Progress(track_tqdm=True)):
        """Check and index uploaded files under their own names, then show the first of them. A bad file is
        refused with a message naming it and the reason, and nothing is added."""
        paths = [Path(f) for f in files or []]
        if not paths:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        before = {n for _, n in _document_choices(assistant)}
        names = ", ".join(p.name for p in paths)
        progress(0, desc=f"Indexing {names}")
        try:
            report = assistant.add(paths, progress=True)
        except (DocQAError, ValueError) as exc:
            raise gr.Error(f"Not added: {exc}", print_exception=False) from None
        finally:
            _discard_uploads(paths)
        counts = {info.name: info.passages for info in assistant.list_documents()}
        lines = []
        for path in paths:
            name = path.name
            if name in report.embedded:
                verb = "Updated" if name in before else "Added"
                lines.append(f"{verb} **{escape(name)}** ({counts.get(name, 0)} passages).")
            elif name in counts:
                lines.append(f"**{escape(name)}** is already indexed, unchanged.")
            else:
                lines.append(f"**{escape(name)}**: the same content is already indexed under another name.")
        added = [p.name for p in paths if p.name in counts]
        shown, dropdown = source_dropdown(added[0] if added else None)
        return "\n\n".join(lines), picker(picked), dropdown, view(shown, passages)

    def remove_document(name: str | None, picked: list[str] | None, passages: list[dict[str, Any]]):
        """Remove the document shown in the viewer (after the page asked for confirmation)."""
        if not name:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        if len(_document_choices(assistant)) <= 1:
            raise gr.Error(f"{name} is the only document: add another before removing it", print_exception=False)
        try:
            assistant.remove(name)
        except (DocQAError, ValueError) as exc:
            raise gr.Error(f"Not removed: {exc}", print_exception=False) from None
        shown, dropdown = source_dropdown(None)
        return f"Removed **{escape(name)}**.", picker(picked), dropdown, view(shown, passages)

    def ask(question: str, history: list[dict[str, Any]] | None = None,
            sources: list[str] | None = None) -> dict[str, Any]:
        """Answer `question` (with optional chat `history` as {"role", "content"} messages), searching only the
        documents named in `sources` (null or [] for all), as JSON: found, query, kind, markdown, passages [{text,
        source, title, paragraph, page, start, end, highlight, score}]."""
        try:
            return assistant.ask(question, history=history, sources=_check_sources(sources)).to_dict()
        except (DocQAError, ValueError) as exc:
            raise gr.Error(str(exc).capitalize(), print_exception=False) from None

    with gr.Blocks(title="docqa", analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        passages_state = gr.State([])
        question_state = gr.State("")
        history_state = gr.State([])
        gr.Markdown("**docqa** · ask about the documents; every answer quotes and cites the passages it comes from.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chatbot = gr.Chatbot(
                    label="Chat", elem_id="docqa-chat", height=520, autoscroll=False, sanitize_html=True,
                    feedback_options=None,
                    buttons=["copy"], latex_delimiters=[], examples=[{"text": q} for q in examples],
                    placeholder="Ask a question about the documents, or pick an example.",
                )
                with gr.Row(equal_height=True):
                    box = gr.Textbox(
                        elem_id="docqa-question", show_label=False, placeholder="Ask about the documents…",
                        lines=1, max_lines=4, max_length=max_chars, autofocus=True, submit_btn=True, scale=8,
                    )
                    clear_button = gr.Button(
                        "Clear", variant="secondary", scale=1, min_width=80, elem_id="docqa-clear"
                    )
            with gr.Column(scale=2, min_width=300):
                documents = gr.Dropdown(
                    choices=choices, value=[], multiselect=True, label="Search in", elem_id="docqa-picker",
                    info="Leave empty to search every document.",
                )
                with gr.Row(equal_height=True):
                    upload = gr.UploadButton(
                        "Add documents", file_types=file_types, file_count="multiple", type="filepath",
                        size="sm", scale=0, min_width=150, elem_id="docqa-upload",
                    )
                    remove = gr.Button(
                        "Remove shown document", size="sm", variant="stop", scale=0, min_width=170,
                        elem_id="docqa-remove",
                    )
                    status = gr.Markdown(
                        f"{' '.join(file_types)} · up to {settings.max_document_bytes / 2**20:g} MB each",
                        elem_id="docqa-status",
                    )
                document = gr.Dropdown(
                    choices=choices, value=first, label="Source", interactive=len(choices) > 1,
                    elem_id="docqa-source",
                )
                citations = gr.Radio(choices=[], label="Citations", visible=False, elem_id="docqa-citations")
                viewer = gr.HTML(view(first), elem_id="docqa-viewer", js_on_load=_SCROLL_JS)

        answer_outputs = [chatbot, viewer, citations, document, passages_state, history_state]
        private = dict(api_visibility="private")
        answer_options = dict(concurrency_limit=concurrency, concurrency_id="docqa", **private)
        # Checking first, into a State only, keeps a bad question's error to a toast (no overlay on the chat).
        for trigger, step in (
            (box.submit(check, box, question_state, api_name="check", **private), "submit"),
            (chatbot.example_select(pick_example, None, question_state, api_name="pick_example", **private),
             "example"),
        ):
            trigger.success(
                show_question, [question_state, chatbot], [box, chatbot], queue=False,
                api_name=f"show_question_{step}", **private,
            ).success(
                respond, [question_state, chatbot, history_state, documents, document], answer_outputs,
                api_name=f"respond_{step}", **answer_options,
            ).then(None, js=_AFTER_ANSWER_JS)
        citations.input(
            show_citation, [citations, passages_state], [viewer, document], queue=False, api_name="show_citation",
            **private,
        )
        document.input(
            show_document, [document, passages_state], viewer, queue=False, api_name="show_document", **private,
        )
        upload.upload(
            add_files, [upload, documents, passages_state], [status, documents, document, viewer],
            api_name="add_files", show_progress="full", show_progress_on=[status], concurrency_limit=1,
            concurrency_id="docqa-index", **private,
        )
        remove.click(
            remove_document, [document, documents, passages_state], [status, documents, document, viewer],
            js=_CONFIRM_REMOVE_JS, api_name="remove_document", show_progress_on=[status], concurrency_limit=1,
            concurrency_id="docqa-index", **private,
        )
        clear_outputs = [chatbot, box, viewer, citations, document, passages_state, history_state]
        clear_button.click(clear, document, clear_outputs, queue=False, api_name="clear", **private)
        chatbot.clear(clear, document, clear_outputs, queue=False, api_name="clear_chat", **private)
        demo.load(refresh, [documents, document, passages_state], [documents, document, viewer], queue=False,
                  api_name="refresh", **private)
        gr.api(ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="docqa")
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return demo
