// The console's shell: sign in and out, and which view a path shows.
//
// Signing in is pasting a token: the same Bearer token every API client sends. An
// identity provider fits in front of this later without changing the API — a login page
// that runs the provider's flow and keeps the access token it gets where this one keeps
// the pasted one (docs/console.md).

import { ApiError, currentToken, forgetToken, getJson, keepToken, paths, readClaims } from "./api.js";
import { domainPage } from "./domain.js";
import { domainsPage } from "./domains.js";
import { ROLE_NAMES, announce, h, problemView } from "./dom.js";

const main = document.getElementById("main");

// The views, by path. Every one of these paths serves the same page.
const ROUTES = [
  [/^\/console\/?$/, (ctx) => domainsPage(ctx)],
  [/^\/console\/domains\/([^/]+)$/, (ctx, id) => domainPage(ctx, decodeURIComponent(id))],
];

function navigate(path, message) {
  if (path !== window.location.pathname) {
    window.history.pushState({}, "", path);
  }
  show(message);
}

// Shows the view of the current path, or the sign-in form without a usable token.
async function show(message) {
  const token = currentToken();
  const claims = token ? readClaims(token) : null;
  if (!claims) {
    signInPage(message ? { detail: message } : null);
    return;
  }
  whoIs(claims);
  const ctx = { main, claims, navigate, signedOut };
  const route = ROUTES.find(([pattern]) => pattern.test(window.location.pathname));
  if (!route) {
    main.replaceChildren(h("h1", { tabindex: "-1" }, "Not found"),
      h("p", {}, "Nothing is here. ", h("a", { href: "/console/", "data-nav": true }, "See your domains.")));
    focusHeading();
    return;
  }
  const [pattern, view] = route;
  await view(ctx, ...pattern.exec(window.location.pathname).slice(1));
  if (message) {
    announce(message);
  }
  focusHeading();
}

// Moves focus to the new view's heading, so keyboard and screen-reader users start
// there, as after a page load — unless they already moved into the view.
function focusHeading() {
  const active = document.activeElement;
  if (!active || active === document.body || active === main || !main.contains(active)) {
    main.querySelector("h1")?.focus();
  }
}

// A refused token (expired, revoked) ends the session: back to the sign-in form, saying
// why. Returns whether it did.
function signedOut(error) {
  if (error instanceof ApiError && error.status === 401) {
    forgetToken();
    whoIs(null);
    signInPage({ detail: `Your token was refused: ${error.problem.detail || error.message}. Sign in again.` });
    return true;
  }
  return false;
}

function whoIs(claims) {
  const who = document.getElementById("who");
  who.hidden = !claims;
  if (claims) {
    const scope = [claims.tenant_id ? `tenant ${claims.tenant_id}` : null, claims.partner_id ? `partner ${claims.partner_id}` : null]
      .filter(Boolean).join(", ");
    document.getElementById("who-text").textContent =
      `${claims.sub} — ${ROLE_NAMES[claims.role] || claims.role}${scope ? ` (${scope})` : ""}`;
  }
}

function signInPage(reason) {
  whoIs(null);
  const feedback = h("div", { class: "feedback" });
  if (reason) {
    feedback.append(h("p", { class: "notice notice-warn", role: "alert" }, reason.detail));
  }
  const form = h("form", { class: "sign-in", novalidate: true },
    h("h1", { tabindex: "-1" }, "Sign in"),
    h("p", {}, "Paste an API token: the Bearer token you would send with curl. "
      + "It stays in this browser tab and is forgotten when you sign out or close the tab."),
    h("div", { class: "field" },
      h("label", { for: "token" }, "Token"),
      h("input", {
        id: "token", name: "token", type: "password", required: true,
        autocomplete: "off", spellcheck: "false", "aria-describedby": "token-help",
      }),
      h("p", { class: "help", id: "token-help" },
        "For example the output of: scaisend-domains token --role tenant_admin --tenant t1 --partner p1")),
    feedback,
    h("button", { type: "submit", class: "primary" }, "Sign in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = form.elements.token.value.trim();
    const claims = readClaims(token);
    feedback.replaceChildren();
    if (!claims) {
      feedback.append(problemView({ status: null, problem: { title: "Not a token", detail: "A token has three parts separated by dots (a JWT)." } }, "You are not signed in"));
      form.elements.token.focus();
      return;
    }
    if (typeof claims.exp === "number" && claims.exp * 1000 < Date.now()) {
      feedback.append(problemView({ status: null, problem: { title: "Expired token", detail: `This token expired at ${new Date(claims.exp * 1000).toISOString()}. Mint a new one.` } }, "You are not signed in"));
      form.elements.token.focus();
      return;
    }
    keepToken(token);
    try {
      // One cheap request proves the token before the console relies on it.
      await getJson(`${paths.domains}?limit=1`);
    } catch (error) {
      forgetToken();
      feedback.append(problemView(error, "You are not signed in"));
      form.elements.token.focus();
      return;
    }
    announce(`Signed in as ${claims.sub}`);
    show();
  });
  main.replaceChildren(form);
  form.elements.token.focus();
}

document.getElementById("sign-out").addEventListener("click", () => {
  forgetToken();
  window.history.pushState({}, "", "/console/");
  signInPage({ detail: "You are signed out. The token is forgotten." });
  announce("Signed out");
});

// Links inside the console change the view without reloading the page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
    return;
  }
  event.preventDefault();
  navigate(new URL(link.href).pathname);
});

window.addEventListener("popstate", () => show());

show();
