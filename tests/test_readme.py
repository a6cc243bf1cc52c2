"""The README is the door: every Python block in it runs as printed, every command line in it
is one the commands accept, and every link in it and in docs/ leads somewhere."""
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

from mixup_app.commands import MODULES

README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")

# how each wrapper runs the application (train.sh, test.sh, tools.sh)


def blocks(path, language):
    """The fenced code blocks of ``language`` in a Markdown file, in order."""
    text = open(path, encoding="utf-8").read()
    return re.findall(r"^```%s\n(.*?)^```" % language, text, flags=re.M | re.S)


def command_lines(path):
    """The ./train.sh, ./test.sh and ./tools.sh command lines of a file's bash blocks, split
    into words (comments dropped)."""
    lines = []
    for block in blocks(path, "bash"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] in ("./train.sh", "./test.sh", "./tools.sh"):
                lines.append(words)
    return lines


def module_and_args(words):
    if words[0] == "./tools.sh":
        return MODULES[words[1]], words[2:]
    return MODULES[words[0][2:-3]], words[1:]


def environment():
    return dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1", MIXUP_HOME=ROOT)


def test_the_readme_has_python_blocks_and_command_lines():
    assert blocks(README, "python")
    assert {words[0] for words in command_lines(README)} == {"./train.sh", "./test.sh",
                                                            "./tools.sh"}


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(blocks(README, "python"))))
def test_every_python_block_of_the_readme_runs_as_printed(index, tmp_path):
    code = blocks(README, "python")[index]
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300, env=environment(), cwd=tmp_path)
    assert run.returncode == 0, "README python block %d failed:\n%s\n%s" % (
        index, code, run.stderr[-3000:])


@pytest.mark.slow
@pytest.mark.parametrize("words", command_lines(README), ids=" ".join)
def test_every_command_line_of_the_readme_is_accepted(words, tmp_path):
    """Each command line, with --help appended, gets through its parser: every option exists
    and every value before --help has the right type and choice."""
    module, args = module_and_args(words)
    run = subprocess.run([sys.executable, "-P", "-m", module] + args + ["--help"],
                         capture_output=True, text=True, timeout=120, env=environment(),
                         cwd=tmp_path)
    assert run.returncode == 0, "%s: %s" % (" ".join(words), run.stderr[-2000:])
    assert "usage:" in run.stdout


def test_no_readme_command_writes_into_the_repository_docs():
    for words in command_lines(README):
        for word in words:
            assert not word.startswith("docs/"), " ".join(words)


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path):
    text = re.sub(r"^```.*?^```", "", open(path, encoding="utf-8").read(), flags=re.M | re.S)
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


MARKDOWN = [README] + sorted(os.path.join(DOCS, name) for name in os.listdir(DOCS)
                              if name.endswith(".md"))


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_relative_link_leads_to_a_file_and_anchor(path):
    text = re.sub(r"^```.*?^```", "", open(path, encoding="utf-8").read(), flags=re.M | re.S)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        full = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(full):
            broken.append(target)
        elif anchor and full.endswith(".md") and anchor not in anchors(full):
            broken.append(target)
    assert not broken, "%s: broken links %s" % (os.path.relpath(path, ROOT), broken)
