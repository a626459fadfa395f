"""Plan ingestion: Chinese plan text, Word and Excel task tables → reviewable plan files.

    from taskflow.parsing import parse_file
    result = parse_file(Path("方案.docx"), year=2025, units=index)
    for parsed in result.plans:          # one per 篇 (or per Excel sheet)
        parsed.plan                      # a plan-file dict (docs/plan-format.md), or None
        parsed.review.format()           # tasks with their source lines; what to fix

The package is core: no database, no network. ``units`` (a ``UnitIndex``) is optional; with it
unit names are checked and the plan's jurisdiction can be inferred.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from taskflow.errors import UserError
from taskflow.parsing.build import (
    PLACEHOLDER_JURISDICTION,
    Context,
    PlanBuilder,
    subject_pattern,
    unit_pattern,
)
from taskflow.parsing.document import DocumentFacts, document_facts
from taskflow.parsing.duties import read_duties
from taskflow.parsing.flat_tables import markdown_table, table_at
from taskflow.parsing.review import Review
from taskflow.parsing.structure import PART, Builder, Node, Part, starts_block
from taskflow.parsing.tables import (
    DocBlock,
    PartBreak,
    nodes_from_table,
    read_docx,
    read_xlsx,
)
from taskflow.parsing.text import decode, normalize, paragraphs
from taskflow.parsing.unit_names import ProposedUnit, check_units, infer_jurisdiction
from taskflow.plans.units import UnitIndex

__all__ = ["ParseResult", "ParsedPlan", "Review", "dump_plan", "parse_bytes", "parse_file",
           "parse_text"]

SUFFIXES = (".txt", ".md", ".markdown", ".docx", ".xlsx", ".xlsm")


@dataclass
class ParsedPlan:
    """One plan found in a document (one 篇, or one sheet), with its review."""

    plan: dict[str, Any] | None  # None: no task found in this part
    review: Review
    part: int | None = None
    # Units the text names that the directory does not hold (or, without a directory, every
    # unit named): new units to confirm, each with its kind and suggested parent.
    proposed_units: list[ProposedUnit] = field(default_factory=list)

    def to_yaml(self) -> str:
        if self.plan is None:
            raise ValueError("no plan")
        return dump_plan(self.plan)


@dataclass
class ParseResult:
    source: str
    plans: list[ParsedPlan] = field(default_factory=list)
    encoding: str | None = None

    @property
    def found(self) -> list[ParsedPlan]:
        return [p for p in self.plans if p.plan is not None]

    @property
    def plan(self) -> dict[str, Any]:
        """The document's only plan (a UserError if it holds none or several)."""
        found = self.found
        if len(found) != 1:
            parts = ", ".join(f"篇{p.part}" for p in found if p.part is not None)
            raise UserError.single(f"文档包含 {len(found)} 个方案（{parts}）："
                                   "请用 --part N 选择其一", file=self.source)
        return found[0].plan  # type: ignore[return-value]

    @property
    def review(self) -> Review:
        return (self.found[0] if len(self.found) == 1 else self.plans[0]).review

    def part(self, number: int) -> ParsedPlan:
        for parsed in self.plans:
            if parsed.part == number:
                return parsed
        known = ", ".join(str(p.part) for p in self.plans if p.part is not None) or "无"
        raise UserError.single(f"文档中没有 篇{number}（现有：{known}）",
                               file=self.source)


# -- YAML ------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_Dumper.add_representer(str, _str)


def dump_plan(plan: dict[str, Any]) -> str:
    """A plan dict as a plan file (UTF-8 YAML, keys in the format's order)."""
    return yaml.dump(plan, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100,
                     default_flow_style=False)


# -- reading -----------------------------------------------------------------------------------


def _text_blocks(text: str, markdown: bool) -> list[DocBlock]:
    lines = [(i, normalize(raw)) for i, raw in enumerate(text.splitlines(), 1)]
    blocks: list[DocBlock] = []
    plain: list[tuple[int, str]] = []
    table_lines: list[tuple[int, str]] = []

    def flush_plain() -> None:
        paras = paragraphs(plain, starts_block)
        i = 0
        while i < len(paras):
            found = table_at(paras, i)
            if found is not None:
                if found.caption:
                    blocks.append(DocBlock("para", paras[i].line, found.caption,
                                           ref=f"line {paras[i].line}"))
                if found.table is not None:
                    blocks.append(DocBlock("table", found.table.lines[0], table=found.table))
                else:
                    blocks.append(DocBlock("nodes", paras[i].line, extra={
                        "nodes": found.nodes, "end": paras[found.end - 1].line}))
                i = max(found.end, i + 1)
                continue
            blocks.append(DocBlock("para", paras[i].line, paras[i].text,
                                   ref=f"line {paras[i].line}",
                                   extra={"end": paras[i].end_line}))
            i += 1
        plain.clear()

    for number, line in lines:
        if markdown and line.lstrip().startswith("|"):
            if plain:
                flush_plain()
            table_lines.append((number, line))
            continue
        if table_lines:
            table = markdown_table(table_lines)
            blocks.append(DocBlock("table", table.lines[0] if table.lines else number,
                                   table=table))
            table_lines = []
        plain.append((number, line))
    if table_lines:
        table = markdown_table(table_lines)
        blocks.append(DocBlock("table", table.lines[0], table=table))
    flush_plain()
    return blocks


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", Path(name).stem.lower()).strip("-")
    return slug or "plan"


# Per unit directory: names resolved, label lookups and the unit regexes, kept while the
# directory is unchanged (a web server parses many uploads against the same directory).
_INDEX_CACHES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _index_cache(units: UnitIndex | None) -> dict:
    if units is None:
        return {}
    size = len(units.by_code)
    entry = _INDEX_CACHES.get(units)
    if entry is None or entry[0] != size:
        entry = (size, {})
        _INDEX_CACHES[units] = entry
    return entry[1]


def _line_ref(line: int | None) -> str | None:
    return f"line {line}" if line else None


def _plan_year(facts: DocumentFacts, year: int | None, review: Review) -> int:
    """The year the plan's dates resolve in: the document's own (its signing date, else its
    dated deadlines), or ``year`` where the text writes 20xx or names none."""
    if facts.placeholder or facts.year is None:
        if year is not None:
            return year
        assumed = date.today().year
        review.add("check", f"未写明方案年度，按 {assumed} 年处理（可用 --year 指定）")
        return assumed
    own = facts.year
    if year is not None and year != own:
        shift = "推后" if year > own else "提前"
        review.add("info", f"原文按 {own} 年编写（{facts.year_source}）；`plan import --year "
                   f"{year}` 将把所有日期{shift} {abs(year - own)} 年", _line_ref(facts.year_line))
    elif year is None:
        review.add("guess", f"方案年度按 {own} 年（{facts.year_source}）；未写年份的日期都按此年",
                   _line_ref(facts.year_line))
    return own


def _parse_blocks(blocks: list[DocBlock], *, source: str, year: int | None,
                  units: UnitIndex | None, jurisdiction: str | None,
                  markdown: bool = False) -> ParseResult:
    result = ParseResult(source)
    groups: list[tuple[Part, list[DocBlock]]] = []
    current: tuple[Part, list[DocBlock]] | None = None
    for block in blocks:
        if block.kind == "part" and block.part is not None:
            br: PartBreak = block.part
            current = (Part(br.number, br.title, block.line, block.line), [])
            groups.append(current)
            continue
        if block.kind == "para" and (m := PART.match(block.text)):
            from taskflow.parsing.numbers import small_int

            number = int(m[1]) if m[1].isdigit() else small_int(m[1])
            title = re.sub(r"^\d+", "", m[2]).strip()
            current = (Part(number, title, block.line, block.line), [])
            groups.append(current)
            continue
        if current is None:
            current = (Part(None, "", block.line, block.line), [])
            groups.append(current)
        current[1].append(block)
    # A head before the first 篇 (the document's own title and date) is not a plan.
    if len(groups) > 1 and groups[0][0].number is None:
        groups = groups[1:]
    cache = _index_cache(units)
    if "__patterns__" not in cache:
        cache["__patterns__"] = (unit_pattern(units), subject_pattern(units))
    pattern, subjects = cache["__patterns__"]
    slug = _slug(source)
    for part, part_blocks in groups:
        builder = Builder(part, markdown)
        texts: list[tuple[int, str]] = []
        table_notes: list[tuple[str | None, str]] = []
        for block in part_blocks:
            part.end_line = max(part.end_line, block.extra.get("end", block.line))
            if block.kind == "para":
                if part.title and block.text.strip() == part.title and not part.nodes \
                        and not part.preamble:
                    continue  # the title repeated under the 篇 heading
                builder.paragraph(block.line, block.text, block.ref or None)
                texts.append((block.line, block.text))
            elif block.kind == "nodes":
                _attach_table(builder, builder.current, block.extra["nodes"])
            elif block.kind == "table" and block.table is not None:
                nodes, notes = nodes_from_table(block.table)
                table_notes += notes
                part.end_line = max(part.end_line, *block.table.lines)
                host = builder.current
                _attach_table(builder, host, nodes)
                texts.extend((line, " ".join(row)) for line, row in zip(
                    block.table.lines, block.table.rows, strict=False))
        read_duties(part)
        label = f"篇{part.number}" if part.number is not None else None
        review = Review(source, label)
        for ref, note in table_notes:
            review.add("check", note, ref)
        facts = document_facts(texts)
        plan_year = _plan_year(facts, year, review)
        ctx = Context(plan_year, units, jurisdiction, review, cache, pattern, subjects,
                      facts.first_is_lead, facts.author)
        code = f"{slug}-p{part.number}" if part.number is not None else slug
        title = part.title or _first_title(part) or Path(source).stem
        pb = PlanBuilder(part, ctx, plan_year)
        plan = pb.plan(code, title, Path(source).name)
        if plan is None:
            review.add("info", "未找到任务，不生成方案")
            result.plans.append(ParsedPlan(None, review, part.number))
            continue
        review.plan_code = code
        if jurisdiction is None:
            inferred, why = infer_jurisdiction(ctx, [n for n, _, _ in pb.names], facts.issuer)
            if inferred is not None:
                plan["jurisdiction"] = inferred
                review.add("guess", f"辖区推断为 {inferred}（{why}）；如需改为其他辖区，"
                           "请用 --jurisdiction 指定",
                           _line_ref(facts.issuer_line) if "发文单位" in why else None)
            else:
                named = f"；发文单位为“{facts.issuer}”，请用 --jurisdiction 指定其所属政府的单位" \
                    "代码" if facts.issuer else "；请用 --jurisdiction 指定辖区单位代码"
                review.add("check", f"未能确定辖区（{why}）：方案中暂填 "
                           f"{PLACEHOLDER_JURISDICTION}{named}")
        proposed = check_units(pb, ctx, plan, facts.issuer)
        if facts.issuer and ctx.units is not None and ctx.resolve(
                facts.issuer, None if plan["jurisdiction"] == PLACEHOLDER_JURISDICTION
                else plan["jurisdiction"])[0]:
            plan["issuer"] = facts.issuer  # only a unit the directory holds: it must import
        without = [t.code for t in review.tasks if not t.due and not t.recurrence and
                   not _has_children(plan, t.code)]
        if without:
            review.add("info", f"{len(without)} 项任务原文未写完成期限："
                       + "、".join(without[:30]) + ("…" if len(without) > 30 else ""))
        result.plans.append(ParsedPlan(plan, review, part.number, proposed))
    return result


def _has_children(plan: dict[str, Any], code: str) -> bool:
    stack = list(plan["tasks"])
    while stack:
        task = stack.pop()
        if task["code"] == code:
            return bool(task.get("children")) or bool(task.get("milestones"))
        stack.extend(task.get("children", []))
    return False


def _attach_table(builder: Builder, host: Node | None, nodes: list[Node]) -> None:
    """A table's rows are the items of the heading it follows (or of the part)."""
    for node in reversed(builder.stack):
        if node.style in ("cn", "pcn", "md1", "md2", "md3"):
            node.children.extend(nodes)
            return
    builder.part.nodes.extend(nodes)


def _first_title(part: Part) -> str | None:
    for _, text in part.preamble[:2]:
        text = text.strip()
        if len(text) <= 40 and not re.search(r"[。,;:]", text) and not \
                re.fullmatch(r"[\d\-/ ]+", text):
            return text
    return None


def parse_text(text: str, *, source: str = "document.txt", year: int | None = None,
               units: UnitIndex | None = None, jurisdiction: str | None = None,
               markdown: bool | None = None) -> ParseResult:
    """Parse plan text (already decoded)."""
    if markdown is None:
        markdown = source.lower().endswith((".md", ".markdown"))
    blocks = _text_blocks(text, markdown)
    return _parse_blocks(blocks, source=source, year=year, units=units,
                         jurisdiction=jurisdiction, markdown=markdown)


def parse_bytes(data: bytes, filename: str, *, year: int | None = None,
                units: UnitIndex | None = None, jurisdiction: str | None = None
                ) -> ParseResult:
    """Parse an uploaded file's bytes; the file name's suffix says what it is."""
    suffix = Path(filename).suffix.lower()
    if suffix in (".docx", ".xlsx", ".xlsm"):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
            handle.write(data)
            handle.flush()
            return parse_file(Path(handle.name), year=year, units=units,
                              jurisdiction=jurisdiction, source=filename)
    text, encoding = decode(data)
    result = parse_text(text, source=filename, year=year, units=units,
                        jurisdiction=jurisdiction)
    result.encoding = encoding
    return result


def parse_file(path: Path, *, year: int | None = None, units: UnitIndex | None = None,
               jurisdiction: str | None = None, source: str | None = None) -> ParseResult:
    """Parse a .txt, .md, .docx or .xlsx plan; UserError for a file it cannot read."""
    path = Path(path)
    name = source or str(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UserError.single(f"无法解析{f' {suffix} ' if suffix else '没有扩展名的'}文件："
                               "应为 .txt .md .docx .xlsx 之一", file=name)
    try:
        if suffix == ".docx":
            blocks = read_docx(path)
            return _parse_blocks(blocks, source=name, year=year, units=units,
                                 jurisdiction=jurisdiction)
        if suffix in (".xlsx", ".xlsm"):
            blocks = read_xlsx(path)
            return _parse_blocks(blocks, source=name, year=year, units=units,
                                 jurisdiction=jurisdiction)
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError.single("文件不存在", file=name) from None
    except UserError:
        raise
    except Exception as exc:  # a corrupt .docx/.xlsx: zipfile, lxml and openpyxl errors
        raise UserError.single(f"无法读取此 {suffix} 文件：{exc}", file=name) from None
    text, encoding = decode(data)
    result = parse_text(text, source=name, year=year, units=units, jurisdiction=jurisdiction,
                        markdown=suffix in (".md", ".markdown"))
    result.encoding = encoding
    return result
