#!/usr/bin/env python3
"""Generates dcpue's Grafana dashboards: `python3 dashboards/generate.py` rewrites
dashboards/dcpue-*.json. The JSON files are what ships (and what tests/dashboards.rs checks);
this script keeps the four consistent. Edits made in Grafana's UI and exported by hand are
fine too: then port them here or stop using the script."""
import json
import sys
import os

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

PROM = {"type": "prometheus", "uid": "${datasource}"}
FLUX = {"type": "influxdb", "uid": "${datasource}"}

PUE_STEPS = [
    {"color": "green", "value": None},
    {"color": "#EAB839", "value": 1.2},
    {"color": "red", "value": 1.3},
    {"color": "dark-red", "value": 1.5},
]
COVERAGE_STEPS = [
    {"color": "red", "value": None},
    {"color": "green", "value": 0.9},
]
SHARE_STEPS = [
    {"color": "red", "value": None},
    {"color": "#EAB839", "value": 0.15},
    {"color": "green", "value": 0.3},
]

# Estimated share: any non-metered energy is worth a look, a tenth of it or more is a weak verdict.
ESTIMATED_STEPS = [
    {"color": "green", "value": None},
    {"color": "#EAB839", "value": 0.001},
    {"color": "red", "value": 0.1},
]


def th(steps):
    return {"mode": "absolute", "steps": steps}


def requires(panels, variables):
    ds = {v["query"] for v in variables if v["type"] == "datasource"}
    names = {"prometheus": "Prometheus", "influxdb": "InfluxDB"}
    out = [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": "10.4.0"}]
    for d in sorted(ds):
        out.append({"type": "datasource", "id": d, "name": names[d], "version": "1.0.0"})
    kinds = sorted({p["type"] for p in panels if p["type"] != "row"})
    pnames = {"bargauge": "Bar gauge", "stat": "Stat", "table": "Table", "timeseries": "Time series",
              "state-timeline": "State timeline"}
    for k in kinds:
        out.append({"type": "panel", "id": k, "name": pnames[k], "version": ""})
    return out


def base_dashboard(uid, title, description, tags, variables, panels, time_from="now-24h", refresh="1m"):
    return {
        "__requires": requires(panels, variables),
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["dcpue"],
                "targetBlank": False,
                "title": "dcpue dashboards",
                "type": "dashboards",
            }
        ],
        "liveNow": False,
        "panels": panels,
        "refresh": refresh,
        "schemaVersion": 39,
        "tags": tags,
        "templating": {"list": variables},
        "time": {"from": time_from, "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": title,
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }


# ---------------------------------------------------------------- variables

def ds_var(kind, label, current_name=None):
    v = {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": label,
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": kind,
        "refresh": 1,
        "regex": "",
        "skipUrlSync": False,
        "type": "datasource",
    }
    if current_name:
        # A name, not a uid: Grafana selects the data source of that name when it exists,
        # else the first one of the type.
        v["current"] = {"selected": True, "text": current_name, "value": current_name}
    return v


def prom_query_var(name, label, query, multi=True, include_all=True, all_value=None, current=None, sort=1):
    v = {
        "current": current if current is not None else {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": PROM,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": sort,
        "type": "query",
    }
    if all_value is not None:
        v["allValue"] = all_value
    return v


def flux_query_var(name, label, query, multi=True, include_all=True, current=None):
    return {
        "current": current if current is not None else {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": FLUX,
        "definition": query,
        "hide": 0,
        "includeAll": include_all,
        "label": label,
        "multi": multi,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,
        "regex": "",
        "skipUrlSync": False,
        "sort": 1,
        "type": "query",
    }


def constant_var(name, value, label):
    return {
        "hide": 2,
        "label": label,
        "name": name,
        "query": value,
        "skipUrlSync": False,
        "type": "constant",
        "current": {"selected": True, "text": value, "value": value},
        "options": [{"selected": True, "text": value, "value": value}],
        "description": "The compliance window of dcpue's config ([engine] compliance_window); change it here if yours differs.",
    }


def textbox_var(name, value, label, description):
    return {
        "current": {"selected": True, "text": value, "value": value},
        "description": description,
        "hide": 0,
        "label": label,
        "name": name,
        "options": [{"selected": True, "text": value, "value": value}],
        "query": value,
        "skipUrlSync": False,
        "type": "textbox",
    }


def single(value):
    return {"selected": True, "text": value, "value": value}


def multi_cur(values):
    return {"selected": True, "text": values, "value": values}


# ---------------------------------------------------------------- panels

class Layout:
    def __init__(self):
        self.x = 0
        self.y = 0
        self.row_h = 0
        self.next_id = 1
        self.panels = []

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)
        return panel

    def row(self, title):
        if self.x != 0:
            self.x = 0
            self.y += self.row_h
            self.row_h = 0
        p = {"collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "id": self.next_id,
             "panels": [], "title": title, "type": "row"}
        self.next_id += 1
        self.y += 1
        self.panels.append(p)


def prom_target(expr, legend="__auto", ref="A", instant=False, fmt="time_series"):
    t = {
        "datasource": PROM,
        "editorMode": "code",
        "expr": expr,
        "legendFormat": legend,
        "range": not instant,
        "instant": instant,
        "refId": ref,
    }
    if fmt != "time_series":
        t["format"] = fmt
    return t


def flux_target(query, ref="A"):
    return {"datasource": FLUX, "query": query, "refId": ref}


def field_defaults(unit, decimals=None, steps=None, min_=None, max_=None, custom=None, mappings=None, color=None):
    d = {
        "color": color or {"mode": "thresholds"},
        "mappings": mappings or [],
        "thresholds": th(steps or [{"color": "green", "value": None}]),
        "unit": unit,
    }
    if decimals is not None:
        d["decimals"] = decimals
    if min_ is not None:
        d["min"] = min_
    if max_ is not None:
        d["max"] = max_
    if custom is not None:
        d["custom"] = custom
    return d


def ts_custom(threshold_style="off", draw="line", fill=0, stacking="none"):
    return {
        "axisBorderShow": False,
        "axisCenteredZero": False,
        "axisColorMode": "text",
        "axisLabel": "",
        "axisPlacement": "auto",
        "barAlignment": 0,
        "drawStyle": draw,
        "fillOpacity": fill,
        "gradientMode": "none",
        "hideFrom": {"legend": False, "tooltip": False, "viz": False},
        "insertNulls": False,
        "lineInterpolation": "linear",
        "lineWidth": 1,
        "pointSize": 4,
        "scaleDistribution": {"type": "linear"},
        "showPoints": "never",
        "spanNulls": False,
        "stacking": {"group": "A", "mode": stacking},
        "thresholdsStyle": {"mode": threshold_style},
    }


def dashed_override(regex, color="red"):
    return {
        "matcher": {"id": "byRegexp", "options": regex},
        "properties": [
            {"id": "custom.lineStyle", "value": {"dash": [10, 10], "fill": "dash"}},
            {"id": "custom.lineWidth", "value": 2},
            {"id": "color", "value": {"fixedColor": color, "mode": "fixed"}},
        ],
    }


def timeseries(title, description, targets, ds, unit, decimals=None, steps=None, threshold_style="off",
               overrides=None, min_=None, max_=None, draw="line", fill=0, stacking="none", calcs=None):
    return {
        "datasource": ds,
        "description": description,
        "fieldConfig": {
            "defaults": field_defaults(unit, decimals, steps, min_, max_,
                                       custom=ts_custom(threshold_style, draw, fill, stacking),
                                       color={"mode": "palette-classic"}),
            "overrides": overrides or [],
        },
        "options": {
            "legend": {"calcs": calcs if calcs is not None else ["lastNotNull", "min", "max"],
                       "displayMode": "table", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": targets,
        "title": title,
        "type": "timeseries",
    }


def reduce_opts(calc="lastNotNull"):
    return {"calcs": [calc], "fields": "", "values": False}


def bargauge(title, description, targets, ds, unit, decimals=None, steps=None, min_=None, max_=None, overrides=None):
    return {
        "datasource": ds,
        "description": description,
        "fieldConfig": {
            "defaults": field_defaults(unit, decimals, steps, min_, max_),
            "overrides": overrides or [],
        },
        "options": {
            "displayMode": "gradient",
            "maxVizHeight": 300,
            "minVizHeight": 16,
            "minVizWidth": 8,
            "namePlacement": "auto",
            "orientation": "horizontal",
            "reduceOptions": reduce_opts(),
            "showUnfilled": True,
            "sizing": "auto",
            "valueMode": "color",
        },
        "targets": targets,
        "title": title,
        "type": "bargauge",
    }


def stat(title, description, targets, ds, unit, decimals=None, steps=None, mappings=None, color_mode="background",
         overrides=None, text_mode="auto"):
    return {
        "datasource": ds,
        "description": description,
        "fieldConfig": {
            "defaults": field_defaults(unit, decimals, steps, mappings=mappings),
            "overrides": overrides or [],
        },
        "options": {
            "colorMode": color_mode,
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": reduce_opts(),
            "showPercentChange": False,
            "textMode": text_mode,
            "wideLayout": True,
        },
        "targets": targets,
        "title": title,
        "type": "stat",
    }


def table(title, description, targets, ds, unit, decimals=None, steps=None, overrides=None, transformations=None,
          mappings=None, sort_by=None):
    return {
        "datasource": ds,
        "description": description,
        "fieldConfig": {
            "defaults": field_defaults(unit, decimals, steps, mappings=mappings,
                                       custom={"align": "auto", "cellOptions": {"type": "auto"},
                                               "filterable": True, "inspect": False}),
            "overrides": overrides or [],
        },
        "options": {
            "cellHeight": "sm",
            "footer": {"countRows": False, "fields": "", "reducer": ["sum"], "show": False},
            "showHeader": True,
            "sortBy": sort_by or [],
        },
        "targets": targets,
        "title": title,
        "transformations": transformations or [],
        "type": "table",
    }


def state_timeline(title, description, targets, ds, mappings, steps):
    return {
        "datasource": ds,
        "description": description,
        "fieldConfig": {
            "defaults": field_defaults("none", 0, steps, mappings=mappings,
                                       custom={"fillOpacity": 80, "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                                               "insertNulls": False, "lineWidth": 0, "spanNulls": False}),
            "overrides": [],
        },
        "options": {
            "alignValue": "left",
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "never",
            "tooltip": {"mode": "single", "sort": "none"},
        },
        "targets": targets,
        "title": title,
        "type": "state-timeline",
    }


def by_name(name, props):
    return {"matcher": {"id": "byName", "options": name}, "properties": props}


def prop(id_, value):
    return {"id": id_, "value": value}


def cell(type_, mode=None):
    c = {"type": type_}
    if mode:
        c["mode"] = mode
    return prop("custom.cellOptions", c)


def value_map(entries):
    """entries: list of (value, text, color)"""
    opts = {}
    for i, (v, text, color) in enumerate(entries):
        opts[str(v)] = {"color": color, "index": i, "text": text}
    return {"type": "value", "options": opts}


STATUS_MAP = value_map([
    ("compliant", "compliant", "green"),
    ("breach", "BREACH", "red"),
    ("insufficient_data", "insufficient data", "#8e8e8e"),
])
GRADE_MAP = value_map([(1, "grade 1", "green"), (2, "grade 2", "#EAB839"), (3, "grade 3", "orange")])
STALE_MAP = value_map([(0, "fresh", "green"), (1, "STALE", "red")])
CONNECTED_MAP = value_map([(0, "disconnected", "red"), (1, "connected", "green")])
FIRING_MAP = value_map([(0, "ok", "green"), (1, "firing", "red")])

F = 'facility=~"$facility"'


# ================================================================ province

def province():
    L = Layout()
    L.row("Compliance on the compliance window ($compliance_window): the verdict")
    L.add(stat(
        "Facilities by status",
        "How many facilities are compliant, in breach of their PUE ceiling, or without enough data "
        "(coverage of the compliance window below min_coverage) - dcpue_facility_status.",
        [
            prom_target(f'sum(max by (facility) (dcpue_facility_status{{{F},status="compliant"}}))', "compliant", "A", instant=True),
            prom_target(f'sum(max by (facility) (dcpue_facility_status{{{F},status="breach"}}))', "breach", "B", instant=True),
            prom_target(f'sum(max by (facility) (dcpue_facility_status{{{F},status="insufficient_data"}}))', "insufficient data", "C", instant=True),
        ],
        PROM, "none", 0,
        overrides=[
            by_name("compliant", [prop("color", {"fixedColor": "green", "mode": "fixed"})]),
            by_name("breach", [prop("color", {"fixedColor": "red", "mode": "fixed"})]),
            by_name("insufficient data", [prop("color", {"fixedColor": "#8e8e8e", "mode": "fixed"})]),
        ],
        text_mode="value_and_name",
    ), 8, 5)
    L.add(stat(
        "Alerts firing",
        "dcpue's own alerts (PueAboveCeiling, CoverageBelowMinimum, PueImplausible, MeterStale, "
        "RenewableShareBelowTarget) firing now - dcpue_alert_active == 1.",
        [prom_target(f'sum(max without (instance) (dcpue_alert_active{{{F}}}) == 1) or vector(0)', "firing", "A", instant=True)],
        PROM, "none", 0, steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
    ), 4, 5)
    L.add(stat(
        "Province energy-weighted PUE ($compliance_window)",
        "Total energy over IT energy of the selected facilities on the compliance window "
        "(sum of dcpue_energy_kwh by role). An indication only: each facility is judged on its own PUE.",
        [prom_target(
            f'sum(max by (facility) (dcpue_energy_kwh{{{F},window="$compliance_window",role="total"}})) '
            f'/ sum(max by (facility) (dcpue_energy_kwh{{{F},window="$compliance_window",role="it"}}))',
            "PUE", "A", instant=True)],
        PROM, "none", 3, PUE_STEPS,
    ), 6, 5)
    L.add(stat(
        "Stale facilities",
        "Facilities whose watermark is older than their stale_after (dcpue_facility_stale): "
        "a meter or gateway stopped reporting.",
        [prom_target(f'sum(max by (facility) (dcpue_facility_stale{{{F}}}))', "stale", "A", instant=True)],
        PROM, "none", 0, steps=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
    ), 6, 5)

    L.add(table(
        "Status and grade per facility",
        "The verdict per facility on the compliance window: status (compliant / breach / insufficient data), "
        "GB 40879-2021 grade (1 <= 1.20, 2 <= 1.30, 3 <= 1.50; empty when insufficient or above the grade-3 bound), "
        "PUE against its ceiling, coverage, watermark, and the estimated share: the part of the compliance "
        "window's total and IT energy from readings that are not metered (estimated or manual; "
        "dcpue_estimated_share_ratio, 0 when every reading was metered).",
        [
            prom_target(f'max by (facility, name, city, tier, class) (dcpue_facility_info{{{F}}})', "", "A", True, "table"),
            prom_target(f'max by (facility, status) (dcpue_facility_status{{{F}}}) == 1', "", "B", True, "table"),
            prom_target(f'max by (facility) (dcpue_facility_grade{{{F}}})', "", "C", True, "table"),
            prom_target(f'max by (facility) (dcpue_pue_ratio{{{F},window="$compliance_window"}})', "", "D", True, "table"),
            prom_target(f'max by (facility) (dcpue_pue_ceiling_ratio{{{F}}})', "", "E", True, "table"),
            prom_target(f'max by (facility) (dcpue_coverage_ratio{{{F},window="$compliance_window"}})', "", "F", True, "table"),
            prom_target(f'max by (facility) (dcpue_facility_stale{{{F}}})', "", "G", True, "table"),
            prom_target(f'max by (facility) (dcpue_watermark_timestamp_seconds{{{F}}}) * 1000', "", "H", True, "table"),
            prom_target(f'max by (facility) (dcpue_estimated_share_ratio{{{F},window="$compliance_window"}})', "", "I", True, "table"),
        ],
        PROM, "none", 3,
        transformations=[
            {"id": "joinByField", "options": {"byField": "facility", "mode": "outer"}},
            {"id": "organize", "options": {
                "excludeByName": {**{f"Time {i}": True for i in range(1, 10)}, "Time": True,
                                  "Value #A": True, "Value #B": True},
                "indexByName": {"facility": 0, "name": 1, "city": 2, "tier": 3, "class": 4, "status": 5,
                                "Value #C": 6, "Value #D": 7, "Value #E": 8, "Value #F": 9, "Value #G": 10,
                                "Value #H": 11, "Value #I": 12},
                "renameByName": {"Value #C": "grade", "Value #D": "PUE", "Value #E": "ceiling",
                                 "Value #F": "coverage", "Value #G": "stale", "Value #H": "watermark",
                                 "Value #I": "estimated"},
            }},
        ],
        overrides=[
            by_name("status", [prop("mappings", [STATUS_MAP]), cell("color-background", "basic"), prop("unit", "none")]),
            by_name("grade", [prop("mappings", [GRADE_MAP]), prop("decimals", 0), cell("color-text")]),
            by_name("PUE", [prop("thresholds", th(PUE_STEPS)), prop("decimals", 3), cell("color-background", "basic")]),
            by_name("ceiling", [prop("decimals", 2)]),
            by_name("coverage", [prop("unit", "percentunit"), prop("decimals", 1), prop("thresholds", th(COVERAGE_STEPS)), cell("color-text")]),
            by_name("stale", [prop("mappings", [STALE_MAP]), cell("color-text")]),
            by_name("watermark", [prop("unit", "dateTimeAsIso")]),
            by_name("estimated", [prop("unit", "percentunit"), prop("decimals", 1),
                                  prop("thresholds", th(ESTIMATED_STEPS)), cell("color-text")]),
        ],
        steps=PUE_STEPS,
        sort_by=[{"desc": True, "displayName": "PUE"}],
    ), 24, 9)

    L.row("PUE per facility by tier, against the ceiling")
    p = L.add(bargauge(
        "PUE on $compliance_window - $tier",
        "PUE of each facility of the tier on the compliance window (dcpue_pue_ratio; no bar while it is null). "
        "Thresholds: yellow above grade 1 (1.20), red above the 1.3 ceiling of new large data centres, dark red "
        "above the grade-3 legal limit (1.50). Facilities with another ceiling: see the table above.",
        [prom_target(f'max by (facility) (dcpue_pue_ratio{{{F},tier=~"$tier",window="$compliance_window"}})',
                     "{{facility}}", "A", instant=True)],
        PROM, "none", 3, PUE_STEPS, 1.0, 1.6,
    ), 8, 8)
    p["repeat"] = "tier"
    p["repeatDirection"] = "h"
    p["maxPerRow"] = 3

    L.add(timeseries(
        "PUE trend - $window window",
        "PUE of the selected facilities on the chosen window over time (dcpue_pue_ratio), with each facility's "
        "ceiling (dcpue_pue_ceiling_ratio, dashed) and threshold lines at 1.2 / 1.3 / 1.5. Windows shorter than "
        "the compliance window are interim PUE, early warnings, not verdicts.",
        [
            prom_target(f'max by (facility, tier) (dcpue_pue_ratio{{{F},tier=~"$tier",window="$window"}})',
                        "{{facility}} ({{tier}})", "A"),
            prom_target(f'max by (facility) (dcpue_pue_ceiling_ratio{{{F}}})', "ceiling {{facility}}", "B"),
        ],
        PROM, "none", 3, PUE_STEPS, "dashed", [dashed_override("^ceiling .*")],
    ), 16, 9)
    L.add(table(
        "PUE per facility and window",
        "Every configured window (dcpue_pue_ratio), one row per facility. Only the compliance window is a verdict; "
        "15m to 30d are interim PUE.",
        [prom_target(f'max by (facility, window) (dcpue_pue_ratio{{{F},tier=~"$tier"}})', "", "A", True, "table")],
        PROM, "none", 3, PUE_STEPS,
        transformations=[{"id": "groupingToMatrix", "options": {
            "columnField": "window", "rowField": "facility", "valueField": "Value", "emptyValue": "null"}}],
        overrides=[{"matcher": {"id": "byType", "options": "number"},
                    "properties": [cell("color-text")]}],
    ), 8, 9)

    L.row("Coverage and energy")
    L.add(timeseries(
        "Coverage - $window window",
        "Share of the window covered by every total and IT meter (dcpue_coverage_ratio). Below min_coverage "
        "(0.9 by default, the red threshold) the PUE is shown but judged insufficient_data.",
        [prom_target(f'max by (facility) (dcpue_coverage_ratio{{{F},window="$window"}})', "{{facility}}", "A")],
        PROM, "percentunit", 1, COVERAGE_STEPS, "dashed", min_=0, max_=1,
    ), 12, 8)
    L.add(bargauge(
        "Coverage of the compliance window ($compliance_window)",
        "dcpue_coverage_ratio on the compliance window: the part of the year the verdict rests on.",
        [prom_target(f'max by (facility) (dcpue_coverage_ratio{{{F},window="$compliance_window"}})',
                     "{{facility}}", "A", instant=True)],
        PROM, "percentunit", 1, COVERAGE_STEPS, 0, 1,
    ), 6, 8)
    L.add(bargauge(
        "Energy by role - $window window",
        "Energy measured inside the window by role (dcpue_energy_kwh): total facility energy, IT energy, renewable energy.",
        [prom_target(f'max by (facility, role) (dcpue_energy_kwh{{{F},window="$window"}})',
                     "{{facility}} {{role}}", "A", instant=True)],
        PROM, "kwatth", 0, [{"color": "blue", "value": None}], 0,
    ), 6, 8)

    L.row("Beyond PUE: WUE, ERF, REF, CUE on the compliance window ($compliance_window)")
    L.add(bargauge(
        "WUE on $compliance_window, with its target",
        "Water usage effectiveness: water drawn / IT energy, L/kWh (dcpue_wue_liters_per_kwh; no bar without a "
        "water meter or while it covers too little). \"target\" bars: each facility's wue_target "
        "(dcpue_wue_target_liters_per_kwh); above it WueAboveTarget fires. China's procurement standard: 2.5 L/kWh.",
        [
            prom_target(f'max by (facility) (dcpue_wue_liters_per_kwh{{{F},window="$compliance_window"}})',
                        "{{facility}}", "A", instant=True),
            prom_target(f'max by (facility) (dcpue_wue_target_liters_per_kwh{{{F}}})',
                        "target {{facility}}", "B", instant=True),
        ],
        PROM, "suffix: L/kWh", 2,
        [{"color": "green", "value": None}, {"color": "orange", "value": 1.6}, {"color": "red", "value": 2.5}], 0,
    ), 6, 9)
    L.add(bargauge(
        "REF on $compliance_window, with its target",
        "Renewable energy factor: (renewable energy + green certificates) / total energy, capped at 1 "
        "(dcpue_ref_ratio). \"target\" bars: each facility's ref_target (dcpue_ref_target_ratio); below it "
        "RefBelowTarget fires. China's target for new data centres: 30% by 2025.",
        [
            prom_target(f'max by (facility) (dcpue_ref_ratio{{{F},window="$compliance_window"}})',
                        "{{facility}}", "A", instant=True),
            prom_target(f'max by (facility) (dcpue_ref_target_ratio{{{F}}})',
                        "target {{facility}}", "B", instant=True),
        ],
        PROM, "percentunit", 1, SHARE_STEPS, 0, 1,
    ), 6, 9)
    L.add(bargauge(
        "ERF on $compliance_window",
        "Energy reuse factor: heat delivered for reuse outside the data centre / total energy (dcpue_erf_ratio; "
        "no bar without a reused_heat meter).",
        [prom_target(f'max by (facility) (dcpue_erf_ratio{{{F},window="$compliance_window"}})',
                     "{{facility}}", "A", instant=True)],
        PROM, "percentunit", 1, [{"color": "blue", "value": None}], 0, 1,
    ), 6, 9)
    L.add(bargauge(
        "CUE on $compliance_window",
        "Carbon usage effectiveness: grid energy not matched by renewables or certificates x the grid emission "
        "factor ([policy] grid_emission_factor) / IT energy, kg CO2/kWh (dcpue_cue_kg_per_kwh).",
        [prom_target(f'max by (facility) (dcpue_cue_kg_per_kwh{{{F},window="$compliance_window"}})',
                     "{{facility}}", "A", instant=True)],
        PROM, "suffix: kg/kWh", 3,
        [{"color": "green", "value": None}, {"color": "orange", "value": 0.4}, {"color": "red", "value": 0.6}], 0,
    ), 6, 9)

    L.row("Alerts")
    L.add(table(
        "Alerts firing now",
        "dcpue's built-in alerts that fire now (dcpue_alert_active == 1), with their window and severity. "
        "Pending alerts and history: dcpue's /api/v1/alerts and /api/v1/alerts/history.",
        [prom_target(f'max by (alertname, facility, window, severity) (dcpue_alert_active{{{F}}}) == 1', "", "A", True, "table")],
        PROM, "none", 0,
        transformations=[{"id": "organize", "options": {"excludeByName": {"Time": True, "Value": True},
                                                        "indexByName": {"alertname": 0, "facility": 1, "window": 2, "severity": 3}}}],
        overrides=[by_name("severity", [prop("mappings", [value_map([("critical", "critical", "red"), ("warning", "warning", "orange"), ("info", "info", "blue")])]),
                                        cell("color-text")])],
    ), 10, 8)
    L.add(state_timeline(
        "Alert timeline",
        "When each alert fired (dcpue_alert_active).",
        [prom_target(f'max by (alertname, facility, window) (dcpue_alert_active{{{F}}})',
                     "{{alertname}} {{facility}} {{window}}", "A")],
        PROM, [FIRING_MAP], [{"color": "green", "value": None}, {"color": "red", "value": 1}],
    ), 14, 8)

    L.row("Ingest health")
    L.add(stat(
        "MQTT broker",
        "dcpue's connection to the MQTT broker (dcpue_mqtt_connected).",
        [prom_target('min(dcpue_mqtt_connected)', "broker", "A", instant=True)],
        PROM, "none", 0, [{"color": "red", "value": None}, {"color": "green", "value": 1}], [CONNECTED_MAP],
    ), 4, 5)
    L.add(stat(
        "Last MQTT message",
        "Seconds since dcpue received its last MQTT message (dcpue_mqtt_last_message_age_seconds).",
        [prom_target('max(dcpue_mqtt_last_message_age_seconds)', "age", "A", instant=True)],
        PROM, "s", 0, [{"color": "green", "value": None}, {"color": "#EAB839", "value": 60}, {"color": "red", "value": 300}],
    ), 4, 5)
    L.add(stat(
        "Readings accepted / s",
        "Readings taken by the engine per second, selected facilities (rate of dcpue_readings_accepted_total).",
        [prom_target(f'sum(max by (facility) (rate(dcpue_readings_accepted_total{{{F}}}[$__rate_interval])))', "accepted", "A", instant=True)],
        PROM, "ops", 2, [{"color": "red", "value": None}, {"color": "green", "value": 0.0001}],
    ), 4, 5)
    L.add(stat(
        "Rejected share",
        "Rejected readings over all received (dcpue_readings_rejected_total, every reason, duplicates included; "
        "unknown facility counted under facility \"\").",
        [prom_target(
            f'sum(max by (facility, reason) (rate(dcpue_readings_rejected_total{{facility=~"$facility|"}}[$__rate_interval]))) '
            f'/ (sum(max by (facility, reason) (rate(dcpue_readings_rejected_total{{facility=~"$facility|"}}[$__rate_interval]))) '
            f'+ sum(max by (facility) (rate(dcpue_readings_accepted_total{{{F}}}[$__rate_interval]))))', "rejected", "A", instant=True)],
        PROM, "percentunit", 2, [{"color": "green", "value": None}, {"color": "#EAB839", "value": 0.01}, {"color": "red", "value": 0.05}],
    ), 4, 5)
    L.add(stat(
        "InfluxDB sink queue",
        "Points waiting for the InfluxDB sink (dcpue_influx_queue_points); grows while the server is unreachable.",
        [prom_target('max(dcpue_influx_queue_points)', "queued", "A", instant=True)],
        PROM, "short", 0, [{"color": "green", "value": None}, {"color": "#EAB839", "value": 10000}],
    ), 4, 5)
    L.add(stat(
        "Watermark lag (max)",
        "Wall clock minus the oldest facility watermark (dcpue_watermark_timestamp_seconds): how far behind the data is.",
        [prom_target(f'max(time() - dcpue_watermark_timestamp_seconds{{{F}}})', "lag", "A", instant=True)],
        PROM, "s", 0, [{"color": "green", "value": None}, {"color": "#EAB839", "value": 300}, {"color": "red", "value": 3600}],
    ), 4, 5)
    L.add(timeseries(
        "Readings accepted per facility",
        "rate(dcpue_readings_accepted_total) per facility.",
        [prom_target(f'max by (facility) (rate(dcpue_readings_accepted_total{{{F}}}[$__rate_interval]))', "{{facility}}", "A")],
        PROM, "ops", 2, calcs=["mean", "lastNotNull"],
    ), 12, 8)
    L.add(timeseries(
        "Readings rejected by reason",
        "rate(dcpue_readings_rejected_total) by reason (too_large, malformed, unknown_meter, invalid_value, "
        "future_timestamp, duplicate, conflict, too_late, implausible, glitch, gateway_error). duplicate is usually a QoS 1 redelivery.",
        [prom_target(f'sum by (reason) (max by (facility, reason) (rate(dcpue_readings_rejected_total{{facility=~"$facility|"}}[$__rate_interval])))', "{{reason}}", "A")],
        PROM, "ops", 3, draw="bars", fill=60, stacking="normal", calcs=["mean", "lastNotNull"],
    ), 12, 8)
    L.add(table(
        "Rejected in the time range by facility and reason",
        "increase(dcpue_readings_rejected_total) over the dashboard's time range; facility \"\" is an unknown facility.",
        [prom_target(f'max by (facility, reason) (increase(dcpue_readings_rejected_total{{facility=~"$facility|"}}[$__range]))', "", "A", True, "table")],
        PROM, "short", 0,
        transformations=[{"id": "groupingToMatrix", "options": {"columnField": "reason", "rowField": "facility", "valueField": "Value", "emptyValue": "zero"}}],
    ), 12, 8)
    L.add(timeseries(
        "MQTT connection and message age",
        "dcpue_mqtt_connected (right axis, 1 = connected) and seconds since the last message.",
        [
            prom_target('max(dcpue_mqtt_last_message_age_seconds)', "last message age", "A"),
            prom_target('min(dcpue_mqtt_connected)', "connected", "B"),
        ],
        PROM, "s", 0,
        overrides=[by_name("connected", [prop("unit", "none"), prop("custom.axisPlacement", "right"),
                                          prop("min", 0), prop("max", 1), prop("custom.drawStyle", "line"),
                                          prop("custom.lineInterpolation", "stepAfter")])],
        calcs=["lastNotNull", "max"],
    ), 6, 8)
    L.add(timeseries(
        "InfluxDB sink",
        "Points written per second (dcpue_influx_points_written_total), write errors by kind "
        "(dcpue_influx_write_errors_total) and the queue (dcpue_influx_queue_points, right axis).",
        [
            prom_target('max(rate(dcpue_influx_points_written_total[$__rate_interval]))', "written", "A"),
            prom_target('max by (kind) (rate(dcpue_influx_write_errors_total[$__rate_interval]))', "errors {{kind}}", "B"),
            prom_target('max(dcpue_influx_queue_points)', "queued", "C"),
        ],
        PROM, "ops", 2,
        overrides=[by_name("queued", [prop("unit", "short"), prop("custom.axisPlacement", "right")]),
                   {"matcher": {"id": "byRegexp", "options": "^errors .*"},
                    "properties": [prop("color", {"fixedColor": "red", "mode": "fixed"})]}],
        calcs=["mean", "lastNotNull"],
    ), 6, 8)

    variables = [
        ds_var("prometheus", "Prometheus"),
        prom_query_var("tier", "Tier", "label_values(dcpue_facility_info, tier)", all_value=".*"),
        prom_query_var("facility", "Facility", 'label_values(dcpue_facility_info{tier=~"$tier"}, facility)'),
        prom_query_var("window", "Window", "label_values(dcpue_coverage_ratio, window)", multi=False,
                       include_all=False, current=single("24h"), sort=0),
        constant_var("compliance_window", "365d", "Compliance window"),
    ]
    return base_dashboard(
        "dcpue-province", "dcpue - Jiangxi province PUE overview",
        "PUE compliance of Jiangxi's data centres (one core, four supplementary, two backup) from dcpue's "
        "/metrics scraped by Prometheus: PUE against the 1.3 ceiling, status and GB 40879 grade, coverage, "
        "alerts and ingest health.",
        ["dcpue", "pue", "energy"], variables, L.panels)


# ================================================================ renewables

def renewables():
    L = Layout()
    L.add(bargauge(
        "Renewable share on the compliance window ($compliance_window)",
        "Renewable energy over total energy on the compliance window (dcpue_renewable_share_ratio; no bar while "
        "the renewable meters cover less than min_coverage of the window). Each facility's target: the panel to the right.",
        [prom_target(f'max by (facility) (dcpue_renewable_share_ratio{{{F},window="$compliance_window"}})', "{{facility}}", "A", instant=True)],
        PROM, "percentunit", 1, SHARE_STEPS, 0, 1,
    ), 10, 9)
    L.add(bargauge(
        "Renewable target",
        "The renewable_target of each facility that has one (dcpue_renewable_target_ratio).",
        [prom_target(f'max by (facility) (dcpue_renewable_target_ratio{{{F}}})', "{{facility}}", "A", instant=True)],
        PROM, "percentunit", 1, [{"color": "blue", "value": None}], 0, 1,
    ), 6, 9)
    L.add(stat(
        "Gap to target ($compliance_window)",
        "Share on the compliance window minus the target, for facilities with a target: below zero "
        "RenewableShareBelowTarget fires.",
        [prom_target(
            f'max by (facility) (dcpue_renewable_share_ratio{{{F},window="$compliance_window"}}) '
            f'- on (facility) max by (facility) (dcpue_renewable_target_ratio{{{F}}})', "{{facility}}", "A", instant=True)],
        PROM, "percentunit", 1, [{"color": "red", "value": None}, {"color": "green", "value": 0}],
        text_mode="value_and_name",
    ), 8, 9)
    L.add(table(
        "Renewable share per facility and window",
        "dcpue_renewable_share_ratio, one row per facility, one column per selected window.",
        [prom_target(f'max by (facility, window) (dcpue_renewable_share_ratio{{{F},window=~"$window"}})', "", "A", True, "table")],
        PROM, "percentunit", 1, SHARE_STEPS,
        transformations=[{"id": "groupingToMatrix", "options": {
            "columnField": "window", "rowField": "facility", "valueField": "Value", "emptyValue": "null"}}],
        overrides=[{"matcher": {"id": "byType", "options": "number"}, "properties": [cell("color-text")]}],
    ), 10, 9)
    L.add(timeseries(
        "Renewable share trend",
        "dcpue_renewable_share_ratio over time for the selected windows, with each facility's target (dashed).",
        [
            prom_target(f'max by (facility, window) (dcpue_renewable_share_ratio{{{F},window=~"$window"}})', "{{facility}} {{window}}", "A"),
            prom_target(f'max by (facility) (dcpue_renewable_target_ratio{{{F}}})', "target {{facility}}", "B"),
        ],
        PROM, "percentunit", 1, SHARE_STEPS, "off", [dashed_override("^target .*", "blue")], 0, 1,
    ), 14, 9)
    L.add(timeseries(
        "Renewable and total energy",
        "Energy measured inside each selected window (dcpue_energy_kwh, roles renewable and total).",
        [prom_target(f'max by (facility, window, role) (dcpue_energy_kwh{{{F},window=~"$window",role=~"renewable|total"}})',
                     "{{facility}} {{window}} {{role}}", "A")],
        PROM, "kwatth", 0, calcs=["lastNotNull"],
        overrides=[{"matcher": {"id": "byRegexp", "options": ".* total$"},
                    "properties": [prop("custom.lineStyle", {"dash": [4, 6], "fill": "dot"})]}],
    ), 12, 9)
    L.add(state_timeline(
        "Target met or missed (RenewableShareBelowTarget)",
        "When dcpue's RenewableShareBelowTarget alert fired, per facility with a target (0 = met).",
        [prom_target(
            f'max by (facility) (dcpue_alert_active{{alertname="RenewableShareBelowTarget",{F}}}) '
            f'or on (facility) (0 * max by (facility) (dcpue_renewable_target_ratio{{{F}}}))', "{{facility}}", "A")],
        PROM, [value_map([(0, "target met", "green"), (1, "below target", "red")])],
        [{"color": "green", "value": None}, {"color": "red", "value": 1}],
    ), 12, 9)

    variables = [
        ds_var("prometheus", "Prometheus"),
        prom_query_var("tier", "Tier", "label_values(dcpue_facility_info, tier)", all_value=".*"),
        prom_query_var("facility", "Facility", 'label_values(dcpue_facility_info{tier=~"$tier"}, facility)'),
        prom_query_var("window", "Windows", "label_values(dcpue_renewable_share_ratio, window)", multi=True,
                       include_all=True, current=multi_cur(["30d", "365d"]), sort=0),
        constant_var("compliance_window", "365d", "Compliance window"),
    ]
    return base_dashboard(
        "dcpue-renewables", "dcpue - renewable energy share",
        "Renewable share of each facility's energy per window, its trend and its target, from dcpue's /metrics "
        "scraped by Prometheus.",
        ["dcpue", "renewables", "energy"], variables, L.panels, time_from="now-7d", refresh="5m")


# ================================================================ history (PromQL on VictoriaMetrics)

def history_promql():
    L = Layout()
    S = f'{F},tier=~"$tier",window="$window"'
    L.add(timeseries(
        "PUE - $window window",
        "dcpue_window_pue: the PUE of the window ending at each watermark step, as written by dcpue's InfluxDB "
        "sink (measurement dcpue_window, field pue). Lines at 1.2 (grade 1), 1.3 (ceiling of new large data "
        "centres) and 1.5 (grade 3, the legal limit).",
        [prom_target(f'max by (facility) (dcpue_window_pue{{{S}}})', "{{facility}}", "A")],
        PROM, "none", 3, PUE_STEPS, "dashed",
    ), 16, 9)
    L.add(bargauge(
        "Latest PUE - $window window",
        "The newest dcpue_window_pue point in the time range.",
        [prom_target(f'max by (facility) (last_over_time(dcpue_window_pue{{{S}}}[$__range]))', "{{facility}}", "A", instant=True)],
        PROM, "none", 3, PUE_STEPS, 1.0, 1.6,
    ), 8, 9)
    L.add(timeseries(
        "Coverage - $window window",
        "dcpue_window_coverage (field coverage). Below min_coverage (0.9 by default) the PUE is not a verdict.",
        [prom_target(f'max by (facility) (dcpue_window_coverage{{{S}}})', "{{facility}}", "A")],
        PROM, "percentunit", 1, COVERAGE_STEPS, "dashed", min_=0, max_=1,
    ), 8, 8)
    L.add(timeseries(
        "Renewable share - $window window",
        "dcpue_window_renewable_share (field renewable_share; no point while the renewable meters cover too little).",
        [prom_target(f'max by (facility) (dcpue_window_renewable_share{{{S}}})', "{{facility}}", "A")],
        PROM, "percentunit", 1, SHARE_STEPS, "off", min_=0, max_=1,
    ), 8, 8)
    L.add(timeseries(
        "Estimated share - $window window",
        "dcpue_window_estimated_share (field estimated_share): the part of the window's total and IT energy "
        "from readings that are not metered (estimated or manual); 0 when every reading was metered.",
        [prom_target(f'max by (facility) (dcpue_window_estimated_share{{{S}}})', "{{facility}}", "A")],
        PROM, "percentunit", 1, ESTIMATED_STEPS, "off", min_=0, max_=1,
    ), 8, 8)
    L.add(timeseries(
        "Energy in the $window window by role",
        "dcpue_window_energy_total_kwh, _it_kwh and _renewable_kwh: energy measured inside the window.",
        [
            prom_target(f'max by (facility) (dcpue_window_energy_total_kwh{{{S}}})', "{{facility}} total", "A"),
            prom_target(f'max by (facility) (dcpue_window_energy_it_kwh{{{S}}})', "{{facility}} it", "B"),
            prom_target(f'max by (facility) (dcpue_window_energy_renewable_kwh{{{S}}})', "{{facility}} renewable", "C"),
        ],
        PROM, "kwatth", 0, calcs=["lastNotNull"],
    ), 24, 9)
    L.add(timeseries(
        "Meter power",
        "dcpue_reading_power_kw: accepted readings' instantaneous power per meter (average per interval). "
        "Raw meters: a sub-meter with weight -1 in dcpue's config is shown as measured.",
        [prom_target(f'avg by (facility, meter, role) (avg_over_time(dcpue_reading_power_kw{{{F}}}[$__interval]))',
                     "{{facility}}/{{meter}} ({{role}})", "A")],
        PROM, "kwatt", 1, calcs=["mean", "lastNotNull"],
    ), 12, 9)
    L.add(timeseries(
        "Meter energy registers",
        "dcpue_reading_energy_kwh: accepted readings' cumulative energy register per meter (as received; "
        "resets and glitches are visible here, dcpue's window energy above has them resolved).",
        [prom_target(f'max by (facility, meter, role) (dcpue_reading_energy_kwh{{{F}}})',
                     "{{facility}}/{{meter}} ({{role}})", "A")],
        PROM, "kwatth", 1, calcs=["lastNotNull"],
    ), 12, 9)

    variables = [
        ds_var("prometheus", "VictoriaMetrics", "VictoriaMetrics"),
        prom_query_var("tier", "Tier", "label_values(dcpue_window_coverage, tier)", all_value=".*"),
        prom_query_var("facility", "Facility", 'label_values(dcpue_window_coverage{tier=~"$tier"}, facility)'),
        prom_query_var("window", "Window", "label_values(dcpue_window_coverage, window)", multi=False,
                       include_all=False, current=single("24h"), sort=0),
    ]
    return base_dashboard(
        "dcpue-history-promql", "dcpue - long-term history (VictoriaMetrics / PromQL)",
        "dcpue's InfluxDB-sink points (CONTRACT §8) as they land in VictoriaMetrics: dcpue_window_* per facility and "
        "window, dcpue_reading_* per meter. Pick a Prometheus-type data source pointing at VictoriaMetrics.",
        ["dcpue", "history", "victoriametrics"], variables, L.panels, time_from="now-30d", refresh="5m")


# ================================================================ history (Flux on InfluxDB 2)

def flux_window(fields, agg="last", extra_group=()):
    fcond = " or ".join(f'r._field == "{f}"' for f in fields)
    group = ["facility"] + list(extra_group)
    cols = ", ".join(f'"{c}"' for c in group)
    keep = ", ".join(f'"{c}"' for c in ["_time", "_value"] + group)
    return (
        'from(bucket: "${bucket}")\n'
        '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
        f'  |> filter(fn: (r) => r._measurement == "dcpue_window" and ({fcond}))\n'
        '  |> filter(fn: (r) => r.facility =~ /^${facility:regex}$/ and r.tier =~ /^${tier:regex}$/ and r.window == "${window}")\n'
        f'  |> group(columns: [{cols}])\n'
        f'  |> aggregateWindow(every: v.windowPeriod, fn: {agg}, createEmpty: false)\n'
        f'  |> keep(columns: [{keep}])'
    )


def flux_reading(field, agg):
    return (
        'from(bucket: "${bucket}")\n'
        '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
        f'  |> filter(fn: (r) => r._measurement == "dcpue_reading" and r._field == "{field}")\n'
        '  |> filter(fn: (r) => r.facility =~ /^${facility:regex}$/)\n'
        '  |> group(columns: ["facility", "meter", "role"])\n'
        f'  |> aggregateWindow(every: v.windowPeriod, fn: {agg}, createEmpty: false)\n'
        '  |> keep(columns: ["_time", "_value", "facility", "meter", "role"])'
    )


def history_flux():
    L = Layout()
    name_fac = [{"matcher": {"id": "byFrameRefID", "options": "A"},
                 "properties": [prop("displayName", "${__field.labels.facility}")]}]
    L.add(timeseries(
        "PUE - $window window",
        "Field pue of measurement dcpue_window (CONTRACT §8) per facility. Lines at 1.2 (grade 1), 1.3 (ceiling "
        "of new large data centres) and 1.5 (grade 3, the legal limit).",
        [flux_target(flux_window(["pue"]))],
        FLUX, "none", 3, PUE_STEPS, "dashed", name_fac,
    ), 16, 9)
    L.add(table(
        "Latest values - $window window",
        "The newest dcpue_window point per facility in the time range.",
        [flux_target(
            'from(bucket: "${bucket}")\n'
            '  |> range(start: v.timeRangeStart, stop: v.timeRangeStop)\n'
            '  |> filter(fn: (r) => r._measurement == "dcpue_window" and (r._field == "pue" or r._field == "coverage" or r._field == "renewable_share"))\n'
            '  |> filter(fn: (r) => r.facility =~ /^${facility:regex}$/ and r.tier =~ /^${tier:regex}$/ and r.window == "${window}")\n'
            '  |> last()\n'
            '  |> pivot(rowKey: ["facility", "tier"], columnKey: ["_field"], valueColumn: "_value")\n'
            '  |> group()\n'
            '  |> keep(columns: ["facility", "tier", "pue", "coverage", "renewable_share"])')],
        FLUX, "none", 3, PUE_STEPS,
        overrides=[
            by_name("pue", [cell("color-background", "basic")]),
            by_name("coverage", [prop("unit", "percentunit"), prop("decimals", 1), prop("thresholds", th(COVERAGE_STEPS)), cell("color-text")]),
            by_name("renewable_share", [prop("unit", "percentunit"), prop("decimals", 1), prop("thresholds", th(SHARE_STEPS))]),
        ],
    ), 8, 9)
    L.add(timeseries(
        "Coverage - $window window",
        "Field coverage of dcpue_window. Below min_coverage (0.9 by default) the PUE is not a verdict.",
        [flux_target(flux_window(["coverage"], "min"))],
        FLUX, "percentunit", 1, COVERAGE_STEPS, "dashed", name_fac, 0, 1,
    ), 8, 8)
    L.add(timeseries(
        "Renewable share - $window window",
        "Field renewable_share of dcpue_window (left out while the renewable meters cover too little).",
        [flux_target(flux_window(["renewable_share"]))],
        FLUX, "percentunit", 1, SHARE_STEPS, "off", name_fac, 0, 1,
    ), 8, 8)
    L.add(timeseries(
        "Estimated share - $window window",
        "Field estimated_share of dcpue_window: the part of the window's total and IT energy from readings "
        "that are not metered (estimated or manual); 0 when every reading was metered.",
        [flux_target(flux_window(["estimated_share"], "max"))],
        FLUX, "percentunit", 1, ESTIMATED_STEPS, "off", name_fac, 0, 1,
    ), 8, 8)
    L.add(timeseries(
        "Energy in the $window window by role",
        "Fields energy_total_kwh, energy_it_kwh and energy_renewable_kwh of dcpue_window.",
        [flux_target(flux_window(["energy_total_kwh", "energy_it_kwh", "energy_renewable_kwh"], extra_group=("_field",)))],
        FLUX, "kwatth", 0, calcs=["lastNotNull"],
        overrides=[{"matcher": {"id": "byFrameRefID", "options": "A"},
                    "properties": [prop("displayName", "${__field.labels.facility} ${__field.labels._field}")]}],
    ), 24, 9)
    meter_name = [{"matcher": {"id": "byFrameRefID", "options": "A"},
                   "properties": [prop("displayName", "${__field.labels.facility}/${__field.labels.meter} (${__field.labels.role})")]}]
    L.add(timeseries(
        "Meter power",
        "Field power_kw of dcpue_reading: accepted readings per meter (mean per interval), as measured.",
        [flux_target(flux_reading("power_kw", "mean"))],
        FLUX, "kwatt", 1, overrides=meter_name, calcs=["mean", "lastNotNull"],
    ), 12, 9)
    L.add(timeseries(
        "Meter energy registers",
        "Field energy_kwh of dcpue_reading: the cumulative register as received.",
        [flux_target(flux_reading("energy_kwh", "last"))],
        FLUX, "kwatth", 1, overrides=meter_name, calcs=["lastNotNull"],
    ), 12, 9)

    schema = 'import "influxdata/influxdb/schema"\n'
    variables = [
        ds_var("influxdb", "InfluxDB", "InfluxDB"),
        textbox_var("bucket", "dcpue", "Bucket", "The bucket of dcpue's [influxdb] config."),
        flux_query_var("tier", "Tier",
                       schema + 'schema.measurementTagValues(bucket: "${bucket}", measurement: "dcpue_window", tag: "tier")'),
        flux_query_var("facility", "Facility",
                       schema + 'schema.tagValues(bucket: "${bucket}", tag: "facility", '
                       'predicate: (r) => r._measurement == "dcpue_window" and r.tier =~ /^${tier:regex}$/, start: -400d)'),
        flux_query_var("window", "Window",
                       schema + 'schema.measurementTagValues(bucket: "${bucket}", measurement: "dcpue_window", tag: "window")',
                       multi=False, include_all=False, current=single("24h")),
    ]
    return base_dashboard(
        "dcpue-history-flux", "dcpue - long-term history (InfluxDB 2 / Flux)",
        "dcpue's InfluxDB-sink points (CONTRACT §8) read with Flux: measurement dcpue_window (pue, coverage, "
        "renewable_share, energy_*_kwh by facility, tier, window) and dcpue_reading (power_kw, energy_kwh by "
        "facility, meter, role). Pick an InfluxDB data source with query language Flux and set the bucket.",
        ["dcpue", "history", "influxdb"], variables, L.panels, time_from="now-30d", refresh="5m")


for name, dash in [("dcpue-province.json", province()), ("dcpue-renewables.json", renewables()),
                   ("dcpue-history-promql.json", history_promql()), ("dcpue-history-flux.json", history_flux())]:
    with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
        json.dump(dash, f, indent=2, ensure_ascii=False)
        f.write("\n")
    print("wrote", name)
