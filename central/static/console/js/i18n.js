// Labels in one JSON file per language (i18n/en.json, i18n/zh.json). The default follows the
// browser's languages; a choice made with the switch is remembered in localStorage. Event types are
// named by the service's catalogue (GET /api/v1/event-types), not here: one list for every part.

export const LANGUAGES = ["zh", "en"];
const STORE_KEY = "gridwatch-lang";
let current = "en";
let table = {};
let fallback = {};
let catalogue = [];

function preferred() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGUAGES.includes(saved)) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (LANGUAGES.includes(base)) return base;
  }
  return "en";
}

async function load(lang) {
  const response = await fetch(`/console/i18n/${lang}.json`, { credentials: "same-origin" });
  if (!response.ok) throw new Error(`cannot load the ${lang} labels: ${response.status}`);
  return response.json();
}

async function loadEventTypes() {
  const response = await fetch("/api/v1/event-types", { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`cannot load the event types: ${response.status}`);
  return response.json();
}

export async function initI18n() {
  [fallback, catalogue] = await Promise.all([load("en"), loadEventTypes()]);
  await setLanguage(preferred(), { remember: false });
}

// The event types' keys, in the catalogue's order.
export const eventTypes = () => catalogue.map((entry) => entry.key);

function typeName(key) {
  const names = catalogue.find((entry) => entry.key === key)?.names;
  return names ? names[current] ?? names.en : undefined;
}

export async function setLanguage(lang, { remember = true } = {}) {
  table = lang === "en" ? fallback : await load(lang);
  current = lang;
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  if (remember) localStorage.setItem(STORE_KEY, lang);
}

export const language = () => current;

// t("queue.events_n", {n: 3}) -> "3 events"; a missing key shows itself, so gaps are visible.
// With {n: 1}, a "<key>_one" label is used when the language has one ("1 event", not "1 events").
export function t(key, vars = {}) {
  const own = key in table; // a language without a singular form (Chinese) keeps its own label
  const singular = vars.n === 1 ? table[`${key}_one`] ?? (own ? undefined : fallback[`${key}_one`]) : undefined;
  const text = singular ?? table[key] ?? fallback[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

// An enum value's label (status.new, type.dust ...), or the value itself when there is none.
export function label(group, value) {
  if (value === null || value === undefined) return "";
  if (group === "type") return typeName(value) ?? String(value).replaceAll("_", " ");
  const key = `${group}.${value}`;
  return table[key] ?? fallback[key] ?? String(value).replaceAll("_", " ");
}

const locale = () => (current === "zh" ? "zh-CN" : "en-GB");

export function formatTime(iso, { seconds = false } = {}) {
  if (!iso) return "";
  const options = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" };
  if (seconds) options.second = "2-digit";
  return new Intl.DateTimeFormat(locale(), options).format(new Date(iso));
}

export function formatAgo(iso, now = Date.now()) {
  if (!iso) return "";
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const units = [["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];
  const format = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === "second") return format.format(Math.trunc(seconds / size), unit);
  }
  return "";
}

export function formatNumber(value, digits = 1) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits }).format(value);
}
