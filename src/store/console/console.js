/* console.js: ferry-store's web console. A page of views over the publisher
 * API (/v1/...), called with the publisher's token from session storage in
 * the Authorization header, as the command line does. It builds the page
 * with DOM calls only (text is never parsed as HTML) and draws its charts as
 * inline SVG; it loads nothing from anywhere but this store.
 *
 * Views, by the address after "#":
 *   /                      the account's packages
 *   /p/NAME                channel map per track, and halted releases
 *   /p/NAME/revisions      revisions, their SBOM components and notices
 *   /p/NAME/notices        open vulnerability notices
 *   /p/NAME/reports        device reports: failed step, log lines
 *   /p/NAME/rollouts       staged rollouts: start one; stage, counts (all
 *                          and per stage), chart
 *   /p/NAME/devices        inventory: weekly active devices, charts
 * A view whose endpoint this store does not have (404 for the route) says
 * so and the rest keeps working. What it changes is staged rollouts: it
 * starts one (the release route with "stages", as `ferry release --stages`
 * does) and pauses, resumes or stops one (as `ferry rollout` does); other
 * releases, promote, close and everything else are the ferry command's. */
"use strict";

const TOKEN_KEY = "ferry-console-token";
const SVG_NS = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

/* --- small helpers ------------------------------------------------------ */

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, String(v));
  }
  for (const kid of kids.flat()) if (kid) e.append(kid);
  return e;
}

function when(t) {
  if (t === null || t === undefined) return "—";
  return new Date(t * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

function size(n) {
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + " " + units[i];
}

function duration(s) {
  if (s % 86400 === 0) return s / 86400 + " d";
  if (s % 3600 === 0) return s / 3600 + " h";
  if (s % 60 === 0) return s / 60 + " min";
  return s + " s";
}

function plural(n, word) {
  return n + " " + word + (n === 1 ? "" : "s");
}

function table(caption, heads, rows, opts) {
  const t = el("table", opts || {}, caption ? el("caption", { text: caption }) : null,
    el("thead", {}, el("tr", {}, heads.map((h) =>
      el("th", { scope: "col", class: h.endsWith("#") ? "num" : null, text: h.replace(/#$/, "") })))),
    el("tbody", {}, rows));
  return el("div", { class: "table-wrap" }, t);
}

function notice(kind, ...text) {
  return el("p", { class: "notice " + kind }, ...text);
}

/* --- the API ------------------------------------------------------------ */

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(path, post) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Authorization: "Bearer " + token, Accept: "application/json" };
  if (post) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, {
      method: post ? "POST" : "GET", body: post ? JSON.stringify(post) : undefined, headers,
      cache: "no-store", credentials: "omit", redirect: "error", referrerPolicy: "no-referrer",
    });
  } catch (e) {
    throw new ApiError(0, "network", "the store did not answer (" + e.message + ")");
  }
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const err = (body && body.error) || {};
    if (res.status === 401) logout(err.message || "the store refused the token");
    throw new ApiError(res.status, err.code || "http-" + res.status,
      err.message || "HTTP " + res.status);
  }
  return body;
}

/* An endpoint this store may not have yet: null when it answers 404 for the
 * route (or 405: the path is known, not this method). */
async function optionalApi(path) {
  try {
    return await api(path);
  } catch (e) {
    if (e.status === 404 || e.status === 405) return null;
    throw e;
  }
}

const enc = encodeURIComponent;

/* --- log in and out ----------------------------------------------------- */

function logout(why) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("login-error").textContent = why || "";
  if (location.hash !== "#/") location.hash = "#/";
  else route();
}

async function login(ev) {
  ev.preventDefault();
  const token = $("token").value.trim();
  if (!/^ferry_[0-9a-f]{64}$/.test(token)) {
    $("login-error").textContent = "A token is ferry_ followed by 64 hex digits.";
    $("token").focus();
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, token);
  $("token").value = "";
  $("login-error").textContent = "";
  try {
    await api("/v1/account");
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("login-error").textContent = "Not logged in: " + e.message;
    $("token").focus();
    return;
  }
  if (location.hash !== "#/") location.hash = "#/";
  else route();
}

/* --- views -------------------------------------------------------------- */

const TABS = [
  ["", "Channels"], ["revisions", "Revisions"], ["notices", "Notices"],
  ["reports", "Device reports"], ["rollouts", "Rollouts"], ["devices", "Devices"],
];

function crumbs(parts) {
  const ol = el("ol", {});
  parts.forEach(([label, href], i) => {
    const last = i === parts.length - 1;
    ol.append(el("li", {}, el("a", { href, "aria-current": last ? "page" : null, text: label })));
  });
  $("crumbs").replaceChildren(ol);
}

function tabs(name, current) {
  return el("nav", { class: "tabs", "aria-label": "Views of " + name },
    el("ul", {}, TABS.map(([slug, label]) => el("li", {},
      el("a", { href: "#/p/" + enc(name) + (slug ? "/" + slug : ""),
        "aria-current": slug === current ? "page" : null, text: label })))));
}

async function viewPackages(view) {
  crumbs([["Packages", "#/"]]);
  const acct = await api("/v1/account");
  $("who").textContent = "Logged in as " + acct.account;
  view.append(el("h1", { tabindex: "-1", text: "Packages" }));
  if (!acct.packages.length) {
    view.append(notice("", "No packages yet: ", el("code", { text: "ferry register NAME" }),
      " registers one."));
    return;
  }
  view.append(el("ul", { class: "packages", id: "packages" },
    acct.packages.map((p) => el("li", {}, el("a", { href: "#/p/" + enc(p), text: p })))));
}

function channelCell(c) {
  if (c.follows) return el("span", { class: "follows" }, "↑ follows " + c.follows);
  if (c.revision === null && !c.progressive) return el("span", { class: "muted" }, "—");
  const parts = [];
  if (c.revision !== null) parts.push(el("span", {}, "revision " + c.revision + " (" + c.version + ")"));
  if (c.progressive) {
    const p = c.progressive;
    parts.push(el("br", {}), el("span", { class: "progressive" },
      "progressive: revision " + p.revision + " (" + p.version + ") to " + p.percentage + " %"));
  }
  if (c.expires) parts.push(el("br", {}), el("span", { class: "muted" }, "expires " + when(c.expires)));
  return parts;
}

function haltText(h) {
  let s = h.channel + ": " + h.kind + " release of revision " + h.revision + " halted: " +
    h.failed + " of " + h.reporting + " devices failed at " + when(h.time);
  if (h.kind === "full")
    s += h.restored !== null && h.restored !== undefined ? "; back to revision " + h.restored
      : "; closed, it held no revision before";
  return s;
}

async function viewChannels(view, name) {
  const map = await api("/v1/packages/" + enc(name) + "/status");
  view.append(el("h1", { tabindex: "-1", text: name + ": channels" }));
  const halts = map.halts || [];
  const hs = el("section", { id: "halts", "aria-labelledby": "halts-h" },
    el("h2", { id: "halts-h", text: "Halted releases" }));
  if (halts.length) {
    hs.append(el("ul", {}, halts.map((h) => el("li", { class: "notice bad" }, haltText(h)))));
    hs.append(el("p", { class: "help" },
      "A halt stays noted until the next release to, or closing of, that channel."));
  } else {
    hs.append(el("p", { class: "muted", text: "None: no release of " + name + " is halted." }));
  }
  const cs = el("section", { id: "channels", "aria-labelledby": "channels-h" },
    el("h2", { id: "channels-h", text: "Channel map" }));
  const channels = map.channels || [];
  if (!channels.length)
    cs.append(notice("", "Nothing released yet: ", el("code", { text: "ferry release " + name + " REV CHANNEL" }), "."));
  const tracks = [...new Set(channels.map((c) => c.track))];
  for (const track of tracks) {
    const rows = channels.filter((c) => c.track === track);
    const arches = [...new Set(rows.map((c) => c.architecture))].sort();
    const names = [...new Set(rows.map((c) => c.channel))];
    const body = names.map((ch) => {
      const first = rows.find((c) => c.channel === ch);
      const label = first.branch ? first.risk + "/" + first.branch : first.risk;
      return el("tr", { "data-channel": ch }, el("th", { scope: "row", text: label }),
        arches.map((a) => {
          const c = rows.find((x) => x.channel === ch && x.architecture === a);
          return el("td", {}, c ? channelCell(c) : "—");
        }));
    });
    cs.append(table("Track " + track + ": what each channel holds, per architecture",
        ["Channel"].concat(arches), body, { class: "channel-map" }));
  }
  view.append(hs, cs);
}

async function loadComponents(name, rev, box) {
  const r = await api("/v1/packages/" + enc(name) + "/revisions/" + rev + "/components");
  if (!r.sbom) {
    box.replaceChildren(el("p", { class: "muted", text: "This revision's image carried no SBOM." }));
    return;
  }
  box.replaceChildren(table(plural(r.components.length, "component") + " of revision " + rev,
    ["Name", "Version", "Type", "Package URL"],
    r.components.map((c) => el("tr", {}, el("td", { text: c.name || "" }),
      el("td", { text: c.version || "" }), el("td", { text: c.type || "" }),
      el("td", { class: "mono", text: c.purl || "" }))), { class: "components" }));
}

function findingRows(findings) {
  return findings.map((f) => el("tr", {},
    el("td", { class: "num", text: f.revision }),
    el("td", { text: (f.channels || []).join(", ") }),
    el("td", { text: f.component }),
    el("td", { class: "mono", text: f.bundled_version }),
    el("td", { class: "mono", text: f.fixed_version || "not fixed yet" }),
    el("td", {}, f.advisory, f.aliases && f.aliases.length ? el("br", {}) : null,
      f.aliases && f.aliases.length ? el("span", { class: "muted", text: f.aliases.join(", ") }) : null),
    el("td", { class: "sev-" + (f.severity || "unknown"), text: f.severity || "unknown" })));
}

const FINDING_HEADS = ["Revision#", "Channels", "Component", "Bundled", "Fixed in", "Advisory", "Severity"];

async function viewRevisions(view, name) {
  const [revs, vulns] = await Promise.all([
    api("/v1/packages/" + enc(name) + "/revisions"),
    optionalApi("/v1/packages/" + enc(name) + "/vulns"),
  ]);
  view.append(el("h1", { tabindex: "-1", text: name + ": revisions" }));
  const open = (vulns && vulns.findings) || [];
  if (!revs.revisions.length) {
    view.append(notice("", "No revision pushed yet: ", el("code", { text: "ferry push FILE" }), "."));
    return;
  }
  const list = el("div", { id: "revisions" });
  for (const r of revs.revisions) {
    const mine = open.filter((f) => f.revision === r.revision);
    const sec = el("section", { class: "revision", id: "rev-" + r.revision, "aria-labelledby": "rev-h-" + r.revision },
      el("h2", { id: "rev-h-" + r.revision, text: "Revision " + r.revision + " (" + r.version + ")" }),
      el("p", {}, r.architectures.join(", ") + " · " + size(r.size) + " · pushed " + when(r.created) +
        " by " + r.uploader + " · " + (r.channels.length ? "in " + r.channels.join(", ") : "in no channel")),
      mine.length ? notice("bad", plural(mine.length, "open vulnerability notice") + ":")
        : null,
      mine.length ? table(null, FINDING_HEADS, findingRows(mine), { class: "findings" }) : null);
    const box = el("div", {}, el("p", { class: "loading", text: "Loading…" }));
    const det = el("details", { class: "sbom" }, el("summary", { text: "SBOM components" }), box);
    det.addEventListener("toggle", () => {
      if (!det.open || det.dataset.loaded) return;
      det.dataset.loaded = "1";
      loadComponents(name, r.revision, box).catch((e) => {
        delete det.dataset.loaded;
        box.replaceChildren(el("p", { class: "error", text: "Components: " + e.message }));
      });
    });
    sec.append(det);
    list.append(sec);
  }
  view.append(list);
}

async function viewNotices(view, name) {
  view.append(el("h1", { tabindex: "-1", text: name + ": vulnerability notices" }));
  const v = await optionalApi("/v1/packages/" + enc(name) + "/vulns");
  if (!v) {
    view.append(notice("", "Vulnerability notices are not available on this store."));
    return;
  }
  const adv = v.advisories || {};
  if (!adv.imported)
    view.append(notice("warn", "No advisories imported into this store yet: it cannot tell whether " +
      name + "'s released revisions are vulnerable."));
  else
    view.append(el("p", { class: "help", text: "Advisories last imported " + when(adv["last-import"]) +
      " (" + adv.held + " held)." + (v.scan && v.scan.pending ? " A scan is pending." : "") }));
  const sec = el("section", { id: "notices", "aria-labelledby": "notices-h" },
    el("h2", { id: "notices-h", text: "Open notices in released revisions" }));
  if (v.findings.length)
    sec.append(table(null, FINDING_HEADS, findingRows(v.findings), { class: "findings" }),
      el("p", { class: "help", text: "Rebuild " + name + " against the fixed versions and release it." }));
  else
    sec.append(notice("ok", adv.imported ? "No known vulnerability in its released revisions." : "None recorded."));
  view.append(sec);
  if (v.history && v.history.length)
    view.append(el("section", { "aria-labelledby": "hist-h" },
      el("h2", { id: "hist-h", text: "Cleared notices" }),
      table(null, ["Revision#", "Component", "Advisory", "Cleared", "Why"],
        v.history.map((f) => el("tr", {}, el("td", { class: "num", text: f.revision }),
          el("td", { text: f.component }), el("td", { text: f.advisory }),
          el("td", { text: when(f.cleared) }), el("td", { text: f.cleared_reason || "" }))))));
}

function logLine(l) {
  return typeof l === "string" ? l : JSON.stringify(l);
}

async function viewReports(view, name, params) {
  view.append(el("h1", { tabindex: "-1", text: name + ": device reports" }));
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter reports" },
    el("label", {}, "Revision", el("input", { name: "revision", inputmode: "numeric", size: 6,
      value: params.get("revision") || "" })),
    el("label", {}, "Device id", el("input", { name: "device", size: 24, value: params.get("device") || "" })),
    el("label", {}, "Result", el("select", { name: "result" },
      ["", "failed", "ok"].map((o) => el("option", { value: o, selected: (params.get("result") || "") === o,
        text: o === "" ? "any" : o === "failed" ? "failed or rolled back" : "ok" })))),
    el("button", { type: "submit", text: "Show" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams();
    for (const k of ["revision", "device", "result"]) {
      const val = form.elements[k].value.trim();
      if (val) q.set(k, val);
    }
    location.hash = "#/p/" + enc(name) + "/reports" + (q.toString() ? "?" + q : "");
  });
  view.append(form);
  const q = new URLSearchParams({ limit: "200" });
  if (params.get("revision")) q.set("revision", params.get("revision"));
  if (params.get("device")) q.set("device", params.get("device"));
  const r = await api("/v1/packages/" + enc(name) + "/reports?" + q);
  let reports = r.reports;
  const want = params.get("result");
  if (want === "ok") reports = reports.filter((x) => x.result === "ok");
  if (want === "failed") reports = reports.filter((x) => x.result !== "ok");
  const failed = reports.filter((x) => x.result !== "ok").length;
  view.append(el("p", { text: plural(reports.length, "report") + ", " +
    failed + " failed or rolled back (newest first, at most 200)." }));
  if (!reports.length) return;
  view.append(table(null, ["Time", "Device", "Revision", "Channel", "Result", "Failed step", "Message and log"],
    reports.map((x) => el("tr", { "data-result": x.result },
      el("td", { text: when(x.time) }),
      el("td", { class: "mono" }, el("a", { href: "#/p/" + enc(name) + "/reports?device=" + enc(x.device),
        title: "Reports of device " + x.device, "aria-label": "Reports of device " + x.device,
        text: x.device.length > 14 ? x.device.slice(0, 12) + "…" : x.device })),
      el("td", { text: (x["from-revision"] !== null ? x["from-revision"] + " → " : "") + x["to-revision"] }),
      el("td", { text: x.channel }),
      el("td", { class: x.result === "ok" ? "result-ok" : "result-bad", text: x.result }),
      el("td", { class: "mono", text: x["failed-step"] || "" }),
      el("td", {}, x.message ? el("span", { text: x.message }) : null,
        x.log && x.log.length ? el("details", {}, el("summary", { text: plural(x.log.length, "log line") }),
          el("pre", { class: "log", text: x.log.map(logLine).join("\n") })) : null))),
    { class: "reports" }));
}

/* --- charts ------------------------------------------------------------- */

/* Progress of a rollout over time: the percentage in force (step line, left
 * axis, 0-100 %) and the devices that reported ok and failed (cumulated,
 * right axis). */
function rolloutChart(ro, idBase) {
  const W = 660, H = 240, L = 44, R = 60, T = 16, B = 34;
  const pts = (ro.series || []).slice();
  /* one point (everything within a second) draws as a level line */
  if (pts.length === 1) pts.push(Object.assign({}, pts[0], { time: pts[0].time + 1 }));
  const t0 = pts.length ? pts[0].time : ro.started;
  const t1 = Math.max(pts.length ? pts[pts.length - 1].time : t0, t0 + 1);
  const maxDev = Math.max(1, ...pts.map((p) => Math.max(p.ok, p.failed)));
  const x = (t) => L + (t - t0) / (t1 - t0) * (W - L - R);
  const yp = (p) => T + (1 - p / 100) * (H - T - B);
  const yd = (d) => T + (1 - d / maxDev) * (H - T - B);
  const title = "Rollout of revision " + ro.revision + " to " + ro.channel;
  const last = pts[pts.length - 1] || { percentage: ro.percentage, ok: 0, failed: 0 };
  const desc = "From " + when(t0) + " to " + when(t1) + ": now at " + last.percentage + " %, " +
    last.ok + " devices reported ok and " + last.failed + " failed.";
  const g = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H,
    role: "img", "aria-labelledby": idBase + "-t " + idBase + "-d" },
  svg("title", { id: idBase + "-t", text: title }), svg("desc", { id: idBase + "-d", text: desc }));
  for (const p of [0, 25, 50, 75, 100]) {
    g.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: yp(p), y2: yp(p) }),
      svg("text", { x: L - 6, y: yp(p) + 4, "text-anchor": "end", text: p + "%" }));
  }
  for (const d of [0, Math.round(maxDev / 2), maxDev])
    g.append(svg("text", { x: W - R + 6, y: yd(d) + 4, text: String(d) }));
  g.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }),
    svg("text", { x: L, y: H - B + 16, text: when(t0) }),
    svg("text", { x: W - R, y: H - B + 16, "text-anchor": "end", text: when(t1) }),
    svg("text", { x: W - R + 6, y: T - 2, text: "devices" }));
  if (pts.length) {
    let step = "M" + x(pts[0].time) + "," + yp(pts[0].percentage);
    for (let i = 1; i < pts.length; i++)
      step += "H" + x(pts[i].time) + "V" + yp(pts[i].percentage);
    const line = (key) => pts.map((p, i) => (i ? "L" : "M") + x(p.time) + "," + yd(p[key])).join("");
    g.append(svg("path", { class: "pct", d: step }), svg("path", { class: "ok", d: line("ok") }),
      svg("path", { class: "failed", d: line("failed") }));
  }
  const legend = el("ul", { class: "legend", "aria-hidden": "true" },
    el("li", { class: "l-pct", text: "percentage of devices" }),
    el("li", { class: "l-ok", text: "reported ok" }), el("li", { class: "l-failed", text: "failed" }));
  const data = el("details", {}, el("summary", { text: "Chart data" }),
    table(title, ["Time", "Percentage#", "Ok#", "Failed#"], pts.map((p) => el("tr", {},
      el("td", { text: when(p.time) }), el("td", { class: "num", text: p.percentage + " %" }),
      el("td", { class: "num", text: p.ok }), el("td", { class: "num", text: p.failed })))));
  return [g, legend, data];
}

/* Horizontal bars, one per row of {label, value}. */
function barChart(title, rows, idBase) {
  const W = 340, rowH = 26, L = 110, R = 44;
  const H = Math.max(1, rows.length) * rowH + 10;
  const max = Math.max(1, ...rows.map((r) => r.value));
  const g = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H,
    role: "img", "aria-labelledby": idBase + "-t " + idBase + "-d" },
  svg("title", { id: idBase + "-t", text: title }),
  svg("desc", { id: idBase + "-d", text: rows.map((r) => r.label + ": " + r.value).join("; ") || "none" }));
  rows.forEach((r, i) => {
    const y = 5 + i * rowH;
    const w = Math.max(1, r.value / max * (W - L - R));
    g.append(svg("text", { x: L - 8, y: y + 16, "text-anchor": "end", text: r.label }),
      svg("rect", { class: "bar", x: L, y: y + 3, width: w, height: rowH - 8, rx: 2 }),
      svg("text", { class: "value", x: L + w + 6, y: y + 16, text: String(r.value) }));
  });
  return el("figure", {}, el("figcaption", { text: title }), g);
}

/* --- rollouts and devices ----------------------------------------------- */

function notAvailable(view, what) {
  view.append(notice("", what + " not available on this store."));
}

/* Pause or resume, and stop, a rollout that is still going; the view is
 * drawn again from the store's answer. Stop asks to be pressed twice. */
function rolloutControls(name, ro, id) {
  const out = el("p", { class: "controls", role: "status", id: id + "-status" });
  const act = async (action) => {
    out.textContent = "";
    try {
      await api("/v1/packages/" + enc(name) + "/rollouts/" + action, { channel: ro.channel });
      route();
    } catch (e) {
      out.textContent = action + ": " + e.message;
    }
  };
  const toggle = ro.state === "running" ? "pause" : "resume";
  const b1 = el("button", { type: "button", class: "secondary " + toggle,
    text: toggle === "pause" ? "Pause" : "Resume" });
  b1.addEventListener("click", () => act(toggle));
  const b2 = el("button", { type: "button", class: "secondary stop", text: "Stop" });
  b2.addEventListener("click", () => {
    if (b2.dataset.armed) return act("stop");
    b2.dataset.armed = "1";
    b2.textContent = "Stop: press again to withdraw revision " + ro.revision;
  });
  return el("div", { class: "rollout-actions", role: "group",
    "aria-label": "Steer the rollout on " + ro.channel }, b1, " ", b2, out);
}

/* "6h", "90m", "2d", "30s" (or bare seconds) into seconds; null when it
 * is none of these. The store checks the range. */
function parseWait(text) {
  const m = /^(\d{1,9})\s*(s|m|min|h|d)?$/.exec(text.trim());
  if (!m) return null;
  const unit = { s: 1, m: 60, min: 60, h: 3600, d: 86400 }[m[2] || "s"];
  return Number(m[1]) * unit;
}

/* The form that starts a staged rollout: POST .../release with "stages" and
 * "stage-wait", the body `ferry release NAME REV CH --stages ... --stage-wait
 * ...` sends. The store checks every field; its refusal is shown as it says
 * it, next to the field it names. On success the view is drawn again and the
 * focus moves to the new rollout. */
function startRolloutForm(name) {
  const field = (id, label, help, attrs) => el("div", { class: "field" },
    el("label", { for: id, text: label }),
    el("input", Object.assign({ id, name: id, autocomplete: "off", spellcheck: "false",
      "aria-describedby": id + "-help start-error" }, attrs)),
    el("p", { id: id + "-help", class: "help", text: help }));
  const out = el("p", { id: "start-error", class: "error", role: "alert" });
  const form = el("form", { id: "start-rollout", class: "start-rollout", novalidate: true,
    "aria-labelledby": "start-h" },
  field("start-revision", "Revision", "The revision to release, as ferry revisions lists it.",
    { inputmode: "numeric", size: 8, required: true }),
  field("start-channel", "Channel", "TRACK/RISK[/BRANCH], or a risk alone: stable, candidate, beta, edge.",
    { size: 24, required: true }),
  field("start-stages", "Stages", "Percentages of devices, each larger than the one before, the last 100.",
    { size: 20, value: "1,10,50,100", required: true }),
  field("start-wait", "Stage wait", "How long each stage lasts at least: a number with s, m, h or d.",
    { size: 8, value: "6h", required: true }),
  el("div", { class: "field" }, el("button", { type: "submit", text: "Start rollout" })), out);
  const fields = { revision: "start-revision", channel: "start-channel", stages: "start-stages",
    "stage-wait": "start-wait" };
  const blame = (key, message) => {
    for (const id of Object.values(fields)) form.elements[id].removeAttribute("aria-invalid");
    out.textContent = message;
    const input = key && form.elements[fields[key]];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (form.dataset.busy) return;
    const v = (id) => form.elements[id].value.trim();
    const rev = v("start-revision"), channel = v("start-channel");
    if (!rev) return blame("revision", "Revision: give the revision to release.");
    if (!channel) return blame("channel", "Channel: give the channel to release to.");
    const wait = parseWait(v("start-wait"));
    if (wait === null)
      return blame("stage-wait", "Stage wait: expected a number with s, m, h or d, e.g. 6h.");
    /* numbers where they are numbers; anything else goes as typed, for
     * the store to refuse in its words */
    const num = (t) => (/^\d{1,15}$/.test(t) ? Number(t) : t);
    const body = { revision: num(rev), channels: [channel],
      stages: v("start-stages").split(",").map((t) => num(t.trim())), "stage-wait": wait };
    form.dataset.busy = "1";
    out.textContent = "";
    try {
      const r = await api("/v1/packages/" + enc(name) + "/release", body);
      const ro = (r.rollouts || [])[0];
      await route();
      const h = ro && $("rollout-" + ro.id + "-h");
      if (h) {
        h.setAttribute("tabindex", "-1");
        h.focus();
        h.scrollIntoView({ block: "start" });
      }
    } catch (e) {
      const m = /^"([a-z-]+)"/.exec(e.message);
      const key = m && m[1] in fields ? m[1] : e.code === "invalid-channel" ? "channel"
        : e.code === "not-found" && /revision/.test(e.message) ? "revision" : null;
      blame(key, "Not started: " + e.message);
    } finally {
      delete form.dataset.busy;
    }
  });
  return el("section", { id: "start", "aria-labelledby": "start-h" },
    el("h2", { id: "start-h", text: "Start a staged rollout" }),
    el("p", { class: "help" }, "Releases the revision to the first stage's share of the channel's " +
      "devices; the store moves it to the next stage when the wait is over and devices report it " +
      "working, and halts it when they report it failing. As ",
    el("code", { text: "ferry release " + name + " REV CHANNEL --stages 1,10,50,100 --stage-wait 6h" }), "."),
    form);
}

async function viewRollouts(view, name) {
  view.append(el("h1", { tabindex: "-1", text: name + ": rollouts" }));
  const r = await optionalApi("/v1/packages/" + enc(name) + "/rollouts?all=1");
  if (!r) return notAvailable(view, "Staged rollouts are");
  view.append(startRolloutForm(name));
  if (!r.rollouts.length) {
    view.append(notice("", "No staged rollout of " + name + " yet."));
    return;
  }
  for (const ro of r.rollouts) {
    const id = "rollout-" + ro.id;
    const sec = el("section", { class: "rollout", id, "aria-labelledby": id + "-h" },
      el("h2", { id: id + "-h", text: ro.channel + ": revision " + ro.revision + " — " + ro.state }));
    sec.append(el("ol", { class: "stages", "aria-label": "Stages" }, ro.stages.map((p, i) =>
      el("li", { class: i < ro.stage ? "done" : null, "aria-current": i === ro.stage ? "step" : null,
        text: p + " %" }))));
    sec.append(el("p", {}, "Stage " + (ro.stage + 1) + " of " + ro.stages.length + " (" + ro.percentage +
      " %), each at least " + duration(ro["stage-wait"]) + "; started " + when(ro.started) +
      (ro.finished ? ", ended " + when(ro.finished) : "") + ". Halts at " + ro["halt-failures"] +
      " failed devices and " + ro["halt-ratio"] + " %."));
    if (ro.waiting && ro.waiting.message)
      sec.append(notice(ro.state === "halted" || ro.state === "stopped" ? "bad" : "warn", ro.waiting.message));
    const c = ro.counts || {};
    sec.append(el("dl", { class: "counts" }, [["ok", "ok"], ["rolled-back", "rolled back"],
      ["pending", "pending"], ["not-seen", "not seen"], ["outside", "later stages"]].map(([k, label]) =>
      el("div", {}, el("dt", { text: label }), el("dd", { text: c[k] === undefined ? "—" : c[k] })))));
    const per = ro["stage-counts"] || [];
    if (per.length)
      sec.append(table("Devices that reported during each stage", ["Stage", "Share#", "Began",
        "Ok#", "Rolled back#"], per.map((s) => el("tr", { "data-stage": s.stage },
        el("th", { scope: "row", text: String(s.stage + 1) }),
        el("td", { class: "num", text: s.percentage + " %" }), el("td", { text: when(s.started) }),
        el("td", { class: "num", text: s.ok }),
        el("td", { class: "num" + (s["rolled-back"] ? " result-bad" : ""), text: s["rolled-back"] }))),
      { class: "stage-counts" }));
    if (ro.state === "running" || ro.state === "paused")
      sec.append(rolloutControls(name, ro, id));
    sec.append(...rolloutChart(ro, id + "-chart"));
    if (ro.events && ro.events.length)
      sec.append(el("details", {}, el("summary", { text: "Events (" + ro.events.length + ")" }),
        el("ol", {}, ro.events.map((e) => el("li", { text: when(e.time) + ": " + e.event +
          (e.percentage !== undefined ? " at " + e.percentage + " %" : "") +
          (e.failed !== undefined ? " (" + e.failed + " of " + e.reporting + " devices failed)" : "") })))));
    view.append(sec);
  }
}

async function viewDevices(view, name, params) {
  view.append(el("h1", { tabindex: "-1", text: name + ": devices" }));
  const q = new URLSearchParams({ limit: "200" });
  const ns = params.get("not-seen");
  if (ns) q.set("not-seen", ns);
  const d = await optionalApi("/v1/packages/" + enc(name) + "/devices?" + q);
  if (!d) return notAvailable(view, "The device inventory is");
  const wa = d["weekly-active"] || {};
  view.append(el("p", { class: "lead", text: plural(wa.total || 0, "device") + " active in the last 7 days." }));
  view.append(el("div", { class: "charts", id: "inventory" },
    barChart("Weekly active devices by revision", (wa["by-revision"] || []).map((x) =>
      ({ label: "revision " + x.revision, value: x.devices })), "wa-rev"),
    barChart("by channel", (wa["by-channel"] || []).map((x) => ({ label: x.channel, value: x.devices })), "wa-ch"),
    barChart("by architecture", (wa["by-arch"] || []).map((x) => ({ label: x.arch, value: x.devices })), "wa-arch")));
  const form = el("form", { class: "filters", role: "search", "aria-label": "Filter devices" },
    el("label", {}, "Not seen for at least (days)", el("input", { name: "ns", inputmode: "numeric", size: 5, value: ns || "" })),
    el("button", { type: "submit", text: "Show" }));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const v = form.elements.ns.value.trim();
    location.hash = "#/p/" + enc(name) + "/devices" + (v ? "?not-seen=" + enc(v) : "");
  });
  view.append(el("h2", { text: "Devices" }), form);
  const rows = d.devices || [];
  view.append(table((d.truncated ? "The first " : "") + plural(rows.length, "device") + ", most recently seen first",
    ["Device", "Revision#", "Channel", "Architecture", "ferryd", "Held", "Last seen", "First seen"],
    rows.map((x) => el("tr", {}, el("td", { class: "mono", text: x.device }),
      el("td", { class: "num", text: x.revision }), el("td", { text: x.channel }), el("td", { text: x.arch }),
      el("td", { text: x["agent-version"] }), el("td", { text: x.held ? "held" : "" }),
      el("td", { text: when(x["last-seen"]) }), el("td", { text: when(x["first-seen"]) })))));
}

/* --- the router --------------------------------------------------------- */

const PACKAGE_VIEWS = {
  "": viewChannels, revisions: viewRevisions, notices: viewNotices, reports: viewReports,
  rollouts: viewRollouts, devices: viewDevices,
};

let routeSeq = 0;

async function route() {
  let hash = location.hash || "#/";
  if (!hash.startsWith("#/")) {
    if ($("view").dataset.ready) return; /* an in-page link, not a view */
    hash = "#/";
  }
  const seq = ++routeSeq;
  const token = sessionStorage.getItem(TOKEN_KEY);
  $("logout").hidden = !token;
  $("login").hidden = !!token;
  const view = el("div", { id: "view", "aria-busy": "true" });
  $("view").replaceWith(view);
  if (!token) {
    $("who").textContent = "";
    $("crumbs").replaceChildren();
    $("token").focus();
    return;
  }
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (!parts.length) {
      await viewPackages(view);
    } else if (parts[0] === "p" && parts[1] && parts.length <= 3 && (parts[2] || "") in PACKAGE_VIEWS) {
      const name = parts[1], slug = parts[2] || "";
      crumbs([["Packages", "#/"], [name, "#/p/" + enc(name)]]);
      if (!$("who").textContent) api("/v1/account").then((a) => { $("who").textContent = "Logged in as " + a.account; }, () => {});
      view.append(tabs(name, slug));
      const again = el("button", { type: "button", class: "secondary refresh", text: "Refresh" });
      again.addEventListener("click", route);
      view.append(again);
      await PACKAGE_VIEWS[slug](view, name, params);
    } else {
      view.append(el("h1", { tabindex: "-1", text: "No such page" }),
        el("p", {}, el("a", { href: "#/", text: "Your packages" })));
    }
  } catch (e) {
    if (seq !== routeSeq) return;
    view.append(el("p", { class: "error", role: "alert", text: e.message }));
  }
  if (seq !== routeSeq) return;
  view.removeAttribute("aria-busy");
  view.dataset.ready = "1";
  const h1 = view.querySelector("h1");
  if (h1 && document.activeElement === document.body) h1.focus();
  else if (h1 && !view.contains(document.activeElement)) h1.focus();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  document.querySelector(".skip").addEventListener("click", (ev) => {
    ev.preventDefault(); /* keep the view's address */
    $("main").focus();
  });
  $("logout").addEventListener("click", () => logout(""));
  window.addEventListener("hashchange", route);
  route();
});
