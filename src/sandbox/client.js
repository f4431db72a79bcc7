// The sandbox page's script (plain browser JavaScript, no build step): shows what the server's
// events say, and sends what the person does back to the server, which signs it as Slack does.
(() => {
  const $ = (id) => document.getElementById(id);
  const PERSONA_KEY = "keyops-sandbox-persona";
  const personaSelect = $("persona");
  let as = localStorage.getItem(PERSONA_KEY) || personaSelect.value;
  if ([...personaSelect.options].some((o) => o.value === as)) personaSelect.value = as;
  else as = personaSelect.value;
  let tab = "channel";
  let shown = { modal: null, modalId: null };
  let homeViewId = "";
  let source;

  function toast(text) {
    const note = document.createElement("div");
    note.className = "sb-toast";
    note.textContent = text;
    document.body.append(note);
    setTimeout(() => note.remove(), 4000);
  }

  async function post(path, body) {
    try {
      const response = await fetch(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ as, ...body }),
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) toast(answer.error || `HTTP ${response.status}`);
      return answer;
    } catch {
      toast("The sandbox is not reachable; is npm start still running?");
      return {};
    }
  }

  function modalValues() {
    const values = {};
    for (const field of $("modal-content").querySelectorAll("[data-block-id][data-action-id]")) {
      const block = field.dataset.blockId;
      const action = field.dataset.actionId;
      const type = field.dataset.type;
      values[block] ??= {};
      if (type === "plain_text_input") values[block][action] = { type, value: field.value };
      else if (type === "static_select")
        values[block][action] = {
          type,
          selected_option: field.value
            ? { value: field.value, text: { type: "plain_text", text: field.value } }
            : null,
        };
      else if (type === "users_select") values[block][action] = { type, selected_user: field.value || null };
    }
    return values;
  }

  function restoreModalValues(values) {
    for (const field of $("modal-content").querySelectorAll("[data-block-id][data-action-id]")) {
      const state = values[field.dataset.blockId]?.[field.dataset.actionId];
      if (!state) continue;
      if ("value" in state) field.value = state.value;
      else if (state.selected_option) field.value = state.selected_option.value;
      else if (state.selected_user) field.value = state.selected_user;
    }
  }

  function apply(state) {
    const list = $("channel");
    const open = new Set([...list.querySelectorAll("details.sb-thread[open]")].map((d) => d.dataset.thread));
    const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 60;
    list.innerHTML = state.channel;
    for (const thread of list.querySelectorAll("details.sb-thread"))
      if (open.has(thread.dataset.thread)) thread.open = true;
    if (atBottom) list.scrollTop = list.scrollHeight;
    $("home").innerHTML = state.home;
    homeViewId = state.homeViewId || "";
    $("pagerduty").innerHTML = state.pagerduty;
    if (state.modal !== shown.modal || state.modalId !== shown.modalId) {
      const keep = state.modalId && state.modalId === shown.modalId ? modalValues() : {};
      $("modal-content").innerHTML = state.modal || "";
      restoreModalValues(keep);
      $("modal").classList.toggle("sb-hidden", !state.modal);
      shown = { modal: state.modal, modalId: state.modalId };
    }
  }

  function connect() {
    source?.close();
    source = new EventSource(`/events?as=${encodeURIComponent(as)}`);
    source.addEventListener("state", (event) => apply(JSON.parse(event.data)));
  }

  function showTab(name) {
    tab = name;
    $("channel").classList.toggle("sb-hidden", name !== "channel");
    $("composer-form").classList.toggle("sb-hidden", name !== "channel");
    $("home").classList.toggle("sb-hidden", name !== "home");
    $("pane-title").textContent = name === "home" ? "KeyOps · Home" : "# security";
    for (const nav of document.querySelectorAll("[data-tab]"))
      nav.classList.toggle("sb-active", nav.dataset.tab === name);
    if (name === "home") post("/sandbox/home", {});
  }

  function confirmFirst(element) {
    if (!element.dataset.confirmTitle) return Promise.resolve(true);
    return new Promise((resolve) => {
      $("confirm-title").textContent = element.dataset.confirmTitle;
      $("confirm-text").innerHTML = element.dataset.confirmText || "";
      $("confirm-yes").textContent = element.dataset.confirmYes;
      $("confirm-no").textContent = element.dataset.confirmNo;
      $("confirm").classList.remove("sb-hidden");
      const done = (answer) => {
        $("confirm").classList.add("sb-hidden");
        $("confirm-yes").onclick = null;
        $("confirm-no").onclick = null;
        resolve(answer);
      };
      $("confirm-yes").onclick = () => done(true);
      $("confirm-no").onclick = () => done(false);
    });
  }

  function sendAction(element) {
    const message = element.closest(".sb-message");
    const container = message
      ? { kind: "message", ts: message.dataset.ts, threadTs: message.dataset.threadTs }
      : { kind: "home", viewId: homeViewId };
    return post("/sandbox/action", {
      actionId: element.dataset.actionId,
      blockId: element.dataset.blockId || "",
      type: element.dataset.type,
      value: element.dataset.type === "button" ? element.dataset.value : element.value,
      container,
    });
  }

  document.addEventListener("click", async (event) => {
    const target = event.target instanceof Element ? event.target : null;
    const nav = target?.closest("[data-tab]");
    if (nav) return showTab(nav.dataset.tab);
    const modalButton = target?.closest("[data-modal]");
    if (modalButton && shown.modalId) {
      if (modalButton.dataset.modal === "close") return post("/sandbox/close", { viewId: shown.modalId });
      return post("/sandbox/submit", { viewId: shown.modalId, values: modalValues() });
    }
    const pd = target?.closest("[data-pd-action]");
    if (pd)
      return post("/sandbox/pagerduty", { incident: pd.dataset.pdIncident, action: pd.dataset.pdAction });
    const button = target?.closest("button[data-action-id]");
    if (!button || button.closest("#modal")) return;
    if (await confirmFirst(button)) await sendAction(button);
  });

  document.addEventListener("change", (event) => {
    const select = event.target instanceof Element ? event.target.closest("select[data-action-id]") : null;
    if (select && !select.closest("#modal") && select.value) sendAction(select);
  });

  personaSelect.addEventListener("change", () => {
    as = personaSelect.value;
    localStorage.setItem(PERSONA_KEY, as);
    shown = { modal: null, modalId: null };
    connect();
    if (tab === "home") post("/sandbox/home", {});
  });

  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("composer").value.trim();
    if (!text) return;
    if (!text.startsWith("/"))
      return toast("The sandbox takes slash commands: /key-rotate, /key-compromised, /offboard, /keyops");
    $("composer").value = "";
    post("/sandbox/command", { text });
  });

  connect();
})();
