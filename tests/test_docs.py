"""Run every ```python code block of every page in ``docs/`` as its own test.

Conventions for documentation authors:

- A block fenced as ```python is executed, top to bottom, in a fresh namespace (a new module,
  registered in ``sys.modules`` while it runs) with the working directory set to a new temporary
  directory. It must be self-contained: its own imports, its own ``App``, its own
  ``TestClient``. Blocks are expected to *check* what they show (``assert`` on responses), so the
  docs double as tests.
- A block fenced as ```python no-run is shown but not executed: use it for code that starts a
  server, needs the network or a database, or is a fragment.
- Other fences (```sh, ```text, ```toml, ...) are never executed.
- The test id is ``<page>:<line>``, the line of the opening fence, and tracebacks point at the
  Markdown file and line.

A block that is known to fail on a page owned by someone else is listed in ``KNOWN_FAILURES`` with
the reason, and marked ``xfail(strict=True)``: it must keep failing until its owner fixes it, then
the entry must be removed.
"""

from __future__ import annotations

import logging
import re
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"

_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")

# "<page>:<line>" -> why it fails (and whose issue it is).
KNOWN_FAILURES: dict[str, str] = {}


@dataclass(frozen=True)
class CodeBlock:
    """One fenced code block of a docs page."""

    page: str
    line: int
    language: str
    flags: frozenset[str]
    source: str
    closed: bool = True

    @property
    def id(self) -> str:
        """The test id: ``page:line`` of the opening fence."""
        return f"{self.page}:{self.line}"


def iter_blocks(path: Path) -> Iterator[CodeBlock]:
    """Yield the fenced code blocks of a Markdown file.

    Args:
        path: The Markdown file.

    Yields:
        Each block with its language, flags (the words after the language) and dedented source.
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _OPEN.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        words = opening["info"].split()
        start = index
        body: list[str] = []
        closed = False
        index += 1
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                closed = True
                break
            body.append(lines[index][len(indent) :] if lines[index].startswith(indent) else "")
            index += 1
        index += 1
        yield CodeBlock(
            page=path.name,
            line=start + 1,
            language=words[0].lower() if words else "",
            flags=frozenset(words[1:]),
            source="\n".join(body) + "\n",
            closed=closed,
        )


def collect() -> list[CodeBlock]:
    """Every ```python block of every docs page that is meant to run."""
    blocks: list[CodeBlock] = []
    for page in sorted(DOCS_DIR.glob("*.md")):
        blocks.extend(
            block
            for block in iter_blocks(page)
            if block.language == "python" and "no-run" not in block.flags
        )
    return blocks


BLOCKS = collect()


def _params() -> list[object]:
    params: list[object] = []
    for block in BLOCKS:
        reason = KNOWN_FAILURES.get(block.id)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        params.append(pytest.param(block, id=block.id, marks=marks))
    return params


@pytest.mark.parametrize("block", _params())
def test_docs_code_block(block: CodeBlock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    name = "docs_" + re.sub(r"\W", "_", block.id)
    module = types.ModuleType(name)
    module.__file__ = str(DOCS_DIR / block.page)
    # NOTE: pad with blank lines so tracebacks and warnings report the Markdown line numbers.
    code = compile("\n" * block.line + block.source, str(DOCS_DIR / block.page), "exec")
    sys.modules[name] = module
    # NOTE: examples may quieten or reconfigure loggers; whatever they do must not leak into the
    # tests that run after them (caplog-based tests see nothing from a silenced logger).
    saved = _logging_state()
    try:
        exec(code, module.__dict__)
    finally:
        del sys.modules[name]
        _restore_logging(saved)


def _logging_state() -> dict[str, tuple[int, bool, bool, list[logging.Handler]]]:
    loggers = [
        logging.getLogger(),
        *(
            logger
            for logger in logging.root.manager.loggerDict.values()
            if isinstance(logger, logging.Logger)
        ),
    ]
    return {
        logger.name: (logger.level, logger.disabled, logger.propagate, list(logger.handlers))
        for logger in loggers
    }


def _restore_logging(saved: dict[str, tuple[int, bool, bool, list[logging.Handler]]]) -> None:
    for name, (level, disabled, propagate, handlers) in saved.items():
        logger = logging.getLogger(name) if name != "root" else logging.getLogger()
        logger.setLevel(level)
        logger.disabled = disabled
        logger.propagate = propagate
        logger.handlers[:] = handlers


def test_parser_finds_blocks_and_honours_no_run(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n"
        "```python\n"
        "x = 1\n"
        "```\n"
        "text\n"
        "```python no-run\n"
        "serve()\n"
        "```\n"
        "- item\n"
        "\n"
        "  ```python\n"
        "  y = 2\n"
        "  ```\n"
        "````md\n"
        "```python\n"
        "nested = True\n"
        "```\n"
        "````\n"
        "```sh\n"
        "make run\n"
        "```\n",
        encoding="utf-8",
    )
    blocks = list(iter_blocks(page))
    assert all(b.closed for b in blocks)
    assert [(b.line, b.language, sorted(b.flags)) for b in blocks] == [
        (2, "python", []),
        (6, "python", ["no-run"]),
        (11, "python", []),
        (14, "md", []),
        (19, "sh", []),
    ]
    assert blocks[0].source == "x = 1\n"
    assert blocks[2].source == "y = 2\n"
    assert "nested = True" in blocks[3].source
    page.write_text("```python\nx = 1\n", encoding="utf-8")
    assert [b.closed for b in iter_blocks(page)] == [False]


# Pages other engineers are writing; the index may link them before they land.
PAGES_EXPECTED_LATER = frozenset(
    {
        "testing.md",
        "performance.md",
        "compression.md",
        "toon.md",
        "i18n.md",
        "diesel.md",
        "seaorm.md",
        "opensearch.md",
    }
)
_LINK = re.compile(r"\]\((?P<target>[^)\s]*)\)")


def slugify(heading: str) -> str:
    """The GitHub anchor of a Markdown heading's text."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            anchors.add(slugify(line.lstrip("#")))
    return anchors


def test_every_docs_page_is_linked_from_the_index() -> None:
    index = (DOCS_DIR / "index.md").read_text(encoding="utf-8")
    linked = {m["target"].partition("#")[0] for m in _LINK.finditer(index)}
    pages = {p.name for p in DOCS_DIR.glob("*.md")} - {"index.md"}
    assert pages <= linked, f"pages missing from docs/index.md: {sorted(pages - linked)}"
    missing = {n for n in linked if n.endswith(".md") and "/" not in n}
    missing = {n for n in missing if not (DOCS_DIR / n).exists()}
    assert missing <= PAGES_EXPECTED_LATER, f"index links to missing pages: {sorted(missing)}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS_DIR.glob("*.md")))
def test_links_between_docs_pages_resolve(page: str) -> None:
    text = (DOCS_DIR / page).read_text(encoding="utf-8")
    broken: list[str] = []
    for match in _LINK.finditer(text):
        target = match["target"]
        if "://" in target or target.startswith("mailto:"):
            continue
        name, _, anchor = target.partition("#")
        if name and ("/" in name or not name.endswith(".md")):
            if not (DOCS_DIR / name).exists():
                broken.append(target)
            continue
        path = DOCS_DIR / (name or page)
        if not path.exists():
            if name not in PAGES_EXPECTED_LATER:
                broken.append(target)
            continue
        if anchor and anchor not in _anchors(path):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def test_every_code_fence_is_closed() -> None:
    # NOTE: an unclosed fence silently swallows the rest of the page (and its examples).
    unclosed = [
        f"{block.page}:{block.line}"
        for page in sorted(DOCS_DIR.glob("*.md"))
        for block in iter_blocks(page)
        if not block.closed
    ]
    assert not unclosed, f"code fences never closed: {unclosed}"


def test_known_failures_name_existing_blocks() -> None:
    ids = {block.id for block in BLOCKS}
    stale = sorted(set(KNOWN_FAILURES) - ids)
    assert not stale, f"KNOWN_FAILURES lists blocks that no longer exist: {stale}"


def test_slugify_matches_github_anchors() -> None:
    assert slugify(" `root_path`, the ASGI 3 way") == "root_path-the-asgi-3-way"
    assert slugify("HEAD, OPTIONS and 405") == "head-options-and-405"
    assert slugify("Building URLs: `url_path_for`") == "building-urls-url_path_for"
