"""Every label the budget-proposal outputs show, in Chinese and English, from one table.

``label(key, lang)`` gives the text; an unknown key is a bug (KeyError), so a missing translation is
found by the tests rather than shown to a reader. Zone names and the 34 province-level divisions have
English names too, for English workbooks and for charts drawn without a CJK font."""

from __future__ import annotations

import unicodedata

from allocator.errors import InternalError

LANGS = ("zh", "en")

#: key -> (Chinese, English)
LABELS: dict[str, tuple[str, str]] = {
    # sheet names (Excel allows at most 31 characters, no []:*?/\)
    "sheet.summary": ("汇总", "Summary"),
    "sheet.provinces": ("分省", "By province"),
    "sheet.projects": ("项目清单", "Funded projects"),
    "sheet.indicators": ("指标", "Indicators"),
    "sheet.marginal": ("边际值", "Marginal values"),
    "sheet.parameters": ("参数", "Parameters"),
    "sheet.years": ("分年度", "By year"),
    "sheet.broken_rules": ("未满足规则", "Broken rules"),
    # title row
    "title.proposal": ("预算方案", "Budget proposal"),
    "title.scenario": ("方案", "Scenario"),
    "title.date": ("日期", "Date"),
    "title.status": ("求解状态", "Status"),
    "title.unit": ("金额单位：万元", "Money in 万元 (10,000 yuan)"),
    # blocks of the summary sheet
    "block.sources": ("分来源资金", "Money by source"),
    "block.zones": ("分区域资金", "Money by zone"),
    "block.types": ("分类型项目", "Projects by type"),
    "block.indicators": ("指标与目标", "Indicators against targets"),
    # column headers
    "col.source": ("资金来源", "Source"),
    "col.source_key": ("来源代码", "Source key"),
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
    "col.type_key": ("类型代码", "Type key"),
    "col.candidates": ("候选项目数", "Candidates"),
    "col.funded": ("资助项目数", "Funded projects"),
    "col.total": ("合计", "Total"),
    "col.share": ("占比", "Share"),
    "col.project_id": ("项目编号", "Project ID"),
    "col.name": ("项目名称", "Project name"),
    "col.cost": ("总投资", "Cost"),
    "col.selected": ("资助比例", "Share funded"),
    "col.indicator": ("指标", "Indicator"),
    "col.indicator_key": ("指标代码", "Indicator key"),
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
    "col.key": ("参数", "Key"),
    "col.value": ("值", "Value"),
    "col.unit": ("单位", "Unit"),
    "col.limit": ("限额", "Limit"),
    "col.marginal_value": ("边际值", "Marginal value"),
    "col.per": ("每单位", "Per"),
    "col.method": ("方法", "Method"),
    "col.binding": ("是否起约束", "Binding"),
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
    # statuses (manifest "status")
    "status.optimal": ("最优", "optimal"),
    "status.time_limit": ("时限内可行解", "feasible, time limit reached"),
    "status.feasible": ("可行解", "feasible"),
    "status.infeasible": ("不可行", "infeasible"),
    "status.formula": ("因素法分配", "formula allocation (factor method)"),
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
    "report.benefit_text": ("目标函数中各类项目的效益（{unit}），占扣除指标罚分前总效益 {total} 的比重。",
                            "Each type's benefit in the objective ({unit}) and its share of the total benefit, {total}, "
                            "before the targets' penalties."),
    "col.benefit": ("效益", "Benefit"),
    "col.benefit_share": ("占总效益", "Share of benefit"),
    "report.created": ("生成时间", "Created"),
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
    "report.marginal": ("边际值", "Marginal values"),
    "report.marginal_text": ("放宽一项约束一个单位，目标函数可改善的数值（见 marginal.csv）。",
                             "What one more unit of each rule is worth to the objective (from marginal.csv)."),
    "report.no_marginal": ("本次运行未计算边际值。", "Marginal values were not computed for this run."),
    "report.chart_zone": ("分区域、分来源资金（万元）", "Money by zone and source (10,000 yuan)"),
    "report.chart_province": ("分省资金（万元）", "Money by province (10,000 yuan)"),
    "report.chart_targets": ("指标实现值 / 目标值", "Indicator achieved / target"),
    "report.font_note": ("未找到中文字体，图表标签使用英文/拼音。安装 fonts-noto-cjk 或 fonts-wqy-microhei 后可显示中文。",
                         "No CJK font was found, so chart labels are in English/pinyin. "
                         "Install fonts-noto-cjk or fonts-wqy-microhei to draw them in Chinese."),
    "report.charts_in_html": ("图表见 report.html。", "The charts are in report.html."),
    "report.files": ("本目录文件说明见 docs/outputs.md。", "The files of this directory are described in docs/outputs.md."),
    "report.missed_by": ("差 {by}", "missed by {by}"),
    "report.met_in": ("{met}/{groups} 组达标", "met in {met} of {groups} groups"),
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
    if lang not in LANGS:
        raise InternalError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    return LANGS.index(lang)


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


def display_width(text: object) -> int:
    """Columns a text takes in a spreadsheet: CJK (wide and full-width) characters count 2."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in str(text))
