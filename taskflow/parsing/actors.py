"""Who must act, read from sentences: "各乡镇要于4月20日前将…报县政府督查室".

Notices and many plans state duties as sentences rather than in 牵头单位 labels. A *duty
statement* is a sentence (or a ";" part of one) whose clause opens with unit names and a verb:

    各县(市)区要按照要求,…并于9月10日前将验收结果报郑州市扶贫办、财政局
    验收工作由乡镇(园区)负责组织实施
    第二步:由县社会主义新农村建设领导小组办公室牵头,县委督查室、县政府督查室…对…进行验收

Unit names are recognised without a directory by their endings (局 委 办 室 组 部门 单位 政府
街道 乡镇 …) and the verb that follows them; names are kept as written ("各乡(镇)、场",
"各部门各单位"). People (书记, 代表, 主要领导) are never units; the recipients of a report
("报县农牧局", "向市政府报告") are inside the predicate and so never actors. A statement
without an actor of its own continues the actor of the sentence before it in the same text
(the subject carried over, as Chinese does).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from taskflow.parsing.text import squeeze

# Endings of unit names, longest first. 县上/市上 ("县上完成验收") name the county government.
_SUFFIXES = (
    "人民政府", "办事处", "管委会", "委员会", "办公室", "领导小组", "工作组", "督查组", "督查室",
    "小组", "专班", "中心", "政府", "街道", "社区", "公司", "银行", "分行", "支行", "集团",
    "合作社", "协会", "学会", "联合会", "工会", "团委", "科协", "侨联", "工商联", "妇联", "残联",
    "红十字会", "部门", "单位", "机构", "企业", "园区", "镇街", "镇乡", "乡镇", "县上", "市上",
    "乡上", "省上", "局", "委", "办", "部", "厅", "院", "所", "站", "室", "处", "署", "队",
    "组", "馆", "校", "社", "会", "乡", "镇", "村", "场", "县", "市", "区", "州", "省", ")",
)
_SUFFIX_CHARS = frozenset(s[-1] for s in _SUFFIXES if s != ")") | {"园"}
# People and roles: never units (a list names them beside units: "…、政协委员对…").
_PERSON = re.compile(
    r"(?:书记|代表|委员|主任|局长|县长|市长|区长|镇长|乡长|省长|主席|组长|处长|科长|所长|院长|行长|"
    r"经理|领导|负责人|责任人|一把手|同志|人员|干部|群众|农户|贫困户|村民|农民|学生|教师|专家|"
    r"联系人|调查员|信息员)$")
# Words ending like a unit that are not one: scopes (全县), self references (本单位), topics.
_NOT_UNIT = re.compile(
    r"^(?:全|本|该|此|我|其|每|各级领导|项目区|贫困村|贫困县|重点村|试点村|试点县|示范村|行政村|"
    r"所有|部分|其他|其余|以上|以下|上述|有的|个别)|(?:工作|任务|项目|资金|问题|情况|方案|机制|"
    r"制度|计划|目标|措施|办法|政策|标准|要求|原则|意见|通知|文件|报告|会议|活动|会|全部|内部|外部|"
    r"局部|全局|大局|布局|格局|当局|结局|城区|景区|园区|山区|辖区|片区)$|"
    # A name does not open with a verb or a time: "联合区扶贫移民局对照…", "四季度…".
    r"^(?:联合|会同|配合|协助|协同|开展|推进|组织(?!部)|引导|完成|实施|建立|加强|做好|抓好|召开|"
    r"举办|对照|通过|依托|利用|争取|推动|鼓励|支持|确保|力争|计划|预计|已|正在|扎实|不定期|定期|"
    r"主动|积极|认真|切实|协调|扶持|形成|采取|继续|加快|加大|保证|深入|全力|大力|进一步|逐步|不断|"
    r"持续|坚持|接受|落实|发挥|督促|指导|帮助|协助|带动|以|为|对|把|按|从|"
    r"在|向|与|和|及|使|让|给|凡|如|整|[一二三四五六七八九十]是)|季度|月份|年度|[\dXx]个|的|每")
# A role after a unit name: "帮扶单位主要负责人每 2 月…": the unit acts through it.
_ROLE_AFTER = re.compile(r"(?:\((?:以下简称|简称)[^)]{1,12}\))?(?:的)?(?:主要负责同志|主要负责人|"
                         r"主要领导|分管领导|负责人|工作人员|相关人员|人员|干部)?")
# What follows an actor: a modal or a verb. Longest first; checked on text without spaces.
_VERB_WORDS = (
    "要 应当 应 须 必须 务必 务于 务 需要 需 将 负责 具体负责 牵头 统筹 会同 "
    "联合 配合 协助 参加 参与 落实 对 按照 按 根据 依据 依照 结合 围绕 紧紧围绕 "
    "于 在 从 自 及时 切实 严格 认真 进一步 抓紧 全力 积极 加强 加快 加大 做好 "
    "抓好 制定 制订 建立 建立健全 健全 开展 实施 召开 成立 组建 组成 组织 抽调 "
    "派 选派 与 分别 共同 主动 定期 不定期 每 统一 督促 指导 协调 完成 上报 "
    "报送 进行 形成 印发 出台 安排 设立 聘请 依法 全面 继续 持续 深入 大力 不断 "
    "逐步 高度 坚持 确保 力争 争取 推进 推动 承担 担负 履行 提供 给予 支持 审核 "
    "审批 核查 验收 检查 督查 通报 汇总 研究 部署 编制 编印 发放 兑现 拨付 下达 "
    "收集 整理 录入 签订 受理 优先 鼓励 扶持 引导 帮助 发挥 宣传 培训 监督 管理 "
    "保障 解决 创新 建设 改造 打造 提升 完善 拓展 规范 强化 明确 细化 分解 设定 "
    "倒排 实行 执行 采取 采用 通过 利用 依托 整合 筹措 落细 领导 主抓 抓 把 以 "
    "向 为 是 作为 已 已经 也 还 正在 专门 立即 尽快 第一时间 适时 逐月 逐季 "
    "全程 一同 密切 不折不扣 高效 精心 扎实 周密 全部 按时 按期 可 可以 衔接 "
    "留存 办理 申请 提出 审查 核实 复核 复审 上传 公示 公开 调度 跟踪 回访 总结 "
    "考评 考核 "
)
_VERBS = sorted(set(_VERB_WORDS.split()), key=len, reverse=True)
_VERB = re.compile("(?:" + "|".join(map(re.escape, _VERBS)) + ")")
# What may stand before the actor of a clause.
_OPENERS = re.compile(r"^(?:第[一二三四五六七八九十\d]+步[::]|请|同时|并且|并|另外|此外|其中|"
                      r"特别是|尤其是|对此|为此|今年|届时)*")
# Words of a predicate: a name holding one is a clause, not a name ("县农发委将依据各乡镇").
_FUNCTION_WORD = re.compile(
    r"推进|完成|实施|开展|加强|加快|确保|实现|做好|抓好|提供|新增|整治|修缮|改扩建|"
    r"由|将|要|应|须|把|被|向|于|报|是|抓|按照|根据|依据|负责|进行|对[^口]|在[^\u4e00-\u9fff]|\d|"
    r"[《》“”\"\[\],;。:!?]")
_ALIAS = re.compile(r"\((?:以下简称|简称)[^)]{0,12}\)")
# 、 always separates names; 和/及/与 only after a name's ending ("县扶贫和移民局" is one name,
# "县财政局和县扶贫办" two).
_SEPARATORS = re.compile(
    r"、|(?<=[局委办部厅院会府处室组队所站心司行社镇乡村位门构])(?:以及|和|及|与)")
# Two characters across a name's ending that make a word, not the end of a name: "委派", "部署".
_NOT_AN_END = frozenset((
    "委派", "委托", "办理", "部署", "局面", "会议", "会同", "会商", "会上", "处理", "处置", "站位",
    "所有", "所在", "院落", "室内", "组成", "组织", "队伍", "社会", "馆藏", "区域", "区别", "市场",
    "县域", "省份", "村民", "村组", "镇域", "场所", "场地", "乡村", "部分", "组长", "局长", "部长",
    "处长", "所长", "院长", "站长", "村长", "镇长", "乡长", "县长", "市长", "区长", "省长", "厅长",
    "委员", "社长", "会长", "行长", "校长", "馆长", "队长"))
# Suffixes that are names on their own ("由乡镇于9月底前…", "县上完成验收").
_BARE = ("乡镇", "镇街", "镇乡", "县上", "市上", "乡上", "省上")
_BY = re.compile(r"由(?=[\u4e00-\u9fff(])")
_FORMED = re.compile(r"(?:组成|成立|组建|设立)(?P<name>[\u4e00-\u9fff]{2,16}?"
                     r"(?:领导小组|工作组|小组|专班|督查组|工作专班|办公室))")
_LEADS = re.compile(r"牵头(?:抓总|负责)?|总牵头")
_LEADS_IN = re.compile(r"牵头抓总|牵头负责")
_PAST = re.compile(r"[\u4e00-\u9fff]了(?![解])|已经")


@dataclass(frozen=True)
class Actor:
    """Units that act (cached and shared: never change one)."""

    names: list[str]
    role: str  # lead | responsible
    end: int  # where the predicate starts, in the text the actor was read from


def _by_last(words) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for word in words:
        out.setdefault(word[-1], []).append(word)
    return {k: tuple(v) for k, v in out.items()}


_SUFFIX_BY_LAST = _by_last(_SUFFIXES)
_ANY_END = re.compile("[" + re.escape("".join(_SUFFIX_BY_LAST)) + "]")
_PERSON_BY_LAST = _by_last(re.findall(r"[\u4e00-\u9fff]+", _PERSON.pattern))


def _name_ends(text: str, limit: int = 60) -> list[int]:
    """Positions after which a unit name (or a person in a list of them) may end."""
    ends = []
    for i in range(1, min(len(text), limit) + 1):
        last = text[i - 1]
        words = _SUFFIX_BY_LAST.get(last, ()) + _PERSON_BY_LAST.get(last, ())
        if not words or text[i - 1:i + 1] in _NOT_AN_END:
            continue
        if any(text.endswith(w, 0, i) for w in words):
            ends.append(i)
    return ends


@lru_cache(maxsize=8192)
def is_unit_name(name: str) -> bool:
    """A unit as written ("县农发委", "各乡(镇)、场", "各责任(配合)单位"), not a person or a
    scope."""
    flat = squeeze(name)
    if not 2 <= len(flat) <= 30 or _PERSON.search(flat) or _NOT_UNIT.search(flat):
        return False
    if flat.count("(") != flat.count(")") or _FUNCTION_WORD.search(flat):
        return False
    if flat[0] in "局委办厅室处署)、":
        return False  # a name's ending never starts one
    if flat in _SUFFIXES and flat not in _BARE:
        return False  # "政府", "单位": a kind, not a unit
    if flat.endswith(")"):
        # "各乡(镇)", "乡镇(园区)", "高新园(邹区镇)": a name before its parenthesis; "(一)" is none.
        base = flat[:flat.rfind("(")]
        return bool(base) and (is_unit_name(base) or base[-1] in _SUFFIX_CHARS)
    return any(flat.endswith(s) for s in _SUFFIXES)


def split_names(text: str) -> list[str] | None:
    """"县级各部门、各镇乡" → two names; "各乡(镇)、场" stays whole (场 alone is no name);
    people in the list are dropped. None when the text is not a list of names."""
    pieces = _split_outside_parens(_ALIAS.sub("", text))
    names: list[str] = []
    for piece in pieces:
        piece = re.sub(r"^等|等$", "", piece.strip())
        if "等" in piece:  # "县医疗保障局等有关部门"
            names.extend(p for p in piece.split("等") if p)
            continue
        names.append(piece)
    if any(_FUNCTION_WORD.search(squeeze(n)) for n in names):
        return None  # "各部门要派干部与乡(镇)包村…": a clause, not a list of names
    units = [n for n in names if not _PERSON.search(n)]
    if not units:
        return None
    if any(len(n) < 2 for n in units):
        joined = "、".join(units)
        return [joined] if is_unit_name(joined.split("、")[0]) or is_unit_name(joined) else None
    if not all(is_unit_name(n) for n in units):
        return None
    return units


def _split_outside_parens(text: str) -> list[str]:
    out, depth, start = [], 0, 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "(（":
            depth += 1
        elif ch in ")）" and depth:
            depth -= 1
        elif depth == 0 and (m := _SEPARATORS.match(text, i)):
            out.append(text[start:i])
            start = m.end()
            i = m.end()
            continue
        i += 1
    out.append(text[start:])
    return [p for p in out if p]


def _after_role(body: str, end: int) -> int:
    role = _ROLE_AFTER.match(body, end)
    return role.end() if role else end


@lru_cache(maxsize=8192)
def actor_at(text: str) -> Actor | None:
    """The units that open ``text`` (no whitespace) and do what follows: "各乡镇要…",
    "镇扶贫办、党政办负责编印…", "由X牵头,…", "县上完成验收…"."""
    opened = _OPENERS.match(text)
    start = opened.end() if opened else 0
    by = text.startswith("由", start)
    if by:
        start += 1
    body = text[start:]
    ends = list(reversed(_name_ends(body)))
    # Longest name first that a verb follows; after 由 any following words will do.
    for end, after in [(e, _after_role(body, e)) for e in ends if _VERB.match(
            body, _after_role(body, e))] + ([(e, e) for e in ends] if by else []):
        names = split_names(body[:end])
        if names is None:
            continue
        role = "lead" if _LEADS.match(body, after) else "responsible"
        return Actor(names, role, start + after)
    return None


@lru_cache(maxsize=8192)
def actors_in(clause: str) -> tuple[Actor, ...]:
    """Every actor of a clause (no whitespace): the one opening it, and "由X…" inside it
    ("验收工作由乡镇(园区)负责组织实施")."""
    found: list[Actor] = []
    first = actor_at(clause)
    if first is not None:
        found.append(first)
    for m in _BY.finditer(clause, 1):
        if first is not None and m.start() < first.end:
            continue
        inner = actor_at(clause[m.start():])
        if inner is not None:
            found.append(Actor(inner.names, inner.role, m.start() + inner.end))
    for m in _FORMED.finditer(clause):
        if is_unit_name(m["name"]):
            found.append(Actor([m["name"]], "responsible", m.end()))
    return tuple(found)


# -- statements -------------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^。;!?]+[。;!?]?")
# Adverbials that open a predicate and are not its action: "按照…要求,", "根据…,".
_ADVERBIAL = re.compile(r"^(?:严格|紧紧|认真)?(?:按照|根据|依据|依照|结合|围绕|对照|针对|为了|为|"
                        r"遵照|"
                        r"本着|立足|坚持以)")
_MODAL = re.compile(r"^(?:要|应当|应|须|必须|务必|务|需要|需|请|"
                    r"将(?=严格|按照|根据|依据|进一步|切实|认真|继续|及时|适时|全面|加大|加强|于|在|"
                    r"予以))+")
# "于每月25日前将…": the rhythm of a duty, said by its recurrence, not its action.
_RHYTHM = re.compile(r"^(?:务?于|在|要在)?(?:每|逐)[^,将把]{1,14}?(?:日|号|底|末)(?:前|之前)?")


@dataclass
class Statement:
    """A duty stated in a sentence: who (``names``), what (``title``), the words (``text``)."""

    names: list[str]
    role: str
    title: str
    text: str
    carried: bool = False  # the actor is the previous sentence's
    others: list[Actor] = field(default_factory=list)  # more actors inside the sentence


def action_title(predicate: str, limit: int = 40) -> str:
    """The action of a predicate: its adverbials ("按照…要求,") and date clauses skipped,
    then whole clauses while they fit in ``limit`` characters ("加强协调,积极配合,切实履行各自
    工作职责"; "将…做好细化实施方案,并明确联系人、联系电话")."""
    from taskflow.parsing.dates import match_when

    text = _MODAL.sub("", predicate.strip(" ,:")).strip(" ,")
    clauses = [c.strip() for c in re.split(r"[,;]", text) if c.strip()]
    kept: list[str] = []
    for i, clause in enumerate(clauses):
        flat = squeeze(clause)
        last = i + 1 == len(clauses)
        if not kept and _ADVERBIAL.match(flat) and not last:
            continue
        when = match_when(flat, 2000)
        if when is not None and when.kind not in ("ongoing", "label", "asap"):
            if when.end >= len(flat) - 1:
                continue  # "从2022年3月起", "于4月20日前"
            clause = after(clause, when.end)
        clause = _MODAL.sub("", _RHYTHM.sub("", clause.strip())).strip(" ,")
        clause = re.sub(r"^\([^)]*\)", "", clause).strip(" ,")
        if not clause:
            continue
        if kept and len(squeeze(",".join([*kept, clause]))) > limit:
            break
        kept.append(clause)
    return ",".join(kept) if kept else text


def after(clause: str, end: int) -> str:
    """``clause`` after its first ``end`` characters that are not whitespace."""
    seen = 0
    for i, ch in enumerate(clause):
        if not ch.isspace():
            seen += 1
            if seen == end:
                return clause[i + 1:].lstrip(" ,")
    return clause


def statements(items: list[tuple[int, str]]) -> list[tuple[int, Statement]]:
    """The duty statements of (line, text) paragraphs, in order, with their lines. A sentence
    whose clauses name no actor continues the actor before it; sentences reporting past work
    ("进行了", "已经") are not duties."""
    out: list[tuple[int, Statement]] = []
    carried: Actor | None = None
    for line, text in items:
        if carried is None and not _ANY_END.search(text):
            continue  # no unit name can end anywhere in it
        for raw in _SENTENCE.findall(text):
            sentence = raw.strip().rstrip("。;!?").strip()
            flat = squeeze(sentence)
            if len(flat) < 4 or (carried is None and not _ANY_END.search(flat)):
                continue
            clauses = [c for c in sentence.split(",") if c.strip()]
            found, predicate = _sentence_actor(clauses)
            past = bool(_PAST.search(flat))
            if found is not None and not past:
                title = action_title(predicate)
                role = "lead" if _LEADS_IN.search(flat) else found.role
                others = [a for c in clauses for a in actors_in(squeeze(c))
                          if a.names != found.names]
                if title:
                    out.append((line, Statement(found.names, role, title, sentence, False,
                                                others)))
                carried = found
            elif carried is not None and not past and _VERB.match(flat):
                out.append((line, Statement(carried.names, carried.role, action_title(sentence),
                                            sentence, True)))
            elif found is not None:
                carried = found
    return out


def _sentence_actor(clauses: list[str]) -> tuple[Actor | None, str]:
    """The first actor of a sentence's clauses, and the predicate after it."""
    for i, clause in enumerate(clauses):
        flat = squeeze(clause)
        actor = actor_at(flat)
        if actor is None:
            inner = [a for a in actors_in(flat) if a.names]
            actor = inner[0] if inner else None
        if actor is not None:
            head = after(clause, actor.end) if actor.end else clause
            return actor, ",".join([head, *clauses[i + 1:]])
    return None, ""


def opens_with_actor(text: str) -> bool:
    return actor_at(squeeze(_OPENERS.sub("", squeeze(text)))) is not None
