// auditkeep console: progressive enhancement only. Event content is hostile:
// this script builds elements and sets textContent, never HTML from data.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Times: the server renders UTC; show local time, UTC on hover.
  function localize(root) {
    $all("time[datetime]", root).forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      t.textContent = d.toLocaleString();
      t.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
    });
  }

  // Time range: from/to only for a custom range.
  function wireRange() {
    var range = $("#range");
    if (!range) { return; }
    var update = function () {
      $all(".custom-range").forEach(function (el) { el.hidden = range.value !== "custom"; });
    };
    range.addEventListener("change", update);
    update();
  }

  function option(value, label, selected) {
    var o = document.createElement("option");
    o.value = value;
    o.textContent = label;
    if (selected) { o.selected = true; }
    return o;
  }

  function fill(select, items, keep) {
    if (!select || select.disabled) { return; }
    var current = keep ? select.value : "";
    while (select.options.length > 1) { select.remove(1); }
    items.forEach(function (it) { select.appendChild(option(it.value, it.label, it.value === current)); });
  }

  // Scope pickers (project → environment → service) and the target picker
  // follow each other from the options the server sampled.
  function wirePickers(opts) {
    var s = [$("#s1"), $("#s2"), $("#s3")];
    var tt = $("#target_type"), tid = $("#target_id");
    if (!s[0] || !opts) { return; }
    function level(i) {
      var nodes = opts.scopes || [];
      for (var j = 0; j < i; j++) {
        var v = s[j].value, next = [];
        nodes.forEach(function (n) { if (n.value === v) { next = n.children || []; } });
        nodes = next;
      }
      return nodes;
    }
    function scopePath() {
      var parts = [];
      for (var i = 0; i < 3 && s[i].value; i++) { parts.push(s[i].value); }
      return parts.join("/");
    }
    function targets() {
      var path = scopePath(), type = tt ? tt.value : "";
      var list = (opts.targets || []).filter(function (t) {
        return t.type === type && (!path || t.scope === path || t.scope.indexOf(path + "/") === 0);
      });
      fill(tid, list.map(function (t) { return { value: t.id, label: t.label }; }), true);
    }
    s.forEach(function (sel, i) {
      sel.addEventListener("change", function () {
        for (var j = i + 1; j < 3; j++) { fill(s[j], level(j), false); }
        targets();
      });
    });
    if (tt) { tt.addEventListener("change", targets); }
  }

  function quick(vt, pairs) {
    var p = new URLSearchParams();
    for (var i = 0; i + 1 < pairs.length; i += 2) { p.set(pairs[i], pairs[i + 1]); }
    if (vt) { p.set("viewer_token", vt); }
    return "/?" + p.toString();
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function a(href, text, cls) {
    var e = el("a", cls, text);
    e.setAttribute("href", href);
    return e;
  }

  function cell(label) {
    var td = el("td");
    td.setAttribute("data-label", label);
    return td;
  }

  function actorLabel(ac) { return ac.name || ac.email || ac.id; }

  // buildRow mirrors the server's "row" template.
  function buildRow(e, vt) {
    var tr = el("tr", "ev" + (e.status === "failure" ? " failure" : ""));
    tr.setAttribute("data-id", e.id);
    var td = cell("Time"), t = el("time", null, e.occurred_at), pick = el("input", "pick");
    pick.type = "checkbox"; pick.name = "id"; pick.value = e.id;
    pick.setAttribute("form", "compare-form");
    pick.setAttribute("aria-label", "Pick for comparison");
    t.setAttribute("datetime", e.occurred_at);
    var picked = el("span", "picked");
    picked.appendChild(pick); picked.appendChild(document.createTextNode(" "));
    picked.appendChild(t); td.appendChild(picked); tr.appendChild(td);

    td = cell("Actor");
    td.appendChild(a(quick(vt, ["actor", e.actor.id]), actorLabel(e.actor), "actor"));
    td.appendChild(document.createTextNode(" "));
    td.appendChild(el("span", "muted", e.actor.type));
    tr.appendChild(td);

    td = cell("Action");
    var det = "/events/" + encodeURIComponent(e.id) + (vt ? "?viewer_token=" + encodeURIComponent(vt) : "");
    var act = a(det, e.action, "action");
    if (e.description) { act.title = e.description; }
    td.appendChild(act);
    td.appendChild(document.createTextNode(" "));
    td.appendChild(el("span", "badge", e.type));
    tr.appendChild(td);

    td = cell("Target");
    if (e.target) {
      td.appendChild(el("span", "muted", e.target.type));
      td.appendChild(document.createTextNode(" "));
      td.appendChild(a(quick(vt, ["target_type", e.target.type, "target_id", e.target.id]), e.target.name || e.target.id, "target"));
      if (e.target.deleted) {
        td.appendChild(document.createTextNode(" "));
        td.appendChild(el("span", "deleted", "deleted"));
      }
    }
    tr.appendChild(td);

    td = cell("Scope");
    var crumbs = el("span", "crumbs"), path = [];
    (e.scope || []).forEach(function (s, i) {
      path.push(s.type + ":" + s.id);
      if (i) { crumbs.appendChild(document.createTextNode(" › ")); }
      var c = a(quick(vt, ["scope", path.join("/")]), s.name || s.id);
      c.title = s.type;
      crumbs.appendChild(c);
    });
    td.appendChild(crumbs); tr.appendChild(td);

    td = cell("Source");
    if (e.source) { td.appendChild(a(quick(vt, ["source", e.source]), e.source)); }
    tr.appendChild(td);

    td = cell("IP");
    var ip = e.context && e.context.ip;
    if (ip) { td.appendChild(a(quick(vt, ["ip", ip]), ip, "mono")); }
    tr.appendChild(td);

    td = cell("Status");
    td.appendChild(el("span", "status" + (e.status === "failure" ? " status-failure" : ""), e.status));
    tr.appendChild(td);
    localize(tr);
    return tr;
  }

  function apiURL(path, table, extra) {
    var p = new URLSearchParams(table.getAttribute("data-api-query") || "");
    var vt = table.getAttribute("data-viewer-token");
    if (vt) { p.set("viewer_token", vt); }
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return path + "?" + p.toString();
  }

  // Load more: fetch the next page as JSON and append it.
  function wireMore(table) {
    var more = $("#load-more");
    if (!more) { return; }
    more.addEventListener("click", function (ev) {
      var next = table.getAttribute("data-next");
      if (!next) { return; }
      ev.preventDefault();
      more.setAttribute("aria-busy", "true");
      fetch(apiURL("/v1/events", table, { cursor: next }), { credentials: "same-origin" })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
        .then(function (page) {
          var body = $("#rows"), vt = table.getAttribute("data-viewer-token");
          page.events.forEach(function (e) { body.appendChild(buildRow(e, vt)); });
          table.setAttribute("data-next", page.next_cursor || "");
          if (!page.next_cursor) { more.parentNode.removeChild(more); }
          more.removeAttribute("aria-busy");
        })
        .catch(function () { window.location.href = more.href; });
    });
  }

  // Why a live stream ended, by the reason of its end event.
  var endReasons = {
    key_revoked: "your session's access was revoked: the API key it signed in with was revoked",
    token_expired: "this view's access expired; open it again with a new link"
  };

  // Live mode: new matching events appear at the top.
  function wireLive(table) {
    var box = $("#live"), status = $("#live-status");
    if (!box || typeof EventSource === "undefined") { if (box) { box.disabled = true; } return; }
    var src = null;
    function stop() { if (src) { src.close(); src = null; } status.textContent = ""; }
    function start() {
      var since = table.getAttribute("data-since") || "0";
      src = new EventSource(apiURL("/v1/stream", table, { since: since }), { withCredentials: true });
      status.textContent = "Connecting…";
      src.onopen = function () { status.textContent = "Live: new events appear at the top."; };
      src.addEventListener("event", function (m) {
        var e;
        try { e = JSON.parse(m.data); } catch (err) { return; }
        var body = $("#rows"), row = buildRow(e, table.getAttribute("data-viewer-token"));
        row.classList.add("new");
        body.insertBefore(row, body.firstChild);
        var empty = $("#empty");
        if (empty) { empty.parentNode.removeChild(empty); }
        if (e.seq > Number(table.getAttribute("data-since") || 0)) { table.setAttribute("data-since", String(e.seq)); }
      });
      // The stream's credential was revoked or expired: reconnecting would
      // be refused, so live mode stops and says why.
      src.addEventListener("end", function (m) {
        var end = {};
        try { end = JSON.parse(m.data) || {}; } catch (err) { end = {}; }
        stop();
        box.checked = false;
        status.textContent = "Live view ended: " + (endReasons[end.reason] || end.message || "the server ended the stream") + ".";
      });
      src.addEventListener("error", function (m) {
        if (m.data) {
          try { status.textContent = "Reconnecting: " + JSON.parse(m.data).error.message; } catch (err) { status.textContent = "Reconnecting…"; }
        } else if (src && src.readyState === EventSource.CONNECTING) {
          status.textContent = "Reconnecting…";
        } else if (src && src.readyState === EventSource.CLOSED) {
          status.textContent = "Live mode stopped: the server refused the stream.";
        }
      });
    }
    box.addEventListener("change", function () { if (box.checked) { start(); } else { stop(); } });
  }

  // Compare: enabled once exactly two events are ticked.
  function wireCompare() {
    var form = $("#compare-form"), button = $("#compare-picked"), hint = $("#compare-hint");
    if (!form || !button) { return; }
    function update() {
      var n = $all("input.pick:checked").length;
      button.disabled = n !== 2;
      hint.textContent = n === 0 ? "Tick two events to compare them." :
        n === 1 ? "1 ticked: tick one more." :
        n === 2 ? "2 ticked." : n + " ticked: compare takes two.";
    }
    document.addEventListener("change", function (ev) {
      if (ev.target && ev.target.classList && ev.target.classList.contains("pick")) { update(); }
    });
    update();
  }

  function wireCopy() {
    $all("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () {
        var pre = document.getElementById(b.getAttribute("data-copy"));
        if (!pre) { return; }
        var text = pre.textContent, label = b.textContent;
        var done = function () { b.textContent = "Copied"; setTimeout(function () { b.textContent = label; }, 1500); };
        if (navigator.clipboard && navigator.clipboard.writeText) {
          navigator.clipboard.writeText(text).then(done, function () { selectText(pre); });
        } else { selectText(pre); }
      });
    });
  }

  function selectText(node) {
    var r = document.createRange();
    r.selectNodeContents(node);
    var s = window.getSelection();
    s.removeAllRanges();
    s.addRange(r);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localize(document);
    wireRange();
    wireCopy();
    var table = $("#events");
    if (!table) { return; }
    var opts = null;
    try { opts = JSON.parse(table.getAttribute("data-options") || "null"); } catch (err) { opts = null; }
    wirePickers(opts);
    wireMore(table);
    wireLive(table);
    wireCompare();
  });
})();
