/* dcpue regulators' dashboard. Plain JS, no dependencies, no network access but this server's
 * /api/v1. Hash routes: #/ (overview), #/facility/<id>, #/alerts?facility=&name=&since=. */
(function () {
  'use strict';

  var POLL_MS = 5000;
  var FETCH_TIMEOUT_MS = 8000;
  var TIERS = ['core', 'supplementary', 'backup'];
  var KNOWN_ALERTS = ['PueAboveCeiling', 'CoverageBelowMinimum', 'PueImplausible', 'MeterStale', 'RenewableShareBelowTarget', 'WueAboveTarget', 'RefBelowTarget'];
  var RANGES = {
    '24h': { ms: 24 * 3600e3, window: '1h', step: '1h' },
    '30d': { ms: 30 * 86400e3, window: '24h', step: '1d' },
    '12mo': { ms: 365 * 86400e3, window: '30d', step: '1d' }
  };
  var CITY_ZH = {
    Nanchang: '南昌', Jiujiang: '九江', Shangrao: '上饶', Ganzhou: '赣州', Yichun: '宜春',
    Fuzhou: '抚州', Yingtan: '鹰潭', Jingdezhen: '景德镇', Pingxiang: '萍乡', Xinyu: '新余', "Ji'an": '吉安'
  };

  var T = {
    zh: {
      title: '江西省数据中心能效（PUE）监管',
      subtitle: '一核四副两备 · 年度能效合规监测',
      skip: '跳到主要内容', views: '视图', overview: '总览', alerts: '告警', large: '大字',
      note: '合规以 12 个月能耗计（ISO/IEC 30134-2）；较短窗口的 PUE 为过程预警，不作结论。覆盖率低于阈值时只显示数值，不作判定。',
      noteWin: function (w) { return '合规以本配置的 ' + w + ' 窗口能耗计（年度 PUE 按 12 个月计，ISO/IEC 30134-2）；较短窗口的 PUE 为过程预警，不作结论。覆盖率低于阈值时只显示数值，不作判定。'; },
      back: '← 返回总览', trends: '趋势', range: '时间范围', r24h: '24 小时', r30d: '30 天', r12mo: '12 个月',
      pueTrend: 'PUE 趋势（红色虚线：上限；下方条形：数据覆盖率）',
      renTrend: '可再生能源占比趋势（绿色虚线：目标）',
      dataTable: '数据表', meters: '电表', facAlerts: '告警记录', alertsTitle: '全省告警',
      fFacility: '数据中心', fName: '告警类型', fSince: '起始日期', fClear: '清除筛选', csv: '下载 CSV（当前显示）',
      active: '当前告警', history: '历史告警', footer: '数据每 5 秒自动刷新 · 所有资源均由本机提供',
      tier_core: '核心', tier_supplementary: '副中心', tier_backup: '备份', tier_other: '其他',
      tierDesc_core: '一核', tierDesc_supplementary: '四副', tierDesc_backup: '两备', tierDesc_other: '',
      nSites: function (n) { return n + ' 个数据中心'; },
      status_compliant: '达标', status_breach: '超标', status_insufficient_data: '数据不足',
      grade: function (g) { return ['', '一级', '二级', '三级'][g] || (g + ' 级'); },
      gradeNone: '无等级', gradeAbove: '超出三级', gradeLabel: '能效等级',
      cwLabel: function (w) { return '合规窗口（' + w + '）PUE'; },
      ceiling: '上限', coverage: '覆盖率', renewable: '可再生能源占比', target: '目标', noTarget: '未设',
      kpis: '其他能效指标', kpiTitle: { wue: '水利用效率（升/千瓦时）', erf: '余热回收利用率', ref: '可再生能源利用率（含绿证）', cue: '碳利用效率（千克 CO₂/千瓦时）' },
      belowTarget: '低于目标', activeAlerts: '当前告警', noAlerts: '无告警', stale: '数据停滞',
      staleTitle: '最新数据已超过停报阈值', watermark: '数据截至', noData: '无数据', window: '窗口',
      interim: '过程值', lowCoverage: '覆盖不足',
      sumSites: '数据中心', sumCompliant: '达标', sumBreach: '超标', sumInsufficient: '数据不足', sumFiring: '触发中告警', sumStale: '数据停滞',
      live: '● 实时', down: '● 连接中断，显示最近数据', updated: '更新于', loading: '加载中…',
      notFound: '未找到该数据中心', seriesEmpty: '该时段无数据', seriesError: '趋势数据暂不可用',
      class_: { 'ultra-large': '超大型', large: '大型', medium: '中型', small: '小型' },
      role: { total: '总用电', it: 'IT 用电', renewable: '可再生' },
      sev: { critical: '严重', warning: '警告', info: '提示' },
      st: { firing: '触发中', pending: '待定', resolved: '已恢复' },
      alertName: {
        PueAboveCeiling: 'PUE 超过上限', CoverageBelowMinimum: '数据覆盖率不足', PueImplausible: 'PUE 不合理（IT 大于总用电）',
        MeterStale: '电表停报', RenewableShareBelowTarget: '可再生能源占比低于目标',
        WueAboveTarget: 'WUE 高于目标', RefBelowTarget: '可再生能源因子（REF）低于目标'
      },
      allFacilities: '全部数据中心', allNames: '全部类型',
      hName: '告警', hFacility: '数据中心', hScope: '窗口 / 电表', hSeverity: '级别', hState: '状态', hSince: '开始', hResolved: '恢复',
      hValue: '数值', lowCovTitle: '覆盖率低于最低要求：数值仅供参考',
      estTitle: function (p) { return '非全部计量：' + p + ' 的总能耗与 IT 能耗来自估算或人工读数'; }, hWorst: '最差值', hSummary: '说明', hTime: '时间', hPue: 'PUE', hRen: '可再生占比',
      mId: '电表', mRoles: '角色', mWeight: '权重', mLast: '最新读数', mPower: '功率 kW', mEnergy: '电度 kWh', mCov: '覆盖率',
      mHolds: '计入水位', yes: '是', no: '否（滞后）', accepted: '已接收读数', tierLabel: '层级', classLabel: '规模',
      noHistory: '无历史告警', noActive: '无当前告警', noMeters: '无电表信息',
      rows: function (n) { return '共 ' + n + ' 条'; },
      seriesHint: function (w, s) { return '每个点为截至该时刻的 ' + w + ' 窗口 PUE，步长 ' + s + '；空心点：覆盖率不足，仅供参考。'; },
      chartAria: function (n, last, ref) { return n + ' 个数据点，最新值 ' + last + (ref ? '，参考线 ' + ref : ''); },
      switchTo: 'Switch to English', changed: function (name, st) { return name + '：' + st; }
    },
    en: {
      title: 'Jiangxi Data-Centre Energy Efficiency (PUE) Supervision',
      subtitle: 'One core, four supplementary, two backup · annual PUE compliance',
      skip: 'Skip to main content', views: 'Views', overview: 'Overview', alerts: 'Alerts', large: 'Large text',
      note: 'Compliance is judged on 12 months of energy (ISO/IEC 30134-2); shorter windows are interim early warnings, not verdicts. Below the coverage threshold a PUE is shown but not judged.',
      noteWin: function (w) { return 'Compliance is judged on the ' + w + ' window of this configuration (an annual PUE takes 12 months, ISO/IEC 30134-2); shorter windows are interim early warnings, not verdicts. Below the coverage threshold a PUE is shown but not judged.'; },
      back: '← Back to overview', trends: 'Trends', range: 'Range', r24h: '24 hours', r30d: '30 days', r12mo: '12 months',
      pueTrend: 'PUE trend (red dashed: ceiling; bars below: data coverage)',
      renTrend: 'Renewable share trend (green dashed: target)',
      dataTable: 'Data table', meters: 'Meters', facAlerts: 'Alert history', alertsTitle: 'Province alerts',
      fFacility: 'Facility', fName: 'Alert', fSince: 'Since', fClear: 'Clear filters', csv: 'Download CSV (as shown)',
      active: 'Active alerts', history: 'Resolved alerts', footer: 'Refreshes every 5 s · every asset is served by this server',
      tier_core: 'Core', tier_supplementary: 'Supplementary', tier_backup: 'Backup', tier_other: 'Other',
      tierDesc_core: 'one core site', tierDesc_supplementary: 'four supplementary sites', tierDesc_backup: 'two backup sites', tierDesc_other: '',
      nSites: function (n) { return n + (n === 1 ? ' facility' : ' facilities'); },
      status_compliant: 'Compliant', status_breach: 'Breach', status_insufficient_data: 'Insufficient data',
      grade: function (g) { return 'Grade ' + g; },
      gradeNone: 'No grade', gradeAbove: 'Above grade 3', gradeLabel: 'Grade',
      cwLabel: function (w) { return 'PUE, compliance window (' + w + ')'; },
      ceiling: 'Ceiling', coverage: 'Coverage', renewable: 'Renewable share', target: 'Target', noTarget: 'none',
      kpis: 'Beyond PUE', kpiTitle: { wue: 'Water usage effectiveness (L/kWh)', erf: 'Energy reuse factor', ref: 'Renewable energy factor (with certificates)', cue: 'Carbon usage effectiveness (kg CO₂/kWh)' },
      belowTarget: 'below target', activeAlerts: 'Active alerts', noAlerts: 'No active alerts', stale: 'Stale',
      staleTitle: 'Newest data is older than the stale threshold', watermark: 'Data up to', noData: 'No data', window: 'Window',
      interim: 'interim', lowCoverage: 'low coverage',
      sumSites: 'Facilities', sumCompliant: 'Compliant', sumBreach: 'Breach', sumInsufficient: 'Insufficient data', sumFiring: 'Firing alerts', sumStale: 'Stale',
      live: '● Live', down: '● Connection lost: showing last data', updated: 'Updated', loading: 'Loading…',
      notFound: 'No such facility', seriesEmpty: 'No data in this period', seriesError: 'Trend data unavailable',
      class_: { 'ultra-large': 'Ultra-large', large: 'Large', medium: 'Medium', small: 'Small' },
      role: { total: 'Total', it: 'IT', renewable: 'Renewable' },
      sev: { critical: 'Critical', warning: 'Warning', info: 'Info' },
      st: { firing: 'Firing', pending: 'Pending', resolved: 'Resolved' },
      alertName: {
        PueAboveCeiling: 'PUE above ceiling', CoverageBelowMinimum: 'Coverage below minimum', PueImplausible: 'PUE implausible (IT above total)',
        MeterStale: 'Meter stale', RenewableShareBelowTarget: 'Renewable share below target',
        WueAboveTarget: 'WUE above target', RefBelowTarget: 'REF below target'
      },
      allFacilities: 'All facilities', allNames: 'All alerts',
      hName: 'Alert', hFacility: 'Facility', hScope: 'Window / meter', hSeverity: 'Severity', hState: 'State', hSince: 'Since', hResolved: 'Resolved',
      hValue: 'Value', lowCovTitle: 'Coverage below the minimum: indicative only',
      estTitle: function (p) { return 'Not wholly metered: ' + p + ' of the total and IT energy came from estimated or manual readings'; }, hWorst: 'Worst', hSummary: 'Summary', hTime: 'Time', hPue: 'PUE', hRen: 'Renewable share',
      mId: 'Meter', mRoles: 'Roles', mWeight: 'Weight', mLast: 'Newest reading', mPower: 'Power kW', mEnergy: 'Energy kWh', mCov: 'Coverage',
      mHolds: 'Holds watermark', yes: 'yes', no: 'no (lagging)', accepted: 'Readings accepted', tierLabel: 'Tier', classLabel: 'Class',
      noHistory: 'No resolved alerts', noActive: 'No active alerts', noMeters: 'No meter information',
      rows: function (n) { return n + (n === 1 ? ' row' : ' rows'); },
      seriesHint: function (w, s) { return 'Each point is the PUE of the ' + w + ' window ending at that time, every ' + s + '; hollow points: coverage below minimum, indicative only.'; },
      chartAria: function (n, last, ref) { return n + ' points, latest ' + last + (ref ? ', reference ' + ref : ''); },
      switchTo: '切换到中文', changed: function (name, st) { return name + ': ' + st; }
    }
  };

  // ---------- state ----------
  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* private mode */ } }
  };
  var S = {
    lang: store.get('dcpue.lang') === 'en' ? 'en' : 'zh',
    large: store.get('dcpue.large') === '1',
    range: RANGES[store.get('dcpue.range')] ? store.get('dcpue.range') : '24h',
    facilities: null, alerts: [], history: [], facHistory: [], detail: null, series: null, seriesKey: '', seriesErr: false,
    route: { view: 'overview' }, ok: true, lastOk: null, prevStatus: null, gen: 0, timer: null
  };
  function t(k) { var v = T[S.lang][k]; return v === undefined ? k : v; }

  // ---------- helpers ----------
  function $(id) { return document.getElementById(id); }
  function esc(s) {
    return String(s === null || s === undefined ? '' : s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function isNum(x) { return typeof x === 'number' && isFinite(x); }
  function fmtPue(x) { return isNum(x) ? x.toFixed(3) : '—'; }
  function fmtCeil(x) { return isNum(x) ? x.toFixed(2) : '—'; }
  // Coverage is truncated, never rounded up: 89.96 % must not read as 90.0 %.
  function fmtCov(x) { return isNum(x) ? (Math.floor(x * 1000 + 1e-9) / 10).toFixed(1) + '%' : '—'; }
  function fmtPct(x) { return isNum(x) ? (x * 100).toFixed(1) + '%' : '—'; }
  function fmtNum(x, d) {
    if (!isNum(x)) return '—';
    return x.toLocaleString(S.lang === 'zh' ? 'zh-CN' : 'en-US', { maximumFractionDigits: d === undefined ? 1 : d });
  }
  // Times are shown in the offset the server wrote them with (the engine's timezone).
  function offsetOf(iso) {
    var m = /([+-])(\d\d):?(\d\d)$/.exec(iso || '');
    if (m) return (m[1] === '-' ? -1 : 1) * (parseInt(m[2], 10) * 60 + parseInt(m[3], 10));
    return 0;
  }
  var displayOffset = 480; // minutes; updated from the first watermark seen
  function pad(n) { return (n < 10 ? '0' : '') + n; }
  function shifted(ms) { return new Date(ms + displayOffset * 60e3); }
  function fmtTime(iso, withSec) {
    if (!iso) return '—';
    var ms = Date.parse(iso);
    if (!isFinite(ms)) return String(iso);
    var d = shifted(ms);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + ' ' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + (withSec ? ':' + pad(d.getUTCSeconds()) : '');
  }
  function utcOffsetLabel() {
    var o = displayOffset, s = o < 0 ? '-' : '+';
    o = Math.abs(o);
    return 'UTC' + s + pad(Math.floor(o / 60)) + ':' + pad(o % 60);
  }
  function facName(f) {
    if (!f) return '';
    return S.lang === 'en' ? (f.name_en || f.name || f.id) : (f.name || f.id);
  }
  function cityName(c) { return S.lang === 'zh' ? (CITY_ZH[c] || c || '') : (c || ''); }
  function alertLabel(name) { return (t('alertName')[name]) || name; }
  function facById(id) {
    var fs = S.facilities || [];
    for (var i = 0; i < fs.length; i++) if (fs[i].id === id) return fs[i];
    return null;
  }
  function alertSummary(a) {
    var an = a.annotations || {};
    return (S.lang === 'zh' ? (an.summary_zh || an.summary) : (an.summary || an.summary_zh)) || '';
  }
  function fmtAlertValue(name, v) {
    if (!isNum(v)) return '—';
    if (/^Pue/.test(name)) return fmtPue(v);
    // truncated like every coverage: 0.8996 is below a 90 % minimum, never shown as 90.0 %
    if (/Coverage|Share/.test(name)) return fmtCov(v);
    return fmtNum(v, 3);
  }
  var ICON = {
    compliant: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="7.5" fill="currentColor"/><path d="M4.5 8.2 7 10.6 11.6 5.6" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/></svg>',
    breach: '<svg viewBox="0 0 16 16" aria-hidden="true"><path d="M8 .8 15.4 14.5H.6Z" fill="currentColor"/><path d="M8 5.5v4.2" stroke="#fff" stroke-width="2" stroke-linecap="round"/><circle cx="8" cy="12.2" r="1.1" fill="#fff"/></svg>',
    insufficient_data: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-dasharray="3 2"/><path d="M6.2 6.3a1.9 1.9 0 1 1 2.6 1.7c-.6.3-.8.7-.8 1.3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/><circle cx="8" cy="11.8" r=".9" fill="currentColor"/></svg>',
    stale: '<svg viewBox="0 0 16 16" aria-hidden="true"><circle cx="8" cy="8" r="7" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M8 4v4.3l2.8 1.7" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/></svg>'
  };
  function statusBadge(st, testid) {
    var cls = ICON[st] ? st : 'insufficient_data';
    return '<span class="badge ' + cls + '" data-testid="' + (testid || 'status') + '" data-status="' + esc(st) + '">' +
      ICON[cls] + '<span>' + esc(t('status_' + cls)) + '</span></span>';
  }
  function staleBadge(f) {
    return f.stale ? '<span class="badge stale" data-testid="stale" title="' + esc(t('staleTitle')) + '">' + ICON.stale + '<span>' + esc(t('stale')) + '</span></span>' : '';
  }
  function gradeText(f) {
    if (isNum(f.grade)) return t('grade')(f.grade);
    if (f.status === 'breach') {
      var cw = (f.windows || {})[f.compliance_window] || {};
      return isNum(cw.pue) && cw.pue > 1.5 ? t('gradeAbove') : t('gradeNone');
    }
    return t('gradeNone');
  }
  function alertsFor(id) { return (S.alerts || []).filter(function (a) { return (a.labels || {}).facility === id; }); }
  function scopeOf(a) {
    var l = a.labels || {};
    return [l.window, l.meter].filter(Boolean).join(' · ');
  }

  // Replaces an element's content only when it changed, keeping keyboard focus where it was.
  function patch(el, html) {
    if (!el || el._html === html) return;
    var act = document.activeElement, key = null;
    if (act && el.contains(act)) key = act.getAttribute('data-key') || act.id || null;
    el.innerHTML = html;
    el._html = html;
    if (key) {
      var again = el.querySelector('[data-key="' + key + '"]') || document.getElementById(key);
      if (again) again.focus();
    }
  }

  // ---------- data ----------
  function getJSON(path) {
    var ctl = typeof AbortController === 'function' ? new AbortController() : null;
    var timer = setTimeout(function () { if (ctl) ctl.abort(); }, FETCH_TIMEOUT_MS);
    // Against location.origin, not the page's URL: a page opened with user:pass@ in its URL
    // would resolve a relative path to a URL with credentials in it, which fetch() refuses. The
    // browser sends the Basic credentials it logged in with (same origin) by itself.
    return fetch(location.origin + path, { headers: { Accept: 'application/json' }, cache: 'no-store', credentials: 'same-origin', signal: ctl ? ctl.signal : undefined })
      .then(function (r) {
        clearTimeout(timer);
        if (!r.ok) { var e = new Error('HTTP ' + r.status + ' ' + path); e.status = r.status; throw e; }
        return r.json();
      }, function (e) { clearTimeout(timer); throw e; });
  }
  function qs(o) {
    var parts = [];
    Object.keys(o).forEach(function (k) { if (o[k] !== undefined && o[k] !== null && o[k] !== '') parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(o[k])); });
    return parts.length ? '?' + parts.join('&') : '';
  }
  function rfc3339(ms) { return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'); }
  function sinceParam(day) {
    // A date picked in the page means midnight in the engine's timezone.
    if (!/^\d{4}-\d{2}-\d{2}$/.test(day || '')) return '';
    var o = displayOffset, s = o < 0 ? '-' : '+';
    o = Math.abs(o);
    return day + 'T00:00:00' + s + pad(Math.floor(o / 60)) + ':' + pad(o % 60);
  }

  function refresh() {
    var gen = ++S.gen;
    var route = S.route;
    var jobs = [getJSON('/api/v1/facilities'), getJSON('/api/v1/alerts')];
    return Promise.all(jobs).then(function (res) {
      if (gen !== S.gen) return;
      S.facilities = Array.isArray(res[0]) ? res[0] : [];
      S.alerts = Array.isArray(res[1]) ? res[1] : [];
      for (var i = 0; i < S.facilities.length; i++) {
        if (S.facilities[i].watermark) { displayOffset = offsetOf(S.facilities[i].watermark); break; }
      }
      announceChanges();
      var more = [];
      if (route.view === 'facility') {
        var id = encodeURIComponent(route.id);
        more.push(getJSON('/api/v1/facilities/' + id).then(function (d) { S.detail = d; }, function (e) {
          S.detail = e && e.status === 404 ? { notFound: true, id: route.id } : S.detail; if (!(e && e.status === 404)) throw e;
        }));
        more.push(getJSON('/api/v1/alerts/history' + qs({ facility: route.id })).then(function (h) { S.facHistory = Array.isArray(h) ? h : []; }));
        more.push(loadSeries(route.id));
      } else if (route.view === 'alerts') {
        var f = route.filters || {};
        more.push(getJSON('/api/v1/alerts/history' + qs({ facility: f.facility, name: f.name, since: sinceParam(f.since) }))
          .then(function (h) { S.history = Array.isArray(h) ? h : []; }));
      }
      return Promise.all(more).then(function () { if (gen === S.gen) render(); });
    });
  }

  function loadSeries(id) {
    var f = facById(id);
    var r = RANGES[S.range];
    var endMs = f && f.watermark ? Date.parse(f.watermark) : Date.now();
    if (!isFinite(endMs)) endMs = Date.now();
    endMs = Math.floor(endMs / 3600e3) * 3600e3; // whole hours: stable requests, cacheable key
    var key = id + '|' + S.range + '|' + endMs;
    if (key === S.seriesKey && S.series && !S.seriesErr) return Promise.resolve();
    var url = '/api/v1/facilities/' + encodeURIComponent(id) + '/series' +
      qs({ window: r.window, from: rfc3339(endMs - r.ms), to: rfc3339(endMs), step: r.step });
    return getJSON(url).then(function (s) {
      S.series = s; S.seriesKey = key; S.seriesErr = false; S.seriesRange = S.range;
    }, function () { S.seriesErr = true; S.seriesKey = key; });
  }

  function announceChanges() {
    var now = {};
    (S.facilities || []).forEach(function (f) { now[f.id] = f.status; });
    if (S.prevStatus) {
      var msgs = [];
      (S.facilities || []).forEach(function (f) {
        if (S.prevStatus[f.id] && S.prevStatus[f.id] !== f.status) msgs.push(t('changed')(facName(f), t('status_' + f.status)));
      });
      if (msgs.length) $('announce').textContent = msgs.join('；');
    }
    S.prevStatus = now;
  }

  function tick() {
    clearTimeout(S.timer);
    return refresh().then(function () { setConn(true); }, function (e) {
      setConn(false, e);
      if (window.console) console.warn('dcpue: refresh failed', e);
    }).then(function () { S.timer = setTimeout(tick, POLL_MS); });
  }

  function setConn(ok) {
    S.ok = ok;
    if (ok) S.lastOk = new Date();
    var c = $('conn');
    c.textContent = ok ? t('live') : t('down');
    c.className = 'conn' + (ok ? '' : ' down');
    if (S.lastOk) $('updated').textContent = t('updated') + ' ' + fmtTime(S.lastOk.toISOString(), true).slice(11) + ' (' + utcOffsetLabel() + ')';
    document.documentElement.setAttribute('data-conn', ok ? 'live' : 'down');
  }

  // ---------- overview ----------
  function renderOverview() {
    var fs = S.facilities;
    if (!fs) { patch($('tiers'), '<p class="none">' + esc(t('loading')) + '</p>'); return; }
    var count = { compliant: 0, breach: 0, insufficient_data: 0 }, stale = 0;
    fs.forEach(function (f) { count[f.status] = (count[f.status] || 0) + 1; if (f.stale) stale++; });
    var firing = S.alerts.filter(function (a) { return a.state === 'firing'; }).length;
    var chip = function (cls, n, label, tid) { return '<div class="chip ' + cls + '" data-testid="' + tid + '"><b>' + n + '</b><span>' + esc(label) + '</span></div>'; };
    patch($('summary'),
      chip('', fs.length, t('sumSites'), 'sum-sites') +
      chip('ok', count.compliant, t('sumCompliant'), 'sum-compliant') +
      chip('bad', count.breach, t('sumBreach'), 'sum-breach') +
      chip('na', count.insufficient_data, t('sumInsufficient'), 'sum-insufficient') +
      chip(firing ? 'bad' : '', firing, t('sumFiring'), 'sum-firing') +
      (stale ? chip('warn', stale, t('sumStale'), 'sum-stale') : ''));

    // The footnote names the compliance window when it is not the annual one.
    var cws = fs.map(function (f) { return f.compliance_window; }).filter(Boolean);
    var noteEl = document.querySelector('[data-i18n=note]');
    if (noteEl) noteEl.textContent = cws.length && cws[0] !== '365d' ? t('noteWin')(cws[0]) : t('note');
    var tiers = TIERS.slice();
    fs.forEach(function (f) { if (tiers.indexOf(f.tier) < 0) tiers.push(f.tier); });
    var html = tiers.map(function (tier) {
      var list = fs.filter(function (f) { return f.tier === tier; });
      if (!list.length && TIERS.indexOf(tier) < 0) return '';
      var known = TIERS.indexOf(tier) >= 0;
      return '<section class="tier" data-tier="' + esc(tier) + '" data-testid="tier-' + esc(tier) + '" aria-labelledby="tier-h-' + esc(tier) + '">' +
        '<h2 id="tier-h-' + esc(tier) + '"><span class="tier-tag">' + esc(known ? t('tier_' + tier) : tier) + '</span>' +
        '<span>' + esc(known ? t('tierDesc_' + tier) : '') + '</span><small>' + esc(t('nSites')(list.length)) + '</small></h2>' +
        '<div class="grid">' + list.map(card).join('') + '</div></section>';
    }).join('');
    patch($('tiers'), html);
  }

  function gauge(f, pue) {
    var ceil = f.pue_ceiling;
    if (!isNum(ceil)) return '';
    var lo = 1.0, hi = Math.max(ceil + 0.25, isNum(pue) ? pue + 0.05 : 0, 1.6);
    var W = 300, x = function (v) { return Math.max(0, Math.min(W, (v - lo) / (hi - lo) * W)); };
    var fill = isNum(pue) ? '<rect class="fill-' + esc(f.status) + '" x="0" y="3" height="8" rx="3" width="' + x(pue).toFixed(1) + '"/>' : '';
    var cx = (x(ceil) / W * 100).toFixed(1);
    return '<div class="gauge-wrap" aria-hidden="true"><svg class="gauge" viewBox="0 0 300 14" preserveAspectRatio="none">' +
      '<rect class="track" x="0" y="3" width="300" height="8" rx="3"/>' + fill +
      '<line class="ceil" x1="' + x(ceil).toFixed(1) + '" x2="' + x(ceil).toFixed(1) + '" y1="0" y2="14"/></svg>' +
      '<div class="gauge-scale"><span>' + lo.toFixed(1) + '</span><span class="gc" style="left:' + cx + '%">' + esc(t('ceiling')) + ' ' + fmtCeil(ceil) + '</span></div></div>';
  }

  // A window whose energy is not wholly metered (CONTRACT §13) is marked, its share in the title.
  function estMark(v) {
    var x = v && v.estimated_share;
    if (!isNum(x) || x <= 0) return '';
    var title = t('estTitle')(fmtPct(x));
    return ' <span class="est" data-testid="estimated-mark" title="' + esc(title) + '" aria-label="' + esc(title) + '">≈</span>';
  }

  function windowsTable(f) {
    var ws = f.windows || {};
    var names = Object.keys(ws).filter(function (w) { return w !== f.compliance_window; });
    if (!names.length) return '';
    return '<table class="windows" data-testid="windows"><caption class="sr-only">' + esc(t('interim')) + '</caption><thead><tr><td></td>' +
      names.map(function (w) { return '<th scope="col">' + esc(w) + '</th>'; }).join('') + '</tr></thead><tbody><tr><th scope="row">PUE</th>' +
      names.map(function (w) {
        var v = ws[w] || {};
        // below the minimum coverage a PUE is indicative only: muted, never in breach red
        var minCov = isNum(f.min_coverage) ? f.min_coverage : 0.9;
        var low = isNum(v.pue) && isNum(v.coverage) && v.coverage < minCov;
        var cls = low ? 'low' : (isNum(v.pue) && isNum(f.pue_ceiling) && v.pue > f.pue_ceiling ? 'over' : '');
        return '<td class="' + cls + '" data-window="' + esc(w) + '"' + (low ? ' title="' + esc(t('lowCovTitle')) + '"' : '') + '><span class="v" data-testid="window-pue">' + fmtPue(v.pue) + '</span>' + estMark(v) + '</td>';
      }).join('') + '</tr><tr class="covrow"><th scope="row">' + esc(t('coverage')) + '</th>' +
      names.map(function (w) {
        var v = ws[w] || {};
        return '<td data-window="' + esc(w) + '" data-testid="window-coverage">' + fmtCov(v.coverage) + '</td>';
      }).join('') + '</tr></tbody></table>';
  }

  function renewBlock(f) {
    var cw = (f.windows || {})[f.compliance_window] || {};
    var share = cw.renewable_share, target = f.renewable_target;
    var below = isNum(share) && isNum(target) && share < target;
    var bar = '<div class="bar" aria-hidden="true">' + (isNum(share) ? '<span style="width:' + Math.min(100, share * 100).toFixed(1) + '%"></span>' : '') +
      (isNum(target) ? '<i style="left:' + Math.min(100, target * 100).toFixed(1) + '%"></i>' : '') + '</div>';
    return '<div class="renew" data-testid="renewable"><div><span class="label">' + esc(t('renewable')) + ' (' + esc(f.compliance_window || '') + ')</span> <b data-testid="renewable-share">' + fmtPct(share) + '</b> · ' +
      esc(t('target')) + ' ' + (isNum(target) ? fmtPct(target) : esc(t('noTarget'))) +
      (below ? ' <span class="below">▼ ' + esc(t('belowTarget')) + '</span>' : '') + '</div>' + bar + '</div>';
  }

  // CONTRACT §14 on the compliance window, each beside its target where the facility sets one.
  function kpiBlock(f) {
    var cw = (f.windows || {})[f.compliance_window] || {};
    var fix = function (d) { return function (x) { return isNum(x) ? x.toFixed(d) : '—'; }; };
    var item = function (key, label, fmt, target, over) {
      var v = cw[key];
      var miss = isNum(v) && isNum(target) && (over ? v > target : v < target);
      return '<span class="kpi' + (miss ? ' miss' : '') + '" data-testid="kpi-' + key + '" data-value="' + (isNum(v) ? v : '') + '" title="' + esc(t('kpiTitle')[key]) + '">' +
        '<span class="label">' + label + '</span> <b>' + fmt(v) + '</b>' +
        (isNum(target) ? ' <small data-testid="kpi-' + key + '-target">' + esc(t('target')) + ' ' + (over ? '≤ ' : '≥ ') + fmt(target) + '</small>' : '') + '</span>';
    };
    return '<div class="kpis" data-testid="kpis" aria-label="' + esc(t('kpis')) + ' (' + esc(f.compliance_window || '') + ')">' +
      item('wue', 'WUE', fix(2), f.wue_target, true) + item('erf', 'ERF', fmtPct) +
      item('ref', 'REF', fmtPct, f.ref_target, false) + item('cue', 'CUE', fix(3)) + '</div>';
  }

  function alertsMini(f) {
    var list = alertsFor(f.id);
    if (!list.length) return '<p class="none" data-testid="card-alerts">' + esc(t('noAlerts')) + '</p>';
    return '<ul class="alerts-mini" data-testid="card-alerts" aria-label="' + esc(t('activeAlerts')) + '">' + list.map(function (a) {
      var sc = scopeOf(a);
      return '<li><span class="badge ' + esc(a.state) + '">' + esc(t('st')[a.state] || a.state) + '</span><span>' + esc(alertLabel(a.name)) + (sc ? ' <small>(' + esc(sc) + ')</small>' : '') + '</span></li>';
    }).join('') + '</ul>';
  }

  function card(f) {
    var cw = (f.windows || {})[f.compliance_window] || {};
    var href = '#/facility/' + encodeURIComponent(f.id);
    var cls = (t('class_') || {})[f['class']] || f['class'] || '';
    var meta = [cityName(f.city), cls].filter(Boolean).join(' · ');
    return '<article class="card" data-testid="facility-card" data-facility="' + esc(f.id) + '" data-status="' + esc(f.status) + '" data-stale="' + (f.stale ? 'true' : 'false') + '" aria-labelledby="card-h-' + esc(f.id) + '">' +
      '<div class="card-head"><div><h3 id="card-h-' + esc(f.id) + '"><a href="' + href + '" data-key="card-' + esc(f.id) + '" data-testid="facility-link">' + esc(facName(f)) + '</a></h3>' +
      '<div class="meta">' + esc(meta) + ' · ' + esc(t('watermark')) + ' <span data-testid="watermark">' + esc(fmtTime(f.watermark)) + '</span></div></div>' +
      '<div class="badges">' + statusBadge(f.status) + ' ' + staleBadge(f) + '</div></div>' +
      '<div class="c1"><div class="main-pue"><div><div class="label">' + esc(t('cwLabel')(f.compliance_window || '')) + '</div>' +
      '<div class="pue-big" data-testid="pue">' + fmtPue(cw.pue) + '</div>' + estMark(cw) + '</div>' +
      '<div class="pue-side"><span>' + esc(t('ceiling')) + ' <b data-testid="ceiling">' + fmtCeil(f.pue_ceiling) + '</b></span>' +
      '<span>' + esc(t('coverage')) + ' <b data-testid="coverage">' + fmtCov(cw.coverage) + '</b></span>' +
      '<span>' + esc(t('gradeLabel')) + ' <b data-testid="grade">' + esc(gradeText(f)) + '</b></span></div></div>' + gauge(f, cw.pue) + '</div>' +
      '<div class="c2">' + windowsTable(f) + '</div>' +
      '<div class="c3">' + renewBlock(f) + kpiBlock(f) + alertsMini(f) + '</div>' +
      '</article>';
  }

  // ---------- facility view ----------
  function renderFacility() {
    var id = S.route.id;
    var d = S.detail && S.detail.id === id ? S.detail : null;
    var f = d && !d.notFound ? d : facById(id);
    if (!f) {
      patch($('fac-head'), '<h2 id="fac-title">' + esc(S.detail && S.detail.notFound ? t('notFound') : t('loading')) + ' <code>' + esc(id) + '</code></h2>');
      patch($('pue-chart'), ''); patch($('ren-chart'), ''); patch($('meters'), ''); patch($('fac-alerts'), '');
      return;
    }
    var cw = (f.windows || {})[f.compliance_window] || {};
    var tierKnown = TIERS.indexOf(f.tier) >= 0;
    var kv = function (label, value, tid, extra) { return '<div><span class="label">' + esc(label) + '</span><b' + (tid ? ' data-testid="' + tid + '"' : '') + '>' + value + '</b>' + (extra || '') + '</div>'; };
    patch($('fac-head'),
      '<div class="fac-head" data-facility="' + esc(f.id) + '" data-status="' + esc(f.status) + '"><div><h2 id="fac-title" data-testid="facility-title">' + esc(facName(f)) + '</h2>' +
      '<p class="meta">' + esc(cityName(f.city)) + ' · ' + esc(tierKnown ? t('tier_' + f.tier) : f.tier) + ' · ' + esc((t('class_') || {})[f['class']] || f['class']) + '</p>' +
      '<p>' + statusBadge(f.status) + ' ' + staleBadge(f) + '</p></div>' +
      '<div class="kv">' +
      kv(t('cwLabel')(f.compliance_window || ''), fmtPue(cw.pue), 'fac-pue', '<span class="label">' + esc(t('coverage')) + ' ' + fmtCov(cw.coverage) + '</span>') +
      kv(t('ceiling'), fmtCeil(f.pue_ceiling), 'fac-ceiling') +
      kv(t('gradeLabel'), esc(gradeText(f)), 'fac-grade') +
      kv(t('renewable'), fmtPct(cw.renewable_share), 'fac-renewable', '<span class="label">' + esc(t('target')) + ' ' + (isNum(f.renewable_target) ? fmtPct(f.renewable_target) : esc(t('noTarget'))) + '</span>') +
      kv(t('watermark'), esc(fmtTime(f.watermark)), 'fac-watermark', '<span class="label">' + esc(utcOffsetLabel()) + '</span>') +
      kv(t('accepted'), fmtNum(f.accepted_total, 0), 'fac-accepted') +
      '</div></div>' + '<div class="panel">' + windowsTable(f) + '</div>');

    Array.prototype.forEach.call(document.querySelectorAll('#range button'), function (b) {
      b.setAttribute('aria-checked', b.getAttribute('data-range') === S.range ? 'true' : 'false');
      b.tabIndex = b.getAttribute('data-range') === S.range ? 0 : -1;
    });
    renderSeries(f);
    renderMeters(d && !d.notFound ? d.meters : null);
    renderFacAlerts(f);
  }

  function renderSeries(f) {
    var s = S.series;
    var r = RANGES[S.range];
    $('series-hint').textContent = t('seriesHint')(r.window, r.step);
    if (S.seriesErr && !s) {
      patch($('pue-chart'), '<div class="empty">' + esc(t('seriesError')) + '</div>'); patch($('ren-chart'), ''); patch($('series-table'), '');
      return;
    }
    if (!s || s.facility !== f.id || S.seriesRange !== S.range) {
      patch($('pue-chart'), '<div class="empty">' + esc(t('loading')) + '</div>'); patch($('ren-chart'), ''); patch($('series-table'), '');
      return;
    }
    var pts = (s.points || []).map(function (p) {
      return { t: Date.parse(p.t), iso: p.t, pue: p.pue, cov: p.coverage, ren: p.renewable_share };
    }).filter(function (p) { return isFinite(p.t); });
    if (pts.length && s.points[0].t) displayOffset = offsetOf(s.points[0].t) || displayOffset;
    var minCov = isNum(s.min_coverage) ? s.min_coverage : (isNum(f.min_coverage) ? f.min_coverage : null);
    var ceiling = isNum(s.ceiling) ? s.ceiling : f.pue_ceiling;
    var stepMs = pts.length > 1 ? pts[1].t - pts[0].t : 3600e3;
    var fromMs = pts.length ? pts[0].t - stepMs : 0, toMs = pts.length ? pts[pts.length - 1].t : 0;
    if (!pts.length || !pts.some(function (p) { return isNum(p.pue) || isNum(p.ren); })) {
      patch($('pue-chart'), '<div class="empty" data-testid="series-empty">' + esc(t('seriesEmpty')) + '</div>');
      patch($('ren-chart'), ''); patch($('series-table'), '');
      return;
    }
    patch($('pue-chart'), plot({ id: 'pue', pts: pts, key: 'pue', fmt: fmtPue, ref: ceiling, refLabel: t('ceiling') + ' ' + fmtCeil(ceiling), refCls: 'ceiling',
      cov: true, minCov: minCov, from: fromMs, to: toMs, step: stepMs, pct: false }));
    var anyRen = pts.some(function (p) { return isNum(p.ren); });
    patch($('ren-chart'), anyRen ? plot({ id: 'ren', pts: pts, key: 'ren', fmt: fmtPct, ref: f.renewable_target, refLabel: t('target') + ' ' + fmtPct(f.renewable_target),
      refCls: 'target', cov: false, minCov: null, from: fromMs, to: toMs, step: stepMs, pct: true }) : '<div class="empty">' + esc(t('noData')) + '</div>');
    patch($('series-table'), '<div class="scroll"><table class="list"><thead><tr><th scope="col">' + esc(t('hTime')) + '</th><th class="num" scope="col">' + esc(t('hPue')) +
      '</th><th class="num" scope="col">' + esc(t('coverage')) + '</th><th class="num" scope="col">' + esc(t('hRen')) + '</th></tr></thead><tbody>' +
      pts.map(function (p) { return '<tr><td>' + esc(fmtTime(p.iso)) + '</td><td class="num">' + fmtPue(p.pue) + '</td><td class="num">' + fmtCov(p.cov) + '</td><td class="num">' + fmtPct(p.ren) + '</td></tr>'; }).join('') +
      '</tbody></table></div>');
    wireCharts();
  }

  // A hand-drawn SVG line chart: gaps (null) break the line, points below the minimum coverage
  // are hollow, the reference (ceiling or target) is a dashed line, coverage bars run below.
  function plot(o) {
    var W = 1000, H = o.cov ? 360 : 230, L = 62, R = 92, TOP = 14, covH = o.cov ? 56 : 0, B = 28;
    var plotBottom = H - B - (o.cov ? covH + 14 : 0);
    var vals = o.pts.map(function (p) { return p[o.key]; }).filter(isNum);
    var lo, hi, stepY;
    if (o.pct) {
      lo = 0; hi = Math.max(isNum(o.ref) ? o.ref : 0, vals.length ? Math.max.apply(null, vals) : 0) * 1.15;
      hi = Math.min(1, Math.max(0.1, hi));
      stepY = hi > 0.5 ? 0.1 : (hi > 0.2 ? 0.05 : 0.02);
      hi = Math.ceil(hi / stepY - 1e-9) * stepY;
    } else {
      var vmin = vals.length ? Math.min.apply(null, vals) : 1.2, vmax = vals.length ? Math.max.apply(null, vals) : 1.4;
      if (isNum(o.ref)) { vmin = Math.min(vmin, o.ref); vmax = Math.max(vmax, o.ref); }
      var span = Math.max(0.1, vmax - vmin);
      stepY = span > 0.8 ? 0.2 : (span > 0.35 ? 0.1 : 0.05);
      lo = Math.floor((vmin - span * 0.1) / stepY) * stepY;
      hi = Math.ceil((vmax + span * 0.1) / stepY) * stepY;
      lo = Math.max(0, lo);
    }
    var x0 = o.from, x1 = o.to === o.from ? o.from + 1 : o.to;
    var X = function (ms) { return L + (ms - x0) / (x1 - x0) * (W - L - R); };
    var Y = function (v) { return TOP + (hi - v) / (hi - lo) * (plotBottom - TOP); };
    var out = [];
    out.push('<div class="chart-wrap"><svg class="plot" id="plot-' + o.id + '" data-testid="chart-' + o.id + '" viewBox="0 0 ' + W + ' ' + H + '" role="img" tabindex="0" aria-label="' +
      esc(t(o.id === 'pue' ? 'pueTrend' : 'renTrend') + '. ' + t('chartAria')(o.pts.length, (function () { for (var i = o.pts.length - 1; i >= 0; i--) if (isNum(o.pts[i][o.key])) return o.fmt(o.pts[i][o.key]); return '—'; })(), isNum(o.ref) ? o.refLabel : '')) + '">');
    // grid and y axis
    out.push('<g class="grid axis">');
    for (var v = lo, n = 0; v <= hi + 1e-9 && n < 30; v += stepY, n++) {
      var y = Y(v).toFixed(1);
      out.push('<line x1="' + L + '" x2="' + (W - R) + '" y1="' + y + '" y2="' + y + '"/><text x="' + (L - 8) + '" y="' + (+y + 4) + '" text-anchor="end">' + (o.pct ? Math.round(v * 100) + '%' : v.toFixed(2)) + '</text>');
    }
    // x ticks
    timeTicks(x0, x1).forEach(function (tk) {
      var x = X(tk.ms).toFixed(1);
      out.push('<line x1="' + x + '" x2="' + x + '" y1="' + TOP + '" y2="' + plotBottom + '"/><text x="' + x + '" y="' + (H - 8) + '" text-anchor="middle">' + esc(tk.label) + '</text>');
    });
    out.push('</g>');
    // above the ceiling: a light band, so a breach reads at a glance
    if (!o.pct && isNum(o.ref) && o.ref < hi) {
      var by = Y(Math.max(lo, o.ref));
      out.push('<rect class="overband" x="' + L + '" y="' + TOP + '" width="' + (W - L - R) + '" height="' + Math.max(0, by - TOP).toFixed(1) + '"/>');
    }
    // reference line
    if (isNum(o.ref) && o.ref >= lo && o.ref <= hi) {
      var ry = Y(o.ref).toFixed(1);
      out.push('<line class="' + o.refCls + '" data-testid="ref-line" x1="' + L + '" x2="' + (W - R) + '" y1="' + ry + '" y2="' + ry + '"/>' +
        '<text class="ref-label ' + o.refCls + '-l" x="' + (W - R + 6) + '" y="' + (+ry + 4) + '">' + esc(o.refLabel) + '</text>');
    }
    // series path, broken at nulls
    var d = '', pen = false;
    o.pts.forEach(function (p) {
      var val = p[o.key];
      if (!isNum(val)) { pen = false; return; }
      d += (pen ? 'L' : 'M') + X(p.t).toFixed(1) + ' ' + Y(Math.max(lo, Math.min(hi, val))).toFixed(1);
      pen = true;
    });
    out.push('<path class="series ' + (o.id === 'ren' ? 'ren' : '') + '" data-testid="series-path" d="' + d + '"/>');
    // points worth marking: single isolated points, over the ceiling, low coverage
    var dense = o.pts.length > 120;
    o.pts.forEach(function (p, i) {
      var val = p[o.key];
      if (!isNum(val)) return;
      var low = isNum(o.minCov) && isNum(p.cov) && p.cov < o.minCov;
      var over = !o.pct && isNum(o.ref) && val > o.ref;
      var prev = o.pts[i - 1], next = o.pts[i + 1];
      var lone = !(prev && isNum(prev[o.key])) && !(next && isNum(next[o.key]));
      if (low) out.push('<circle class="lowcov" cx="' + X(p.t).toFixed(1) + '" cy="' + Y(val).toFixed(1) + '" r="' + (dense ? 2.5 : 4) + '"/>');
      else if ((over && !dense) || lone) out.push('<circle class="' + (over ? 'over' : 'series-dot') + '" fill="' + (over ? '' : '#0b5cad') + '" cx="' + X(p.t).toFixed(1) + '" cy="' + Y(val).toFixed(1) + '" r="' + (dense ? 2 : 3.5) + '"/>');
    });
    // coverage bars
    if (o.cov) {
      var cTop = plotBottom + 14, cBot = cTop + covH;
      var slot = X(x0 + o.step) - X(x0);
      var gap = slot > 6 ? Math.min(3, slot * 0.2) : 0;
      out.push('<g class="cov" data-testid="coverage-bars"><text class="axis" x="' + (L - 8) + '" y="' + (cTop + 12) + '" text-anchor="end" font-size="12" fill="#5b6675">' + esc(t('coverage')) + '</text>' +
        '<text x="' + (L - 8) + '" y="' + (cBot) + '" text-anchor="end" font-size="11" fill="#5b6675">0%</text>' +
        '<rect class="bg" x="' + L + '" y="' + cTop + '" width="' + (W - L - R) + '" height="' + covH + '"/>');
      o.pts.forEach(function (p) {
        if (!isNum(p.cov)) return;
        var h = Math.max(0, Math.min(1, p.cov)) * covH;
        var low = isNum(o.minCov) && p.cov < o.minCov;
        out.push('<rect class="' + (low ? 'low' : '') + '" x="' + (X(p.t - o.step) + gap / 2).toFixed(1) + '" y="' + (cBot - h).toFixed(1) + '" width="' + Math.max(0.5, slot - gap).toFixed(1) + '" height="' + h.toFixed(1) + '"/>');
      });
      if (isNum(o.minCov)) {
        var my = (cBot - o.minCov * covH).toFixed(1);
        out.push('<line class="covline" x1="' + L + '" x2="' + (W - R) + '" y1="' + my + '" y2="' + my + '"/><text x="' + (W - R + 6) + '" y="' + (+my + 4) + '" font-size="11" fill="#8a5a00">' + Math.round(o.minCov * 100) + '%</text>');
      }
      out.push('</g>');
    }
    out.push('<g class="hover" visibility="hidden"><line y1="' + TOP + '" y2="' + plotBottom + '"/><circle r="5"/></g>');
    out.push('</svg><div class="tip" hidden></div></div>');
    PLOTS[o.id] = { o: o, X: X, Y: Y, lo: lo, hi: hi, W: W };
    return out.join('');
  }
  var PLOTS = {};

  function timeTicks(a, b) {
    var span = b - a, ticks = [];
    if (span <= 0) return ticks;
    var off = displayOffset * 60e3;
    if (span <= 2.5 * 86400e3) {
      var every = span <= 12 * 3600e3 ? 2 : 3;
      for (var h = Math.ceil((a + off) / 3600e3) * 3600e3; h <= b + off; h += 3600e3) {
        var dh = new Date(h);
        if (dh.getUTCHours() % every === 0) ticks.push({ ms: h - off, label: pad(dh.getUTCHours()) + ':00' });
      }
    } else if (span <= 100 * 86400e3) {
      var everyD = span <= 15 * 86400e3 ? 2 : 5;
      for (var d = Math.ceil((a + off) / 86400e3) * 86400e3; d <= b + off; d += 86400e3) {
        var dd = new Date(d);
        if ((dd.getUTCDate() - 1) % everyD === 0 && dd.getUTCDate() < 30) ticks.push({ ms: d - off, label: pad(dd.getUTCMonth() + 1) + '-' + pad(dd.getUTCDate()) });
      }
    } else {
      var s = new Date(a + off), y = s.getUTCFullYear(), m = s.getUTCMonth() + 1;
      for (var i = 0; i < 40; i++, m++) {
        if (m > 12) { m = 1; y++; }
        var ms = Date.UTC(y, m - 1, 1) - off;
        if (ms > b) break;
        var MON = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
        var lab = S.lang === 'zh' ? ((m === 1 || !ticks.length) ? y + '年' + m + '月' : m + '月') : ((m === 1 || !ticks.length) ? MON[m - 1] + ' ' + y : MON[m - 1]);
        if (ms >= a) ticks.push({ ms: ms, label: lab });
      }
    }
    return ticks;
  }

  // Pointer and keyboard read-out of a chart's points.
  function wireCharts() {
    ['pue', 'ren'].forEach(function (id) {
      var svg = $('plot-' + id);
      var P = PLOTS[id];
      if (!svg || !P || svg._wired) return;
      svg._wired = true;
      var idx = -1;
      var tip = svg.parentNode.querySelector('.tip');
      var g = svg.querySelector('.hover');
      function show(i) {
        var pts = P.o.pts;
        if (i < 0 || i >= pts.length) return;
        idx = i;
        var p = pts[i], val = p[P.o.key];
        var x = P.X(p.t);
        g.setAttribute('visibility', 'visible');
        var ln = g.querySelector('line'); ln.setAttribute('x1', x); ln.setAttribute('x2', x);
        var c = g.querySelector('circle');
        if (isNum(val)) { c.setAttribute('cx', x); c.setAttribute('cy', P.Y(Math.max(P.lo, Math.min(P.hi, val)))); c.setAttribute('visibility', 'visible'); } else c.setAttribute('visibility', 'hidden');
        tip.hidden = false;
        tip.textContent = fmtTime(p.iso) + '  ' + (P.o.key === 'pue' ? 'PUE ' + fmtPue(val) + ' · ' + t('coverage') + ' ' + fmtCov(p.cov) : t('renewable') + ' ' + fmtPct(val));
        var box = svg.getBoundingClientRect();
        tip.style.left = (x / P.W * box.width) + 'px';
        tip.style.top = (isNum(val) ? P.Y(Math.max(P.lo, Math.min(P.hi, val))) / P.W * box.width : 20) + 'px';
      }
      function hide() { g.setAttribute('visibility', 'hidden'); tip.hidden = true; }
      svg.addEventListener('mousemove', function (ev) {
        var box = svg.getBoundingClientRect();
        var vx = (ev.clientX - box.left) / box.width * P.W;
        var pts = P.o.pts, best = -1, bd = Infinity;
        for (var i = 0; i < pts.length; i++) { var dx = Math.abs(P.X(pts[i].t) - vx); if (dx < bd) { bd = dx; best = i; } }
        show(best);
      });
      svg.addEventListener('mouseleave', hide);
      svg.addEventListener('blur', hide);
      svg.addEventListener('keydown', function (ev) {
        var n = P.o.pts.length;
        if (ev.key === 'ArrowRight') { show(Math.min(n - 1, idx < 0 ? n - 1 : idx + 1)); ev.preventDefault(); }
        else if (ev.key === 'ArrowLeft') { show(Math.max(0, idx < 0 ? n - 1 : idx - 1)); ev.preventDefault(); }
        else if (ev.key === 'Home') { show(0); ev.preventDefault(); }
        else if (ev.key === 'End') { show(n - 1); ev.preventDefault(); }
        else if (ev.key === 'Escape') hide();
      });
    });
  }

  function renderMeters(ms) {
    if (!ms) { patch($('meters'), '<p class="none">' + esc(ms === null ? t('loading') : t('noMeters')) + '</p>'); return; }
    if (!ms.length) { patch($('meters'), '<p class="none">' + esc(t('noMeters')) + '</p>'); return; }
    patch($('meters'), '<div class="scroll"><table class="list" data-testid="meter-table"><thead><tr><th scope="col">' + esc(t('mId')) + '</th><th scope="col">' + esc(t('mRoles')) +
      '</th><th class="num" scope="col">' + esc(t('mWeight')) + '</th><th scope="col">' + esc(t('mLast')) + '</th><th class="num" scope="col">' + esc(t('mPower')) +
      '</th><th class="num" scope="col">' + esc(t('mEnergy')) + '</th><th scope="col">' + esc(t('mCov')) + '</th><th scope="col">' + esc(t('mHolds')) + '</th></tr></thead><tbody>' +
      ms.map(function (m) {
        var cov = (m.coverage || []).map(function (c) { return Array.isArray(c) ? '<span class="mc"><span>' + esc(c[0]) + '</span> ' + fmtCov(c[1]) + '</span>' : ''; }).join(' ');
        return '<tr data-meter="' + esc(m.id) + '"><th scope="row">' + esc(m.id) + '</th><td>' + esc((m.roles || []).map(function (r) { return t('role')[r] || r; }).join(' + ')) +
          '</td><td class="num">' + fmtNum(m.weight, 3) + '</td><td>' + esc(fmtTime(m.last_ts, true)) + '</td><td class="num">' + fmtNum(m.last_power_kw, 1) +
          '</td><td class="num">' + fmtNum(m.last_energy_kwh, 1) + '</td><td>' + cov + '</td><td>' + esc(m.holds_watermark ? t('yes') : t('no')) + '</td></tr>';
      }).join('') + '</tbody></table></div>');
  }

  function alertRows(list, resolved, withFacility) {
    return list.map(function (a) {
      var l = a.labels || {};
      var f = facById(l.facility);
      var st = resolved ? 'resolved' : a.state;
      return '<tr class="sev-' + esc(l.severity || '') + '" data-alert="' + esc(a.name) + '" data-facility="' + esc(l.facility || '') + '">' +
        '<td><span class="badge ' + esc(st) + '">' + esc(t('st')[st] || st) + '</span></td>' +
        '<td>' + esc(alertLabel(a.name)) + '<br><small><code>' + esc(a.name) + '</code></small></td>' +
        (withFacility ? '<td>' + (f ? '<a href="#/facility/' + encodeURIComponent(f.id) + '">' + esc(facName(f)) + '</a>' : esc(l.facility || '—')) + '</td>' : '') +
        '<td>' + esc(scopeOf(a) || '—') + '</td><td>' + esc(t('sev')[l.severity] || l.severity || '—') + '</td>' +
        '<td>' + esc(fmtTime(a.since)) + '</td>' + (resolved ? '<td>' + esc(fmtTime(a.resolved_at)) + '</td>' : '') +
        // a resolved alert: its worst value while active (its last value is the one that cleared it)
        '<td class="num">' + fmtAlertValue(a.name, resolved && isNum(a.worst) ? a.worst : a.value) + '</td><td>' + esc(alertSummary(a)) + '</td></tr>';
    }).join('');
  }
  function alertTable(list, resolved, withFacility, tid) {
    if (!list.length) return '<p class="none" data-testid="' + tid + '-empty">' + esc(resolved ? t('noHistory') : t('noActive')) + '</p>';
    return '<div class="scroll"><table class="list" data-testid="' + tid + '"><thead><tr><th scope="col">' + esc(t('hState')) + '</th><th scope="col">' + esc(t('hName')) + '</th>' +
      (withFacility ? '<th scope="col">' + esc(t('hFacility')) + '</th>' : '') + '<th scope="col">' + esc(t('hScope')) + '</th><th scope="col">' + esc(t('hSeverity')) +
      '</th><th scope="col">' + esc(t('hSince')) + '</th>' + (resolved ? '<th scope="col">' + esc(t('hResolved')) + '</th>' : '') +
      '<th class="num" scope="col">' + esc(t(resolved ? 'hWorst' : 'hValue')) + '</th><th scope="col">' + esc(t('hSummary')) + '</th></tr></thead><tbody>' +
      alertRows(list, resolved, withFacility) + '</tbody></table></div><p class="note">' + esc(t('rows')(list.length)) + '</p>';
  }

  function renderFacAlerts(f) {
    var active = alertsFor(f.id);
    var hist = (S.facHistory || []).filter(function (a) { return (a.labels || {}).facility === f.id; });
    patch($('fac-alerts'), '<h4>' + esc(t('active')) + '</h4>' + alertTable(active, false, false, 'fac-active') +
      '<h4>' + esc(t('history')) + '</h4>' + alertTable(hist, true, false, 'fac-history'));
  }

  // ---------- alerts view ----------
  function filtered() {
    var f = S.route.filters || {};
    var sinceMs = f.since ? Date.parse(sinceParam(f.since)) : NaN;
    var keep = function (a, resolved) {
      var l = a.labels || {};
      if (f.facility && l.facility !== f.facility) return false;
      if (f.name && a.name !== f.name) return false;
      // history: resolved at or after `since`; active: still relevant, always shown
      if (isFinite(sinceMs) && resolved && Date.parse(a.resolved_at || a.since) < sinceMs) return false;
      return true;
    };
    var byTime = function (k) { return function (x, y) { return (Date.parse(y[k]) || 0) - (Date.parse(x[k]) || 0); }; };
    return {
      active: (S.alerts || []).filter(function (a) { return keep(a, false); }).sort(byTime('since')),
      history: (S.history || []).filter(function (a) { return keep(a, true); }).sort(byTime('resolved_at'))
    };
  }

  function renderFilters() {
    var f = S.route.filters || {};
    var fs = S.facilities || [];
    var fo = '<option value="">' + esc(t('allFacilities')) + '</option>' + fs.map(function (x) {
      return '<option value="' + esc(x.id) + '"' + (x.id === f.facility ? ' selected' : '') + '>' + esc(facName(x)) + '</option>';
    }).join('');
    var names = KNOWN_ALERTS.slice();
    (S.alerts || []).concat(S.history || []).forEach(function (a) { if (names.indexOf(a.name) < 0) names.push(a.name); });
    var no = '<option value="">' + esc(t('allNames')) + '</option>' + names.map(function (n) {
      return '<option value="' + esc(n) + '"' + (n === f.name ? ' selected' : '') + '>' + esc(alertLabel(n)) + '</option>';
    }).join('');
    var sf = $('f-facility'), sn = $('f-name');
    if (sf._html !== fo) { sf.innerHTML = fo; sf._html = fo; sf.value = f.facility || ''; }
    if (sn._html !== no) { sn.innerHTML = no; sn._html = no; sn.value = f.name || ''; }
    if (document.activeElement !== $('f-since')) $('f-since').value = f.since || '';
  }

  function renderAlerts() {
    renderFilters();
    var r = filtered();
    patch($('alerts-active'), alertTable(r.active, false, true, 'alerts-active-table'));
    patch($('alerts-history'), alertTable(r.history, true, true, 'alerts-history-table'));
  }

  function csvCell(v) {
    var s = v === null || v === undefined ? '' : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; // no formula injection when opened in a spreadsheet
    return /[",\r\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function downloadCsv() {
    var r = filtered();
    var head = ['state', 'alertname', 'alert', 'facility', 'facility_name', 'tier', 'window', 'meter', 'severity', 'since', 'resolved_at', 'value', 'summary'];
    var rows = [head];
    var add = function (a, resolved) {
      var l = a.labels || {}, f = facById(l.facility);
      rows.push([resolved ? 'resolved' : a.state, a.name, alertLabel(a.name), l.facility || '', f ? facName(f) : '', l.tier || '', l.window || '', l.meter || '',
        l.severity || '', a.since || '', resolved ? (a.resolved_at || '') : '', isNum(a.value) ? String(a.value) : '', alertSummary(a)]);
    };
    r.active.forEach(function (a) { add(a, false); });
    r.history.forEach(function (a) { add(a, true); });
    var text = '\ufeff' + rows.map(function (row) { return row.map(csvCell).join(','); }).join('\r\n') + '\r\n';
    var blob = new Blob([text], { type: 'text/csv;charset=utf-8' });
    var url = URL.createObjectURL(blob);
    var a = document.createElement('a');
    var d = shifted(Date.now());
    a.href = url;
    a.download = 'dcpue-alerts-' + d.getUTCFullYear() + pad(d.getUTCMonth() + 1) + pad(d.getUTCDate()) + '-' + pad(d.getUTCHours()) + pad(d.getUTCMinutes()) + '.csv';
    document.body.appendChild(a);
    a.click();
    setTimeout(function () { URL.revokeObjectURL(url); a.remove(); }, 1000);
    window.__dcpueLastCsv = text; // lets an automated check read what was offered
  }

  // ---------- routing and chrome ----------
  function parseRoute() {
    var h = (location.hash || '#/').slice(1);
    var q = h.indexOf('?'), path = q >= 0 ? h.slice(0, q) : h, query = q >= 0 ? h.slice(q + 1) : '';
    var params = {};
    query.split('&').forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf('=');
      try { params[decodeURIComponent(i < 0 ? kv : kv.slice(0, i))] = decodeURIComponent(i < 0 ? '' : kv.slice(i + 1)); } catch (e) { /* ignore */ }
    });
    var m = /^\/facility\/([^/]+)$/.exec(path);
    if (m) { var id; try { id = decodeURIComponent(m[1]); } catch (e) { id = m[1]; } return { view: 'facility', id: id }; }
    if (path === '/alerts') return { view: 'alerts', filters: { facility: params.facility || '', name: params.name || '', since: params.since || '' } };
    return { view: 'overview' };
  }
  function setFilters(f) {
    location.hash = '#/alerts' + qs({ facility: f.facility, name: f.name, since: f.since });
  }

  function onRoute() {
    var prev = S.route;
    S.route = parseRoute();
    ['overview', 'facility', 'alerts'].forEach(function (v) { $('view-' + v).hidden = S.route.view !== v; });
    $('nav-overview').setAttribute('aria-current', S.route.view === 'overview' ? 'page' : 'false');
    $('nav-alerts').setAttribute('aria-current', S.route.view === 'alerts' ? 'page' : 'false');
    if (S.route.view === 'facility' && (prev.view !== 'facility' || prev.id !== S.route.id)) {
      S.detail = null; S.facHistory = [];
      ['fac-head', 'pue-chart', 'ren-chart', 'meters', 'fac-alerts', 'series-table'].forEach(function (id) { $(id)._html = null; });
    }
    if (prev.view !== S.route.view || prev.id !== S.route.id) {
      var target = S.route.view === 'overview' ? null : $(S.route.view === 'facility' ? 'view-facility' : 'alerts-title');
      if (target && prev.view !== undefined) { $('main').focus({ preventScroll: true }); window.scrollTo(0, 0); }
    }
    render();
    tick();
  }

  function applyLang() {
    var zh = S.lang === 'zh';
    document.documentElement.lang = zh ? 'zh-CN' : 'en';
    document.title = t('title') + ' · dcpue';
    Array.prototype.forEach.call(document.querySelectorAll('[data-i18n]'), function (el) { el.textContent = t(el.getAttribute('data-i18n')); });
    Array.prototype.forEach.call(document.querySelectorAll('[data-i18n-aria]'), function (el) { el.setAttribute('aria-label', t(el.getAttribute('data-i18n-aria'))); });
    var b = $('lang-switch');
    b.textContent = zh ? 'English' : '中文';
    b.setAttribute('lang', zh ? 'en' : 'zh-CN');
    b.setAttribute('aria-label', t('switchTo'));
    document.documentElement.setAttribute('data-lang', S.lang);
    // everything rendered from data is language-dependent
    ['summary', 'tiers', 'fac-head', 'pue-chart', 'ren-chart', 'meters', 'fac-alerts', 'series-table', 'alerts-active', 'alerts-history'].forEach(function (id) { $(id)._html = null; });
    $('f-facility')._html = null; $('f-name')._html = null;
    PLOTS = {};
    setConn(S.ok);
  }
  function applyLarge() {
    document.documentElement.classList.toggle('large', S.large);
    $('large-toggle').setAttribute('aria-pressed', S.large ? 'true' : 'false');
  }

  function render() {
    if (S.route.view === 'overview') renderOverview();
    else if (S.route.view === 'facility') renderFacility();
    else renderAlerts();
    var firing = (S.alerts || []).filter(function (a) { return a.state === 'firing'; }).length;
    var c = $('alert-count');
    c.hidden = !firing;
    c.textContent = firing ? String(firing) : '';
    c.setAttribute('aria-label', firing + ' ' + t('st').firing);
    if (S.facilities) {
      document.documentElement.setAttribute('data-ready', '1');
      var nb = S.facilities.filter(function (f) { return f.status === 'breach'; }).length;
      var title = t('title') + ' · dcpue';
      document.title = nb ? '(' + nb + ' ' + t('status_breach') + ') ' + title : title;
    }
  }

  function init() {
    applyLang();
    applyLarge();
    $('lang-switch').addEventListener('click', function () {
      S.lang = S.lang === 'zh' ? 'en' : 'zh';
      store.set('dcpue.lang', S.lang);
      applyLang();
      render();
    });
    $('large-toggle').addEventListener('click', function () {
      S.large = !S.large;
      store.set('dcpue.large', S.large ? '1' : '0');
      applyLarge();
    });
    var rangeButtons = document.querySelectorAll('#range button');
    Array.prototype.forEach.call(rangeButtons, function (b, i) {
      b.addEventListener('click', function () {
        S.range = b.getAttribute('data-range');
        store.set('dcpue.range', S.range);
        render();
        tick();
      });
      b.addEventListener('keydown', function (ev) {
        var d = ev.key === 'ArrowRight' || ev.key === 'ArrowDown' ? 1 : (ev.key === 'ArrowLeft' || ev.key === 'ArrowUp' ? -1 : 0);
        if (!d) return;
        ev.preventDefault();
        var nb = rangeButtons[(i + d + rangeButtons.length) % rangeButtons.length];
        nb.focus(); nb.click();
      });
    });
    var readFilters = function () { return { facility: $('f-facility').value, name: $('f-name').value, since: $('f-since').value }; };
    $('f-facility').addEventListener('change', function () { setFilters(readFilters()); });
    $('f-name').addEventListener('change', function () { setFilters(readFilters()); });
    $('f-since').addEventListener('change', function () { setFilters(readFilters()); });
    $('f-clear').addEventListener('click', function () { setFilters({}); });
    $('filters').addEventListener('submit', function (ev) { ev.preventDefault(); });
    $('csv').addEventListener('click', downloadCsv);
    // kiosk links: /?lang=en&large=1 set (and remember) the choices
    var sp = /[?&]lang=(zh|en)\b/.exec(location.search);
    if (sp && sp[1] !== S.lang) $('lang-switch').click();
    var lp = /[?&]large=(0|1)\b/.exec(location.search);
    if (lp && (lp[1] === '1') !== S.large) $('large-toggle').click();
    window.addEventListener('hashchange', onRoute);
    S.route = {};
    onRoute();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
