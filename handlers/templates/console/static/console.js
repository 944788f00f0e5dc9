// Live progress on the send page: poll the admin API (same cookie) until the send is done.
(function () {
  "use strict";
  var box = document.getElementById("send");
  if (!box) { return; }
  var url = box.getAttribute("data-progress-url");
  var STATUS = { failed: "失败", unknown: "结果未知" };

  function setText(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = String(value); }
  }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function show(p) {
    var total = p.total || 0;
    var pct = function (n) { return total ? (100 * n / total) + "%" : "0%"; };
    box.querySelector(".progress .sent").style.width = pct(p.sent);
    box.querySelector(".progress .failed").style.width = pct(p.failed);
    box.querySelector(".progress .other").style.width = pct(p.unknown + p.cancelled);
    box.querySelector(".progress").setAttribute("aria-valuenow", p.percent);
    setText("percent", p.percent + "%");
    setText("status-text", p.finished ? "发送完成" : "正在发送…");
    ["total", "pending", "sent", "failed", "unknown", "cancelled"].forEach(function (k) {
      setText(k, p[k]);
    });
    var body = document.querySelector("#failures tbody");
    body.textContent = "";
    if (!p.failures.length) {
      var tr = document.createElement("tr");
      tr.className = "empty";
      var td = cell("暂无失败");
      td.colSpan = 4;
      td.className = "muted";
      tr.appendChild(td);
      body.appendChild(tr);
    }
    p.failures.forEach(function (g) {
      var tr = document.createElement("tr");
      tr.appendChild(cell(g.errcode === null ? "—" : g.errcode));
      tr.appendChild(cell(g.label));
      tr.appendChild(cell(STATUS[g.status] || g.status));
      tr.appendChild(cell(g.count));
      body.appendChild(tr);
    });
    box.setAttribute("data-finished", p.finished ? "1" : "0");
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        show(data.send.progress);
        if (!data.send.progress.finished) { setTimeout(poll, 1000); }
      })
      .catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
