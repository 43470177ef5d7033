// imagine playground: plain JavaScript, no build step, no third-party code. It talks only to
// the server that served it (relative URLs), with the key in the Authorization header.
"use strict";

(() => {
  const KEY_STORE = "imagine.playground.key";
  const HISTORY_STORE = "imagine.playground.history";
  const HISTORY_MAX = 20; // /fetch-many takes at most 20 ids
  const POLL_MS = 400;
  const POLL_LIMIT_MS = 15 * 60 * 1000;
  const CALL_TIMEOUT_MS = 30 * 1000;
  const EDIT_TIMEOUT_MS = 10 * 60 * 1000; // a synchronous edit waits for the engine

  const $ = (id) => document.getElementById(id);
  const state = {
    key: null, credits: null, models: [], file: null, preview: null, upload: null, busy: false,
  };

  class ApiError extends Error {
    constructor(status, message, taskId) {
      super(message);
      this.status = status;
      this.taskId = taskId || null;
    }
  }

  // ---- storage (localStorage may be unavailable, e.g. in some private modes) ----
  function load(name, fallback) {
    try {
      const raw = window.localStorage.getItem(name);
      return raw === null ? fallback : JSON.parse(raw);
    } catch (_e) {
      return fallback;
    }
  }
  function save(name, value) {
    try {
      if (value === null) window.localStorage.removeItem(name);
      else window.localStorage.setItem(name, JSON.stringify(value));
    } catch (_e) {
      /* not persisted: the page still works for this visit */
    }
  }

  // ---- the API ----
  function messageFor(status, body) {
    if (status === 401) {
      return "This API key was not accepted (401 Unauthorized). Check it for typos, or ask the " +
        "server's admin for a new one.";
    }
    const msgs = body && Array.isArray(body.errors)
      ? body.errors.map((e) => e && e.msg).filter(Boolean) : [];
    if (msgs.length) return `${msgs.join("; ")} (${status})`;
    if (status === 413) return "The image is too large for this server (413).";
    if (status === 429) return "Too many requests at once (429): wait a moment and try again.";
    if (status >= 500) return `The server failed (${status}). Try again later.`;
    return `The server answered ${status}.`;
  }

  async function call(path, { method = "GET", json, body, headers = {}, timeout = CALL_TIMEOUT_MS } = {}) {
    const init = {
      method,
      headers: { Authorization: state.key, ...headers },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
      signal: AbortSignal.timeout(timeout),
    };
    if (json !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (body !== undefined) {
      init.body = body;
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      const why = e && e.name === "TimeoutError" ? "it did not answer in time" : "the network failed";
      throw new ApiError(0, `Could not reach the server: ${why}.`);
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch (_e) {
        data = null;
      }
    }
    if (!response.ok) {
      throw new ApiError(response.status, messageFor(response.status, data), data && data.task_id);
    }
    return { status: response.status, data };
  }

  // ---- small DOM helpers ----
  function show(el, on) {
    el.hidden = !on;
  }
  function setError(el, message) {
    el.textContent = message || "";
    show(el, Boolean(message));
  }
  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }
  function item(text, cls) {
    const li = document.createElement("li");
    li.textContent = text;
    if (cls) li.className = cls;
    return li;
  }

  // ---- key and account ----
  async function refreshBalance() {
    const { data } = await call("/api/v1/account");
    state.credits = data.credits;
    $("balance").textContent = String(data.credits);
    $("balance").dataset.credits = String(data.credits);
    $("plan").textContent = data.plan ? `plan: ${data.plan}` : "";
    return data;
  }

  async function useKey(key, fromStorage) {
    state.key = key;
    try {
      await refreshBalance();
    } catch (e) {
      state.key = null;
      if (fromStorage && e.status === 401) {
        save(KEY_STORE, null);
        throw new ApiError(401, "The saved API key is no longer accepted (401). Enter a new one.");
      }
      throw e;
    }
    save(KEY_STORE, key);
    show($("key-section"), false);
    show($("account"), true);
    show($("workspace"), true);
    try {
      await loadModels();
      setError($("catalog-error"), "");
    } catch (e) {
      setError($("catalog-error"), `The models could not be loaded: ${e.message}`);
    }
    renderHistory();
    refreshHistory();
  }

  async function onKeySubmit(event) {
    event.preventDefault();
    const key = $("key").value.trim();
    if (!key) {
      setError($("key-error"), "Enter your API key.");
      $("key").focus();
      return;
    }
    $("key-submit").disabled = true;
    setError($("key-error"), "");
    try {
      await useKey(key, false);
      $("key").value = "";
      $("prompt").focus();
    } catch (e) {
      setError($("key-error"), e.message);
      $("key").setAttribute("aria-invalid", "true");
      $("key").focus();
    } finally {
      $("key-submit").disabled = false;
    }
  }

  function forgetKey() {
    save(KEY_STORE, null);
    save(HISTORY_STORE, null);
    state.key = null;
    state.credits = null;
    state.upload = null;
    known.clear();
    refreshed = false;
    show($("workspace"), false);
    show($("account"), false);
    show($("key-section"), true);
    $("key").removeAttribute("aria-invalid");
    setError($("key-error"), "The key and this browser's history were removed.");
    $("key").focus();
  }

  // ---- catalog ----
  async function loadModels() {
    const { data } = await call("/api/v1/models");
    state.models = data.models || [];
    const body = $("catalog").querySelector("tbody");
    clear(body);
    const select = $("model");
    const previous = select.value;
    clear(select);
    for (const m of state.models) {
      const row = document.createElement("tr");
      const price = `${m.credits} credit${m.credits === 1 ? "" : "s"}`;
      const engines = m.available ? (m.engines || []).join(", ") : "unavailable";
      for (const text of [m.id, m.kind, price, engines]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.appendChild(cell);
      }
      row.cells[0].title = m.description || "";
      body.appendChild(row);
      const option = document.createElement("option");
      option.value = m.id;
      option.textContent = `${m.id} · ${price}${m.available ? "" : " (unavailable)"}`;
      option.disabled = !m.available;
      select.appendChild(option);
    }
    const usable = state.models.filter((m) => m.available);
    if (usable.some((m) => m.id === previous)) select.value = previous;
    else if (usable.length) select.value = usable[0].id;
    updateRunLabel();
  }

  function selectedModel() {
    return state.models.find((m) => m.id === $("model").value) || null;
  }

  function updateRunLabel() {
    const m = selectedModel();
    $("run").textContent = m ? `Run edit (${m.credits} credits)` : "Run edit";
  }

  // ---- input image ----
  function setFile(file) {
    if (!file) return;
    if (!file.type.startsWith("image/")) {
      setError($("error"), `“${file.name}” is not an image.`);
      show($("run-section"), true);
      return;
    }
    if (state.preview) URL.revokeObjectURL(state.preview);
    state.file = file;
    state.preview = URL.createObjectURL(file);
    $("input-image").src = state.preview;
    $("input-image").alt = `The chosen photo: ${file.name}`;
    $("drop-text").textContent = `${file.name} (${Math.round(file.size / 1024)} KB): drop or pick another`;
    $("image-url").value = "";
    show($("input-preview"), true);
  }

  function clearFile() {
    if (state.preview) URL.revokeObjectURL(state.preview);
    state.file = null;
    state.preview = null;
    $("file").value = "";
    $("input-image").removeAttribute("src");
    show($("input-preview"), false);
    $("drop-text").innerHTML = "";
    const strong = document.createElement("strong");
    strong.textContent = "Drop a photo here";
    $("drop-text").append(strong, ", paste one, or press to pick a file");
  }

  function wireDropZone() {
    const zone = $("drop-zone");
    for (const name of ["dragenter", "dragover"]) {
      zone.addEventListener(name, (e) => {
        e.preventDefault();
        zone.classList.add("over");
      });
    }
    for (const name of ["dragleave", "drop"]) {
      zone.addEventListener(name, () => zone.classList.remove("over"));
    }
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      const file = e.dataTransfer && e.dataTransfer.files[0];
      if (file) setFile(file);
    });
    // Dropped outside the zone: do not let the browser navigate away to the file.
    window.addEventListener("dragover", (e) => e.preventDefault());
    window.addEventListener("drop", (e) => e.preventDefault());
    $("file").addEventListener("change", () => setFile($("file").files[0]));
    document.addEventListener("paste", (e) => {
      const file = [...((e.clipboardData && e.clipboardData.files) || [])][0];
      if (file) setFile(file);
    });
    $("clear-image").addEventListener("click", clearFile);
    $("image-url").addEventListener("input", () => {
      if ($("image-url").value.trim() && state.file) clearFile();
    });
  }

  function readAsDataUrl(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(new ApiError(0, "The file could not be read."));
      reader.readAsDataURL(file);
    });
  }

  async function uploadedUrl(file) {
    // Another run on the same photo reuses its upload while it lives (a minute of margin).
    const previous = state.upload;
    if (previous && previous.file === file && previous.key === state.key &&
        Date.parse(previous.expiresAt) - Date.now() > 60 * 1000) {
      return previous.imageUrl;
    }
    const form = new FormData();
    form.append("file", file, file.name);
    try {
      const { data } = await call("/api/v1/uploads", { method: "POST", body: form, timeout: EDIT_TIMEOUT_MS });
      state.upload = { file, key: state.key, imageUrl: data.image_url, expiresAt: data.expires_at };
      return data.image_url;
    } catch (e) {
      // A server without the uploads route: send the photo inline as a data: URI instead.
      if (e.status === 404 || e.status === 405) return readAsDataUrl(file);
      throw e;
    }
  }

  // An image the page may show as "before" without asking another host for it.
  function localBefore(url) {
    if (url.startsWith("data:image/")) return url;
    try {
      const parsed = new URL(url, window.location.href);
      if (parsed.origin === window.location.origin && !parsed.pathname.startsWith("/api/")) return parsed.href;
    } catch (_e) {
      return null;
    }
    return null;
  }

  // ---- run ----
  function setStatus(status, percentage, indeterminate) {
    const progress = $("progress");
    const pct = Math.max(0, Math.min(100, parseInt(percentage, 10) || 0));
    if (indeterminate) {
      progress.removeAttribute("value");
      $("status").textContent = `${status}…`;
    } else {
      progress.value = pct;
      $("status").textContent = `${status} · ${pct}%`;
    }
    $("status").dataset.status = status;
    const log = $("status-log");
    const line = indeterminate ? status : `${status} ${pct}%`;
    const last = log.lastElementChild;
    if (!last || last.textContent !== line) log.appendChild(item(line));
  }

  function setBusy(busy) {
    state.busy = busy;
    $("run").disabled = busy;
    $("run").setAttribute("aria-busy", String(busy));
  }

  function editRequest(imageUrl) {
    const body = {
      prompt: $("prompt").value.trim(),
      model: $("model").value,
      image_url: imageUrl,
      aspect_ratio: $("aspect").value,
      output_format: $("format").value,
    };
    const seed = $("seed").value.trim();
    if (seed) body.seed = Number(seed);
    return body;
  }

  function problems() {
    const found = [];
    if (!$("prompt").value.trim()) found.push(["prompt", "Type an instruction, e.g. “make it black and white”."]);
    if (!state.file && !$("image-url").value.trim()) found.push(["image-url", "Drop or pick a photo, or paste an image URL."]);
    const seed = $("seed").value.trim();
    if (seed && !/^\d+$/.test(seed)) found.push(["seed", "The seed must be a whole number."]);
    if (!$("model").value) found.push(["model", "No model is available on this server."]);
    return found;
  }

  async function pollTask(taskId) {
    const started = Date.now();
    let failures = 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      let task;
      try {
        ({ data: task } = await call("/api/v1/fetch", { method: "POST", json: { task_id: taskId } }));
        failures = 0;
      } catch (e) {
        // A blip (restart, 503) is retried; a key that stopped working is not.
        if (e.status === 401 || e.status === 404 || ++failures >= 5) throw e;
        continue;
      }
      setStatus(task.status, task.percentage);
      if (task.status === "finished" || task.status === "failed") return task;
      if (Date.now() - started > POLL_LIMIT_MS) {
        throw new ApiError(0, `Task ${taskId} is still ${task.status}; see it later in the history.`, taskId);
      }
    }
  }

  async function onRun(event) {
    event.preventDefault();
    if (state.busy) return;
    const found = problems();
    for (const id of ["prompt", "image-url", "seed"]) $(id).removeAttribute("aria-invalid");
    show($("run-section"), true);
    show($("result"), false);
    clear($("status-log"));
    if (found.length) {
      for (const [id] of found) $(id).setAttribute("aria-invalid", "true");
      setError($("error"), found.map(([, msg]) => msg).join(" "));
      $("status").textContent = "Not started";
      $("progress").value = 0;
      return;
    }
    setError($("error"), "");
    setBusy(true);
    const before = state.file ? state.preview : localBefore($("image-url").value.trim());
    const creditsBefore = state.credits;
    let taskId = null;
    try {
      let imageUrl = $("image-url").value.trim();
      if (state.file) {
        setStatus("uploading", 0, true);
        imageUrl = await uploadedUrl(state.file);
      }
      setStatus("submitting", 0, true);
      const request = editRequest(imageUrl);
      let answer;
      try {
        answer = await call("/api/v1/imagine", {
          method: "POST",
          json: request,
          headers: { Prefer: "respond-async" },
          timeout: EDIT_TIMEOUT_MS,
        });
      } catch (e) {
        if (e.taskId) remember(e.taskId, request);
        throw e;
      }
      let task = answer.data;
      taskId = task.task_id;
      remember(taskId, request);
      if (answer.status === 202) {
        setStatus(task.status || "pending", task.percentage || "0");
        task = await pollTask(taskId);
      } else {
        // The server answered synchronously: the edit is already done.
        setStatus(task.status || "finished", "100");
      }
      if (task.status === "failed") {
        throw new ApiError(0, `The edit failed: ${task.error || "no reason given"}.`, taskId);
      }
      await refreshBalance().catch(() => undefined);
      showResult(task, before, creditsBefore);
    } catch (e) {
      const suffix = e.taskId ? ` (task ${e.taskId})` : "";
      setError($("error"), e.message + suffix);
      $("status").textContent = "Failed";
      $("status").dataset.status = "failed";
      $("progress").value = 0;
      refreshBalance().catch(() => undefined);
    } finally {
      setBusy(false);
      renderHistory();
      refreshHistory();
    }
  }

  function showResult(task, before, creditsBefore) {
    const after = $("after");
    const beforeImg = $("before");
    after.onload = () => {
      if (after.naturalWidth && after.naturalHeight) {
        $("compare").style.aspectRatio = `${after.naturalWidth} / ${after.naturalHeight}`;
      }
    };
    after.src = task.image_url;
    if (before) {
      beforeImg.src = before;
      show(beforeImg, true);
      show($("before-missing"), false);
    } else {
      beforeImg.removeAttribute("src");
      show(beforeImg, false);
      show($("before-missing"), true);
    }
    updateDivider();
    $("task-id").textContent = task.task_id;
    $("engine").textContent = task.engine || "–";
    let used = task.credits_used;
    if (typeof used !== "number" && typeof creditsBefore === "number" && typeof state.credits === "number") {
      used = creditsBefore - state.credits; // the balance moved by the charge
    }
    $("credits-used").textContent = typeof used === "number" ? String(used) : "–";
    $("applied").textContent = (task.applied || []).join(", ") || "–";
    const warnings = $("warnings");
    clear(warnings);
    for (const w of task.warnings || []) warnings.appendChild(item(w));
    if (!warnings.childElementCount) warnings.appendChild(item("None", "muted"));
    const link = $("download");
    link.href = task.image_url;
    const name = task.image_url.split("/").pop() || "imagine-output";
    link.setAttribute("download", name);
    show($("result"), true);
  }

  function updateDivider() {
    const pct = Number($("compare-range").value);
    $("after").style.clipPath = `inset(0 0 0 ${pct}%)`;
    $("compare").dataset.divider = String(pct);
  }

  // ---- history ----
  function history() {
    const list = load(HISTORY_STORE, []);
    return Array.isArray(list) ? list.filter((h) => h && typeof h.id === "string") : [];
  }

  function remember(taskId, request) {
    const list = history().filter((h) => h.id !== taskId);
    list.unshift({ id: taskId, prompt: request.prompt, model: request.model, at: new Date().toISOString() });
    save(HISTORY_STORE, list.slice(0, HISTORY_MAX));
  }

  const known = new Map(); // task_id → latest task object seen this visit
  let refreshed = false; // whether `known` holds the server's answer yet

  function renderHistory() {
    const list = history();
    const ul = $("history");
    clear(ul);
    show($("history-empty"), list.length === 0);
    for (const h of list) {
      const task = known.get(h.id);
      const li = document.createElement("li");
      li.className = "history-item";
      li.dataset.taskId = h.id;
      const thumb = document.createElement("div");
      thumb.className = "thumb";
      if (task && task.status === "finished" && task.image_url) {
        const a = document.createElement("a");
        a.href = task.image_url;
        a.target = "_blank";
        a.rel = "noopener";
        const img = document.createElement("img");
        img.alt = `Result of “${h.prompt}”`;
        img.loading = "lazy";
        img.onerror = () => {
          thumb.textContent = "expired";
          thumb.classList.add("expired");
          li.dataset.state = "expired";
        };
        img.onload = () => {
          li.dataset.state = "ready";
        };
        img.src = task.image_url;
        a.appendChild(img);
        thumb.appendChild(a);
      } else {
        thumb.textContent = task ? task.status : "…";
        li.dataset.state = task ? task.status : "unknown";
      }
      const text = document.createElement("div");
      text.className = "history-text";
      const prompt = document.createElement("p");
      prompt.className = "history-prompt";
      prompt.textContent = h.prompt || "(no instruction)";
      const meta = document.createElement("p");
      meta.className = "hint";
      const when = new Date(h.at);
      let status = refreshed ? "not found for this key" : "loading…";
      if (task) status = task.status === "failed" ? `failed: ${task.error || ""}` : task.status;
      meta.textContent = `${h.model} · ${isNaN(when) ? "" : when.toLocaleString()} · ${status}`;
      text.append(prompt, meta);
      li.append(thumb, text);
      ul.appendChild(li);
    }
  }

  async function refreshHistory() {
    const ids = history().map((h) => h.id);
    setError($("history-error"), "");
    if (!ids.length || !state.key) return;
    try {
      let tasks;
      if (ids.length === 1) {
        try {
          tasks = [(await call("/api/v1/fetch", { method: "POST", json: { task_id: ids[0] } })).data];
        } catch (e) {
          if (e.status !== 404) throw e;
          tasks = [];
        }
      } else {
        tasks = (await call("/api/v1/fetch-many", { method: "POST", json: { task_ids: ids } })).data.tasks;
      }
      known.clear();
      for (const t of tasks) known.set(t.task_id, t);
      refreshed = true;
      renderHistory();
    } catch (e) {
      setError($("history-error"), `The history could not be refreshed: ${e.message}`);
    }
  }

  // ---- start ----
  function start() {
    $("key-form").addEventListener("submit", onKeySubmit);
    $("forget-key").addEventListener("click", forgetKey);
    $("edit-form").addEventListener("submit", onRun);
    $("model").addEventListener("change", updateRunLabel);
    $("compare-range").addEventListener("input", updateDivider);
    $("history-refresh").addEventListener("click", refreshHistory);
    wireDropZone();
    const saved = load(KEY_STORE, null);
    if (typeof saved === "string" && saved) {
      useKey(saved, true).catch((e) => {
        setError($("key-error"), e.message);
        $("key").focus();
      });
    } else {
      $("key").focus();
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
