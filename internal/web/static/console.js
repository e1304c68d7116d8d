// auditkeep console: progressive enhancement only. Event content is hostile:
// this script sets textContent and inserts only rows the console rendered
// (escaped by its templates), never HTML built from data.
(function () {
  "use strict";

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }

  // Times: the server renders UTC; show local time, UTC on hover.
  function localize(root) {
    $all("time[datetime]", root).forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (isNaN(d.getTime())) { return; }
      t.textContent = d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
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

  // The viewer token of the page, carried by every console request.
  function withToken(p) {
    var table = $("#events"), vt = table && table.getAttribute("data-viewer-token");
    if (vt) { p.set("viewer_token", vt); }
    return p;
  }

  // facets asks the console for the choices of a picker: the values of
  // field among the events of the scope and target type given.
  function facets(field, filters) {
    var p = new URLSearchParams();
    p.set("field", field);
    Object.keys(filters).forEach(function (k) { if (filters[k]) { p.set(k, filters[k]); } });
    return fetch("/facets?" + withToken(p).toString(), { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); })
      .then(function (body) { return body.values || []; });
  }

  // fill replaces the choices of a select (or the options of a datalist),
  // keeping "Any" and the current value.
  function fill(list, values) {
    if (!list || list.disabled) { return; }
    var isSelect = list.tagName === "SELECT", current = isSelect ? list.value : "";
    while (list.options.length > (isSelect ? 1 : 0)) { list.removeChild(list.options[list.options.length - 1]); }
    values.forEach(function (v) {
      var label = isSelect ? v.label + " (" + v.count + (v.more ? "+" : "") + ")" : v.label;
      list.appendChild(option(v.value, label, v.value === current));
    });
    if (isSelect && current && list.value !== current) {
      list.appendChild(option(current, current, true)); // a value no event carries any more
    }
  }

  // Pickers follow each other as the Qovery flow has them: project →
  // environment → service, and target type → target, each from the
  // store's facets of the choices above it.
  function wirePickers() {
    var panel = $("details.more"), s = [$("#s1"), $("#s2"), $("#s3")];
    var tt = $("#target_type"), tid = $("#target_id");
    if (!panel || !s[0]) { return; }
    function scopeUpTo(i) {
      var parts = [];
      for (var j = 0; j < i && s[j].value; j++) { parts.push(s[j].value); }
      return parts.join("/");
    }
    function load(sel, filters) {
      if (!sel || sel.disabled) { return; }
      sel.setAttribute("aria-busy", "true");
      facets(sel.getAttribute("data-field"), filters)
        .then(function (values) { fill(sel, values); })
        .catch(function () { /* the current choice stays usable */ })
        .then(function () { sel.removeAttribute("aria-busy"); });
    }
    function level(i) {
      if (i > 0 && !s[i - 1].value) { fill(s[i], []); return; }
      load(s[i], { scope: scopeUpTo(i) });
    }
    function targets() {
      if (!tt || !tt.value) { fill(tid, []); return; }
      load(tid, { scope: scopeUpTo(3), target_type: tt.value });
    }
    var loaded = false;
    function loadAll() {
      if (loaded) { return; }
      loaded = true;
      for (var i = 0; i < 3; i++) { level(i); }
      load(tt, { scope: scopeUpTo(3) });
      targets();
      $all("datalist[data-field]").forEach(function (dl) {
        facets(dl.getAttribute("data-field"), {}).then(function (values) { fill(dl, values); }, function () {});
      });
    }
    panel.addEventListener("toggle", function () { if (panel.open) { loadAll(); } });
    if (panel.open) { loadAll(); }
    s.forEach(function (sel, i) {
      sel.addEventListener("change", function () {
        for (var j = i + 1; j < 3; j++) { s[j].value = ""; level(j); }
        load(tt, { scope: scopeUpTo(3) });
        targets();
      });
    });
    if (tt) { tt.addEventListener("change", function () { tid.value = ""; targets(); }); }
  }

  // rowsFrom returns the rows of a table the console rendered.
  function rowsFrom(doc, sel) {
    return $all(sel, doc).map(function (tr) { return document.importNode(tr, true); });
  }

  function parse(html) { return new DOMParser().parseFromString(html, "text/html"); }

  function get(url) {
    return fetch(url, { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); });
  }

  // The result count follows the rows the page shows.
  function recount(more) {
    var c = $("#result-count"), n = $all("#rows tr").length;
    if (c) { c.textContent = n + (n === 1 ? " event" : " events") + (more ? ", more below" : ""); }
  }

  // Load more: fetch the next page as the console renders it and append
  // its rows.
  function wireMore() {
    var more = $("#load-more");
    if (!more) { return; }
    more.addEventListener("click", function (ev) {
      ev.preventDefault();
      more.setAttribute("aria-busy", "true");
      get(more.href).then(function (html) {
        var doc = parse(html), body = $("#rows");
        rowsFrom(doc, "#rows > tr").forEach(function (tr) { localize(tr); body.appendChild(tr); });
        var next = $("#load-more", doc);
        if (next) { more.href = next.getAttribute("href"); } else { more.parentNode.removeChild(more); }
        more.removeAttribute("aria-busy");
        recount(!!next);
      }).catch(function () { window.location.href = more.href; });
    });
  }

  // Rows open their event: a click anywhere but on a link, or Enter.
  function wireRows() {
    var body = $("#rows");
    if (!body) { return; }
    body.addEventListener("click", function (ev) {
      var tr = ev.target.closest("tr[data-href]");
      if (!tr || ev.target.closest("a, button, input, label") || String(window.getSelection())) { return; }
      window.location.href = tr.getAttribute("data-href");
    });
    body.addEventListener("keydown", function (ev) {
      var tr = ev.target;
      if (ev.key === "Enter" && tr.matches && tr.matches("tr[data-href]")) {
        window.location.href = tr.getAttribute("data-href");
      }
    });
  }

  function apiURL(path, table, extra) {
    var p = new URLSearchParams(table.getAttribute("data-api-query") || "");
    Object.keys(extra || {}).forEach(function (k) { p.set(k, extra[k]); });
    return path + "?" + withToken(p).toString();
  }

  // Why a live stream ended, by the reason of its end event.
  var endReasons = {
    key_revoked: "your session's access was revoked: the API key it signed in with was revoked",
    token_expired: "this view's access expired; open it again with a new link"
  };

  // Live mode: new matching events appear at the top, rendered by the
  // console; the URL keeps live=1 so that a reload or a shared link stays
  // live.
  function wireLive(table) {
    var box = $("#live"), status = $("#live-status"), param = $("#live-param");
    if (!box || typeof EventSource === "undefined") { if (box) { box.disabled = true; } return; }
    var src = null, pending = [], timer = null;
    function keepInURL(on) {
      if (param) { param.disabled = !on; }
      var u = new URL(window.location.href);
      if (on) { u.searchParams.set("live", "1"); } else { u.searchParams.delete("live"); }
      window.history.replaceState(null, "", u.toString());
    }
    function stop() { if (src) { src.close(); src = null; } status.textContent = ""; }
    // insert fetches the rows of the pending events, at most 50 at once.
    function insert() {
      timer = null;
      var ids = pending.splice(0, 50);
      if (!ids.length) { return; }
      var p = new URLSearchParams();
      ids.forEach(function (id) { p.append("id", id); });
      get("/rows?" + withToken(p).toString()).then(function (html) {
        var body = $("#rows");
        rowsFrom(parse(html), "tr").reverse().forEach(function (tr) {
          localize(tr);
          tr.classList.add("new");
          body.insertBefore(tr, body.firstChild);
        });
        var empty = $("#empty");
        if (empty) { empty.parentNode.removeChild(empty); }
        recount(!!$("#load-more"));
        if (pending.length) { insert(); }
      }).catch(function () { status.textContent = "Live: could not show a new event; reload the page."; });
    }
    function start() {
      var since = table.getAttribute("data-since") || "0";
      src = new EventSource(apiURL("/v1/stream", table, { since: since }), { withCredentials: true });
      status.textContent = "Connecting…";
      src.onopen = function () { status.textContent = "Live: new events appear at the top."; };
      src.addEventListener("event", function (m) {
        var e;
        try { e = JSON.parse(m.data); } catch (err) { return; }
        pending.push(e.id);
        if (!timer) { timer = setTimeout(insert, 150); }
        if (e.seq > Number(table.getAttribute("data-since") || 0)) { table.setAttribute("data-since", String(e.seq)); }
      });
      // The stream's credential was revoked or expired: reconnecting would
      // be refused, so live mode stops and says why.
      src.addEventListener("end", function (m) {
        var end = {};
        try { end = JSON.parse(m.data) || {}; } catch (err) { end = {}; }
        stop();
        box.checked = false;
        keepInURL(false);
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
    box.addEventListener("change", function () {
      keepInURL(box.checked);
      if (box.checked) { start(); } else { stop(); }
    });
    if (box.checked) { start(); }
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
    wirePickers();
    wireMore();
    wireRows();
    wireLive(table);
    wireCompare();
  });
})();
