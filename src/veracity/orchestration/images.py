"""Container images of the pipeline steps: names, and the third-party packages each needs.

Each step has a slim image (components/<step>/Dockerfile) that installs exactly
components/<step>/requirements.txt. :func:`required_distributions` derives that list
from the code: it walks the component's imports and, transitively, every ``veracity``
module they pull in (imports at any level, since steps import lazily), then maps the
third-party top-level modules to their PyPI distributions.
"""

from __future__ import annotations

import ast
import functools
import logging
import re
import sys
from importlib import metadata
from pathlib import Path

from veracity.config import PipelineConfig

log = logging.getLogger(__name__)

#: Steps that have their own image (the seven steps and the exit-handler summary).
IMAGE_STEPS = (
    "ingest",
    "validate",
    "features",
    "train",
    "calibrate",
    "evaluate",
    "gate",
    "summary",
)
#: Packages used without being imported: pandas reads and writes parquet through pyarrow.
IMPLICIT_REQUIREMENTS = {"pandas": {"pyarrow"}}
#: Packages needed at run time though never imported, per step (e.g. a CLI called by a step).
RUNTIME_REQUIREMENTS: dict[str, set[str]] = {}
#: Distributions whose declared dependencies conflict with the locked stack but whose code
#: runs on it (facenet-pytorch pins torch<2.3 and numpy<2; only its MTCNN is used, tested
#: against the lock). requirements.txt lists them as ``# no-deps: <pin>`` lines, which the
#: Dockerfiles install with ``pip install --no-deps`` after the rest.
NO_DEPS_PREFIX = "# no-deps: "
NO_DEPS_DISTRIBUTIONS = frozenset({"facenet-pytorch"})

_SRC = Path(__file__).resolve().parents[2]  # .../src


def step_image(pcfg: PipelineConfig, step: str) -> str:
    """Image reference of ``step``: ``<registry>/veracity-<step>:<tag>`` from params."""
    return f"{pcfg.image_registry.rstrip('/')}/veracity-{step}:{pcfg.image_tag}"


def normalize(name: str) -> str:
    """PEP 503 normalized distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(eager, lazy) absolute module names imported in ``path``.

    Eager: imports at any level (steps import lazily inside functions, which still run),
    except those under ``if TYPE_CHECKING:``, which never run.
    Lazy: imports inside a module-level ``__getattr__`` (PEP 562), which run only when
    someone asks the module for a name it does not define (see :func:`third_party_modules`).
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    lazy_nodes = {
        id(n)
        for fn in tree.body
        if isinstance(fn, ast.FunctionDef) and fn.name == "__getattr__"
        for n in ast.walk(fn)
    }
    # ``if TYPE_CHECKING:`` imports never run (annotations only): not requirements at all
    typing_only = {
        id(n)
        for block in tree.body
        if isinstance(block, ast.If) and getattr(block.test, "id", None) == "TYPE_CHECKING"
        for n in ast.walk(block)
    }
    eager: set[str] = set()
    lazy: set[str] = set()
    for node in ast.walk(tree):
        names: set[str] = set()
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from veracity.stages import ingest`` imports the submodule veracity.stages.ingest
            names = {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        (lazy if id(node) in lazy_nodes else eager).update(names)
    return eager, lazy


def _defined_names(path: Path) -> set[str]:
    """Names a module defines at top level (functions, classes, assignments, imports)."""
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def _veracity_file(module: str) -> Path | None:
    base = _SRC.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _lazy_targets(path: Path, third: set[str]) -> list[Path]:
    """Files a module's ``__getattr__`` imports (third-party ones go into ``third``)."""
    files = []
    for name in _imports_of(path)[1]:
        if name.split(".")[0] == "veracity":
            file = _veracity_file(name)
            if file is not None:
                files.append(file)
        elif name.split(".")[0] not in sys.stdlib_module_names:
            third.add(name.split(".")[0])
    return files


#: Steps that use a modality only for its params and readers (no detectors, no media).
LIGHT_MODALITY_STEPS = ("ingest", "validate", "summary")


def modality_files(step: str) -> list[Path]:
    """Files of the modality packages a step loads by name at run time.

    ``veracity.modalities.load_modality`` imports a package with importlib, which the import
    walk cannot see; light steps load only its params and readers.
    """
    from veracity.modalities import MODALITIES

    files: list[Path] = []
    for package in MODALITIES.values():
        root = _veracity_file(package)
        if root is None:
            continue
        if step in LIGHT_MODALITY_STEPS:
            files += [root.parent / "params.py", root.parent / "readers.py", root]
        else:
            files += sorted(root.parent.rglob("*.py"))
    return files


def third_party_modules(entry: Path, extra: list[Path] | None = None) -> tuple[set[str], set[str]]:
    """(third-party top-level modules, veracity modules) reachable from the file ``entry``
    (and the ``extra`` files a step loads dynamically).

    Raises ``FileNotFoundError`` naming a veracity module that is imported but missing.
    """
    todo = [entry, *(extra or [])]
    seen_files: set[Path] = set()
    seen_modules: set[str] = set()
    third: set[str] = set()
    while todo:
        path = todo.pop()
        if path in seen_files:
            continue
        seen_files.add(path)
        eager, _ = _imports_of(path)
        for name in eager:
            top = name.split(".")[0]
            if top == "veracity":
                parts = name.split(".")
                # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
                for i in range(1, len(parts) + 1):
                    mod = ".".join(parts[:i])
                    file = _veracity_file(mod)
                    if file is not None:
                        seen_modules.add(mod)
                        todo.append(file)
                        continue
                    parent = _veracity_file(".".join(parts[:-1]))
                    if i == len(parts) and parent is None:
                        raise FileNotFoundError(f"{path} imports {name}, which does not exist")
                    if i == len(parts) and parts[-1] not in _defined_names(parent):
                        # a PEP 562 lazy attribute: its ``__getattr__`` imports do run
                        todo.extend(_lazy_targets(parent, third))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return third, seen_modules


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()  # scans every installed dist: once per process


def distribution_of(module: str) -> str:
    """The installed distribution that provides top-level ``module``."""
    dists = _packages_distributions().get(module, [])
    if not dists:
        raise LookupError(
            f"no installed distribution provides the module {module!r}; install it or fix the import"
        )
    for dist in dists:  # namespace packages (kfp) are shared: prefer the eponymous one
        if normalize(dist) == normalize(module):
            return normalize(dist)
    return normalize(sorted(dists)[0])


def required_distributions(component_file: Path, step: str) -> set[str]:
    """Normalized distribution names the image of ``step`` must install."""
    modules, _ = third_party_modules(component_file, modality_files(step))
    dists = {distribution_of(m) for m in modules}
    for dist in list(dists):
        dists |= IMPLICIT_REQUIREMENTS.get(dist, set())
    return dists | RUNTIME_REQUIREMENTS.get(step, set())


def read_requirements(path: Path) -> dict[str, str]:
    """``{normalized name: line}`` of a requirements.txt (comments and blanks skipped)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.removeprefix(NO_DEPS_PREFIX).split("#", 1)[0].strip()
        if line:
            name = re.split(r"[<>=!~\[; ]", line, maxsplit=1)[0]
            out[normalize(name)] = line
    return out


def render_requirements(dists: set[str], lock: Path) -> str:
    """requirements.txt text: each distribution pinned as in the repository's lock file."""
    pins = read_requirements(lock)
    missing = sorted(d for d in dists if d not in pins)
    if missing:
        raise LookupError(f"{missing} are not in {lock}; add them to pyproject and re-lock")
    lines = [pins[d] for d in sorted(dists - NO_DEPS_DISTRIBUTIONS)]
    lines += [NO_DEPS_PREFIX + pins[d] for d in sorted(dists & NO_DEPS_DISTRIBUTIONS)]
    return (
        "# generated by `veracity pipeline requirements`; one pinned line per import\n"
        + "\n".join(lines)
        + "\n"
    )
