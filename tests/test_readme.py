"""Every code block of README.md runs here, as a newcomer would paste it.

Each block runs in a fresh temporary copy of the project whose `.venv` is a link to the venv running the tests,
so `.venv/bin/docqa` and `source .venv/bin/activate` work as written. By the block's language:

- `bash`: run with `bash -e` in the copy; it must exit 0.
- `python`: run as a script in the copy.
- `text` whose first line is `$ COMMAND`: a sample output. The test runs COMMAND (with the venv active) and
  compares what it prints. After answers or their format change, regenerate every sample with
  `.venv/bin/python tests/test_readme.py --update`.

An HTML comment on the line before a block says how to run what cannot simply run:

- `<!-- readme-test: server -->`: each line serves the web chat. It is started in the background on a free port
  (`$GRADIO_SERVER_PORT`), must answer HTTP on `/`, and is stopped.
- `<!-- readme-test: with-server -->`: the block calls the web app at http://127.0.0.1:7860/. It runs against an
  app started from a copy, with that address pointed at the app's port.
- `<!-- readme-test: install -->`: an install command (minutes, and the network). Each `&&` step must be one
  `.ci/run` performs on a clean machine (make the venv, install the CPU torch, install the project); the app is
  started as a server; the test command is `.ci/run`'s own, never run from inside pytest.

Any other language or comment fails the test, so a new block cannot slip past.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CI = ROOT / ".ci" / "run"
MODES = ("run", "server", "with-server", "install")
DEFAULT_URL = "127.0.0.1:7860"
SERVER_START_SECONDS = 300  # the index check, the model and Gradio, on a busy 2-core machine
BLOCK_SECONDS = 600
IGNORED = shutil.ignore_patterns(".git", ".venv", "venv-*", "__pycache__", "*.egg-info", ".pytest_cache",
                                 "artifacts", ".*.lock")


@dataclass(frozen=True)
class Block:
    """One fenced block of the README: its language, test mode, first line number and text."""

    language: str
    mode: str
    line: int
    text: str

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.language}:{self.mode}"


def readme_blocks(text: str) -> list[Block]:
    """The README's fenced blocks, each with the mode its preceding `<!-- readme-test: MODE -->` comment gives."""
    blocks, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        fence = re.match(r"^(```+)\s*(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        comment = re.fullmatch(r"<!--\s*readme-test:\s*(\S+)\s*-->", before)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith(fence.group(1)))
        blocks.append(Block(fence.group(2), comment.group(1) if comment else "run", i + 2,
                            "\n".join(lines[i + 1 : end]) + "\n"))
        i = end + 1
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def _venv() -> Path:
    """The venv running the tests (the README's `.venv`)."""
    prefix = Path(sys.prefix)
    if not (prefix / "bin" / "docqa").exists():
        pytest.fail(f"run the tests from the project's venv ({prefix}/bin/docqa is missing)")
    return prefix


def make_copy(target: Path) -> Path:
    """A copy of the project in `target`, with `.venv` linked to the venv running the tests."""
    shutil.copytree(ROOT, target, ignore=IGNORED)
    (target / ".venv").symlink_to(_venv(), target_is_directory=True)
    return target


def block_env(copy: Path, activate: bool = False) -> dict[str, str]:
    """The environment of a pasted command: offline, the copy's code first, no folder overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCQA_", "GRADIO_SERVER_"))}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=f"{copy / 'src'}{os.pathsep}{copy}", PYTHONIOENCODING="utf-8")
    if activate:
        env["PATH"] = f"{copy / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(command: list[str], copy: Path, activate: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=copy, env=block_env(copy, activate), capture_output=True, text=True,
                          encoding="utf-8", timeout=BLOCK_SECONDS)


def commands(text: str) -> list[str]:
    """The block's command lines: backslash continuations joined, blank and comment-only lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", text)
    return [line.strip() for line in joined.split("\n") if line.strip() and not line.strip().startswith("#")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(command: str, copy: Path) -> Iterator[int]:
    """`command` started in `copy` on a free port; yields the port once `/` answers HTTP 200."""
    port = free_port()
    env = {**block_env(copy), "GRADIO_SERVER_PORT": str(port)}
    log = copy / f"server-{port}.log"
    with log.open("w") as out:
        server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=copy, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"`{command}` exited {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`{command}` did not answer on port {port}:\n{log.read_text()[-3000:]}")
            time.sleep(1)
        yield port
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def check_ran(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def sample_command(block: Block) -> str:
    return block.text.split("\n", 1)[0].removeprefix("$ ")


def sample_output(block: Block, copy: Path) -> str:
    """What the sample's `$ COMMAND` prints now, trailing spaces trimmed."""
    done = run(["bash", "-c", sample_command(block)], copy, activate=True)
    check_ran(done, f"`{sample_command(block)}`")
    return "\n".join(line.rstrip() for line in done.stdout.rstrip("\n").split("\n")) + "\n"


def is_sample(block: Block) -> bool:
    return block.language == "text" and block.text.startswith("$ ")


def test_every_block_is_one_the_test_knows():
    assert BLOCKS, "no code blocks found in README.md"
    for block in BLOCKS:
        assert block.mode in MODES, f"{block.id}: unknown mode (use one of {MODES})"
        assert block.language in ("bash", "python") or is_sample(block), (
            f"{block.id}: a block must be bash, python, or a text sample starting with `$ `")
        if block.mode == "run" and not is_sample(block):
            assert not re.search(r"\bapp\.py\b|\bdocqa serve\b", block.text), f"{block.id}: a server needs `server`"
            assert DEFAULT_URL not in block.text, f"{block.id}: a block that calls the app needs `with-server`"


def test_parser_reads_modes_continuations_and_samples():
    text = ("intro\n\n<!-- readme-test: install -->\n```bash\npip install a \\\n  b && run\n```\n\n"
            "```text\n$ docqa ask x\nanswer\n```\n")
    install, sample = readme_blocks(text)
    assert (install.mode, install.language, install.line) == ("install", "bash", 5)
    assert commands(install.text) == ["pip install a b && run"]
    assert (sample.mode, is_sample(sample), sample_command(sample)) == ("run", True, "docqa ask x")


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode == "run"], ids=lambda b: b.id)
def test_block_runs(block: Block, tmp_path: Path):
    copy = make_copy(tmp_path / "project")
    if is_sample(block):
        assert sample_output(block, copy) == block.text.split("\n", 1)[1], (
            f"{block.id}: the sample output is stale; regenerate it with "
            "`.venv/bin/python tests/test_readme.py --update`")
        return
    script = copy / ("block.py" if block.language == "python" else "block.sh")
    script.write_text(block.text, encoding="utf-8")
    command = [sys.executable, script.name] if block.language == "python" else ["bash", "-e", script.name]
    check_ran(run(command, copy), block.id)


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode == "server"], ids=lambda b: b.id)
def test_server_block_serves(block: Block, tmp_path: Path):
    copy = make_copy(tmp_path / "project")
    for command in commands(block.text):
        with serving(command.split(" #")[0].strip(), copy):
            pass


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    copy = make_copy(tmp_path_factory.mktemp("served") / "project")
    with serving(".venv/bin/python app.py", copy) as port:
        yield copy, port


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if b.mode == "with-server"], ids=lambda b: b.id)
def test_block_against_the_running_app(block: Block, running_app: tuple[Path, int]):
    copy, port = running_app
    text = block.text.replace(DEFAULT_URL, f"127.0.0.1:{port}")
    script = copy / f"block-{block.line}.{'py' if block.language == 'python' else 'sh'}"
    script.write_text(text, encoding="utf-8")
    command = [sys.executable, script.name] if block.language == "python" else ["bash", "-e", script.name]
    check_ran(run(command, copy), block.id)


def _pip_installs(text: str) -> list[list[str]]:
    """The arguments of every `pip install` in `text`, quotes removed (`$venv/bin/pip` or `.venv/bin/pip`)."""
    return [shlex.split(m.group(1)) for m in re.finditer(r"/bin/pip\"? install (.*?)(?:;|\|\||&&|$)", text, re.M)]


def _torch_pin() -> str:
    pins = re.findall(r'"(torch==[^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert len(pins) == 1, pins
    return pins[0]


def _ci_installs() -> list[list[str]]:
    return [[a for a in args if a != "-q"] for args in _pip_installs(CI.read_text(encoding="utf-8"))]


def _install_steps(block: Block) -> list[str]:
    return [step.strip() for line in commands(block.text) for step in line.split("&&")]


INSTALLS = [b for b in BLOCKS if b.mode == "install"]
APP = ".venv/bin/python app.py"


@pytest.mark.parametrize("block", INSTALLS, ids=lambda b: b.id)
def test_install_block_is_what_ci_runs(block: Block):
    ci = CI.read_text(encoding="utf-8")
    for step in _install_steps(block):
        if step == "python3 -m venv .venv":
            assert "-m venv" in ci
        elif step.startswith(".venv/bin/pip install "):
            wanted = _pip_installs(step)[0]
            assert any(wanted == have or (wanted == ["-e", "."] and have[:1] == ["-e"] and have[1].startswith(".["))
                       for have in _ci_installs()), f"{block.id}: `{step}` is not what .ci/run installs"
            assert all(a == _torch_pin() for a in wanted if a.startswith("torch")), f"{block.id}: torch pin"
        elif step == ".venv/bin/python -m pytest":
            assert re.search(r'/bin/python"? -m pytest( \|\||$)', ci, re.M), ".ci/run runs another test command"
        else:
            assert step == APP, f"{block.id}: `{step}` is neither an install step .ci/run performs nor the app"


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in INSTALLS if APP in _install_steps(b)], ids=lambda b: b.id)
def test_install_block_app_serves(block: Block, tmp_path: Path):
    with serving(APP, make_copy(tmp_path / "project")):
        pass


def test_ci_installs_the_cpu_torch_the_readme_gives_and_fails_on_no_tests():
    ci = CI.read_text(encoding="utf-8")
    assert [_torch_pin(), "--index-url", "https://download.pytorch.org/whl/cpu"] in _ci_installs()
    assert "python3.11" in ci and "python3.13" in ci  # the oldest and the newest supported Python
    assert re.search(r'"\$status" -eq 5 \]; then\n\s+echo "CI: .*no tests', ci)
    assert set(re.findall(r"torch==\d[\w.+]*\w", README.read_text(encoding="utf-8"))) == {_torch_pin()}


def update_samples() -> int:
    """Regenerate every `$ COMMAND` sample of README.md from what the command prints now."""
    import tempfile

    text = README.read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        copy = make_copy(Path(tmp) / "project")
        for block in (b for b in readme_blocks(text) if is_sample(b)):
            fresh = f"$ {sample_command(block)}\n{sample_output(block, copy)}"
            text = text.replace(block.text, fresh, 1)
            print(f"README.md:{block.line}: {sample_command(block)}")
    README.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_readme.py --update   (regenerates the README's sample outputs)")
    sys.exit(update_samples())
