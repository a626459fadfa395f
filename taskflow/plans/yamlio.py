"""Load YAML keeping where every value came from, and turn validation errors into Problems.

PyYAML's composer gives each node its start mark; we walk the node tree once to record the
mark of every mapping value and list item by its path, then let the ordinary constructor build
the data. Duplicate keys, which PyYAML silently overwrites, are reported instead.

``Located`` is plan data with its positions, whatever it was read from: a YAML file gives
line:column marks; a parsed document gives each task's line in the document, or its place
("表1 第3行") where a document has no lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from taskflow.errors import Problem, UserError
from taskflow.plans import yamlevents, yamlguard

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


@dataclass
class Located:
    """Data plus the (line, column) of each path, both 1-based (column None when unknown),
    and, for paths without a line, a place as a reader names it ("表1 第3行")."""

    data: Any
    marks: dict[Path_, tuple[int, int | None]]
    file: str
    places: dict[Path_, str] = field(default_factory=dict)
    # Every value's mark, worked out again only when a problem must be located at a field
    # (a large file keeps only its mappings' and sequences' marks).
    exact: Callable[[], dict[Path_, tuple[int, int | None]]] | None = field(
        default=None, repr=False, compare=False)

    def _nearest(self, positions: dict[Path_, Any], path: Path_) -> Any:
        probe = tuple(path)
        while probe and probe not in positions:
            probe = probe[:-1]
        return positions.get(probe)

    def line(self, path: Path_) -> int | None:
        """The line of ``path`` or of its nearest parent that has one."""
        mark = self._nearest(self.marks, path)
        return mark[0] if mark else None

    def place(self, path: Path_) -> str:
        """Where ``path`` is, in words: "第 12 行", "表1 第3行", or the file's name."""
        line = self.line(path)
        if line is not None:
            return f"第 {line} 行"
        return self._nearest(self.places, path) or self.file

    def where(self, path: Path_) -> dict[str, Any]:
        """Location keyword arguments for a Problem at ``path`` (or its nearest parent)."""
        if self.exact is not None and tuple(path) not in self.marks:
            self.marks, self.exact = self.exact(), None
        line, column = self._nearest(self.marks, path) or (None, None)
        file = self.file
        if line is None and (place := self._nearest(self.places, path)):
            file = f"{file}（{place}）"
        return {"file": file, "line": line, "column": column, "field": dotted(path)}

    def problem(self, path: Path_, message: str) -> Problem:
        return Problem(message, **self.where(path))


def dotted(path: Path_) -> str | None:
    if not path:
        return None
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _walk(node: yaml.Node, path: Path_, marks: dict, problems: list[Problem], file: str) -> None:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(Problem(
                    f"重复的键 {key!r}（第一次出现在第 {seen[key]} 行）",
                    file=file, line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1, field=dotted((*path, key)),
                ))
            seen.setdefault(key, key_node.start_mark.line + 1)
            _walk(value_node, (*path, key), marks, problems, file)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), marks, problems, file)


def load_located(text: str, file: str) -> Located:
    """Parse YAML text; syntax errors, duplicate keys and files beyond yamlguard's limits
    raise UserError with line:column."""
    try:
        yamlguard.check_size(len(text))
        built = yamlevents.build(text)
    except yamlguard.Refused as refused:
        raise _refused(refused, file) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.reader.ReaderError as exc:
        raise _bad_character(exc, text, file) from None
    except yamlevents.BadScalar as bad:
        raise UserError.single(f"{bad.value!r} 不是有效日期（{bad}）", file=file,
                               line=bad.line, column=bad.column) from None
    if built is None:  # anchors, merge keys, tags: PyYAML's own path
        return _load_nodes(text, file)
    if built is yamlevents.EMPTY:
        raise UserError.single("文件是空的", file=file)
    data, marks, duplicates = built
    if duplicates:
        raise UserError([Problem(f"重复的键 {key!r}（第一次出现在第 {first} 行）", file=file,
                                 line=line, column=column, field=dotted(path))
                         for key, path, line, column, first in duplicates])
    return Located(data, marks, file, exact=lambda: yamlevents.build(text, scalars=True)[1])


def _refused(refused: yamlguard.Refused, file: str) -> UserError:
    return UserError.single(str(refused), file=file, line=refused.line, column=refused.column)


def _bad_character(exc: yaml.reader.ReaderError, text: str, file: str) -> UserError:
    """A character YAML does not allow (a control character, a NUL byte), at its line."""
    at = min(exc.position, len(text))
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    code = ord(exc.character) if isinstance(exc.character, str) else exc.character
    return UserError.single(f"YAML 不允许的字符 U+{code:04X}（控制字符等）", file=file,
                            line=line, column=column)


def _syntax_error(exc: yaml.MarkedYAMLError, file: str) -> UserError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
    message = f"YAML 语法错误：{exc.problem or exc.context}"
    return UserError([Problem(message, file=file, line=line, column=column)])


def _load_nodes(text: str, file: str) -> Located:
    """PyYAML's node tree: for YAML beyond plain data (anchors, merge keys, tags), once
    yamlguard has bounded what its aliases expand to and how deep it nests."""
    try:
        yamlguard.check(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yamlguard.Refused as refused:
        raise _refused(refused, file) from None
    except yaml.MarkedYAMLError as exc:
        raise _syntax_error(exc, file) from None
    except yaml.YAMLError as exc:
        raise UserError.single(f"YAML 错误：{exc}", file=file) from None
    if node is None:
        raise UserError.single("文件是空的", file=file)
    marks: dict[Path_, tuple[int, int | None]] = {}
    problems: list[Problem] = []
    _walk(node, (), marks, problems, file)
    if problems:
        raise UserError(problems)
    loader = yaml.SafeLoader("")
    try:
        data = loader.construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        raise UserError.single(
            f"YAML 错误：{exc.problem}", file=file,
            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None,
        ) from None
    except ValueError as exc:  # an unquoted impossible date: 2025-02-30
        raise _bad_scalar(node, file, exc) from None
    finally:
        loader.dispose()
    return Located(data, marks, file)


def _bad_scalar(root: yaml.Node, file: str, exc: ValueError) -> UserError:
    """Find the scalar PyYAML could not construct (dates are the only such case)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            stack.extend(v for pair in node.value for v in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif node.tag == "tag:yaml.org,2002:timestamp":
            loader = yaml.SafeLoader("")
            try:
                loader.construct_object(node)
            except ValueError as bad:
                return UserError.single(f"{node.value!r} 不是有效日期（{bad}）", file=file,
                                        line=node.start_mark.line + 1,
                                        column=node.start_mark.column + 1)
            finally:
                loader.dispose()
    return UserError.single(f"YAML 错误：{exc}", file=file)


def read_located(path: Path, name: str | None = None) -> Located:
    """A YAML file with its positions; ``name`` is how problems name it (default: the path)."""
    file = name or str(path)
    try:
        yamlguard.check_size(path.stat().st_size)  # before reading it into memory
        text = path.read_bytes().decode("utf-8-sig")  # an editor's byte-order mark is fine
    except FileNotFoundError:
        raise UserError.single("文件不存在", file=file) from None
    except UnicodeDecodeError as exc:
        raise UserError.single(f"不是 UTF-8 文本（第 {exc.start} 字节）", file=file) from None
    except yamlguard.Refused as refused:
        raise _refused(refused, file) from None
    except OSError as exc:
        raise UserError.single(f"无法读取：{exc.strerror}", file=file) from None
    return load_located(text, file)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The pydantic model that owns the last element of ``loc`` (for "did you mean")."""
    current: Any = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            continue
        annotation = fields[part].annotation
        current = _first_model(annotation)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _first_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _first_model(arg)
        if found is not None:
            return found
    return None


def _clean_loc(loc: tuple) -> Path_:
    """Drop pydantic's union/type tags ('str', 'list[str]', 'function-before[...]')."""
    return tuple(
        part for part in loc
        if isinstance(part, int) or not (
            "[" in part or part in {"str", "int", "date", "decimal", "float"}
            or part.startswith(("function-", "list", "constrained"))
        )
    )


def validate(model: type[M], located: Located) -> M:
    """Validate located data against a model; errors become Problems at file:line:column."""
    try:
        return model.model_validate(located.data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = _clean_loc(error["loc"])
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                owner = _model_at(model, loc)
                name = str(loc[-1])
                message = f"未知字段 {name!r}"
                if owner is not None:
                    close = difflib.get_close_matches(name, list(owner.model_fields), n=1)
                    if close:
                        message += f"；是否应为 {close[0]!r}？"
            elif error["type"] == "missing":
                message = "缺少必填字段"
            elif error["type"] == "string_type" and isinstance(error.get("input"), int | float):
                message = f"应为文本，却是数字 {error['input']!r}；请加引号"
            elif error["type"] == "string_pattern_mismatch" and loc and loc[-1] in ("code",
                                                                                  "parent"):
                message = (f"{error.get('input')!r} 不是有效代码；只能用字母、数字、"
                           "'.'、'-' 和 '_'")
            else:
                message = _in_chinese(error) or message
            problems.append(located.problem(loc, message))
        raise UserError(problems) from None


# pydantic's own messages by error type, for the people who write plan files.
_MESSAGES = {
    "int_parsing": "应为整数", "int_type": "应为整数", "int_from_float": "应为整数",
    "float_parsing": "应为数字", "float_type": "应为数字",
    "decimal_parsing": "应为数字", "decimal_type": "应为数字",
    "bool_parsing": "应为 true 或 false", "bool_type": "应为 true 或 false",
    "date_parsing": "应为日期（如 2025-06-30）", "date_type": "应为日期（如 2025-06-30）",
    "date_from_datetime_parsing": "应为日期（如 2025-06-30）",
    "string_type": "应为文本", "list_type": "应为列表",
    "dict_type": "应为“键: 值”形式的映射", "model_type": "应为“键: 值”形式的映射",
    "model_attributes_type": "应为“键: 值”形式的映射",
    "literal_error": "应为以下之一：{expected}", "enum": "应为以下之一：{expected}",
    "greater_than_equal": "应不小于 {ge}", "greater_than": "应大于 {gt}",
    "less_than_equal": "应不大于 {le}", "less_than": "应小于 {lt}",
    "too_short": "至少需要 {min_length} 项", "too_long": "最多 {max_length} 项",
    "string_too_short": "至少 {min_length} 个字符", "string_too_long": "最多 {max_length} 个字符",
}


def _in_chinese(error: dict) -> str | None:
    template = _MESSAGES.get(error["type"])
    if template is None:
        return None
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return None
