// Log in with a username and password, or with an API token. Either way the service sets an
// HttpOnly session cookie; this page never stores a credential itself.

import { api, ApiError } from "../api.js";
import { clear, h } from "../dom.js";
import { t } from "../i18n.js";

export function mountLogin(root, { onLoggedIn, message }) {
  let mode = "password";
  const error = h("p", { class: "error", role: "alert", id: "login-error" }, message || "");

  function fields() {
    if (mode === "token") {
      return [h("label", {}, t("login.token"),
        h("input", { name: "token", type: "password", autocomplete: "off", required: true, placeholder: "gw_…" }))];
    }
    return [
      h("label", {}, t("login.username"), h("input", { name: "username", autocomplete: "username", required: true })),
      h("label", {}, t("login.password"),
        h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
    ];
  }

  async function submit(event) {
    event.preventDefault();
    const data = Object.fromEntries(new FormData(event.target));
    const button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    error.textContent = "";
    try {
      const body = mode === "token" ? { token: data.token.trim() } : { username: data.username.trim(), password: data.password };
      const result = await api("/api/v1/auth/login", { method: "POST", body, quiet401: true });
      onLoggedIn(result.me);
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status === 401 ? t("login.failed") : err.message;
      button.disabled = false;
    }
  }

  function render() {
    clear(root, h("section", { class: "login card" },
      h("h1", {}, t("login.title")),
      h("div", { class: "tabs", role: "tablist" },
        ["password", "token"].map((m) => h("button", {
          type: "button", role: "tab", "aria-selected": String(mode === m), class: mode === m ? "tab active" : "tab",
          id: `login-mode-${m}`, onclick: () => { mode = m; render(); },
        }, t(`login.mode.${m}`)))),
      h("form", { id: "login-form", onsubmit: submit }, fields(), error,
        h("button", { type: "submit", class: "primary" }, t("login.submit")))));
    root.querySelector("input")?.focus();
  }

  render();
  return () => {};
}
