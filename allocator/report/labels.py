"""Every label the budget-proposal outputs show, in Chinese and English, from one table.

``label(key, lang)`` gives the text; an unknown key is a bug (KeyError), so a missing translation is
found by the tests rather than shown to a reader. Zone names and the 34 province-level divisions have
English names too, for English workbooks and for charts drawn without a CJK font."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from allocator.errors import InternalError
from allocator.runformat.cells import finite_number, format_value
from allocator.runformat.names import LANGUAGES

if TYPE_CHECKING:
    from allocator.report.workbook import IndicatorSummary


#: key -> (Chinese, English)
LABELS: dict[str, tuple[str, str]] = {
    # sheet names (Excel allows at most 31 characters, no []:*?/\)
    "sheet.summary": ("汇总", "Summary"),
    "sheet.provinces": ("分省", "By province"),
    "sheet.projects": ("项目清单", "Funded projects"),
    "sheet.indicators": ("指标", "Indicators"),
    "sheet.marginal": ("边际值", "Marginal values"),
    "sheet.equity": ("地区公平性", "Equity"),
    "sheet.parameters": ("参数", "Parameters"),
    "sheet.years": ("分年度", "By year"),
    "sheet.broken_rules": ("未满足规则", "Broken rules"),
    # title row
    "title.proposal": ("预算方案", "Budget proposal"),
    "title.scenario": ("方案", "Scenario"),
    "title.status": ("求解状态", "Status"),
    "title.unit": ("金额单位：万元", "Money in 万元 (10,000 yuan)"),
    # blocks of the summary sheet
    "block.sources": ("分来源资金", "Money by source"),
    "block.zones": ("分区域资金", "Money by zone"),
    "block.types": ("分类型项目", "Projects by type"),
    "block.indicators": ("指标与目标", "Indicators against targets"),
    # column headers
    "col.source": ("资金来源", "Source"),
    "col.budget": ("预算", "Budget"),
    "col.min_spend": ("最低使用额", "Minimum spend"),
    "col.used": ("已安排", "Allocated"),
    "col.left": ("结余", "Left"),
    "col.used_share": ("使用比例", "Share used"),
    "col.zone": ("区域", "Zone"),
    "col.province": ("省份", "Province"),
    "col.region_id": ("地区代码", "Region code"),
    "col.region": ("地区", "Region"),
    "col.type": ("项目类型", "Project type"),
    "col.candidates": ("候选项目数", "Candidates"),
    "col.funded": ("资助项目数", "Funded projects"),
    "col.total": ("合计", "Total"),
    "col.share": ("占比", "Share"),
    "col.project_id": ("项目编号", "Project ID"),
    "col.name": ("项目名称", "Project name"),
    "col.cost": ("总投资", "Cost"),
    "col.selected": ("资助比例", "Share funded"),
    "col.indicator": ("指标", "Indicator"),
    "col.scope": ("范围", "Scope"),
    "col.group": ("分组", "Group"),
    "col.baseline": ("基期值", "Baseline"),
    "col.achieved": ("实现值", "Achieved"),
    "col.target": ("目标值", "Target"),
    "col.met": ("是否达标", "Met"),
    "col.shortfall": ("差距", "Shortfall"),
    "col.hard": ("硬约束", "Hard"),
    "col.groups_met": ("达标分组", "Groups met"),
    "col.rule": ("约束", "Rule"),
    "col.why": ("原因", "Why"),
    "col.key": ("参数", "Key"),
    "col.value": ("值", "Value"),
    "col.unit": ("单位", "Unit"),
    "col.limit": ("限额", "Limit"),
    "col.marginal_value": ("边际值", "Marginal value"),
    "col.per": ("每单位", "Per"),
    "col.method": ("方法", "Method"),
    "col.binding": ("是否起约束", "Binding"),
    "col.reached": ("方案达到", "Plan reaches"),
    "col.basis": ("资金口径", "Money"),
    "col.gini": ("基尼系数", "Gini"),
    "col.theil": ("泰尔指数", "Theil"),
    "col.theil_between": ("区域间", "Between zones"),
    "col.theil_within": ("区域内", "Within zones"),
    "col.gap_before": ("规划前区域差距", "Zone gap before"),
    "col.gap_after": ("规划后区域差距", "Zone gap after"),
    "col.used_up": ("是否用满", "Used up"),
    "col.step": ("放宽一步", "Step"),
    "col.gain": ("目标变化", "Objective change"),
    "col.fix": ("如何放宽", "How to relax"),
    "col.lp_dual": ("对偶值（技术）", "LP dual (technical)"),
    "col.technical_method": ("方法（技术）", "Method (technical)"),
    "col.funded_of": ("资助/候选", "Funded / candidates"),
    "col.year": ("年度", "Year"),
    "col.start_year": ("开工年度", "Start year"),
    "col.projects_started": ("开工项目数", "Projects started"),
    "col.projects_completed": ("累计建成项目数", "Projects completed"),
    "row.total": ("合计", "Total"),
    "row.subtotal": ("小计", "Subtotal"),
    "report.by_year": ("分年度进展", "Year by year"),
    "report.by_year_text": ("各指标逐年累计值（实线）与目标（虚线）；逐年资金与项目数见 by_year.csv 和工作簿的“分年度”表。",
                            "Each indicator's cumulative value year by year (solid) against its target (dashed); money and projects per "
                            "year are in by_year.csv and the workbook's By year sheet."),
    "report.chart_years": ("指标逐年进展", "Indicators year by year"),
    "note.by_region": ("资助项目共 {count:,} 个，超过 {limit:,} 行：本表按区县汇总（每行一个区县），逐项清单见 allocation.csv。",
                       "{count:,} funded projects, more than {limit:,} rows: this sheet lists one row per county; "
                       "allocation.csv lists every project."),
    "note.projects_in_region": ("{count:,} 个项目", "{count:,} projects"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "met": ("达标", "met"),
    "missed": ("未达标", "missed"),
    "na": ("无数据", "n/a"),
    # the sweep (allocate sweep): its page, chart and terminal table
    "sweep.title": ("参数扫描：{axes}", "Sweep over {axes}"),
    "sweep.intro": ("共 {points} 个点，{solved} 个得到分配方案。金额单位万元，保留两位小数；项目数为整数；比例为百分数，其余指标值"
                    "保留两位小数。sweep.csv 列出全部数据，每个点的运行目录在 runs/ 下。",
                    "{points} points, {solved} with an allocation. Money in 10k yuan (万元) with two decimals; projects whole; shares as "
                    "percentages, other indicator values with two decimals. sweep.csv has every figure; each point's run is under runs/."),
    "sweep.main": ("主要结果", "Main figures"),
    "sweep.by_source": ("分来源安排资金（万元）", "Money allocated by source (10k yuan)"),
    "sweep.by_type": ("分类型资助项目", "Projects funded by type"),
    "sweep.indicators": ("指标实现值", "Indicators achieved"),
    "sweep.failed": ("未得到分配方案的点", "Points with no allocation"),
    "sweep.chart": ("目标函数值、资助项目数、安排资金与指标", "Objective, projects funded, money allocated and indicators"),
    "sweep.image": ("参数扫描图", "sweep chart"),
    "sweep.objective": ("目标函数值", "Objective"),
    "sweep.projects": ("资助项目数", "Projects funded"),
    "sweep.money": ("安排资金合计", "Money allocated"),
    "sweep.used": ("{name}已安排", "{name} allocated"),
    "sweep.type_funded": ("{name}项目数", "{name} projects"),
    "sweep.type_money": ("{name}资金", "{name} money"),
    "sweep.missed": ("未达标指标数", "Targets missed"),
    "sweep.groups_met": ("{name}达标分组数", "{name}: groups met"),
    "sweep.mean": ("各组平均", "mean of groups"),
    "sweep.target": ("目标值", "Target"),
    "sweep.target_of": ("目标 {value}", "target {value}"),
    "sweep.message": ("说明", "Message"),
    "sweep.point": ("点", "Point"),
    "unit.yi": ("亿元", "100M yuan"),
    "unit.wan": ("万元", "10k yuan"),
    # the words of a varied key (sources.<key>.budget, targets.counts.<name>.min, …)
    "field.budget": ("预算", "budget"),
    "field.min_spend": ("最低使用额", "minimum spend"),
    "field.max_share_of_cost": ("占投资比例上限", "maximum share of cost"),
    "field.min": ("下限", "minimum"),
    "field.max": ("上限", "maximum"),
    "field.target": ("目标值", "target"),
    "field.penalty": ("罚分权重", "penalty"),
    "field.count": ("项目数", "projects"),
    # statuses (manifest "status")
    "status.optimal": ("最优", "optimal"),
    "status.time_limit": ("时限内可行解", "feasible, time limit reached"),
    "status.feasible": ("可行解", "feasible"),
    "status.infeasible": ("不可行", "infeasible"),
    "status.formula": ("因素法分配", "formula allocation (factor method)"),
    "status.cascade": ("两级分配（中央分到省，省内择优）", "two-stage allocation (central to provinces, then each province)"),
    # parameter sheet sections
    "param.run": ("运行信息", "Run"),
    "param.scenario": ("方案参数（已解析）", "Scenario (resolved)"),
    # the report
    "report.title": ("预算方案报告", "Budget proposal report"),
    "report.status": ("求解状态", "Status"),
    "report.solver": ("求解器", "Solver"),
    "report.gap": ("相对间隙", "Relative gap"),
    "report.gap_not_measured": ("未测得（求解器未报告）", "not measured (the solver reports none)"),
    "report.objective": ("目标函数值", "Objective"),
    "report.benefit": ("分类型效益", "Benefit by type"),
    "report.benefit_text": ("目标函数中各类项目的效益{unit}，占扣除指标罚分前总效益 {total} 的比重。",
                            "Each type's benefit in the objective{unit} and its share of the total benefit, {total}, "
                            "before the targets' penalties."),
    "col.benefit": ("效益", "Benefit"),
    "col.benefit_share": ("占总效益", "Share of benefit"),
    "report.created": ("生成时间", "Created"),
    "report.created_utc": ("生成时间（UTC，manifest.json 所记）", "Created (UTC, as manifest.json records it)"),
    "report.overrides": ("命令行覆盖", "Command-line overrides"),
    "report.funded": ("资助了什么", "What was funded"),
    "report.funded_text": ("共资助 {funded} 个项目（候选 {candidates} 个），安排资金 {money} 万元。",
                           "{funded} projects funded out of {candidates} candidates, {money} 万元 in all."),
    "report.money": ("资金去向", "Where the money goes"),
    "report.by_zone": ("分区域、分来源资金", "Money by zone and source"),
    "report.by_province": ("分省资金", "Money by province"),
    "report.targets": ("目标完成情况", "Targets met and missed"),
    "report.targets_text": ("{met} 项达标，{missed} 项未达标。", "{met} met, {missed} missed."),
    "report.no_targets": ("本方案未设指标目标。", "The scenario sets no indicator targets."),
    "report.broken_rules": ("因素法分配未满足的规则", "Rules the formula allocation breaks"),
    "report.broken_rules_text": ("因素法按因素切块、按优先序安排项目，不强制满足以下 {count} 条方案规则（优化求解必须满足）：",
                                 "The formula splits money by factors and funds projects by priority; it does not enforce "
                                 "these {count} scenario rules, which the optimizer must meet:"),
    "report.no_broken_rules": ("因素法分配满足全部方案规则。", "The formula allocation meets every scenario rule."),
    "report.no_allocation": ("没有分配方案的省份", "Provinces without an allocation"),
    "report.no_allocation_text": ("以下 {count} 个省份的第二阶段求解没有找到分配方案：这些省份的项目均未安排资金，本方案不完整。"
                                  "各省的诊断见 runs/<省份>/diagnosis.md。",
                                  "The second-stage solve of these {count} provinces found no allocation: their projects are not "
                                  "funded, and the plan is incomplete. Each province's diagnosis is in runs/<province>/diagnosis.md."),
    "report.marginal": ("边际值", "Marginal values"),
    "report.equity": ("地区公平性", "Equity between regions"),
    "report.equity_text": ("按常住人口计算的各省人均资金（元/人）的基尼系数和泰尔指数（泰尔指数分解为东、中、西部区域间和区域内两部分，二者之和为总指数），"
                           "以及各指标在区域间的最大差距（规划前后）。各省人均资金见 equity.csv 和工作簿“地区公平性”表。",
                           "Gini and Theil indices of money per resident across provinces (population-weighted; Theil split into "
                           "between and within zones, adding up to the total), and each indicator's largest gap between zones "
                           "before and after the plan. Money per resident by province: equity.csv and the Equity sheet."),
    "basis.all": ("全部资金", "All money"),
    "report.chart_lorenz": ("各省人均资金洛伦兹曲线", "Lorenz curve of money per resident by province"),
    "report.lorenz_x": ("常住人口累计占比（%，按人均资金从低到高）", "Cumulative share of residents (%, lowest money per resident first)"),
    "report.lorenz_y": ("资金累计占比（%）", "Cumulative share of money (%)"),
    "report.marginal_text": ("每条规则放宽一步（预算或额度：1亿元或限额的10%取小者；数量：1个项目；比例：1个百分点；指标目标：1%），"
                             "目标函数的变化；软目标则为全部达标的代价。起约束的规则在前，按目标变化从大到小排列（全部见 marginal.csv）。",
                             "What relaxing each rule by one step (money: 1亿 or 10% of the limit, whichever is smaller; counts: one "
                             "project; shares: one percentage point; targets: 1%) changes in the objective; for a soft target, what "
                             "meeting it costs. Binding rules first, largest change first (all rows in marginal.csv)."),
    "report.no_marginal": ("本次运行未计算边际值。", "Marginal values were not computed for this run."),
    "report.old_marginal": ("本次运行由较早版本写出，其 marginal.csv 格式不同，未列入报告；重新运行方案即可得到边际值。",
                            "This run was written by an earlier version whose marginal.csv has other columns; re-run the scenario "
                            "for its marginal values."),
    "report.chart_zone": ("分区域、分来源资金（万元）", "Money by zone and source (10,000 yuan)"),
    "report.chart_province": ("分省资金（万元）", "Money by province (10,000 yuan)"),
    "report.chart_targets": ("指标实现值 / 目标值", "Indicator achieved / target"),
    "report.font_note": ("未找到中文字体，图表标签使用英文/拼音。安装 fonts-noto-cjk 或 fonts-wqy-microhei 后可显示中文。",
                         "No CJK font was found, so chart labels are in English/pinyin. "
                         "Install fonts-noto-cjk or fonts-wqy-microhei to draw them in Chinese."),
    "report.charts_in_html": ("图表见 report.html。", "The charts are in report.html."),
    "report.files": ("本目录文件说明见 docs/outputs.md。", "The files of this directory are described in docs/outputs.md."),
    "report.missed_by": ("差 {by}", "missed by {by}"),
    "report.met_in": ("{met}/{groups} 组达标", "met in {met} of {groups} measured groups"),
    "report.unmeasured": ("另有 {count:,} 组无分母，未计入", "{count:,} without a denominator"),
    "report.unmeasured_names": ("{indicator}：{count:,} 组无分母，未计入达标统计：{names}",
                                "{indicator}: {count:,} groups have no denominator and are not counted: {names}"),
    "report.and_more": ("等", ", …"),
    "sheet.technical": ("技术信息", "Technical"),
    "block.codes": ("代码对照（汇总表只显示名称）", "Codes (the summary shows names only)"),
    "col.kind": ("类别", "Kind"),
    "col.code": ("代码", "Code"),
    "col.label": ("名称", "Name"),
    "kind.source": ("资金来源", "Source"),
    "kind.type": ("项目类型", "Project type"),
    "kind.zone": ("区域", "Zone"),
    "kind.indicator": ("指标", "Indicator"),
    "kind.scenario": ("方案", "Scenario"),
}

ZONES: dict[str, tuple[str, str]] = {
    "east": ("东部", "East"), "central": ("中部", "Central"), "west": ("西部", "West"),
    "northeast": ("东北", "Northeast"), "national": ("全国", "National"),
}

SCOPES: dict[str, tuple[str, str]] = {
    "national": ("全国", "national"), "zone": ("分区域", "by zone"),
    "province": ("分省", "by province"), "region": ("分地区", "by region"),
}

#: The 34 province-level divisions, for charts drawn without a CJK font and for English reports.
PROVINCES_EN: dict[str, str] = {
    "北京市": "Beijing", "天津市": "Tianjin", "河北省": "Hebei", "山西省": "Shanxi", "内蒙古自治区": "Inner Mongolia",
    "辽宁省": "Liaoning", "吉林省": "Jilin", "黑龙江省": "Heilongjiang", "上海市": "Shanghai", "江苏省": "Jiangsu",
    "浙江省": "Zhejiang", "安徽省": "Anhui", "福建省": "Fujian", "江西省": "Jiangxi", "山东省": "Shandong",
    "河南省": "Henan", "湖北省": "Hubei", "湖南省": "Hunan", "广东省": "Guangdong", "广西壮族自治区": "Guangxi",
    "海南省": "Hainan", "重庆市": "Chongqing", "四川省": "Sichuan", "贵州省": "Guizhou", "云南省": "Yunnan",
    "西藏自治区": "Tibet", "陕西省": "Shaanxi", "甘肃省": "Gansu", "青海省": "Qinghai", "宁夏回族自治区": "Ningxia",
    "新疆维吾尔自治区": "Xinjiang", "新疆生产建设兵团": "Xinjiang Production and Construction Corps",
    "台湾省": "Taiwan", "香港特别行政区": "Hong Kong", "澳门特别行政区": "Macao",
}


def _check(lang: str) -> int:
    if lang not in LANGUAGES:
        raise InternalError(f"unknown language {lang!r}: use one of {', '.join(LANGUAGES)}")
    return LANGUAGES.index(lang)


def label(key: str, lang: str = "zh") -> str:
    return LABELS[key][_check(lang)]


def zone_label(zone: str, lang: str = "zh") -> str:
    pair = ZONES.get(str(zone))
    return pair[_check(lang)] if pair else str(zone)


def scope_label(scope: str, lang: str = "zh") -> str:
    pair = SCOPES.get(str(scope))
    return pair[_check(lang)] if pair else str(scope)


def status_label(status: str, lang: str = "zh") -> str:
    key = f"status.{status}"
    return label(key, lang) if key in LABELS else str(status)


def yes_no(value: object, lang: str = "zh") -> str:
    if value is None:
        return label("na", lang)
    return label("yes" if value else "no", lang)


#: The groups without a denominator named in a note, at most (the indicators sheet and indicators.csv list them all).
UNMEASURED_NAMES = 5


def format_indicator(value: object, display: str) -> str:
    """An indicator's value as its display says: a percentage with two decimals (98.96%), or the number (format_value)."""
    number = finite_number(value)
    if number is None:
        return ""
    return f"{number:.2%}" if display == "percent" else format_value(number)


def groups_met_text(item: IndicatorSummary, lang: str = "zh", name: Callable[[str], str] | None = None) -> str:
    """"1433/2787 组达标" (groups with a denominator only), and how many more have none (with `name`, the first of them
    named): the one count every output shows."""
    text = label("report.met_in", lang).format(met=item.groups_met, groups=item.measured)
    if item.unmeasured:
        more = label("report.unmeasured", lang).format(count=len(item.unmeasured))
        more += (("：" if lang == "zh" else ": ") + _names(item, name, lang)) if name else ""
        text += f"（{more}）" if lang == "zh" else f" ({more})"
    return text


def unmeasured_text(item: IndicatorSummary, name: Callable[[str], str], lang: str = "zh") -> str:
    """A note naming the groups of `item` without a denominator (the first UNMEASURED_NAMES); "" when every group has one."""
    if not item.unmeasured:
        return ""
    return label("report.unmeasured_names", lang).format(indicator=item.label, count=len(item.unmeasured), names=_names(item, name, lang))


def _names(item: IndicatorSummary, name: Callable[[str], str], lang: str) -> str:
    listed = ("、" if lang == "zh" else ", ").join(name(g) for g in item.unmeasured[:UNMEASURED_NAMES])
    return listed + (label("report.and_more", lang) if len(item.unmeasured) > UNMEASURED_NAMES else "")


def group_name(regions: Mapping[str, str], scope: str, group: str, lang: str = "zh") -> str:
    """A group of an indicator as a reader names it: a zone's name, a county's name (from `regions`, by code) with its
    division code, a province's name."""
    if scope in ("zone", "national"):
        return zone_label(group, lang)
    name = regions.get(group) if scope == "region" else None
    if name:
        return f"{name}（{group}）" if lang == "zh" else f"{name} ({group})"
    return group


def local_time(stamp: str) -> str:
    """An ISO 8601 time (a manifest's ``created``, stored in UTC) in this machine's time zone, the zone named:
    ``2026-11-30 02:16:49 UTC+08:00 (CST)``. A text that is no time is returned as it is."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp
    local = moment.astimezone()  # a time without a zone is read as local already
    offset = local.strftime("%z")
    zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
    name = local.tzname() or ""
    return f"{local:%Y-%m-%d %H:%M:%S} {zone}" + (f" ({name})" if name and name != zone else "")


def display_width(text: object) -> int:
    """Columns a text takes in a spreadsheet: CJK (wide and full-width) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(text))


def text_table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    """A plain-text table for the terminal: columns two spaces apart, numbers right-aligned, widths counted in terminal
    cells (CJK: 2)."""
    widths = [max(display_width(text) for text in column) for column in zip(headers, *rows)]

    def line(cells: Sequence[str]) -> str:
        padded = [(" " * (w - display_width(c)) + c) if n else (c + " " * (w - display_width(c)))
                  for c, w, n in zip(cells, widths, numeric)]
        return "  ".join(padded).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])
