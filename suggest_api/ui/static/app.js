// The dashboard's entry: routes on the URL hash (#/ the list, #/studies/<name> a study), asks for an API key
// when the service answers 401, and sets the test hooks on <body> (data-state, data-refreshes).
import * as api from "./api.js";
import { h, clear } from "./dom.js";
import * as studiesPage from "./pages/studies.js";
import * as studyPage from "./pages/study.js";
import { resizeAll } from "./plots/common.js";

const POLL_MS = 2000;
const MIN_POLL_MS = 200;
const view = document.getElementById("view");
const errorBox = document.getElementById("error");
const keyForm = document.getElementById("key-form");
const keyInput = document.getElementById("api-key");
const keyError = document.getElementById("key-error");
const signOut = document.getElementById("sign-out");

let current = null;
let routeToken = 0;
let keyJustEntered = false;

function setState(state) {
  document.body.dataset.state = state;
}

function pollMs() {
  const asked = Number.parseInt(sessionStorage.getItem("suggest-ui-poll-ms") ?? "", 10);
  return Number.isFinite(asked) ? Math.max(MIN_POLL_MS, asked) : POLL_MS;
}

function showError(error, heading = "Could not load this page") {
  clear(errorBox).append(h("strong", {}, heading), h("p", {}, error.message));
  const fields = error.problem && error.problem.errors;
  if (fields && typeof fields === "object") {
    errorBox.append(h("ul", {}, Object.entries(fields).map(([field, problems]) =>
      h("li", {}, `${field}: ${Array.isArray(problems) ? problems.join("; ") : JSON.stringify(problems)}`))));
  }
  if (error.problem && error.problem.request_id) {
    errorBox.append(h("p", { class: "muted" }, `request id ${error.problem.request_id}`));
  }
  errorBox.hidden = false;
}

function askForKey(error) {
  const hadKey = api.key() !== null;
  api.forgetKey();
  signOut.hidden = true;
  keyForm.hidden = false;
  if (hadKey || keyJustEntered) {
    keyError.textContent = error.message;
    keyError.hidden = false;
  } else {
    keyError.hidden = true;
  }
  keyJustEntered = false;
  keyInput.focus();
  setState("error");
}

function signedIn() {
  keyForm.hidden = true;
  keyError.hidden = true;
  keyJustEntered = false;
  signOut.hidden = api.key() === null;
}

function leave() {
  if (current) current.dispose();
  current = null;
}

async function route() {
  const token = ++routeToken;
  const alive = () => token === routeToken;
  leave();
  setState("loading");
  errorBox.hidden = true;
  clear(view).append(h("p", { class: "loading" }, "Loading…"));
  const match = /^#\/studies\/(.+)$/.exec(location.hash);
  let name = null;
  if (match) {
    try {
      name = decodeURIComponent(match[1]);
    } catch {
      name = match[1];
    }
  }
  try {
    let page;
    if (name !== null) {
      // The study itself is the first call: a 401 asks for a key, a 404 (missing, or another team's) says so.
      document.title = `${name} · suggest-api`;
      page = await studyPage.open(view, name, {
        pollMs: pollMs(),
        alive,
        refreshed: () => { document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1); },
        pollFailed: (error) => (alive() ? pollFailed(error, name) : null),
      });
    } else {
      const studies = await api.studies(); // the list is also the key check: a 401 asks for one
      if (!alive()) return;
      document.title = "Studies · suggest-api";
      clear(view);
      page = listPage(studies, alive);
    }
    if (alive()) signedIn();
    if (!alive()) {
      page.dispose();
      return;
    }
    current = page;
    setState("ready");
  } catch (error) {
    if (!alive()) return;
    if (!(error instanceof api.ApiError)) console.error(error); // a bug of ours: let it be seen
    clear(view);
    if (error.status === 401) askForKey(error);
    else if (error.status === 404 && name !== null) notFound(name);
    else {
      showError(error);
      setState("error");
    }
  }
}

/** The list, refreshed in place while it is shown (counts and last activity move). */
function listPage(studies, alive) {
  const page = studiesPage.open(view, studies);
  let timer = null;
  const tick = async () => {
    try {
      const next = await api.all("/studies", "studies");
      if (next.changed && alive()) {
        page.update(next.items);
        document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
      }
    } catch (error) {
      if (alive() && error.status === 401) return askForKey(error);
    }
    if (alive()) timer = setTimeout(tick, pollMs());
  };
  timer = setTimeout(tick, pollMs());
  return { dispose: () => { clearTimeout(timer); page.dispose(); } };
}

function notFound(name) {
  clear(view).append(h("section", { id: "not-found", class: "card" },
    h("h1", {}, "Study not found"),
    h("p", {}, "No study named ", h("code", {}, name), " is visible with this key: it does not exist, or it belongs to another team."),
    h("p", {}, h("a", { href: "#/" }, "← Back to the studies"))));
  document.title = "Not found · suggest-api";
  setState("error");
}

function pollFailed(error, name) {
  if (error.status === 401) {
    leave();
    clear(view);
    askForKey(error);
  } else if (error.status === 404) {
    leave();
    notFound(name);
  } else {
    showError(error, "Live refresh failed; retrying");
  }
}

keyForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const entered = keyInput.value.trim();
  if (!entered) return;
  api.setKey(entered);
  keyInput.value = "";
  keyJustEntered = true;
  route();
});

signOut.addEventListener("click", () => {
  api.forgetKey();
  signOut.hidden = true;
  route();
});

window.addEventListener("hashchange", () => {
  document.body.dataset.refreshes = "0";
  route();
});

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => resizeAll(view), 100);
});

if (!window.echarts) {
  showError(new Error("the chart library (/ui/static/vendor/echarts.min.js) did not load"));
  setState("error");
} else {
  route();
}
