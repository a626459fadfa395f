"""Each layout rule on an excerpt of a real document (../shared/corpus) and on a variant written
here: other names, other dates, the other bracket width. A rule that fits only the corpus text
fails its variant."""

from __future__ import annotations

from datetime import date

import pytest

from taskflow.parsing import parse_text

WIDE = str.maketrans({"(": "（", ")": "）", ":": "：", ",": "，", ";": "；"})


def parse(text: str, year: int):
    result = parse_text(text, source="plan.txt", year=year)
    assert len(result.found) == 1, result.review.format()
    return result.found[0]


def tasks(parsed) -> dict[str, dict]:
    out: dict[str, dict] = {}

    def walk(items):
        for t in items:
            out[t["title"]] = t
            for m in t.get("milestones", []):
                out.setdefault(m["title"], {**m, "milestone": True})
            walk(t.get("children", []))

    walk(parsed.plan["tasks"])
    return out


def units(task: dict) -> list[str]:
    return task.get("lead", []) + task.get("responsible", []) + task.get("cooperating", [])


# -- numbered items ending in a units bracket -------------------------------------------------

CORPUS_09 = """一、实现巩固拓展脱贫攻坚成果同乡村振兴有效衔接

1.保持帮扶政策总体稳定。过渡期内,严格落实“四个不摘”要求,保持现有帮扶政策、资金支持、帮扶力量总体稳定。(责任单位:县扶贫开发办牵头,县教育和体育局、县卫生健康局、县住房和城乡建设局、县民政局、县医疗保障局等有关部门参加,各镇街落实)
"""
VARIANT_09 = """一、提升政务服务效能
1．推进“一网通办”，2023年6月底前实现高频事项全程网办。（区政务服务局牵头，区发改局、区审改办配合）
2．压缩企业开办时间至1个工作日以内。（区市场监管局牵头，区税务局、区人社局配合，9月30日前完成）
3．建立健全“好差评”制度。（责任单位：区政务服务局，各街道办事处）
"""


@pytest.mark.parametrize("wide", [False, True], ids=["half-width", "full-width"])
def test_units_bracket_closing_an_item(wide):
    text = CORPUS_09.translate(WIDE) if wide else CORPUS_09
    task = tasks(parse(text, 2021))["保持帮扶政策总体稳定"]
    assert task["lead"] == ["县扶贫开发办"]
    assert task["cooperating"] == ["县教育和体育局", "县卫生健康局", "县住房和城乡建设局",
                                   "县民政局", "县医疗保障局", "有关部门"]
    assert task["responsible"] == ["各镇街"]


def test_units_bracket_variant_with_a_deadline_inside():
    found = tasks(parse(VARIANT_09, 2023))
    office = found["推进“一网通办”,2023年6月底前实现高频事项全程网办"]
    assert office["lead"] == ["区政务服务局"] and office["cooperating"] == ["区发改局", "区审改办"]
    assert office["due"] == date(2023, 6, 30)
    start = found["压缩企业开办时间至1个工作日以内"]
    assert start["lead"] == ["区市场监管局"] and start["due"] == date(2023, 9, 30)
    assert found["建立健全“好差评”制度"]["responsible"] == ["区政务服务局", "各街道办事处"]


# -- 〔责任单位:…下同。〕 ------------------------------------------------------------------------

CORPUS_13 = """一、深化现代流通市场化改革
(一)加强市场体系建设。推进高标准市场体系建设,全面融入全国统一大市场。〔责任单位:省发展改革委、省市场监管局、商务厅、省大数据中心按职责分工负责。具体任务均涉及相关市(州)人民政府,不再做分工,下同。〕
(二)优化市场准入环境。实施“证照分离”改革全覆盖。〔责任单位:省市场监管局〕
"""
VARIANT_13 = """一、促进消费扩容
（一）培育新型消费。发展直播电商。【责任单位：市商务局、市文广旅局按职责分工负责。具体任务均涉及各区县人民政府，不再做分工，下同。】
（二）改善消费环境。开展放心消费行动。【责任单位：市市场监管局】
（三）完善消费设施。【责任单位：市住建局、市商务局】
"""


def test_units_said_once_for_the_items_below_with_xiatong():
    found = tasks(parse(CORPUS_13, 2022))
    assert found["加强市场体系建设"]["responsible"] == [
        "省发展改革委", "省市场监管局", "商务厅", "省大数据中心", "相关市(州)人民政府"]
    assert found["优化市场准入环境"]["responsible"] == ["省市场监管局", "相关市(州)人民政府"]
    parsed = parse(VARIANT_13, 2023)
    found = tasks(parsed)
    assert found["培育新型消费"]["responsible"] == ["市商务局", "市文广旅局", "各区县人民政府"]
    assert found["完善消费设施"]["responsible"] == ["市住建局", "市商务局", "各区县人民政府"]
    assert any("下同" in i.message and i.code == "3" for i in parsed.review.of_kind("guess"))


# -- phase sections with dated headings -------------------------------------------------------

CORPUS_06 = """(二)专项整治阶段(2010年6月23日至11月20日)。
各乡(镇)、场按照本方案要求,结合本地实际,全面开展村(屯)环境整治活动。
(三)检查验收阶段(2010年11月21日至12月20日)。
1.检查验收分两步进行:
第一步:各乡(镇)、场按照要求,组织相关人员对本辖区环境综合整治情况进行自检自查。
第二步:由县社会主义新农村建设领导小组办公室牵头,县委督查室、县政府督查室、县直相关部门、乡(镇)、场党委书记、部分人大代表、政协委员对各乡(镇)、场新农村建设环境综合整治情况进行全面检查验收。
五、工作要求
(一)加强组织领导。各乡(镇)、场要切实把新农村建设环境综合整治工作纳入重要日程。
"""
VARIANT_06 = """一、工作步骤
（一）动员部署阶段（2024年5月上旬）：各村召开动员会，制定工作计划。
（二）自查摸底阶段（5月11日至5月25日）。各村（社区）对照标准开展自查，镇农业办负责汇总问题清单。
（三）整改提升阶段（2024年6月至9月）。由镇建设办牵头，镇农业办、镇环保所配合，督促各村完成问题整改。
"""


def test_phase_headings_give_their_dates_and_units():
    found = tasks(parse(CORPUS_06, 2010))
    phase = found["专项整治阶段"]
    assert phase["due"] == date(2010, 11, 20) and phase["responsible"] == ["各乡(镇)、场"]
    check = found["检查验收阶段"]
    assert check["due"] == date(2010, 12, 20)
    assert check["lead"] == ["县社会主义新农村建设领导小组办公室"]
    assert {"县委督查室", "县政府督查室", "县直相关部门"} <= set(check["responsible"])
    assert not any("书记" in u or "代表" in u or "委员" in u for u in units(check))
    # 五、 after (二)/1. in an excerpt is a section of its own, not a step of the phase.
    assert "工作要求" in found and found["加强组织领导"]["responsible"] == ["各乡(镇)、场"]


def test_phase_headings_variant_full_width():
    found = tasks(parse(VARIANT_06, 2024))
    assert found["动员部署阶段"]["due"] == date(2024, 5, 10)
    assert found["自查摸底阶段"]["due"] == date(2024, 5, 25)
    assert found["自查摸底阶段"]["responsible"] == ["各村(社区)", "镇农业办"]
    rectify = found["整改提升阶段"]
    assert rectify["due"] == date(2024, 9, 30) and rectify["start"] == date(2024, 6, 1)
    assert rectify["lead"] == ["镇建设办"]
    assert set(units(rectify)) == {"镇建设办", "镇农业办", "镇环保所"}


# -- notices: duties in sentences -------------------------------------------------------------

CORPUS_04 = """一、积极开展项目验收。对年初申报发展产业脱贫已达到奖补标准起点的农户要尽快组织验收。验收工作由乡镇(园区)负责组织实施,经乡村两级公示无异议后,由乡镇(园区)统一汇总上报县农发委,第一批验收结果于6月30日前上报,第二批于8月31日前上报,第三批于11月30日前上报。
二、及时兑现奖补资金。县农发委将依据各乡镇上报奖补情况下达资金计划。各乡镇要在收到资金计划后10个工作日内打卡兑现到户,并负责上传至县扶贫大数据平台。
2017-09-21
"""
VARIANT_NOTICE = """县人民政府办公室关于做好2024年春耕备耕工作的通知
各乡镇人民政府，县直有关单位：
一、摸清底数。各乡镇要于3月15日（星期五）前将春耕备耕情况统计表报县农业农村局。县农业农村局负责汇总全县数据，3月底前形成分析报告报县政府。
二、保障农资供应。县供销社要加强化肥、种子储备，确保4月10日前储备到位。
三、强化督导。请各乡镇于每月25日前将春耕进展情况书面报县政府督查室。县政府督查室适时组织督查。
县人民政府办公室
2024年2月26日
"""


def test_duty_sentences_give_units_and_dated_steps():
    parsed = parse(CORPUS_04, 2017)
    found = tasks(parsed)
    accept = found["积极开展项目验收"]
    assert accept["responsible"] == ["乡镇(园区)"]
    assert [m["due"] for m in accept["milestones"]] == [
        date(2017, 6, 30), date(2017, 8, 31), date(2017, 11, 30)]
    assert "县农发委" in units(found["及时兑现奖补资金"])
    assert "各乡镇" in units(found["及时兑现奖补资金"])
    assert any("10个工作日内" in i.message for i in parsed.review.unresolved)
    # Recipients of a report are not units: 报县农发委 / 报…督查室.
    assert "县农发委" not in units(accept)


def test_duty_sentences_variant_notice():
    parsed = parse(VARIANT_NOTICE, 2024)
    found = tasks(parsed)
    first = found["摸清底数"]
    assert first["responsible"] == ["各乡镇", "县农业农村局"]
    assert [m["due"] for m in first["milestones"]] == [date(2024, 3, 15), date(2024, 3, 31)]
    assert found["保障农资供应"]["responsible"] == ["县供销社"]
    assert found["保障农资供应"]["due"] == date(2024, 4, 10)
    report = found["将春耕进展情况书面报县政府督查室"]
    assert report["recurrence"] == "FREQ=MONTHLY;BYMONTHDAY=25"
    assert report["responsible"] == ["各乡镇"]
    # The issuer is written only when a directory holds it (it must import); here it is the
    # suggested parent of the units named.
    assert "issuer" not in parsed.plan
    assert "建议上级：县人民政府办公室" in parsed.review.format()
    assert all(t.confidence < 1 for t in parsed.review.tasks)


CORPUS_17 = """请各牵头单位要严格按照任务分工,对涉及的工作任务进行再细化、再分解,明确每项任务的具体责任人。各责任(配合)单位要加强协调,积极配合,切实履行各自工作职责。区委区政府督查室要根据各项工作任务完成时限要求,适时开展督查督办工作。
附件:《政府工作报告》任务分解表
盘锦市大洼区人民政府办公室
2021年1月25日
"""
VARIANT_17 = """各镇（街道）、县直各部门：
现将《2023年民生实事分解表》印发给你们。各镇（街道）要抓紧制定实施方案，于3月10日前报县政府办公室。县财政局要做好资金保障。县督查室要适时开展专项督查。
附件：1.2023年民生实事分解表
2.2023年民生实事联系人名单
县人民政府办公室
2023年2月20日
"""


def test_a_notice_without_numbering_gives_one_task_per_duty():
    found = tasks(parse(CORPUS_17, 2021))
    assert found["对涉及的工作任务进行再细化、再分解,明确每项任务的具体责任人"]["responsible"] == [
        "各牵头单位"]
    assert found["加强协调,积极配合,切实履行各自工作职责"]["responsible"] == ["各责任(配合)单位"]
    assert found["适时开展督查督办工作"]["responsible"] == ["区委区政府督查室"]
    parsed = parse(VARIANT_17, 2023)
    found = tasks(parsed)
    plan = found["抓紧制定实施方案,报县政府办公室"]
    assert plan["due"] == date(2023, 3, 10) and plan["responsible"] == ["各镇(街道)"]
    assert found["做好资金保障"]["responsible"] == ["县财政局"]
    # The attachments are a list of files, not tasks.
    assert not any("联系人名单" in title for title in found)


# -- 列第一位的责任单位为牵头单位 -----------------------------------------------------------------

VARIANT_FIRST = """各区、县（市）人民政府，市政府各部门：
现将《2024年重点工作责任分解》印发给你们。责任分解中，列第一位的责任单位为牵头单位。
序号
重点工作
责任单位
完成时限
1
新增城镇就业5万人
市人力社保局、市发改委、各区县政府
2024年12月底
2
完成老旧小区改造120个
市住建局、市财政局
2024年11月30日前
"""


def test_the_first_listed_unit_leads_when_the_document_says_so():
    parsed = parse(VARIANT_FIRST, 2024)
    jobs = tasks(parsed)["新增城镇就业5万人"]
    assert jobs["lead"] == ["市人力社保局"] and jobs["responsible"] == ["市发改委", "各区县政府"]
    assert jobs["due"] == date(2024, 12, 31)
    assert any("列第一位" in i.message for i in parsed.review.of_kind("guess"))
    without = parse(VARIANT_FIRST.replace("责任分解中，列第一位的责任单位为牵头单位。", ""), 2024)
    assert "lead" not in tasks(without)["新增城镇就业5万人"]


# -- tables flattened into text ---------------------------------------------------------------

CORPUS_08 = "\n".join("""考核项目
序号
考核指标
考核内容
单位
年度目标
责任部门
评分部门
农业高质高效
1
确保粮食和重要农产品有效供给
农林牧渔业增加值增幅
%
≥2%
县海洋与渔业局
县农业农村局
市海洋渔业局市农业农村局
2
农业劳动生产率及增幅
万元/人
全市统筹
县海洋与渔业局
县农业农村局
市海洋渔业局市农业农村局
3
粮食安全责任制
-
良好以上
县经济和信息化局
市商务局
4
粮食播种面积
万亩
0.07
县农业农村局
市农业农村局""".splitlines())
VARIANT_TABLE = """2024年乡村振兴重点任务清单
序号
重点任务
牵头单位
配合单位
时间节点
1
高标准农田建设2万亩
县农业农村局
县财政局、县水利局
2024年10月底前
2
农村危房改造300户
县住房和城乡建设局
各乡镇人民政府
3
新建村级电商服务站20个
县商务局
2024年12月31日前
"""


def test_cells_one_per_line_with_merged_cells():
    found = tasks(parse(CORPUS_08, 2021))
    assert found["农林牧渔业增加值增幅"]["responsible"] == ["县海洋与渔业局", "县农业农村局"]
    assert found["农业劳动生产率及增幅"]["responsible"] == ["县海洋与渔业局", "县农业农村局"]
    assert found["粮食安全责任制"]["responsible"] == ["县经济和信息化局"]  # not 市商务局 (评分)
    assert found["粮食播种面积"]["target"]["value"] == 0.07
    assert found["粮食播种面积"]["target"]["unit"] == "万亩"


def test_cells_one_per_line_variant_with_missing_cells():
    parsed = parse(VARIANT_TABLE, 2024)
    found = tasks(parsed)
    farm = found["高标准农田建设2万亩"]
    assert farm["lead"] == ["县农业农村局"] and farm["cooperating"] == ["县财政局", "县水利局"]
    assert farm["due"] == date(2024, 10, 31)
    houses = found["农村危房改造300户"]  # no 时间节点 cell in this row
    assert houses["cooperating"] == ["各乡镇人民政府"] and "due" not in houses
    shops = found["新建村级电商服务站20个"]  # no 配合单位 cell
    assert shops["lead"] == ["县商务局"] and shops["due"] == date(2024, 12, 31)
    assert parsed.review.tasks[0].confidence == 0.7


CORPUS_07 = """工 作 项 目 |
起 止 时 间 |
一、准备法律文件
1、 起草给国务院的报告
2、 代拟《国务院关于开展全国第二次农业普查的通知》 |
2005.1—4
2005.2—4 |
二、拟定工作规划
3、省、地、县分别拟定农业普查总体规划
4、省、地、县分别拟定农业普查分阶段工作规划 |
2005.6—12
2005.5—2006.6 |
"""
VARIANT_07 = """工作内容 |
时间安排 |
一、前期准备
1、制定普查方案
2、组建普查队伍 |
2024.3—4
2024.4—5 |
二、组织实施
3、入户登记 |
2024.6—2025.1 |
"""


def test_columns_written_out_whole_with_pipes():
    found = tasks(parse(CORPUS_07, 2005))
    assert found["起草给国务院的报告"]["due"] == date(2005, 4, 30)
    assert found["省、地、县分别拟定农业普查分阶段工作规划"]["due"] == date(2006, 6, 30)
    assert found["省、地、县分别拟定农业普查分阶段工作规划"]["responsible"] == ["省、地、县"]
    assert "准备法律文件" not in found  # a group heading, not a task
    variant = tasks(parse(VARIANT_07, 2024))
    assert variant["组建普查队伍"]["due"] == date(2024, 5, 31)
    assert variant["入户登记"]["due"] == date(2025, 1, 31)
    assert variant["入户登记"]["start"] == date(2024, 6, 1)


CORPUS_16 = ("1、2021年重大民生实事项目目标任务责任分解表序号项目名称主要内容区政府分管领导牵头单位配合单位"
             "1增加教育资源供给实施新建、改扩建学校重点建设项目12个,计划竣工3个。何海平教育局经开区高新园"
             "(邹区镇)各街道市国有公司2促进就业稳定增长落实就业优先战略。全区城镇新增就业15000人。何海平"
             "人社局高新园(邹区镇\n2、)各街道3老城厢复兴发展完成瞿秋白纪念馆整体提升工程对外开放。何海平"
             "文体旅局晋陵公司轨道公司推进大庙弄核心区改造。芮春祥住建局五星街道南大街街道荷花池街道\n")
VARIANT_16 = ("2023年为民办实事责任分解表序号项目名称主要内容分管领导牵头单位配合单位1改善农村饮水新建"
              "集中供水工程5处,惠及群众1.2万人。王建国县水利局县财政局各乡镇2提升医疗服务完成乡镇卫生院"
              "改造8所。李红县卫健局县医保局\n")


def test_a_table_run_into_one_line():
    found = tasks(parse(CORPUS_16, 2021))
    school = found["增加教育资源供给"]
    assert school["lead"] == ["教育局"]
    assert school["cooperating"] == ["经开区", "高新园(邹区镇)", "各街道", "市国有公司"]
    assert found["促进就业稳定增长"]["cooperating"] == ["高新园(邹区镇)", "各街道"]  # "2、" cut
    assert found["完成瞿秋白纪念馆整体提升工程对外开放"]["lead"] == ["文体旅局"]  # sub-rows
    assert found["推进大庙弄核心区改造"]["lead"] == ["住建局"]
    assert not any("何海平" in u for t in found.values() for u in units(t))
    variant = tasks(parse(VARIANT_16, 2023))
    assert variant["改善农村饮水"]["lead"] == ["县水利局"]
    assert variant["改善农村饮水"]["cooperating"] == ["县财政局", "各乡镇"]
    assert variant["提升医疗服务"]["cooperating"] == ["县医保局"]


# -- the document's year -----------------------------------------------------------------------

def test_the_year_comes_from_the_signing_date_not_from_past_years():
    text = ("一、抓紧做好2015年度项目验收工作\n各县(市)区要于9月10日前将验收结果报市扶贫办。\n"
            "市扶贫办\n2016年8月29日\n")
    parsed = parse(text, 2016)
    assert parsed.plan["year"] == 2016
    assert parsed.plan["tasks"][0]["due"] == date(2016, 9, 10)
    wide = parse(text.replace("2016年8月29日", "二○一九年三月一日").replace("(", "（").replace(
        ")", "）"), None)
    assert wide.plan["year"] == 2019 and wide.plan["tasks"][0]["due"] == date(2019, 9, 10)
    assert any("落款日期" in i.message for i in wide.review.of_kind("guess"))
