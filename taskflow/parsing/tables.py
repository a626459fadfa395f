"""Task tables (任务分工表 / 台账): Word, Excel, Markdown, and cells flattened one per line.

A table is found by its header row: cells saying 序号 / 工作任务 / 主要内容 / 牵头单位 / 责任单位 /
配合单位 / 责任领导 / 完成时限 / 进度安排 / 目标 / 资金. Each later row is a task; its 序号 gives
the level (一 / (一) / 1 / 1.1), a row with only a number and a title is a heading, and a
类别 column groups the rows under it. A 责任领导 column names people: it is read and left out.
Merged cells (Excel) count for every row they span.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from taskflow.parsing.structure import Labelled, Node, marker
from taskflow.parsing.text import normalize, squeeze
from taskflow.parsing.units import UnitRefs, split_units, unit_phrase

HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("序号", "编号", "序"),
    "category": ("类别", "分类", "领域", "板块", "任务类别", "工作类别", "考核项目", "考核类别"),
    "title": ("工作任务", "任务名称", "重点任务", "主要任务", "任务事项", "工作事项", "项目名称",
              "具体任务", "任务", "事项", "项目", "工作名称", "达标项目", "指标名称", "指标",
              "考核内容", "评价内容", "考核事项", "工作项目", "重点工作", "主要工作", "工作"),
    "text": ("主要内容", "工作内容", "具体措施", "任务内容", "工作措施", "具体内容", "主要措施",
             "实施内容", "建设内容", "工作要求", "工作举措", "具体工作", "任务描述", "内容"),
    "lead": ("牵头单位", "牵头部门", "牵头"),
    "responsible": ("责任单位", "责任部门", "主责单位", "实施单位", "承办单位", "落实单位"),
    "cooperating": ("配合单位", "配合部门", "协办单位", "参与单位", "协助单位"),
    "person": ("责任领导", "分管领导", "牵头领导", "联系领导", "责任人", "负责人", "包保领导"),
    "due": ("完成时限", "完成时间", "时间节点", "时限要求", "完成期限", "截止时间", "时限",
            "起止时间", "实施时间"),
    "schedule": ("进度安排", "时间安排", "进度要求", "推进计划", "工作进度", "时间进度"),
    "target": ("工作目标", "任务目标", "目标任务", "绩效目标", "预期目标", "目标", "任务数",
               "目标值"),
    "funds": ("资金", "投资", "金额", "预算"),
    "note": ("备注", "说明"),
    # Who scores a row (08 评分部门) is not among the units that do it.
    "assessor": ("评分部门", "评分单位", "考核部门", "考核单位", "考评单位", "评价单位"),
}
# A column holding the unit of measure of the target ("单位": %, 万亩): only this exact header.
_MEASURE_HEADERS = ("单位", "计量单位", "单位名称")
# Which of several title-like columns names the row: "项目名称" over "考核内容" over "考核指标".
_TITLE_RANK = ("名称", "考核内容", "评价内容", "工作项目", "任务", "事项", "项目", "指标")
_KEYWORDS = sorted(((kw, kind) for kind, kws in HEADERS.items() for kw in kws),
                   key=lambda x: len(x[0]), reverse=True)
_CODE_CELL = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2}){0,3}\.?|[一二三四五六七八九十]{1,3}、?|"
                        r"[(（][一二三四五六七八九十\d]{1,3}[)）])$")


@dataclass
class Table:
    rows: list[list[str]]
    refs: list[str]  # where each row is: "Sheet1 row 5", "table 1 row 3", "line 40"
    lines: list[int]  # a line-like number for each row
    name: str = ""


@dataclass
class PartBreak:
    """A new part (one Excel sheet of several)."""

    number: int
    title: str
    line: int


def header_kind(cell: str) -> str | None:
    flat = squeeze(normalize(cell)).rstrip("|")
    flat = re.sub(r"[(（][^)）]*[)）]$", "", flat)  # "资金(万元)"
    if not flat or len(flat) > 10 or marker(flat):
        return None
    if flat in _MEASURE_HEADERS:
        return "measure"
    for keyword, kind in _KEYWORDS:
        if flat == keyword or (keyword in flat and len(keyword) >= 2):
            return kind
    return None


def header_map(row: list[str]) -> dict[int, str] | None:
    kinds = {i: k for i, cell in enumerate(row) if (k := header_kind(cell))}
    titles = [i for i, k in kinds.items() if k == "title"]
    if len(titles) > 1:
        # "项目名称" + "主要内容": the name titles the row, the other describes it; "考核指标"
        # before "考核内容" groups the rows.
        def rank(i: int) -> int:
            flat = squeeze(row[i])
            return next((n for n, key in enumerate(_TITLE_RANK) if key in flat), len(_TITLE_RANK))

        named = min(titles, key=lambda i: (rank(i), i))
        for i in titles:
            if i != named:
                kinds[i] = "category" if i < named and "category" not in kinds.values() \
                    else "text"
    values = set(kinds.values())
    if len(kinds) >= 2 and values & {"title", "text"} and \
            values & {"lead", "responsible", "due", "schedule", "target", "code", "person"}:
        return kinds
    return None


def _code_style(code: str) -> str:
    code = code.strip().rstrip("、.")
    if not code:
        return "row"
    if re.fullmatch(r"\d{1,2}(?:\.\d{1,2})+", code):
        return f"dotted{code.count('.')}"
    found = marker(code + "、") if not code.startswith(("(", "（")) else marker(code)
    if found is None:
        return "row"
    return {"num": "num"}.get(found[0], found[0])


def _units_from(cell: str, role: str, refs: UnitRefs) -> None:
    text = normalize(cell).strip()
    if not text:
        return
    phrase = unit_phrase(text)
    if phrase is not None and (phrase.lead or phrase.cooperating) and role != "person":
        refs.merge(phrase)
        return
    names = split_units(text)
    if role == "person":
        refs.persons.extend(n for n in names if n not in refs.persons)
    else:
        target = getattr(refs, role)
        target.extend(n for n in names if n not in target)


def nodes_from_table(table: Table) -> tuple[list[Node], list[tuple[str | None, str]]]:
    """The tasks of a table (top level, children nested), and notes (ref, message) for the
    review."""
    notes: list[tuple[str | None, str]] = []
    header_at = None
    columns: dict[int, str] = {}
    for i, row in enumerate(table.rows[:6]):
        found = header_map(row)
        if found:
            header_at, columns = i, found
            break
    if header_at is None:
        return [], [(table.refs[0] if table.refs else table.name or None,
                     "表格没有可识别的表头行（序号/工作任务/牵头单位/完成时限…）：已跳过")]
    funds_unit = ""
    for i, kind in columns.items():
        if kind == "funds" and "万" in table.rows[header_at][i]:
            funds_unit = "万元"
        elif kind == "funds" and "亿" in table.rows[header_at][i]:
            funds_unit = "亿元"
    top: list[Node] = []
    styles: list[str] = []
    stack: list[Node] = []
    category: Node | None = None
    previous: Node | None = None
    previous_key: tuple[str, str] | None = None

    def place(node: Node) -> None:
        base = [category] if category is not None else []
        if node.style in styles:
            depth = styles.index(node.style)
            del styles[depth:]
            del stack[depth:]
        parent = stack[-1] if stack else (base[0] if base else None)
        (parent.children if parent else top).append(node)
        stack.append(node)
        styles.append(node.style)

    for index in range(header_at + 1, len(table.rows)):
        row = table.rows[index]
        ref, line = table.refs[index], table.lines[index]
        cells: dict[str, str] = {}
        for i, value in enumerate(row):
            kind = columns.get(i)
            value = normalize(value or "").strip()
            if kind and value:
                cells[kind] = f"{cells[kind]};{value}" if kind in cells and \
                    cells[kind] != value else value
        if not cells:
            continue
        if header_map(row):  # a repeated header row (a table split over pages)
            continue
        code = cells.get("code", "")
        title = cells.get("title", "")
        text = cells.get("text", "")
        if category is not None or "category" in cells:
            name = cells.get("category", "")
            if name and (category is None or category.title != name):
                category = Node("category", "", name, line, ref)
                top.append(category)
                styles.clear()
                stack.clear()
        if not title and text:
            first = re.split(r"[。;]", text, maxsplit=1)[0]
            title = first if len(first) <= 40 else first[:40] + "…"
        if not title:
            continue
        key = (code, title)
        if previous is not None and key == previous_key:
            # A row continuing a merged task cell: its other cells add to the same task.
            _fill(previous, cells, line, funds_unit)
            continue
        rest = set(cells) - {"code", "title", "category", "note"}
        style = _code_style(code)
        if (not rest and style in ("cn", "pcn")) or (not rest and not code):
            node = Node(style if style != "row" else "heading", code, title.rstrip("。"), line,
                        ref)
        else:
            node = Node(style, code, title.rstrip("。"), line, ref)
            _fill(node, cells, line, funds_unit)
        place(node)
        previous, previous_key = node, key
    if table.name.startswith("flattened"):
        top = _ungroup(top)
    for node in _all(top):
        node.extra["found_by"] = table.name or "table"
    return top, notes


def _all(nodes: list[Node]):
    for node in nodes:
        yield node
        yield from _all(node.children)


def _ungroup(nodes: list[Node]) -> list[Node]:
    """Rows that only group the rows below them ("一、准备法律文件", a 考核项目 cell) are not
    tasks: their rows stand on their own and carry the group's name in their text."""
    out: list[Node] = []
    for node in nodes:
        grouping = node.children and not node.units and not node.labels and not node.body
        if not grouping:
            out.append(node)
            continue
        for child in _ungroup(node.children):
            child.body.insert(0, (child.line, f"类别:{node.title}"))
            out.append(child)
    return out


def _fill(node: Node, cells: dict[str, str], line: int, funds_unit: str) -> None:
    for role in ("lead", "responsible", "cooperating", "person"):
        if role in cells:
            _units_from(cells[role], role, node.units)
    if "target" in cells and "measure" in cells and re.fullmatch(
            r"[≥≤><=约]?\s*\d+(?:\.\d+)?", cells["target"]) and cells["measure"] not in "-—/":
        cells = {**cells, "target": cells["target"] + cells["measure"]}  # "0.07" "万亩"
    for kind in ("text", "schedule", "due", "target"):
        if kind in cells and not any(lab.kind == kind and lab.text == cells[kind]
                                     for lab in node.labels):
            node.labels.append(Labelled(kind, cells[kind], line))
    if "funds" in cells:
        value = cells["funds"]
        if re.fullmatch(r"\d+(?:\.\d+)?", value) and funds_unit:
            node.extra.setdefault("funds", []).append(
                {"source": "government", "amount": f"{value}{funds_unit}",
                 "note": "任务表资金列(来源未写明)"})
        elif re.fullmatch(r"\d+(?:\.\d+)?", value):
            node.extra.setdefault("funds", []).append(
                {"source": "government", "amount": value, "note": "任务表资金列(来源未写明)"})
        else:
            node.labels.append(Labelled("funds", value, line))


# -- files ----------------------------------------------------------------------------------


@dataclass
class DocBlock:
    kind: str  # para | table | part
    line: int
    text: str = ""
    table: Table | None = None
    ref: str = ""
    part: PartBreak | None = None
    extra: dict = field(default_factory=dict)


def read_docx(path: Path) -> list[DocBlock]:
    """Paragraphs and tables of a Word document, in document order."""
    import docx
    from docx.table import Table as DocxTable
    from docx.text.paragraph import Paragraph

    document = docx.Document(str(path))
    blocks: list[DocBlock] = []
    counter = 0
    tables = 0
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            counter += 1
            text = Paragraph(child, document).text
            if text.strip():
                blocks.append(DocBlock("para", counter, text, ref=f"paragraph {counter}"))
        elif tag == "tbl":
            tables += 1
            table = DocxTable(child, document)
            rows, refs, nums = [], [], []
            for r, row in enumerate(table.rows, 1):
                counter += 1
                cells, seen = [], set()
                for cell in row.cells:
                    if id(cell._tc) in seen:  # a cell merged across columns
                        continue
                    seen.add(id(cell._tc))
                    cells.append(cell.text)
                rows.append(cells)
                refs.append(f"table {tables} row {r}")
                nums.append(counter)
            blocks.append(DocBlock("table", nums[0] if nums else counter,
                                   table=Table(rows, refs, nums, f"table {tables}")))
    return blocks


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    return str(value)


def read_xlsx(path: Path) -> list[DocBlock]:
    """Every sheet with a task table; rows above the header are the sheet's title."""
    import openpyxl

    workbook = openpyxl.load_workbook(str(path), data_only=True)
    sheets = []
    for sheet in workbook.worksheets:
        grid = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        for merged in sheet.merged_cells.ranges:
            value = grid[merged.min_row - 1][merged.min_col - 1] if \
                merged.min_row - 1 < len(grid) else ""
            for r in range(merged.min_row - 1, min(merged.max_row, len(grid))):
                for c in range(merged.min_col - 1, min(merged.max_col, len(grid[r]))):
                    grid[r][c] = value
        if any(any(cell.strip() for cell in row) for row in grid):
            sheets.append((sheet.title, grid))
    blocks: list[DocBlock] = []
    several = len(sheets) > 1
    for number, (name, grid) in enumerate(sheets, 1):
        header_at = next((i for i, row in enumerate(grid[:10]) if header_map(row)), None)
        title_rows = grid[:header_at] if header_at is not None else grid
        titles = []
        for row in title_rows:
            cells = list(dict.fromkeys(c.strip() for c in row if c.strip()))
            if cells:
                titles.append(" ".join(cells))
        if several:
            blocks.append(DocBlock("part", 1, part=PartBreak(number, titles[0] if titles
                                                             else name, 1)))
        for r, text in enumerate(titles, 1):
            blocks.append(DocBlock("para", r, text, ref=f"{name} row {r}"))
        if header_at is not None:
            rows = grid[header_at:]
            refs = [f"{name} row {header_at + 1 + i}" for i in range(len(rows))]
            nums = [header_at + 1 + i for i in range(len(rows))]
            blocks.append(DocBlock("table", header_at + 1,
                                   table=Table(rows, refs, nums, name)))
    return blocks
