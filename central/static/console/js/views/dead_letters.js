// Dead letters (admins): messages ingest acknowledged but could not file, newest first, with the error and
// the payload. Replaying them is a command on the server: gridwatch-central dead-letters replay.

import { api } from "../api.js";
import { clear, h } from "../dom.js";
import { formatTime, t } from "../i18n.js";

export function mountDeadLetters(root) {
  let alive = true;
  const body = h("div", { id: "dead-letters" }, h("p", { class: "muted" }, t("loading")));

  function row(letter) {
    const cell = (key, ...content) => h("span", { class: "cell", role: "cell", dataset: { label: t(`dead.col.${key}`) } }, ...content);
    return h("div", { class: "row dead-letter-row", role: "row", dataset: { letterId: String(letter.id) } },
      cell("id", String(letter.id)),
      cell("failed_at", formatTime(letter.failed_at, { seconds: true })),
      cell("device", letter.device_id || "—"),
      cell("error", h("code", {}, letter.error)),
      cell("payload", h("details", {}, h("summary", {}, t("dead.bytes", { n: letter.bytes })), h("pre", {}, letter.payload))));
  }

  async function load() {
    let answer;
    try {
      answer = await api("/api/v1/dead-letters");
    } catch (error) {
      if (alive) clear(body, h("p", { class: "error" }, error.message));
      return;
    }
    if (!alive) return;
    clear(body, answer.total
      ? [h("p", { class: "muted" }, t("dead.summary", { n: answer.total })),
        h("div", { class: "table dead-letters", role: "table" },
          h("div", { class: "row head", role: "row" }, ["id", "failed_at", "device", "error", "payload"]
            .map((key) => h("span", { class: "cell", role: "columnheader" }, t(`dead.col.${key}`)))),
          answer.letters.map(row))]
      : h("p", { class: "empty" }, t("dead.none")));
  }

  clear(root, h("section", { class: "dead-letters-page" },
    h("div", { class: "page-head" }, h("h1", {}, t("nav.dead-letters"))),
    h("p", { class: "muted" }, t("dead.replay_hint")),
    body));
  load();
  return () => { alive = false; };
}
