"""Tables flattened into text, as web pages, PDFs and word processors leave them.

Four layouts are read; each gives a ``Table`` (rows aligned to the header's columns) that
``taskflow.parsing.tables.nodes_from_table`` turns into tasks, or task nodes directly:

- **One cell per line** under a header of one cell per line (序号 / 任务 / 责任单位 / 完成时限).
  Merged cells leave rows with fewer cells: each row's cells are aligned to the columns by what
  they hold (a number, a unit name, a measure, a date, text), so "农林牧渔业增加值增幅" falls in
  考核内容 and "县海洋与渔业局" in 责任部门 whatever is missing around them.
- **Columns with pipes**: each column's cell written out whole, ending in "|", row after row
  ("一、准备法律文件 1、起草… 2、代拟… |" then "2005.1—4 2005.1—4 |"); the lines of a cell
  pair up with the numbered lines of the first column.
- **A table run into one line**: "序号项目名称主要内容…牵头单位配合单位1增加教育资源供给实施…何海平
  教育局经开区…2促进就业…": the header keywords, then rows found by their numbers in sequence,
  each read column by column by what the column holds; a row whose content is followed by more
  content with another lead unit has sub-rows.
- **Indicator tables** (序号 / 达标项目 / 2016 年 … 2020 年) and Markdown tables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from taskflow.parsing.actors import _SUFFIX_CHARS, _VERB, is_unit_name
from taskflow.parsing.dates import resolve
from taskflow.parsing.structure import PART, Labelled, Node, marker
from taskflow.parsing.tables import _CODE_CELL, _KEYWORDS, Table, header_kind, header_map
from taskflow.parsing.text import normalize, squeeze


@dataclass
class Found:
    """A table found in text: the caption before it, its rows or nodes, and where it ends."""

    end: int  # the index of the first paragraph after it
    table: Table | None = None
    nodes: list[Node] = field(default_factory=list)
    caption: str = ""
    kind: str = ""  # "cells", "pipes", "run-on", "indicators"


def table_at(paras: list, start: int) -> Found | None:
    """A flattened table starting at ``paras[start]``, or None."""
    for reader in (indicator_found, piped_table, cell_table, run_on_table):
        found = reader(paras, start)
        if found is not None:
            return found
    return None


def markdown_table(lines: list[tuple[int, str]]) -> Table:
    rows, refs, nums = [], [], []
    for number, text in lines:
        cells = [c.strip() for c in text.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) or not c for c in cells):
            continue
        rows.append(cells)
        refs.append(f"line {number}")
        nums.append(number)
    return Table(rows, refs, nums, "markdown table")



_YEAR_HEAD = re.compile(r"^((?:19|20)\d{2})\s*年(.*)$")
_VALUE = re.compile(r"^(\d+(?:\.\d+)?%?)(.*)$")


def indicator_table(paras: list, start: int) -> tuple[str, list[Node], int] | None:
    """An indicator table flattened one cell per line: 序号 / 达标项目 / 2016 年 … 2020 年, then
    each indicator's name and its value for every year (a name often glued to the value before
    it: "100%监测点任务完成率"). Returns (the text before 序号, one node per indicator, end).

    A text cell (a column merged down all rows, "强化措施,巩固…") counts for its year in the
    first row; rows with fewer values skip that year.
    """
    head = paras[start].text
    if not head.endswith("序号") or start + 3 >= len(paras):
        return None
    i = start + 1
    if header_kind(paras[i].text) not in ("title", "target"):
        return None
    i += 1
    years: list[int] = []
    first_label = ""
    while i < len(paras) and (m := _YEAR_HEAD.match(paras[i].text)):
        years.append(int(m[1]))
        i += 1
        if m[2].strip():
            first_label = m[2].strip()
            break
    if len(years) < 2 or not first_label:
        return None
    rows: list[tuple[str, int, list[str]]] = [(first_label, paras[i - 1].line, [])]
    while i < len(paras):
        text = paras[i].text
        if marker(text) or len(text) > 60:
            break
        m = _VALUE.match(text)
        if m:
            rows[-1][2].append(m[1])
            if m[2].strip():
                rows.append((m[2].strip(), paras[i].line, []))
        else:
            rows[-1][2].append(text)
        i += 1
    text_columns = {c for _, _, values in rows if len(values) == len(years)
                    for c, v in enumerate(values) if not _VALUE.match(v)}
    nodes = []
    for label, line, values in rows:
        columns = list(range(len(years)))
        if len(values) < len(years):
            columns = [c for c in columns if c not in text_columns]
        pairs = [f"{years[c]} 年 {v}" for c, v in zip(columns, values, strict=False)]
        node = Node("indicator", "", label, line, f"line {line}")
        node.labels.append(Labelled("schedule", ";".join(pairs), line))
        nodes.append(node)
    return head.removesuffix("序号").strip(), nodes, i



def indicator_found(paras: list, start: int) -> Found | None:
    found = indicator_table(paras, start)
    if found is None:
        return None
    caption, nodes, end = found
    return Found(end, nodes=nodes, caption=caption, kind="indicators")


# -- one cell per line ---------------------------------------------------------------------

_MEASURE = re.compile(
    r"^(?:%|‰|-|—|/|[万亿千百]?(?:元|亩|人|户|头|只|吨|斤|个|项|家|所|座|公里|千米|米|平方米|立方米|"
    r"人次|场|次|台|套|辆|条|处|件|册|株|棵|千瓦|公顷)(?:/[\u4e00-\u9fff]{1,2})?)$")
_NUMBERISH = re.compile(r"^[≥≤><=约±]?\s*-?\d+(?:\.\d+)?\s*(?:%|‰)?(?:以上|以下|以内|左右)?$")
_MULTI = ("lead", "responsible", "cooperating")  # a column that may hold several cells
_UNIT_KINDS = ("lead", "responsible", "cooperating", "assessor")


# Where one name may end and the next begin when names run together: after 局, 公司, 街道, …;
# not after 委 or a level word (县委组织部, 市农业农村局 are single names).
_TERMINAL = frozenset("局办室厅院所站队司团行心府道处会联社部)")
_LEVEL_START = frozenset("县市区省乡镇各")


def units_in(text: str) -> list[str] | None:
    """Unit names written one after another without separators ("市海洋渔业局市农业农村局",
    "五星街道南大街街道荷花池街道", "经开区高新园(邹区镇)各街道市国有公司"): the split into the
    most names, each a unit name, each split after a name's proper ending; None if the text is
    not such a run."""
    flat = squeeze(normalize(text)).strip("、,;")
    pieces = [p for p in re.split(r"[、,;]", flat) if p]
    out: list[str] = []
    for piece in pieces:
        names = _segment(piece)
        if names is None:
            return None
        out.extend(names)
    return out or None


def _segment(flat: str) -> list[str] | None:
    n = len(flat)
    # best[i]: (names, bonus) for flat[i:], or None
    best: list[tuple[int, float, list[str]] | None] = [None] * (n + 1)
    best[n] = (0, 0.0, [])
    for i in range(n - 1, -1, -1):
        for end in range(i + 2, min(n, i + 30) + 1):
            rest = best[end]
            if rest is None:
                continue
            name = flat[i:end]
            if end < n and not (flat[end - 1] in _TERMINAL or (
                    flat[end - 1] == "区" and end - i >= 3 and not re.search(
                        "委|政府", flat[i:end]))):
                continue
            if not is_unit_name(name):
                continue
            count, bonus, names = rest
            # More names is the likelier split, but a two-character piece ("人社" of 人社局)
            # rarely is one.
            score = (count + 1, bonus + (0.1 if flat[i] in _LEVEL_START else 0.0) -
                     (0.6 if end - i <= 2 and name not in ("乡镇", "镇街") else 0.0))
            if best[i] is None or score > best[i][:2]:
                best[i] = (score[0], score[1], [name, *names])
    return best[0][2] if best[0] else None


def _continues(flat: str, end: int) -> bool:
    """Whether the name ending at ``end`` goes on ("南大街|街道": 街道 still to come)."""
    return any(flat.startswith(s, end) for s in ("街道", "办公室", "办事处", "委员会", "中心"))


def _score(cell: str, kind: str) -> float | None:
    """How well ``cell`` fits a column of ``kind`` (None: not at all)."""
    flat = squeeze(normalize(cell))
    if not flat:
        return None
    if kind == "code":
        return 3.0 if _CODE_CELL.fullmatch(flat) else None
    if kind in _UNIT_KINDS:
        return 3.0 if units_in(flat) else None
    if kind == "measure":
        return 3.0 if _MEASURE.match(flat) else None
    if kind in ("due", "schedule"):
        when = resolve(flat, 2000)
        return 3.0 if when is not None else (1.0 if kind == "schedule" and len(flat) > 8 else None)
    if kind == "target":
        if _NUMBERISH.match(flat):
            return 3.0
        return 1.0 if len(flat) <= 8 and not units_in(flat) else None
    if kind == "person":
        return 2.0 if re.fullmatch(r"[\u4e00-\u9fff]{2,3}", flat) and not units_in(flat) else None
    if kind in ("title", "category", "text"):
        if _NUMBERISH.match(flat) or _MEASURE.match(flat) or _CODE_CELL.fullmatch(flat):
            return None
        long_text = len(flat) > 40 or "。" in flat
        base = {"title": 2.5, "category": 2.0, "text": 2.0}[kind]
        if long_text:
            base = 3.0 if kind == "text" else 1.0
        return base - (1.5 if units_in(flat) else 0)
    if kind == "funds":
        return 2.0 if re.search(r"\d", flat) else None
    return 0.5  # note


def align(cells: list[str], kinds: list[str]) -> list[list[str]] | None:
    """Cells in order into columns in order (a column may be skipped: a merged cell; a unit
    column may take several cells), the best fit by ``_score``; None if they cannot fit."""
    n, m = len(cells), len(kinds)
    fail = float("-inf")
    best = [[fail] * (m + 1) for _ in range(n + 1)]
    move: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    for j in range(m + 1):
        best[n][j] = 0.0
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            options = []
            score = _score(cells[i], kinds[j])
            if score is not None:
                # One cell per column is likelier than two in one (a small bonus for moving
                # on); only the first unit column may take several ("县海洋与渔业局",
                # "县农业农村局" in 责任部门, then the 评分部门 cell).
                if best[i + 1][j + 1] != fail:
                    options.append((score + 0.2 + best[i + 1][j + 1], (i + 1, j + 1)))
                if kinds[j] in _MULTI and kinds.index(kinds[j]) == j and \
                        best[i + 1][j] != fail:
                    options.append((score + best[i + 1][j], (i + 1, j)))
            # Column j has no cell in this row (merged); on a tie the cell takes the column.
            options.append((best[i][j + 1], (i, j + 1)))
            value, where = max(options, key=lambda o: o[0])
            best[i][j], move[i][j] = value, where
    if best[0][0] == fail:
        return None
    out: list[list[str]] = [[] for _ in range(m)]
    i = j = 0
    while i < n and j < m:
        nxt = move[i][j]
        assert nxt is not None
        if nxt[0] == i + 1:
            out[j].append(cells[i])
        i, j = nxt
    return out


def _follows(previous: str | None, code: str) -> bool:
    """Whether a number cell is the next row's (1 after nothing, 9 after 8, 1.1 after 1),
    not a value in the row ("1" 万只 in the row of 8)."""
    if previous is None:
        return True
    prev, cur = previous.rstrip("、.").split("."), code.rstrip("、.").split(".")
    if not all(p.isdigit() for p in prev + cur):
        return True  # 一 / (一): no value is written so
    p, c = [int(x) for x in prev], [int(x) for x in cur]
    if len(c) == len(p) + 1 and c[:-1] == p and c[-1] == 1:
        return True
    for depth in range(len(p), 0, -1):
        if len(c) == depth and c[:-1] == p[:depth - 1] and c[-1] == p[depth - 1] + 1:
            return True
    return False


def cell_table(paras: list, start: int) -> Found | None:
    """Header cells one per line from ``paras[start]``, then cells one per line; rows start at
    the next number in sequence (or every len(header) cells without a 序号 column)."""
    headers: list[str] = []
    i = start
    while i < len(paras) and len(paras[i].text) <= 10 and header_kind(paras[i].text):
        headers.append(paras[i].text)
        i += 1
    kinds_map = header_map(headers) if len(headers) >= 3 else None
    if kinds_map is None:
        return None
    kinds = [kinds_map.get(c, "note") for c in range(len(headers))]
    code_col = kinds.index("code") if "code" in kinds else None
    segments: list[tuple[int, list[str]]] = []
    cells: list[str] = []
    first_line = paras[i].line if i < len(paras) else paras[start].line
    previous: str | None = None
    while i < len(paras):
        text = paras[i].text
        if PART.match(text) or (len(text) > 12 and (m := marker(text)) and m[0] == "cn"
                                and not cells):
            break
        if len(text) > 200:
            break
        flat = squeeze(text)
        new_row = (code_col is not None and _CODE_CELL.fullmatch(flat) and _follows(
            previous, flat)) or (code_col is None and len(cells) >= len(headers))
        if new_row and (cells or code_col is not None):
            if cells or segments:
                segments.append((first_line, cells))
            cells, first_line = [], paras[i].line
            if code_col is not None:
                previous = flat
        cells.append(text)
        i += 1
    if cells:
        segments.append((first_line, cells))
    rows, refs, nums = [headers], [f"line {paras[start].line}"], [paras[start].line]
    pre = kinds[:code_col] if code_col else []
    carry: list[str] = []
    for line, segment in segments:
        if code_col is not None and not _CODE_CELL.fullmatch(squeeze(segment[0])):
            carry = segment  # cells before the first number: the columns before 序号
            continue
        wanted = kinds if code_col is None else kinds[code_col:]
        aligned = align(segment, wanted)
        if aligned is None:
            aligned = [[c] for c in segment[:len(wanted)]] + [[] for _ in
                                                                range(len(wanted) - len(segment))]
        row = ["、".join(a) for a in aligned]
        if code_col:
            head = align(carry, pre) if carry else None
            row = ["、".join(a) for a in head] + row if head else [""] * code_col + row
            carry = []
        rows.append(row)
        refs.append(f"line {line}")
        nums.append(line)
    return Found(i, Table(rows, refs, nums, "flattened table"), kind="cells")


# -- columns written out whole, each ending in "|" -------------------------------------------

_PIPED = re.compile(r"^(?P<cell>.*?)\s*\|\s*$")


def piped_table(paras: list, start: int) -> Found | None:
    if not paras[start].text.rstrip().endswith("|"):
        return None
    headers: list[str] = []
    i = start
    while i < len(paras) and (m := _PIPED.match(paras[i].text)) and header_kind(m["cell"]):
        headers.append(squeeze(m["cell"]))
        i += 1
    if len(headers) < 2 or header_map(headers) is None:
        return None
    cells: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    while i < len(paras):
        text = paras[i].text
        if PART.match(text) or len(text) > 80:
            break
        m = _PIPED.match(text)
        current.append((paras[i].line, (m["cell"] if m else text).strip()))
        i += 1
        if m:
            cells.append(current)
            current = []
    if current:
        cells.append(current)  # the last cell, its pipe lost
    width = len(headers)
    rows = [["序号", *headers]]
    refs, nums = [f"line {paras[start].line}"], [paras[start].line]
    for r in range(0, len(cells) - width + 1, width):
        first, others = cells[r], cells[r + 1:r + width]
        items = [(line, t) for line, t in first if marker(t) and marker(t)[0] != "cn"]
        for line, text in first:
            found = marker(text)
            code = text[:found[2]].strip().rstrip("、.") if found else ""
            title = text[found[2]:].strip() if found else text
            row = [code, title] + [""] * (width - 1)
            if (line, text) in items:
                k = items.index((line, text))
                for c, column in enumerate(others, 2):
                    if len(column) == len(items):
                        row[c] = column[k][1]
                    elif len(items) == 1:
                        row[c] = " ".join(t for _, t in column)
            rows.append(row)
            refs.append(f"line {line}")
            nums.append(line)
    return Found(i, Table(rows, refs, nums, "flattened table (columns)"), kind="pipes")


# -- a table run into one line --------------------------------------------------------------

_CODE_HEADERS = ("序号", "编号")
# Where a row's content starts after its short name: "增加教育资源供给|实施新建…".
_CONTENT_START = re.compile(
    r"(?:实施|落实|完成|推进|推动|为|提升|新建|新增|建设|建成|开展|加快|加强|全面|计划|确保|改造|"
    r"打造|组织|持续|深化|提供|实现|力争|争取|做好|抓好|启动|组建|健全|完善|优化|扩大|巩固|支持|"
    r"全区|全市|全县|全镇|年内|今年)")
_PAGE_MARK = re.compile(r"^\d{1,3}、")
_MEASURE_AFTER = "个人家所名万亿户年月日项次座套台辆条处件倍元亩吨头只%.‰"


def _header_run(text: str) -> tuple[int, int, list[str]] | None:
    """"…序号项目名称主要内容区政府分管领导牵头单位配合单位1增加…": where the header starts and
    ends, and its cells (a keyword may carry a short prefix: 区政府+分管领导)."""
    start = next((text.find(h) for h in _CODE_HEADERS if h in text), -1)
    if start < 0:
        return None
    cells = [text[start:start + 2]]
    pos = start + 2
    while pos < len(text):
        for q in range(pos, min(pos + 4, len(text)) + 1):
            hit = next((k for k, _ in _KEYWORDS if len(k) >= 2 and text.startswith(k, q)), None)
            if hit and re.fullmatch(r"[\u4e00-\u9fff]*", text[pos:q]):
                cells.append(text[pos:q + len(hit)])
                pos = q + len(hit)
                break
        else:
            break
    if len(cells) < 4 or header_map(cells) is None:
        return None
    return start, pos, cells


def _units_prefix(text: str) -> tuple[list[str], int]:
    """The unit names that open ``text`` one after another, and where they end: the longest
    opening that splits into names."""
    for end in range(min(len(text), 80), 1, -1):
        if text[end - 1] not in _TERMINAL and text[end - 1] not in _SUFFIX_CHARS:
            continue
        names = _segment(text[:end])
        if names and not _continues(text, end):
            return names, end
    return [], 0


def _tail(text: str, kinds: list[str]) -> tuple[dict[str, str], int] | None:
    """The person and unit columns that open ``text``: ({kind: cell}, where they end)."""
    cells: dict[str, str] = {}
    pos = 0
    wanted = [k for k in kinds if k in ("person", "lead", "responsible", "cooperating")]
    if wanted and wanted[0] == "person":
        for size in (3, 2):
            names, _ = _units_prefix(text[size:])
            if names and len(names[0]) >= 3 and not is_unit_name(text[:size]) and \
                    not _VERB.match(text[:size]):
                cells["person"] = text[:size]
                pos = size
                break
        else:
            return None
        wanted = wanted[1:]
    names, end = _units_prefix(text[pos:])
    if not names:
        return None
    if wanted and wanted[0] == "lead" and len(wanted) > 1:
        cells["lead"], rest = names[0], names[1:]
        if rest:
            cells[wanted[1]] = "、".join(rest)
    elif wanted:
        cells[wanted[0]] = "、".join(names)
    return cells, pos + end


def _read_row(text: str, kinds: list[str]) -> tuple[dict[str, str], str] | None:
    """One run-on row's cells by column kind, and what follows its last unit (a sub-row or more
    content). ``kinds`` are the columns after 序号."""
    cells: dict[str, str] = {}
    rest = text
    if kinds and kinds[0] == "title":
        if "text" in kinds:
            m = next((m for m in _CONTENT_START.finditer(rest, 4) if m.start() <= 16), None)
            cut = m.start() if m else len(re.split(r"[,。;]", rest, maxsplit=1)[0])
        else:
            cut = len(re.split(r"[,。;]", rest, maxsplit=1)[0])
        cells["title"], rest = rest[:cut], rest[cut:]
        kinds = kinds[1:]
    if kinds and kinds[0] == "text":
        for stop in (m.end() for m in re.finditer(r"。", rest)):
            tail = _tail(rest[stop:], kinds[1:])
            if tail is not None:
                cells["text"] = rest[:stop]
                found, end = tail
                cells.update(found)
                return cells, rest[stop + end:]
        cells["text"] = rest
        return (cells, "") if "title" in cells else None
    tail = _tail(rest, kinds)
    if tail is None:
        return None
    found, end = tail
    cells.update(found)
    return cells, rest[end:]


def run_on_table(paras: list, start: int) -> Found | None:
    """A table whose header and rows run on in one line (a web page's table pasted as text)."""
    if not any(h in paras[start].text for h in _CODE_HEADERS):
        return None
    text = squeeze(paras[start].text)
    header = _header_run(text)
    if header is None:
        return None
    head_start, head_end, headers = header
    kinds_map = header_map(headers) or {}
    kinds = [kinds_map.get(c, "note") for c in range(len(headers))]
    if kinds[0] != "code":
        return None
    data = text[head_end:]
    end = start + 1
    while end < len(paras) and not PART.match(paras[end].text) and not (
            (m := marker(paras[end].text)) and m[0] == "cn"):
        # A page number ("2、") cut into a cell ("高新园(邹区镇\n2、)各街道") is no content.
        data += _PAGE_MARK.sub("", squeeze(paras[end].text))
        end += 1
    line = paras[start].line
    rows, refs, nums = [headers], [f"line {line}"], [line]
    bounds = _row_bounds(data)
    for number, (a, b) in enumerate(bounds, 1):
        body = data[a:b]
        read = _read_row(body, kinds[1:])
        if read is None:
            continue
        cells, rest = read
        subrows: list[dict[str, str]] = []
        while rest:
            sub = _read_row(rest, [k for k in kinds[1:] if k != "title"])
            if sub is None or "text" not in sub[0] or len(sub[0]) < 2:
                cells["text"] = cells.get("text", "") + rest  # more content of the row
                break
            subrows.append(sub[0])
            rest = sub[1]
        if subrows:
            first = {k: v for k, v in cells.items() if k != "title"}
            rows.append([str(number), cells.get("title", "")] + [""] * (len(kinds) - 2))
            refs.append(f"line {line}")
            nums.append(line)
            for k, sub in enumerate([first, *subrows], 1):
                rows.append([f"{number}.{k}", *(sub.get(kind, "") for kind in kinds[1:])])
                rows[-1][1] = ""  # titled by its content
                refs.append(f"line {line}")
                nums.append(line)
            continue
        rows.append([str(number), *(cells.get(kind, "") for kind in kinds[1:])])
        refs.append(f"line {line}")
        nums.append(line)
    if len(rows) < 2:
        return None
    caption = _PAGE_MARK.sub("", text[:head_start]).strip()
    return Found(end, Table(rows, refs, nums, "flattened table (run on)"), caption=caption,
                 kind="run-on")


def _row_bounds(data: str) -> list[tuple[int, int]]:
    """Rows by their numbers 1, 2, 3… in sequence, each number after the end of a cell (a unit
    name, a sentence) and before a word, not a measure ("竣工3个" is no row)."""
    starts: list[int] = []
    expected = 1
    pos = 0
    while True:
        found = None
        for m in re.finditer(rf"(?<![\d.]){expected}(?![\d.])", data[pos:]):
            at = pos + m.start()
            after = data[at + len(str(expected)):at + len(str(expected)) + 1]
            before = data[at - 1:at] if at else ""
            if not after or after in _MEASURE_AFTER or not re.match(r"[\u4e00-\u9fff]", after):
                continue
            if at and not (before in "。)）;" or is_unit_name(_last_name(data[:at]))):
                continue
            found = at
            break
        if found is None:
            break
        starts.append(found)
        pos = found + len(str(expected))
        expected += 1
    return [(a + len(str(k)), (starts[k] if k < len(starts) else len(data)))
            for k, a in enumerate(starts, 1)]


def _last_name(text: str) -> str:
    """The unit name ``text`` ends with, if any (the longest that is one)."""
    for size in range(min(len(text), 20), 1, -1):
        if is_unit_name(text[-size:]):
            return text[-size:]
    return ""
