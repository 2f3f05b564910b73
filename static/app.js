/* Staff pages: light progressive enhancement. Every form also works without JavaScript. */
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $all(selector, root) { return Array.prototype.slice.call((root || document).querySelectorAll(selector)); }

  function fetchJSON(url, options) {
    options = options || {};
    options.headers = Object.assign({ "Accept": "application/json", "X-CSRFToken": CSRF }, options.headers || {});
    options.credentials = "same-origin";
    return fetch(url, options).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, status: response.status, body: body };
      });
    });
  }

  // ------------------------------------------------------------------ confirm before destructive forms
  $all("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
    });
  });

  // ------------------------------------------------------------------ filters that apply at once
  $all("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // ------------------------------------------------------------------ copy buttons
  $all("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var source = $(button.getAttribute("data-copy"));
      if (!source) return;
      var text = source.textContent;
      var done = function () {
        var label = button.lastChild;
        var before = label.textContent;
        label.textContent = " Copied";
        setTimeout(function () { label.textContent = before; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, function () {});
      } else {
        var area = document.createElement("textarea");
        area.value = text; area.style.position = "fixed"; area.style.opacity = "0";
        document.body.appendChild(area); area.select();
        try { document.execCommand("copy"); done(); } catch (e) { /* nothing to do */ }
        document.body.removeChild(area);
      }
    });
  });

  // ------------------------------------------------------------------ colour picker <-> text field
  $all("input[data-sync]").forEach(function (input) {
    input.addEventListener("input", function () {
      var other = $(input.getAttribute("data-sync"));
      if (other && /^#[0-9a-fA-F]{6}$/.test(input.value)) other.value = input.value;
    });
  });

  // ------------------------------------------------------------------ knowledge: upload and live status
  var table = $("#documents");
  if (table) initKnowledge();

  function initKnowledge() {
    var tbody = $("tbody", table);
    var template = $("#doc-row-template");
    var labels = JSON.parse($("#status-labels").textContent);
    var list = $("#upload-list");
    var dropzone = $("#dropzone");
    var input = $("#file-input");
    var uploadUrl = $("#upload-form").getAttribute("action");
    var pollTimer = null;
    var watching = {};  // document id -> its line in the upload list, updated when processing ends

    $all(".tabs button").forEach(function (tab) {
      tab.addEventListener("click", function () {
        $all(".tabs button").forEach(function (t) { t.classList.toggle("active", t === tab); });
        $all("[data-tab-panel]").forEach(function (panel) {
          panel.hidden = panel.getAttribute("data-tab-panel") !== tab.getAttribute("data-tab");
        });
      });
    });

    function note(name, text, kind) {
      var li = document.createElement("li");
      var strong = document.createElement("span");
      strong.className = "name"; strong.textContent = name;
      var span = document.createElement("span");
      span.textContent = text;
      li.appendChild(strong); li.appendChild(span);
      if (kind) li.className = kind;
      list.insertBefore(li, list.firstChild);
      return { el: li, set: function (message, cls) { span.textContent = message; li.className = cls || ""; } };
    }

    function send(formData, name) {
      var item = note(name, "Uploading…");
      return fetchJSON(uploadUrl, { method: "POST", body: formData }).then(function (res) {
        var results = (res.body && res.body.results) || [];
        if (!results.length) {
          var message = (res.body && res.body.error && res.body.error.message) || "The upload failed. Please try again.";
          item.set(message, "error");
          return;
        }
        results.forEach(function (result, i) {
          var target = i === 0 ? item : note(result.filename, "");
          if (result.ok) {
            target.set(result.created ? "Uploaded — processing…" : "Already in your knowledge base.", "ok");
            if (result.created) watching[result.document.id] = target;
            upsertRow(result.document);
          } else {
            target.set(result.error, "error");
          }
        });
        schedulePoll(300);
      }).catch(function () {
        item.set("Network error: the file was not uploaded. Check your connection and try again.", "error");
      });
    }

    function uploadFiles(files) {
      Array.prototype.forEach.call(files, function (file) {
        var data = new FormData();
        data.append("files", file, file.name);
        send(data, file.name);
      });
    }

    input.addEventListener("change", function () {
      uploadFiles(input.files);
      input.value = "";
    });
    ["dragenter", "dragover"].forEach(function (type) {
      dropzone.addEventListener(type, function (event) {
        event.preventDefault(); dropzone.classList.add("dragover");
      });
    });
    ["dragleave", "drop"].forEach(function (type) {
      dropzone.addEventListener(type, function (event) {
        event.preventDefault(); dropzone.classList.remove("dragover");
      });
    });
    dropzone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) uploadFiles(event.dataTransfer.files);
    });

    var textForm = $("#text-form");
    textForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var title = $("#text-title").value.trim() || "Pasted text";
      send(new FormData(textForm), title).then(function () { textForm.reset(); });
    });

    function row(id) { return $('tr[data-id="' + id + '"]', tbody); }

    function upsertRow(doc) {
      var tr = row(doc.id);
      if (!tr) {
        var html = template.innerHTML.replace(/__ID__/g, encodeURIComponent(doc.id));
        var holder = document.createElement("tbody");
        holder.innerHTML = html.trim();
        tr = holder.firstElementChild;
        tr.setAttribute("data-id", doc.id);
        tbody.insertBefore(tr, tbody.firstChild);
        $all("form[data-confirm]", tr).forEach(function (form) {
          form.setAttribute("data-confirm", "Delete " + doc.title + "? The assistant will stop using it.");
          form.addEventListener("submit", function (event) {
            if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
          });
        });
        $(".js-created", tr).textContent = "just now";
        table.hidden = false;
        $("#documents-empty").hidden = true;
        var n = $all("tr[data-id]", tbody).length;
        $("#doc-count").textContent = n + (n === 1 ? " document" : " documents");
      }
      $(".js-title", tr).textContent = doc.title;
      $(".js-title", tr).title = doc.title;
      $(".js-type", tr).textContent = (doc.source_type || "").toUpperCase();
      $(".js-size", tr).textContent = formatSize(doc.size_bytes);
      var badge = $(".js-status", tr);
      badge.className = "badge js-status " + doc.status;
      badge.textContent = labels[doc.status] || doc.status;
      tr.setAttribute("data-status", doc.status);
      $(".js-progress", tr).style.width = doc.progress + "%";
      $(".js-progress-text", tr).textContent = doc.progress + "%";
      $(".js-chunks", tr).textContent = String(doc.chunk_count);
      var item = watching[doc.id];
      if (item && doc.status === "completed") {
        item.set("Ready — the assistant can answer from it now.", "ok");
        delete watching[doc.id];
      } else if (item && doc.status === "failed") {
        item.set(doc.error_message || "Processing failed.", "error");
        delete watching[doc.id];
      }
      var error = $(".js-error", tr);
      error.textContent = doc.error_message || "";
      error.hidden = !doc.error_message;
    }

    function formatSize(n) {
      if (n < 1024) return n + " B";
      if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
      return (n / 1024 / 1024).toFixed(1) + " MB";
    }

    function busy() {
      return $all("tr[data-id]", tbody).some(function (tr) {
        var s = tr.getAttribute("data-status");
        return s === "pending" || s === "processing";
      });
    }

    function schedulePoll(delay) {
      if (pollTimer) clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, delay);
    }

    function poll() {
      pollTimer = null;
      fetchJSON(table.getAttribute("data-poll") || "/dashboard/knowledge/documents.json").then(function (res) {
        if (res.ok) res.body.documents.slice().reverse().forEach(upsertRow);
        if (busy()) schedulePoll(1200);
      }).catch(function () { schedulePoll(5000); });
    }

    if (busy()) schedulePoll(800);
  }

  // ------------------------------------------------------------------ knowledge: website sources, live progress
  var sourcesTable = $("#sources[data-poll]");
  if (sourcesTable) initSources();

  function initSources() {
    var badges = { queued: "pending", syncing: "processing", idle: "completed", failed: "failed" };
    function busy() {
      return $all("tr[data-source]", sourcesTable).some(function (tr) {
        var s = tr.getAttribute("data-status");
        return s === "queued" || s === "syncing";
      });
    }
    function update(source) {
      var tr = $('tr[data-source="' + source.id + '"]', sourcesTable);
      if (!tr) return;
      var was = tr.getAttribute("data-status");
      if ((was === "queued" || was === "syncing") && (source.status === "idle" || source.status === "failed")) {
        $(".js-last", tr).textContent = "just now";
      }
      tr.setAttribute("data-status", source.status);
      var badge = $(".js-status", tr);
      badge.className = "badge js-status " + (badges[source.status] || "");
      badge.textContent = source.status_label;
      $(".js-progress", tr).textContent = source.pages_done + " of " + source.pages_found + " done · " +
        source.pages_changed + " new or updated · " + source.pages_unchanged + " unchanged · " +
        source.pages_failed + " failed";
      $(".js-pages", tr).textContent = String(source.page_count);
      var error = $(".js-error", tr);
      error.textContent = source.last_error || "";
      error.hidden = !source.last_error;
    }
    function poll() {
      fetchJSON(sourcesTable.getAttribute("data-poll")).then(function (res) {
        if (res.ok) res.body.sources.forEach(update);
        if (busy()) setTimeout(poll, 1500);
      }).catch(function () { setTimeout(poll, 5000); });
    }
    if (busy()) setTimeout(poll, 1000);
  }

  // ------------------------------------------------------------------ conversation thread: live updates
  var thread = $("#messages[data-poll]");
  if (thread) initThread();

  function initThread() {
    var url = thread.getAttribute("data-poll");
    var customer = thread.getAttribute("data-customer");
    var statusBadge = $("#conversation-status");
    var statusLabels = { active: "AI answering", handed_off: "Human", resolved: "Resolved" };
    thread.scrollTop = thread.scrollHeight;

    function lastId() {
      var all = $all(".msg[data-id]", thread);
      return all.length ? all[all.length - 1].getAttribute("data-id") : "";
    }

    function render(m) {
      if ($('.msg[data-id="' + m.id + '"]', thread)) return;
      var empty = $("#no-messages");
      if (empty) empty.remove();
      var wrap = document.createElement("div");
      wrap.className = "msg " + m.role;
      wrap.setAttribute("data-id", m.id);
      wrap.setAttribute("data-role", m.role);
      var body = document.createElement("div");
      if (m.role !== "system") {
        var avatar = document.createElement("div");
        avatar.className = "avatar";
        avatar.textContent = m.role === "customer" ? customer.slice(0, 1) : m.role === "assistant" ? "AI" : "T";
        wrap.appendChild(avatar);
        var who = document.createElement("div");
        who.className = "who";
        var strong = document.createElement("strong");
        strong.textContent = m.role === "customer" ? customer : m.role === "assistant" ? "AI assistant" : "Team";
        var when = document.createElement("span");
        when.textContent = "just now";
        who.appendChild(strong); who.appendChild(when);
        if (m.role === "assistant" && m.answered === false) {
          var fb = document.createElement("span");
          fb.className = "badge amber plain"; fb.textContent = "Fallback";
          who.appendChild(fb);
        }
        if ((m.role === "assistant" || m.role === "staff") && m.delivery_status === "failed") {
          var failed = document.createElement("span");
          failed.className = "badge red plain delivery-state"; failed.textContent = "Not delivered";
          failed.title = m.delivery_error || "";
          who.appendChild(failed);
        }
        body.appendChild(who);
      }
      var bubble = document.createElement("div");
      bubble.className = "bubble";
      bubble.textContent = m.content;
      body.appendChild(bubble);
      if (m.role === "assistant" && m.sources && m.sources.length) {
        var sources = document.createElement("div");
        sources.className = "sources";
        m.sources.forEach(function (s) {
          var link = /^https?:\/\//i.test(s.url || "");
          var chip = document.createElement(link ? "a" : "span");
          chip.className = "source";
          if (link) { chip.href = s.url; chip.target = "_blank"; chip.rel = "noopener noreferrer"; }
          chip.textContent = s.title + (s.page ? " · p. " + s.page : "");
          sources.appendChild(chip);
        });
        body.appendChild(sources);
      }
      wrap.appendChild(body);
      thread.appendChild(wrap);
    }

    function poll() {
      var after = lastId();
      fetchJSON(url + (after ? "?after=" + encodeURIComponent(after) : "")).then(function (res) {
        if (res.ok) {
          var nearBottom = thread.scrollHeight - thread.scrollTop - thread.clientHeight < 80;
          res.body.messages.forEach(render);
          if (res.body.messages.length && nearBottom) thread.scrollTop = thread.scrollHeight;
          if (statusBadge && res.body.status && res.body.status !== statusBadge.getAttribute("data-status")) {
            statusBadge.setAttribute("data-status", res.body.status);
            statusBadge.className = "badge " + res.body.status;
            statusBadge.textContent = statusLabels[res.body.status] || res.body.status;
          }
        }
        setTimeout(poll, document.hidden ? 10000 : 3000);
      }).catch(function () { setTimeout(poll, 10000); });
    }
    setTimeout(poll, 3000);

    var reply = $("#reply");
    if (reply) {
      reply.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && (event.metaKey || event.ctrlKey)) {
          event.preventDefault();
          reply.form.requestSubmit();
        }
      });
    }
  }
})();
