// The console's shell: language, login state, header and hash routing to the views.
//   #/tickets?status=new...  the queue      #/tickets/12  one ticket
//   #/cameras                cameras        #/devices     edge devices
//   #/dead-letters           messages ingest could not file (admins)

import { api, ApiError, whenUnauthorised } from "./api.js";
import { startChanges, stopChanges } from "./changes.js";
import { $, clear, h } from "./dom.js";
import { initI18n, language, LANGUAGES, label, setLanguage, t } from "./i18n.js";
import { mountLogin } from "./views/login.js";
import { mountQueue } from "./views/queue.js";
import { mountTicket } from "./views/ticket.js";
import { mountCameras } from "./views/cameras.js";
import { mountDevices } from "./views/devices.js";
import { mountDeadLetters } from "./views/dead_letters.js";

const state = (window.gridwatchConsole ??= {});
let unmount = null;

export function toast(text, kind = "info") {
  const item = h("div", { class: `toast toast-${kind}` }, text);
  $("#toasts").append(item);
  setTimeout(() => item.remove(), 6000);
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const [path, query = ""] = location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean);
  return { parts, params: new URLSearchParams(query) };
}

function route() {
  if (!state.me) return;
  unmount?.();
  unmount = null;
  const { parts, params } = parseHash();
  const root = $("#view");
  const context = { me: state.me, params, navigate, toast, departmentName };
  const section = parts[0] || "tickets";
  for (const link of document.querySelectorAll(".nav a")) link.classList.toggle("active", link.dataset.section === section);
  if (section === "tickets" && parts[1]) unmount = mountTicket(root, { ...context, ticketId: Number(parts[1]) });
  else if (section === "cameras") unmount = mountCameras(root, context);
  else if (section === "devices") unmount = mountDevices(root, context);
  else if (section === "dead-letters" && state.me.role === "admin") unmount = mountDeadLetters(root, context);
  else unmount = mountQueue(root, context);
  document.title = `gridwatch · ${t(`nav.${section}`)}`;
}

function languageSwitch() {
  const names = { zh: "中文", en: "English" };
  return h("select", {
    class: "lang", "aria-label": t("nav.language"), id: "language",
    onchange: async (event) => { await setLanguage(event.target.value); renderHeader(); route(); },
  }, LANGUAGES.map((lang) => h("option", { value: lang, selected: lang === language() }, names[lang])));
}

function renderHeader() {
  const me = state.me;
  const top = $("#top");
  if (!me) {
    clear(top, h("a", { class: "brand", href: "#/tickets" }, "gridwatch"), h("div", { class: "spacer" }), languageSwitch());
    return;
  }
  const who = me.department ? `${me.name} · ${label("role", me.role)} · ${departmentName(me.department)}` : `${me.name} · ${label("role", me.role)}`;
  clear(top,
    h("a", { class: "brand", href: "#/tickets" }, "gridwatch"),
    h("nav", { class: "nav" },
      ["tickets", "cameras", "devices", ...(me.role === "admin" ? ["dead-letters"] : [])].map((section) => h("a", { href: `#/${section}`, dataset: { section } }, t(`nav.${section}`)))),
    h("div", { class: "spacer" }),
    h("span", { class: "who", title: who }, who),
    languageSwitch(),
    h("button", { type: "button", class: "ghost", id: "logout", onclick: logout }, t("nav.logout")));
}

export function departmentName(id) {
  return state.me?.departments.find((d) => d.id === id)?.name ?? id ?? "";
}

async function logout() {
  try { await api("/api/v1/auth/logout", { method: "POST" }); } catch (_) { /* gone already */ }
  sessionStorage.removeItem("gridwatch-token");
  showLogin();
}

function showLogin(message) {
  state.me = null;
  stopChanges();
  unmount?.();
  unmount = mountLogin($("#view"), { onLoggedIn: start, message });
  renderHeader();
  document.title = `gridwatch · ${t("login.title")}`;
}

function start(me) {
  state.me = me;
  renderHeader();
  startChanges(() => checkSession());
  route();
}

async function checkSession() {
  try {
    await api("/api/v1/auth/me", { quiet401: true });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) showLogin(t("login.expired"));
  }
}

async function main() {
  await initI18n();
  whenUnauthorised(() => { if (state.me) showLogin(t("login.expired")); });
  window.addEventListener("hashchange", route);
  try {
    start(await api("/api/v1/auth/me", { quiet401: true }));
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) showLogin();
    else clear($("#view"), h("p", { class: "error" }, t("error.service", { detail: error.message })));
  }
}

main();
