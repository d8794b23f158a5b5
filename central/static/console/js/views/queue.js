// The ticket queue: filters kept in the address (#/tickets?status=new&type=dust...), overdue
// tickets marked, and changes pushed by the service applied without reloading the page.

import { api } from "../api.js";
import { onTicketChange } from "../changes.js";
import { clear, h } from "../dom.js";
import { eventTypes, formatAgo, formatTime, label, t } from "../i18n.js";

export const STATUSES = ["new", "dispatched", "accepted", "in_progress", "resolved", "closed", "rejected", "duplicate", "reopened"];
const PAGE = 50;
const FILTERS = ["status", "type", "department", "district", "camera", "from", "to", "overdue"];

export function deadlineOf(ticket) {
  if (ticket.status === "dispatched") return { kind: "sign", at: ticket.sign_by };
  if (ticket.status === "accepted" || ticket.status === "in_progress") return { kind: "resolve", at: ticket.resolve_by };
  return null;
}

export function statusBadge(ticket) {
  return [
    h("span", { class: `badge status-${ticket.status}` }, label("status", ticket.status)),
    ticket.overdue ? h("span", { class: "badge overdue", title: t("ticket.overdue_hint") }, t("ticket.overdue")) : null,
  ];
}

function localDay(value, endOfDay) {
  if (!value) return undefined;
  const [y, m, d] = value.split("-").map(Number);
  return new Date(y, m - 1, d + (endOfDay ? 1 : 0)).toISOString();
}

export function mountQueue(root, { me, params, navigate, departmentName }) {
  const filters = Object.fromEntries(FILTERS.map((key) => [key, params.get(key) || ""]));
  let shown = PAGE;
  let known = null; // ids on screen, to mark the ones that arrive
  let timer = null;
  let alive = true;
  const list = h("div", { class: "queue", id: "queue", role: "table", "aria-label": t("queue.title") });
  const summary = h("p", { class: "muted", id: "queue-summary" });
  const more = h("button", { type: "button", class: "ghost", hidden: true, onclick: () => { shown += PAGE; load(); } }, t("queue.more"));
  const cameraOptions = h("select", { name: "camera" });
  const districtOptions = h("select", { name: "district" });

  function select(name, values, labelOf) {
    return h("select", { name }, h("option", { value: "" }, t("filter.any")),
      values.map((value) => h("option", { value, selected: filters[name] === value }, labelOf(value))));
  }

  function apply(event) {
    event?.preventDefault();
    const data = new FormData(form);
    const query = new URLSearchParams();
    for (const key of FILTERS) {
      const value = key === "overdue" ? (data.get("overdue") ? "true" : "") : data.get(key);
      if (value) query.set(key, value);
    }
    navigate(`#/tickets${query.size ? "?" + query : ""}`);
  }

  const form = h("form", { class: "filters", id: "filters", onsubmit: apply, onchange: apply },
    h("label", {}, t("filter.status"), select("status", STATUSES, (v) => label("status", v))),
    h("label", {}, t("filter.type"), select("type", eventTypes(), (v) => label("type", v))),
    me.role === "department" ? null
      : h("label", {}, t("filter.department"), select("department", me.departments.map((d) => d.id), departmentName)),
    h("label", {}, t("filter.district"), districtOptions),
    h("label", {}, t("filter.camera"), cameraOptions),
    h("label", {}, t("filter.from"), h("input", { type: "date", name: "from", value: filters.from })),
    h("label", {}, t("filter.to"), h("input", { type: "date", name: "to", value: filters.to })),
    h("label", { class: "check" }, h("input", { type: "checkbox", name: "overdue", checked: filters.overdue === "true" }), t("filter.overdue")),
    h("button", { type: "button", class: "ghost", onclick: () => navigate("#/tickets") }, t("filter.clear")));

  async function fillPlaces() {
    let cameras = [];
    try { cameras = await api("/api/v1/cameras"); } catch (_) { /* filters still work by typing the URL */ }
    const districts = [...new Set([...cameras.map((c) => c.district).filter(Boolean), filters.district].filter(Boolean))].sort();
    const ids = [...new Set([...cameras.map((c) => c.camera_id), filters.camera].filter(Boolean))].sort();
    const names = Object.fromEntries(cameras.map((c) => [c.camera_id, c.name || c.camera_id]));
    clear(districtOptions, h("option", { value: "" }, t("filter.any")),
      districts.map((d) => h("option", { value: d, selected: filters.district === d }, label("district", d))));
    clear(cameraOptions, h("option", { value: "" }, t("filter.any")),
      ids.map((id) => h("option", { value: id, selected: filters.camera === id }, names[id] ? `${names[id]} (${id})` : id)));
  }

  function row(ticket, fresh) {
    const deadline = deadlineOf(ticket);
    return h("a", { class: `row${fresh ? " fresh" : ""}${ticket.overdue ? " is-overdue" : ""}`, role: "row",
      href: `#/tickets/${ticket.id}`, dataset: { ticketId: ticket.id } },
      h("span", { class: "cell id", role: "cell" }, `#${ticket.id}`),
      h("span", { class: "cell type", role: "cell" }, label("type", ticket.type)),
      h("span", { class: "cell status", role: "cell" }, statusBadge(ticket)),
      h("span", { class: "cell place", role: "cell" }, ticket.camera_id || "", h("small", {}, label("district", ticket.district))),
      h("span", { class: "cell dept", role: "cell" }, departmentName(ticket.department) || t("ticket.unrouted")),
      h("span", { class: "cell opened", role: "cell", title: formatTime(ticket.opened_at, { seconds: true }) },
        formatTime(ticket.opened_at), h("small", {}, formatAgo(ticket.opened_at))),
      h("span", { class: `cell deadline${ticket.overdue ? " late" : ""}${deadline ? "" : " none"}`, role: "cell" },
        deadline ? [t(`deadline.${deadline.kind}`), " ", h("small", {}, formatAgo(deadline.at))] : "—"),
      h("span", { class: "cell events", role: "cell", title: t("queue.events") }, String(ticket.event_count)));
  }

  function header() {
    return h("div", { class: "row head", role: "row" },
      ["id", "type", "status", "place", "department", "opened", "deadline", "events"].map((key) =>
        h("span", { class: "cell", role: "columnheader" }, t(`queue.col.${key}`))));
  }

  async function load() {
    const query = {
      status: filters.status, type: filters.type, department: filters.department, district: filters.district,
      camera: filters.camera, since: localDay(filters.from, false), until: localDay(filters.to, true),
      overdue: filters.overdue || undefined, limit: Math.min(shown, 500),
    };
    let page;
    try {
      page = await api("/api/v1/tickets", { query });
    } catch (error) {
      if (alive) clear(list, h("p", { class: "error" }, error.message));
      return;
    }
    if (!alive) return;
    const fresh = known ? page.items.filter((ticket) => !known.has(ticket.id)).map((ticket) => ticket.id) : [];
    known = new Set(page.items.map((ticket) => ticket.id));
    clear(list, header(), page.items.length ? page.items.map((ticket) => row(ticket, fresh.includes(ticket.id)))
      : h("p", { class: "empty" }, t("queue.empty")));
    summary.textContent = t("queue.count", { shown: page.items.length, total: page.total });
    more.hidden = page.total <= page.items.length;
  }

  const stop = onTicketChange(() => {
    clearTimeout(timer);
    timer = setTimeout(load, 300); // a burst of changes is one reload
  });

  // on a phone the filters start folded, unless some are set
  const active = FILTERS.filter((key) => filters[key]).length;
  const folded = window.matchMedia("(max-width: 640px)").matches && !active;
  clear(root, h("section", { class: "queue-page" },
    h("div", { class: "page-head" }, h("h1", {}, t("queue.title")), summary),
    h("details", { class: "filter-box", open: !folded },
      h("summary", {}, active ? t("filter.title_n", { n: active }) : t("filter.title")), form),
    list, more));
  fillPlaces();
  load();
  return () => { alive = false; stop(); clearTimeout(timer); };
}
