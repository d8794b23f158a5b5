// One ticket: its evidence (snapshots with boxes and zone as the edge drew them, the clip in a
// seekable player), the events' timeline, the audit history, its review verdict, and the actions
// the service says the current user may take now (GET /api/v1/tickets/{id}/actions).

import { api, ApiError } from "../api.js";
import { onTicketChange } from "../changes.js";
import { clear, h } from "../dom.js";
import { formatAgo, formatNumber, formatTime, label, t } from "../i18n.js";
import { deadlineOf, statusBadge } from "./queue.js";

const CAUSES = ["wrong_object", "not_a_violation", "other"];

function media(event, kind) {
  return event.media.filter((m) => m.kind === kind);
}

function fact(name, ...value) {
  return [h("dt", {}, t(name)), h("dd", {}, ...value)];
}

function detailsText(details) {
  const parts = [];
  if (details.label) parts.push(label("object", details.label));
  if (typeof details.dwell_s === "number") parts.push(t("event.dwell", { s: formatNumber(details.dwell_s, 0) }));
  if (typeof details.dust_score === "number") parts.push(t("event.dust", { score: formatNumber(details.dust_score, 2) }));
  if (typeof details.changed_ratio === "number") parts.push(t("event.changed", { pct: formatNumber(details.changed_ratio * 100, 1) }));
  if (details.reason) parts.push(String(details.reason));
  return parts.join(" · ");
}

export function mountTicket(root, { ticketId, me, toast, departmentName }) {
  let ticket = null;
  let selected = null; // the event whose evidence is shown
  let formOpen = false;
  let stale = false;
  let alive = true;
  let timer = null;

  async function load() {
    let actions, reviews;
    try {
      [ticket, actions, reviews] = await Promise.all([
        api(`/api/v1/tickets/${ticketId}`), api(`/api/v1/tickets/${ticketId}/actions`), api(`/api/v1/tickets/${ticketId}/reviews`),
      ]);
    } catch (error) {
      if (!alive) return;
      const text = error instanceof ApiError && error.status === 403 ? t("ticket.forbidden")
        : error instanceof ApiError && error.status === 404 ? t("ticket.missing", { id: ticketId }) : error.message;
      clear(root, h("section", { class: "ticket-page" }, back(), h("p", { class: "error", id: "ticket-error" }, text)));
      return;
    }
    if (!alive) return;
    if (formOpen) { stale = true; return; } // a reload finishing now must not wipe a form being filled in
    if (!selected || !ticket.events.some((e) => e.event_id === selected)) {
      selected = (ticket.events.find((e) => media(e, "clip").length) || ticket.events.find((e) => e.media.length) || ticket.events[0])?.event_id;
    }
    stale = false;
    render(actions, reviews);
  }

  function back() {
    return h("a", { class: "back", href: "#/tickets" }, `← ${t("nav.tickets")}`);
  }

  function evidence() {
    const event = ticket.events.find((e) => e.event_id === selected);
    if (!event) return h("p", { class: "muted" }, t("evidence.none"));
    const clips = media(event, "clip");
    const snapshots = media(event, "snapshot");
    return [
      clips.length ? clips.map((clip) => clip.stored
        ? h("video", { class: "clip", controls: true, preload: "metadata", playsinline: true, muted: true, src: clip.url,
          "aria-label": t("evidence.clip") })
        : h("p", { class: "pending" }, t("evidence.pending"))) : h("p", { class: "muted" }, t("evidence.no_clip")),
      h("div", { class: "snapshots" }, snapshots.map((shot) => h("figure", {},
        shot.stored ? h("a", { href: shot.url, target: "_blank", rel: "noopener" },
          h("img", { src: shot.url, alt: t("evidence.snapshot_alt", { label: label("snapshot", shot.label) }), loading: "lazy" }))
          : h("div", { class: "pending" }, t("evidence.pending")),
        h("figcaption", {}, label("snapshot", shot.label))))),
      h("p", { class: "muted small" }, t("evidence.of_event", { phase: label("phase", event.phase), at: formatTime(event.observed_at, { seconds: true }) })),
    ];
  }

  function timeline() {
    return h("ol", { class: "timeline", id: "timeline" }, ticket.events.map((event) => h("li", { class: event.event_id === selected ? "selected" : "" },
      h("time", { datetime: event.observed_at }, formatTime(event.observed_at, { seconds: true })),
      h("span", { class: `badge phase-${event.phase}` }, label("phase", event.phase)),
      h("span", {}, detailsText(event.details || {})),
      h("span", { class: "muted" }, t("event.confidence", { pct: formatNumber(event.confidence * 100, 0) })),
      event.media.length ? h("button", { type: "button", class: "link", onclick: () => { selected = event.event_id; load(); } },
        t("event.show", { n: event.media.length })) : null)));
  }

  function history() {
    return h("ol", { class: "history", id: "history" }, ticket.history.map((entry) => h("li", { dataset: { action: entry.action } },
      h("time", { datetime: entry.at }, formatTime(entry.at, { seconds: true })),
      h("strong", {}, label("action", entry.action)),
      h("span", {}, entry.from_status ? `${label("status", entry.from_status)} → ${label("status", entry.to_status)}` : label("status", entry.to_status)),
      h("span", { class: "muted" }, `${entry.actor} (${label("role", entry.role)})`),
      entry.comment ? h("q", {}, entry.comment) : null)));
  }

  function reviewBox(reviews) {
    const last = reviews[reviews.length - 1];
    if (!last) return h("p", { class: "muted", id: "review" }, t("review.none"));
    return h("p", { id: "review", class: `review verdict-${last.verdict}` },
      h("strong", {}, label("verdict", last.verdict)),
      last.cause ? ` · ${label("cause", last.cause)}` : "",
      h("span", { class: "muted" }, ` — ${last.actor}, ${formatTime(last.at)}`));
  }

  function actionForm(allowed, panel, buttons) {
    formOpen = true;
    const fields = [];
    if (allowed.needs_department) {
      fields.push(h("label", {}, t("action.department"), h("select", { name: "department", required: true },
        me.departments.map((d) => h("option", { value: d.id, selected: d.id === ticket.department }, d.name)))));
    }
    if (allowed.action === "reject") {
      fields.push(h("label", {}, t("action.cause"), h("select", { name: "cause", required: true },
        h("option", { value: "" }, t("action.choose")), CAUSES.map((c) => h("option", { value: c }, label("cause", c))))));
    }
    if (allowed.needs_duplicate_of) {
      fields.push(h("label", {}, t("action.duplicate_of"), h("input", { name: "duplicate_of", type: "number", min: 1, required: true })));
    }
    if (allowed.needs_comment) {
      fields.push(h("label", {}, t(`action.comment.${allowed.action}`, {}),
        h("textarea", { name: "comment", rows: 3, required: true, maxlength: 4000 })));
    }
    const error = h("p", { class: "error", role: "alert" });
    const close = () => { formOpen = false; clear(panel); buttons.hidden = false; if (stale) load(); };
    const form = h("form", { class: "action-form", id: "action-form", dataset: { action: allowed.action }, onsubmit: async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const body = { action: allowed.action };
      if (data.comment) body.comment = data.comment;
      if (data.department) body.department = data.department;
      if (data.duplicate_of) body.duplicate_of = Number(data.duplicate_of);
      form.querySelector("button[type=submit]").disabled = true;
      try {
        await api(`/api/v1/tickets/${ticketId}/actions`, { method: "POST", body });
        if (data.cause) await setCause(data.cause);
        toast(t("action.done", { action: label("action", allowed.action), id: ticketId }), "ok");
        formOpen = false;
        await load();
      } catch (err) {
        error.textContent = err.message;
        form.querySelector("button[type=submit]").disabled = false;
      }
    } },
    h("h3", {}, label("action", allowed.action)), fields, error,
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: allowed.action === "reject" ? "danger" : "primary" }, t("action.confirm")),
      h("button", { type: "button", class: "ghost", onclick: close }, t("action.cancel"))));
    buttons.hidden = true;
    clear(panel, form);
    form.querySelector("select, textarea, input")?.focus();
  }

  async function setCause(cause) {
    const reviews = await api(`/api/v1/tickets/${ticketId}/reviews`);
    const last = reviews[reviews.length - 1];
    if (last && last.verdict === "false_alarm") {
      await api(`/api/v1/tickets/${ticketId}/reviews/${last.id}`, { method: "PATCH", body: { cause } });
    }
  }

  function actionsBox(actions) {
    const panel = h("div", { class: "action-panel" });
    const buttons = h("div", { class: "buttons", id: "actions" });
    for (const allowed of actions.actions) {
      buttons.append(h("button", { type: "button", class: allowed.action === "reject" ? "danger" : "primary",
        dataset: { action: allowed.action }, onclick: () => actionForm(allowed, panel, buttons) }, label("action", allowed.action)));
    }
    if (!actions.actions.length) buttons.append(h("p", { class: "muted" }, t("action.none")));
    return [buttons, panel];
  }

  // The page is built once; later renders refill its parts, and the evidence only when it changed,
  // so a change pushed while someone watches the clip does not stop the video.
  const parts = {};
  function skeleton() {
    Object.assign(parts, {
      head: h("div", { class: "page-head" }), evidence: h("section", { class: "card evidence", id: "evidence" }),
      facts: h("aside", { class: "card facts" }), timeline: h("section", { class: "card" }), history: h("section", { class: "card" }),
      evidenceKey: null,
    });
    parts.page = h("section", { class: "ticket-page" }, parts.head,
      h("div", { class: "ticket-grid" }, parts.evidence, parts.facts),
      h("div", { class: "ticket-grid lower" }, parts.timeline, parts.history));
    clear(root, parts.page);
  }

  function render(actions, reviews) {
    if (!parts.page || !parts.page.isConnected) skeleton();
    const deadline = deadlineOf(ticket);
    Object.assign(parts.page.dataset, { ticketId: ticket.id, status: ticket.status });
    clear(parts.head, back(), h("h1", {}, `#${ticket.id} ${label("type", ticket.type)}`),
      h("span", { class: "badges", id: "ticket-status" }, statusBadge(ticket)));
    const shown = ticket.events.find((e) => e.event_id === selected);
    const key = shown ? `${selected}|${shown.media.map((m) => `${m.sha256}:${m.stored}`).join(",")}` : "none";
    if (key !== parts.evidenceKey) {
      parts.evidenceKey = key;
      clear(parts.evidence, h("h2", {}, t("evidence.title")), evidence());
    }
    clear(parts.facts,
      h("dl", {},
        fact("ticket.description", ticket.description),
        fact("ticket.camera", ticket.camera_id || "—", ticket.zone_id ? h("small", {}, ` · ${t("ticket.zone")} ${ticket.zone_id}`) : null),
        fact("ticket.district", label("district", ticket.district) || "—"),
        fact("ticket.department", departmentName(ticket.department) || t("ticket.unrouted")),
        fact("ticket.opened", formatTime(ticket.opened_at, { seconds: true })),
        fact("ticket.seen", `${formatTime(ticket.first_seen_at)} – ${formatTime(ticket.last_seen_at)}`,
          h("small", {}, ` (${t("queue.events_n", { n: ticket.event_count })})`)),
        deadline ? fact(`deadline.${deadline.kind}`, h("span", { class: ticket.overdue ? "late" : "" },
          formatTime(deadline.at), " ", h("small", {}, formatAgo(deadline.at)))) : null,
        ticket.duplicate_of ? fact("ticket.duplicate_of", h("a", { href: `#/tickets/${ticket.duplicate_of}` }, `#${ticket.duplicate_of}`)) : null),
      h("h2", {}, t("action.title")), actionsBox(actions),
      h("h2", {}, t("review.title")), reviewBox(reviews));
    clear(parts.timeline, h("h2", {}, t("event.title")), timeline());
    clear(parts.history, h("h2", {}, t("history.title")), history());
  }

  const stop = onTicketChange((change) => {
    if (!change.reload && change.ticket_id !== ticketId) return;
    if (formOpen) { stale = true; return; }
    clearTimeout(timer);
    timer = setTimeout(load, 300);
  });
  clear(root, h("p", { class: "muted" }, t("loading")));
  load();
  return () => { alive = false; stop(); clearTimeout(timer); };
}
