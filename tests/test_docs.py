"""The README and docs/ stay true: links resolve, commands name real targets and files, the
README stays a short manual whose flag and column tables match the code, and its set-up
commands are the ones CI runs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from spt.catalog.fits import COLUMNS, STAR_COLUMNS
from spt.model.flags import BAD_BITS, Flag

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
RULE_FILES = [ROOT / "Snakefile", *sorted((ROOT / "workflow" / "rules").glob("*.smk"))]

MAIN_COMMAND = "python -m pip install -e . -c constraints.txt && snakemake --cores all"
TEST_COMMAND = 'python -m pip install -e ".[test]" -c constraints.txt && python -m pytest'
MAX_README_LINES = 250

# Snakemake options that take one value, and those that take several (how to tell their values).
ONE_VALUE = {
    "--cores", "-c", "--jobs", "-j", "--profile", "--directory", "-d", "--report", "--sdm",
    "--software-deployment-method", "--snakefile", "-s", "--executor", "-e", "--latency-wait",
    "--conda-prefix", "--report-stylesheet", "--rerun-incomplete-after", "--local-cores",
}  # fmt: skip
SEVERAL_VALUES = {
    "--configfile": re.compile(r".+\.ya?ml$"),
    "--configfiles": re.compile(r".+\.ya?ml$"),
    "--config": re.compile(r"^[\w.]+=.*", re.S),
    "-C": re.compile(r"^[\w.]+=.*", re.S),
    "--rerun-triggers": re.compile(r"^(mtime|params|input|software-env|code)$"),
}
# A value the reader is meant to replace (my.yaml, <run>, …): not checked for existence.
PLACEHOLDER = re.compile(r"(^|/)(my|your)[\w.-]*\.ya?ml$|[<>…]|\.\.\.")
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
COMMIT_HASH = re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{7,40}\b")


def _split(text: str) -> tuple[str, list[str]]:
    """(prose with fenced blocks removed, the fenced blocks' contents)."""
    prose, blocks = _split_blocks(text)
    return prose, [body for _, body in blocks]


def _split_blocks(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(prose with fenced blocks removed, (info string, contents) of each fenced block)."""
    prose, blocks, block, fence, info = [], [], [], None, ""
    for line in text.splitlines():
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            fence, info, block = stripped[:3], stripped[3:].strip(), []
        elif fence is not None and stripped.startswith(fence) and not stripped.strip(fence[0]):
            blocks.append((info, "\n".join(block)))
            fence = None
        elif fence is not None:
            block.append(line)
        else:
            prose.append(line)
    assert fence is None, "an unclosed fenced code block"
    return "\n".join(prose), blocks


def _code_spans(prose: str) -> list[str]:
    """Inline code spans (a span may wrap onto the next line)."""
    return [m.group(1).replace("\n", " ") for m in re.finditer(r"(?<!`)`([^`]+)`(?!`)", prose)]


def _without_code(prose: str) -> str:
    return re.sub(r"(?<!`)`[^`]+`(?!`)", "", prose)


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


# ------------------------------------------------------------------------------------ links


def _links(page: Path) -> list[str]:
    prose = _without_code(_split(_text(page))[0])
    inline = re.findall(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", prose)
    reference = re.findall(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", prose, re.M)
    return [t for t in inline + reference if not re.match(r"^(https?:|mailto:)", t)]


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in _split(_text(page))[0].splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            slug = _slug(match.group(1))
            n = seen.get(slug, 0)
            seen[slug] = n + 1
            out.add(slug if n == 0 else f"{slug}-{n}")
    return out


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{_name(page)}: broken links: {broken}"


# --------------------------------------------------------------------------------- commands


@pytest.fixture(scope="module")
def target_rules(tmp_path_factory):
    """The workflow's target rules, as Snakemake itself lists them."""
    workdir = str(tmp_path_factory.mktemp("targets"))
    run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--list-target-rules", "--directory", workdir],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    names = {line.strip() for line in run.stdout.splitlines() if re.fullmatch(r"\w+", line.strip())}
    assert "all" in names, run.stdout
    return names


@pytest.fixture(scope="module")
def output_patterns():
    return _output_patterns()


def _output_patterns() -> list[re.Pattern[str]]:
    """Regexes of every output path a rule can write (plain strings of the rule files, and the
    figures and tables their fig() / table() helpers register)."""
    paths = set()
    for rule_file in RULE_FILES:
        text = rule_file.read_text(encoding="utf-8")
        for prefix, path in re.findall(r"(\w*)\"((?:results|resources)/[^\"]*)\"", text):
            if "f" not in prefix.lower():  # an f-string's braces are Python, not wildcards
                paths.add(path)
        for stem in re.findall(r"\bfig\(\s*\"([^\"]+)\"\s*\)", text):
            paths.update(f"results/figures/{stem}.{ext}" for ext in ("pdf", "png"))
        for stem in re.findall(r"\btable\(\s*\"([^\"]+)\"\s*\)", text):
            paths.update(f"results/tables/{stem}.{ext}" for ext in ("csv", "tex", "md"))
    patterns = []
    for path in paths:
        parts = re.split(r"(\{[^}]*\})", path)
        regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
        patterns.append(re.compile(regex + "/?"))
    assert patterns
    return patterns


def _snakemake_commands(page: Path) -> list[str]:
    """The argument strings of every `snakemake ...` command in code spans and in the shell
    code blocks (no info string, or bash, sh, shell, console)."""
    prose, blocks = _split_blocks(_text(page))
    lines = _code_spans(prose)
    for info, block in blocks:
        if info in SHELL_BLOCKS:
            shell = block.replace("\\\n", " ").splitlines()
            lines += [re.sub(r"(^|\s)#.*", "", line) for line in shell]  # comments
    commands = []
    for line in lines:
        for match in re.finditer(r"(?:^|[\s;&|(])snakemake(?=\s|$)(.*)", line):
            commands.append(re.split(r"&&|\|\||;|\|", match.group(1))[0])
    return commands


def _parse(arguments: str) -> tuple[list[str], dict[str, list[str]]]:
    """(targets, {option: values}) of a snakemake command line."""
    tokens = shlex.split(arguments)
    targets: list[str] = []
    options: dict[str, list[str]] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if not token.startswith("-"):
            targets.append(token)
            continue
        name, eq, value = token.partition("=")
        values = options.setdefault(name, [])
        if eq:
            values.append(value)
        elif name in ONE_VALUE and i < len(tokens):
            values.append(tokens[i])
            i += 1
        elif name in SEVERAL_VALUES:
            while i < len(tokens) and SEVERAL_VALUES[name].match(tokens[i]):
                values.append(tokens[i])
                i += 1
    return targets, options


def test_parse_snakemake_command():
    targets, options = _parse(
        "--cores all -f fig04 --rerun-triggers mtime --configfile a.yaml b.yml "
        "--config compare='{seeds: 3}' x=1 results/data/matched.csv --profile=profiles/slurm"
    )
    assert targets == ["fig04", "results/data/matched.csv"]
    assert options["--cores"] == ["all"]
    assert options["--rerun-triggers"] == ["mtime"]
    assert options["--configfile"] == ["a.yaml", "b.yml"]
    assert options["--config"] == ["compare={seeds: 3}", "x=1"]
    assert options["--profile"] == ["profiles/slurm"]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_snakemake_commands_name_real_targets_and_files(page, target_rules, output_patterns):
    problems = _command_problems(page, target_rules, output_patterns)
    assert not problems, f"{_name(page)}:\n" + "\n".join(problems)


def _command_problems(
    page: Path, target_rules: set[str], output_patterns: list[re.Pattern[str]]
) -> list[str]:
    """What is wrong with the page's snakemake commands (empty when nothing)."""
    problems = []
    for arguments in _snakemake_commands(page):
        try:
            targets, options = _parse(arguments)
        except ValueError as exc:  # unbalanced quotes
            problems.append(f"snakemake{arguments}: {exc}")
            continue
        for target in targets:
            if PLACEHOLDER.search(target) or target in target_rules:
                continue
            if not any(p.fullmatch(target) for p in output_patterns):
                problems.append(f"snakemake{arguments}: no rule or output {target!r}")
        for option in ("--configfile", "--configfiles"):
            for path in options.get(option, []):
                if not PLACEHOLDER.search(path) and not (ROOT / path).is_file():
                    problems.append(f"snakemake{arguments}: no config file {path}")
        for profile in options.get("--profile", []):
            if not PLACEHOLDER.search(profile) and not (ROOT / profile / "config.yaml").is_file():
                problems.append(f"snakemake{arguments}: no profile {profile}")
    return problems


def test_docs_name_some_commands():
    """The command check is not vacuous: the README's commands are found."""
    found = _snakemake_commands(README)
    assert any("config/paper.yaml" in c for c in found)
    assert any("profiles/slurm" in c for c in found)
    assert any(re.search(r"\bfig04\b", c) for c in found)


# ------------------------------------------------------------------------ the README itself


def test_readme_is_short():
    lines = _text(README).count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines (at most {MAX_README_LINES})"


def test_readme_setup_commands_are_the_ci_commands():
    blocks = [b.strip() for b in _split(_text(README))[1]]
    setup = [b for b in blocks if "pip install" in b]
    assert setup == [MAIN_COMMAND, TEST_COMMAND], setup
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_flag_table_matches_the_enum():
    rows = re.findall(
        r"^\|\s*bit (\d+) \((\d+)\) `(\w+)`\s*\|\s*(bad|warn)\s*\|", _text(README), re.M
    )
    listed = {name: (int(bit), int(value), kind) for bit, value, name, kind in rows}
    expected = {
        str(flag.name): (
            int(flag).bit_length() - 1,
            int(flag),
            "bad" if flag & BAD_BITS else "warn",
        )
        for flag in Flag
    }
    missing = sorted(set(expected) - set(listed))
    assert not missing, f"flag bits missing from the README's table: {missing}"
    assert listed == expected


def test_readme_lists_every_catalogue_column():
    text = _text(README)
    missing = [c for c in {*COLUMNS, *STAR_COLUMNS} if f"`{c}`" not in text]
    assert not missing, f"catalogue columns missing from the README: {sorted(missing)}"


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_commit_hashes_in_prose(page):
    """Run numbers are quoted without commit hashes: the run's own files carry its commit."""
    prose = _without_code(_split(_text(page))[0])
    assert not COMMIT_HASH.findall(prose), f"{_name(page)}: {COMMIT_HASH.findall(prose)}"
