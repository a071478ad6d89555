"""A deliberately tiny Go-template renderer for *this* chart, because no real helm can be installed here.

There is no helm binary on these machines (none on PyPI, Debian or npm), so the chart's templates are
kept to a small subset of Helm's template language, and this module renders exactly that subset so the
tests can validate the output. Anything outside the subset raises ``RenderError`` — the renderer fails
loudly rather than guessing, so a template that grows beyond it is noticed in the tests, not in a cluster.

Supported:
* text, ``{{ pipeline }}``, ``{{- ... -}}`` whitespace trimming, ``{{/* comments */}}``;
* ``{{ define "name" }} … {{ end }}`` (in any file, ``_*.tpl`` files only define) and
  ``{{ if pipeline }} … [{{ else }} …] {{ end }}``;
* operands ``.`` ``.Values.a.b`` ``.Release.Name|Namespace|Service`` ``.Chart.Name|Version|AppVersion``,
  string literals and integers;
* functions ``include NAME CTX``, ``toYaml V``, ``nindent N S``, ``quote V``, ``b64enc S``,
  ``required MSG V``, ``not V``, and pipelines ``a | f x`` (the piped value is the last argument).

Semantics follow text/template and Helm where they matter: truthiness (false, 0, "", empty map/list
and nil are false), ``toYaml`` trims the trailing newline, ``required`` fails on nil and "". Unlike
Helm's default, a missing value is an error (like ``helm template --strict``... stricter).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class RenderError(Exception):
    pass


# ---- parsing ------------------------------------------------------------------------------------------
_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|(\|)|(-?\d+)|([.A-Za-z_][.\w]*)|(\S))')


@dataclass
class Text:
    text: str


@dataclass
class Output:
    pipeline: list[list[str]]


@dataclass
class If:
    cond: list[list[str]]
    then: list[Any] = field(default_factory=list)
    orelse: list[Any] = field(default_factory=list)


def _tokens(source: str, where: str) -> list[list[str]]:
    """``a b | c d`` -> [["a", "b"], ["c", "d"]]; string literals keep their quotes."""
    commands: list[list[str]] = [[]]
    pos = 0
    while pos < len(source):
        m = _TOKEN.match(source, pos)
        if m is None:
            break
        pos = m.end()
        string, pipe, number, word, other = m.groups()
        if other is not None:
            raise RenderError(f"{where}: unsupported syntax {other!r} in {{{{ {source} }}}}")
        if pipe:
            commands.append([])
        else:
            commands[-1].append(string or number or word)
    if any(not c for c in commands):
        raise RenderError(f"{where}: empty command in {{{{ {source} }}}}")
    return commands


def parse(text: str, where: str) -> tuple[list[Any], dict[str, list[Any]]]:
    """Template text -> (nodes, defines)."""
    pieces: list[Any] = []
    pos = 0
    for m in _ACTION.finditer(text):
        pieces.append(Text(text[pos : m.start()]))
        trim_left, body, trim_right = m.group(1), m.group(2).strip(), m.group(3)
        pieces.append((bool(trim_left), body, bool(trim_right)))
        pos = m.end()
    pieces.append(Text(text[pos:]))
    # whitespace trimming
    for i, piece in enumerate(pieces):
        if isinstance(piece, tuple):
            left, _, right = piece
            if left and isinstance(pieces[i - 1], Text):
                pieces[i - 1].text = pieces[i - 1].text.rstrip()
            if right and isinstance(pieces[i + 1], Text):
                pieces[i + 1].text = pieces[i + 1].text.lstrip()
    defines: dict[str, list[Any]] = {}
    root: list[Any] = []
    stack: list[tuple[str, Any, list[Any]]] = [("root", None, root)]
    for piece in pieces:
        current = stack[-1][2]
        if isinstance(piece, Text):
            if piece.text:
                current.append(piece)
            continue
        _, body, _ = piece
        if body.startswith("/*"):
            if not body.endswith("*/"):
                raise RenderError(f"{where}: unterminated comment")
            continue
        head, _, rest = body.partition(" ")
        if head == "define":
            name = rest.strip()
            if not (name.startswith('"') and name.endswith('"')):
                raise RenderError(f"{where}: define needs a quoted name")
            body_nodes: list[Any] = []
            stack.append(("define", json.loads(name), body_nodes))
        elif head == "if":
            node = If(_tokens(rest, where))
            current.append(node)
            stack.append(("if", node, node.then))
        elif head == "else":
            if rest.strip():
                raise RenderError(f"{where}: only a plain {{{{ else }}}} is supported")
            kind, node, _ = stack.pop()
            if kind != "if":
                raise RenderError(f"{where}: else outside if")
            stack.append(("else", node, node.orelse))
        elif head == "end":
            kind, node, nodes = stack.pop()
            if kind == "root":
                raise RenderError(f"{where}: end without a block")
            if kind == "define":
                defines[node] = nodes
        elif head in ("range", "with", "template", "block", "break", "continue") or ":=" in body or "=" in body.split():
            raise RenderError(f"{where}: {head!r} is outside the supported subset")
        else:
            current.append(Output(_tokens(body, where)))
    if len(stack) != 1:
        raise RenderError(f"{where}: unclosed {stack[-1][0]}")
    return root, defines


# ---- evaluation ---------------------------------------------------------------------------------------
def truthy(value: Any) -> bool:
    return not (value is None or value is False or value == 0 or value == "" or value == {} or value == [])


def go_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise RenderError(f"cannot print {type(value).__name__} {value!r} (use toYaml)")


def to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=False, sort_keys=True).rstrip("\n").removesuffix("\n...")


class Renderer:
    def __init__(
        self, chart: Path, values: Mapping[str, Any], *, release: str = "apibridge", namespace: str = "apibridge"
    ) -> None:
        self.chart = chart
        meta = yaml.safe_load((chart / "Chart.yaml").read_text())
        self.context = {
            "Values": values,
            "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
            "Chart": {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta["appVersion"]},
        }
        self.templates: dict[str, list[Any]] = {}
        self.defines: dict[str, list[Any]] = {}
        for path in sorted((chart / "templates").iterdir()):
            if path.suffix not in (".yaml", ".tpl"):
                raise RenderError(f"{path.name}: unexpected file in templates/")
            nodes, defines = parse(path.read_text(), path.name)
            self.defines.update(defines)
            if not path.name.startswith("_"):
                self.templates[path.name] = nodes
        self.functions: dict[str, Callable[..., Any]] = {
            "include": self._include,
            "toYaml": to_yaml,
            "nindent": self._nindent,
            "quote": self._quote,
            "b64enc": lambda s: base64.b64encode(go_string(s).encode()).decode(),
            "required": self._required,
            "not": lambda v: not truthy(v),
        }

    # functions
    def _include(self, name: str, ctx: Any) -> str:
        if name not in self.defines:
            raise RenderError(f"include of undefined template {name!r}")
        return self._run(self.defines[name], ctx, f"define {name}")

    @staticmethod
    def _nindent(n: int, s: Any) -> str:
        pad = " " * int(n)
        return "\n" + "\n".join(pad + line if line else line for line in go_string(s).split("\n"))

    @staticmethod
    def _quote(v: Any) -> str:
        return json.dumps(go_string(v))

    @staticmethod
    def _required(message: str, v: Any) -> Any:
        if v is None or v == "":
            raise RenderError(f"required: {message}")
        return v

    # evaluation
    def _operand(self, token: str, dot: Any, where: str) -> Any:
        if token.startswith('"'):
            return json.loads(token)
        if re.fullmatch(r"-?\d+", token):
            return int(token)
        if token == ".":
            return dot
        if token.startswith("."):
            node = dot
            for part in token[1:].split("."):
                if not isinstance(node, Mapping) or part not in node:
                    raise RenderError(f"{where}: {token} is not set")
                node = node[part]
            return node
        raise RenderError(f"{where}: unknown operand {token!r}")

    def _pipeline(self, commands: list[list[str]], dot: Any, where: str) -> Any:
        value: Any = None
        for i, command in enumerate(commands):
            head, *args = command
            if head in self.functions:
                values = [self._operand(a, dot, where) for a in args]
                if i > 0:
                    values.append(value)
                try:
                    value = self.functions[head](*values)
                except TypeError as exc:
                    raise RenderError(f"{where}: {head}: {exc}") from None
            elif args or i > 0:
                raise RenderError(f"{where}: {head!r} is not a supported function")
            else:
                value = self._operand(head, dot, where)
        return value

    def _run(self, nodes: list[Any], dot: Any, where: str) -> str:
        out: list[str] = []
        for node in nodes:
            if isinstance(node, Text):
                out.append(node.text)
            elif isinstance(node, Output):
                out.append(go_string(self._pipeline(node.pipeline, dot, where)))
            else:
                branch = node.then if truthy(self._pipeline(node.cond, dot, where)) else node.orelse
                out.append(self._run(branch, dot, where))
        return "".join(out)

    def render(self) -> dict[str, str]:
        """Rendered text per template file."""
        return {name: self._run(nodes, self.context, name) for name, nodes in self.templates.items()}

    def manifests(self) -> list[dict[str, Any]]:
        """Every object the chart would install: crds/ first (as Helm does), then the templates."""
        docs: list[dict[str, Any]] = []
        for path in sorted((self.chart / "crds").glob("*.yaml")):
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
        for name, text in self.render().items():
            try:
                docs += [d for d in yaml.safe_load_all(text) if d]
            except yaml.YAMLError as exc:
                raise RenderError(f"{name}: rendered text is not YAML: {exc}\n{text}") from None
        return docs


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Values overriding as ``helm --set``/``-f`` does: maps merge, everything else replaces."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
