"""The web chat: a Gradio app over one Assistant, with cited passages, a source viewer and a documents panel.

A thin client: every handler calls the public `Assistant` API and renders what it returns (`render`).
Gradio is imported inside functions only, so `import docqa` stays cheap.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from .assistant import Assistant
from .errors import DocQAError
from .render import citation_label, escape, render_document, reply_markdown
from .types import Answer, Passage

if TYPE_CHECKING:
    import gradio as gr

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
#docqa-status p { margin: 0; }
#docqa-hint { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
#docqa-remove { align-self: center; }
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

# After an answer: scroll the chat so that the question and the start of its reply show (Gradio would show the
# reply's end), and give the focus back to the question box unless the person has moved it elsewhere.
_AFTER_ANSWER_JS = """() => {
  const active = document.activeElement;
  if (!active || active === document.body) document.querySelector('#docqa-question textarea')?.focus();
  const show = () => {
    const last = (sel) => { const all = document.querySelectorAll(`#docqa-chat [data-testid="${sel}"]`);
                            return all[all.length - 1]; };
    const reply = last('bot'), question = last('user'), wrap = reply?.closest('.bubble-wrap');
    if (!wrap) return;
    const top = wrap.getBoundingClientRect().top;
    let target = reply.getBoundingClientRect().top;
    const asked = question?.getBoundingClientRect().top;
    if (asked !== undefined && asked < target && target - asked < wrap.clientHeight / 2) target = asked;
    wrap.scrollTop += target - top - 8;
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
    # Gradio's queue keeps a record of its last N events (10,000 by default) and builds a pandas table over all of
    # them after each event; the app shows no monitoring page, so 100 bound both the memory and that work.
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "100")
    upload_folder()
    import gradio

    return gradio


def upload_folder() -> Path:
    """Gradio's temporary folder for uploads: $GRADIO_TEMP_DIR, set to <tmp>/docqa-gradio unless given."""
    return Path(os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(tempfile.gettempdir()) / "docqa-gradio")))


def example_questions(assistant: Assistant, count: int = 3) -> list[str]:
    """`Settings.example_questions`, else one question about each of the first `count` documents' titles."""
    if assistant.settings.example_questions:
        return list(assistant.settings.example_questions)
    return [f"What is “{info.title or info.name}” about?" for info in assistant.list_documents()[:count]]


def error_message(exc: Exception) -> str:
    """The error as one sentence: its first letter capitalised, names inside it left as they are."""
    text = str(exc)
    return text[:1].upper() + text[1:]


def discard_uploads(paths: Sequence[str | Path]) -> None:
    """Delete the temporary copies of uploaded files the app was handed (and their now-empty folders) once they
    are indexed or refused, so nothing uploaded stays on disk. Only files inside `upload_folder()` are touched."""
    root = upload_folder().resolve()
    for path in map(Path, paths):
        path = path.resolve()
        if not path.is_relative_to(root) or path == root:
            continue
        path.unlink(missing_ok=True)
        if path.parent != root:
            try:
                path.parent.rmdir()  # Gradio keeps each upload in a folder of its own
            except OSError:
                pass


class Handlers:
    """The chat's event handlers: each calls the public Assistant API, then renders its result for Gradio."""

    def __init__(self, assistant: Assistant, gr: Any) -> None:
        self.assistant, self.gr = assistant, gr

    def _fail(self, exc: Exception, prefix: str = "") -> Exception:
        return self.gr.Error(prefix + error_message(exc), print_exception=False)

    # --- documents -------------------------------------------------------------------------------------------
    def choices(self) -> list[tuple[str, str]]:
        """(label, name) for every indexed document: its title, with the name when two titles are the same."""
        infos = self.assistant.list_documents()
        titles = [info.title or info.name for info in infos]
        return [(t if titles.count(t) == 1 else f"{t} ({info.name})", info.name) for t, info in zip(titles, infos)]

    def view(self, name: str | None, passages: Sequence[Passage] = (), focus: int = 0) -> str:
        try:
            document = self.assistant.document(name) if name else None
        except DocQAError:  # removed meanwhile
            document = None
        return render_document(document, passages, focus)

    def shown(self, name: str | None) -> tuple[str | None, list[tuple[str, str]]]:
        """The document to show (`name` if still indexed, else the first) and the current choices."""
        current = self.choices()
        names = [n for _, n in current]
        return (name if name in names else (names[0] if names else None)), current

    def source(self, name: str | None) -> tuple[str | None, Any, Any]:
        """The document to show, the viewer's chooser, and the Remove button, offered only when there is a
        document to spare (the last one is never removed). Call from handlers: this makes component updates."""
        shown, current = self.shown(name)
        many = len(current) > 1
        return shown, self.gr.Dropdown(choices=current, value=shown, interactive=many), self.gr.Button(visible=many)

    def picker(self, picked: Sequence[str] | None) -> Any:
        """The search filter, with the current documents, keeping the chosen ones that still exist."""
        current = self.choices()
        names = {n for _, n in current}
        return self.gr.Dropdown(choices=current, value=[n for n in picked or () if n in names])

    # --- chat --------------------------------------------------------------------------------------------------
    def answer(self, question: str, history: list[dict[str, str]], picked: list[str] | None) -> Answer:
        """Ask the assistant; a bad question becomes a one-line gr.Error (this step writes only to a State, so the
        error is a toast and the chat keeps no half-asked question)."""
        try:
            return self.assistant.ask(question, history=history, sources=picked or None)
        except (DocQAError, ValueError) as exc:
            raise self._fail(exc) from None

    def show_answer(self, answer: Answer, messages: list[dict[str, Any]], history: list[dict[str, str]],
                    shown: str | None):
        """Put the question (as text, escaped) and its reply in the chat; show the first cited document in the
        viewer and list the citations; extend the typed `history` used for follow-ups."""
        passages = list(answer.passages)
        shown, dropdown, remove = self.source(passages[0].source if passages else shown)
        chat = [*messages, {"role": "user", "content": escape(answer.question)},
                {"role": "assistant", "content": reply_markdown(answer)}]
        turn = [{"role": "user", "content": answer.question}, {"role": "assistant", "content": answer.markdown}]
        citations = [(citation_label(n, p), str(n)) for n, p in enumerate(passages, 1)]
        return ("", chat, self.view(shown, passages), self.gr.Radio(choices=citations, value=None,
                visible=bool(passages)), dropdown, remove, passages,
                [*history, *turn][-self.assistant.settings.max_history_messages :])

    def show_citation(self, choice: str | None, passages: list[Passage]):
        """Bring citation number `choice` into view, switching document if needed."""
        if not choice or not choice.isdigit() or not 1 <= int(choice) <= len(passages):
            return self.gr.skip(), self.gr.skip()
        shown, dropdown, _ = self.source(passages[int(choice) - 1].source)
        return self.view(shown, passages, int(choice)), dropdown

    def clear(self, shown: str | None):
        shown, dropdown, remove = self.source(shown)
        return [], self.view(shown), self.gr.Radio(choices=[], value=None, visible=False), dropdown, remove, [], []

    def refresh(self, picked: list[str] | None, shown: str | None, passages: list[Passage]):
        """On page load: the current documents (the page was built with those of start-up)."""
        shown, dropdown, remove = self.source(shown)
        return self.picker(picked), dropdown, remove, self.view(shown, passages)

    # --- adding and removing -----------------------------------------------------------------------------------
    def add_files(self, files: list[str] | None, picked: list[str] | None, passages: list[Passage]):
        """Index uploaded files under their own names and show the first; a bad file is refused with its name and
        the reason, and nothing is added. Gradio's temporary copies are deleted either way."""
        if not files:
            return (self.gr.skip(),) * 5
        paths = [Path(f) for f in files]
        root = upload_folder().resolve()
        if not all(p.resolve().is_relative_to(root) for p in paths):  # mounted Gradio does not check this itself
            raise self.gr.Error("Not added: only files uploaded through this page can be added", print_exception=False)
        before = {info.name for info in self.assistant.list_documents()}
        try:
            report = self.assistant.add(paths, progress=True)
        except (DocQAError, ValueError) as exc:
            raise self._fail(exc, "Not added: ") from None
        finally:
            discard_uploads(paths)
        counts = {info.name: info.passages for info in self.assistant.list_documents()}
        lines = []
        for name in (p.name for p in paths):
            if name in report.embedded:
                verb = "Updated" if name in before else "Added"
                lines.append(f"{verb} **{escape(name)}** ({counts[name]} passages).")
            elif name in counts:
                lines.append(f"**{escape(name)}** is already indexed, unchanged.")
            else:
                lines.append(f"**{escape(name)}**: the same content is already indexed under another name.")
        shown, dropdown, remove = self.source(next((p.name for p in paths if p.name in counts), None))
        return "\n\n".join(lines), self.picker(picked), dropdown, remove, self.view(shown, passages)

    def remove_document(self, name: str | None, picked: list[str] | None, passages: list[Passage]):
        """Remove the document shown in the viewer (the page asked for confirmation first)."""
        if not name or len(self.choices()) <= 1:
            return (self.gr.skip(),) * 5
        try:
            self.assistant.remove(name)
        except (DocQAError, ValueError) as exc:
            raise self._fail(exc, "Not removed: ") from None
        shown, dropdown, remove = self.source(None)
        return f"Removed **{escape(name)}**.", self.picker(picked), dropdown, remove, self.view(shown, passages)

    # --- the API ------------------------------------------------------------------------------------------------
    def ask(self, question: str, history: list[dict[str, Any]] | None = None,
            sources: list[str] | None = None) -> dict[str, Any]:
        """Answer `question` (with optional chat `history` as {"role", "content"} messages), searching only the
        documents named in `sources` (null or [] for all), as JSON: found, query, kind, markdown, passages [{text,
        source, title, paragraph, page, start, end, highlight, score}]."""
        try:
            return ask_json(self.assistant, question, history, sources)
        except (DocQAError, ValueError) as exc:
            raise self._fail(exc) from None


def ask_json(assistant: Assistant, question: Any, history: Any = None, sources: Any = None) -> dict[str, Any]:
    """`Assistant.ask` for the web's API routes: `sources` None or [] means every document."""
    if sources is not None and (not isinstance(sources, list) or not all(isinstance(s, str) for s in sources)):
        raise ValueError("sources must be a list of document names, or null for every document")
    return assistant.ask(question, history=history, sources=sources or None).to_dict()


def _chat_panel(gr: Any, ui: SimpleNamespace, examples: Sequence[str], max_chars: int) -> None:
    ui.chatbot = gr.Chatbot(
        show_label=False, elem_id="docqa-chat", height=520, autoscroll=False, sanitize_html=True,
        feedback_options=None, buttons=["copy"], latex_delimiters=[], examples=[{"text": q} for q in examples],
        placeholder="Ask a question about the documents, or pick an example.",
    )
    ui.box = gr.Textbox(
        elem_id="docqa-question", show_label=False, placeholder="Ask a question…", lines=1, max_lines=4,
        max_length=max_chars, autofocus=True, submit_btn=True,
    )


def _documents_panel(gr: Any, ui: SimpleNamespace, h: Handlers, file_types: Sequence[str], max_mb: float) -> None:
    ui.picker = gr.Dropdown(choices=h.choices(), value=[], multiselect=True, label="Search in",
                            elem_id="docqa-picker", info="Leave empty to search every document.")
    with gr.Row(equal_height=True):
        # No `file_types` on the button: Gradio would refuse other types before the app sees them and leave the
        # upload on disk. The app checks the type itself (a clear message) and deletes every upload it is handed.
        ui.upload = gr.UploadButton("Add documents", file_count="multiple", type="filepath", size="sm", scale=0,
                                    min_width=140, elem_id="docqa-upload")
        ui.status = gr.Markdown("", elem_id="docqa-status")
    gr.Markdown(f"{', '.join(file_types)} · up to {max_mb:g} MB each", elem_id="docqa-hint")


def _viewer_panel(gr: Any, ui: SimpleNamespace, h: Handlers) -> None:
    shown, choices = h.shown(None)
    with gr.Row(equal_height=True):
        ui.document = gr.Dropdown(choices=choices, value=shown, label="Source", interactive=len(choices) > 1,
                                  elem_id="docqa-source", scale=4)
        ui.remove = gr.Button("Remove", size="sm", variant="secondary", scale=0, min_width=80,
                              visible=len(choices) > 1, elem_id="docqa-remove")
    ui.citations = gr.Radio(choices=[], label="Citations", visible=False, elem_id="docqa-citations")
    ui.viewer = gr.HTML(h.view(shown), elem_id="docqa-viewer", js_on_load=_SCROLL_JS)


def _wire_chat(gr: Any, ui: SimpleNamespace, h: Handlers, answer_options: dict[str, Any]) -> None:
    private = dict(api_visibility="private")

    def pick_example(evt: gr.SelectData, history: list[dict[str, str]], picked: list[str] | None) -> Answer:
        return h.answer(evt.value["text"], history, picked)

    pick_example.__annotations__["evt"] = gr.SelectData  # Gradio looks for the class, not its name
    shown = [ui.answer, ui.chatbot, ui.history, ui.document]
    outputs = [ui.box, ui.chatbot, ui.viewer, ui.citations, ui.document, ui.remove, ui.passages, ui.history]
    for step, trigger in (("submit", ui.box.submit(h.answer, [ui.box, ui.history, ui.picker], ui.answer,
                                                    api_name="answer", **answer_options)),
                          ("example", ui.chatbot.example_select(pick_example, [ui.history, ui.picker], ui.answer,
                                                                api_name="pick_example", **answer_options))):
        trigger.success(h.show_answer, shown, outputs, queue=False, api_name=f"show_answer_{step}", **private
                        ).then(None, js=_AFTER_ANSWER_JS)
    clear_outputs = [ui.chatbot, ui.viewer, ui.citations, ui.document, ui.remove, ui.passages, ui.history]
    ui.chatbot.clear(h.clear, ui.document, clear_outputs, queue=False, api_name="clear", **private)


def _wire_documents(gr: Any, ui: SimpleNamespace, h: Handlers) -> None:
    private = dict(api_visibility="private")
    indexing = dict(concurrency_limit=1, concurrency_id="docqa-index", show_progress_on=[ui.status], **private)

    def add_files(files, picked, passages, progress=gr.Progress(track_tqdm=True)):  # noqa: B008 (Gradio's idiom)
        progress(0, desc="Indexing " + ", ".join(Path(f).name for f in files or []))
        return h.add_files(files, picked, passages)

    changed = [ui.status, ui.picker, ui.document, ui.remove, ui.viewer]
    ui.upload.upload(add_files, [ui.upload, ui.picker, ui.passages], changed, api_name="add_files",
                     show_progress="full", **indexing)
    ui.remove.click(h.remove_document, [ui.document, ui.picker, ui.passages], changed, js=_CONFIRM_REMOVE_JS,
                    api_name="remove_document", **indexing)
    ui.citations.input(h.show_citation, [ui.citations, ui.passages], [ui.viewer, ui.document], queue=False,
                       api_name="show_citation", **private)
    ui.document.input(h.view, [ui.document, ui.passages], ui.viewer, queue=False, api_name="show_document",
                      **private)


def build_demo(assistant: Assistant, concurrency: int | None = None, queue_size: int | None = None) -> gr.Blocks:
    """The chat app over a loaded `assistant` (call `assistant.load()` first: handlers never load the index).

    At most `concurrency` questions are answered at once and `queue_size` wait (default: the assistant's
    `Settings.web_concurrency` and `web_queue_size`); more are refused as busy."""
    gr = import_gradio()
    settings = assistant.settings
    concurrency = settings.web_concurrency if concurrency is None else concurrency
    queue_size = settings.web_queue_size if queue_size is None else queue_size
    h = Handlers(assistant, gr)
    answer_options = dict(concurrency_limit=concurrency, concurrency_id="docqa", api_visibility="private")
    cleanup = (min(60, settings.web_upload_max_age), settings.web_upload_max_age)  # (every, older than) seconds
    with gr.Blocks(title="docqa", analytics_enabled=False, delete_cache=cleanup) as demo:
        ui = SimpleNamespace(passages=gr.State([]), answer=gr.State(None), history=gr.State([]))
        gr.Markdown("**docqa** · ask about the documents; every answer quotes and cites the passages it comes from.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=300):
                _chat_panel(gr, ui, example_questions(assistant), settings.max_question_chars)
            with gr.Column(scale=2, min_width=300):
                _documents_panel(gr, ui, h, assistant.file_types, settings.max_document_bytes / 2**20)
                _viewer_panel(gr, ui, h)
        _wire_chat(gr, ui, h, answer_options)
        _wire_documents(gr, ui, h)
        demo.load(h.refresh, [ui.picker, ui.document, ui.passages], [ui.picker, ui.document, ui.remove, ui.viewer],
                  queue=False, api_name="refresh", api_visibility="private")
        gr.api(h.ask, api_name="ask", concurrency_limit=concurrency, concurrency_id="docqa")
    demo.queue(max_size=queue_size, default_concurrency_limit=concurrency)
    return demo
