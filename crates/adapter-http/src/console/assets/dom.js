// Building the page. Everything is made with DOM calls and text nodes, never from HTML
// strings, so nothing a domain, a DNS answer or an error holds can become markup (the
// Content-Security-Policy enforces it with Trusted Types).

// An element: `h("a", { href: "/x", onclick: f }, "text", child)`. A prop that is
// null, undefined or false is left out; true sets an empty attribute.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (key === "class") {
      el.className = value;
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "value") {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

// Says something to screen readers (and anyone watching the status line) politely.
export function announce(text) {
  const announcer = document.getElementById("announcer");
  announcer.textContent = "";
  // A change of text is what is announced; clearing first repeats the same message.
  window.setTimeout(() => {
    announcer.textContent = text;
  }, 50);
}

// A time as the API gives it (RFC 3339, UTC), shown the same for everyone.
export function when(iso) {
  if (!iso) {
    return "never";
  }
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) {
    return iso;
  }
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

// Where a domain stands: a light whose colour, shape and words all say the same.
const STANDINGS = {
  verified: { tone: "ok", glyph: "✓", label: "Verified" },
  failing: { tone: "warn", glyph: "!", label: "Failing" },
  not_verified: { tone: "bad", glyph: "✕", label: "Not verified" },
  inactive: { tone: "off", glyph: "–", label: "Inactive" },
};

export function standingLight(domain) {
  const standing = STANDINGS[domain.status] || { tone: "off", glyph: "?", label: domain.status };
  let text = standing.label;
  if (domain.status === "failing" && domain.grace_until) {
    text = `${standing.label} — still sending until ${when(domain.grace_until)}`;
  }
  return light(standing.tone, standing.glyph, text, "standing");
}

// A record's or a check's status.
const STATUSES = {
  verified: { tone: "ok", glyph: "✓", label: "verified" },
  not_checked: { tone: "off", glyph: "…", label: "not checked yet" },
  missing: { tone: "bad", glyph: "✕", label: "missing" },
  mismatch: { tone: "bad", glyph: "✕", label: "mismatch" },
  invalid: { tone: "bad", glyph: "✕", label: "invalid" },
  temporary_failure: { tone: "warn", glyph: "!", label: "temporary DNS failure" },
};

export function statusLight(status) {
  const s = STATUSES[status] || { tone: "off", glyph: "?", label: String(status) };
  return light(s.tone, s.glyph, s.label, "status");
}

function light(tone, glyph, text, kind) {
  return h(
    "span",
    { class: `light light-${tone}`, "data-kind": kind },
    h("span", { class: "light-dot", "aria-hidden": "true" }, glyph),
    h("span", { class: "light-text" }, text),
  );
}

// A "Copy" button for one piece of text; `what` names it for screen readers ("Copy host
// scaisend._domainkey.mail.example.com").
export function copyButton(text, what) {
  const button = h("button", { type: "button", class: "copy", "aria-label": `Copy ${what}` }, "Copy");
  button.addEventListener("click", async () => {
    const copied = await copyText(text);
    button.textContent = copied ? "Copied" : "Copy failed";
    button.classList.toggle("copied", copied);
    announce(copied ? `Copied ${what}` : `Could not copy ${what}; select it and copy it by hand`);
    window.setTimeout(() => {
      button.textContent = "Copy";
      button.classList.remove("copied");
    }, 2500);
  });
  return button;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // Refused (no permission, the page not focused): try the older way.
    }
  }
  const area = h("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true", tabindex: "-1" });
  area.value = text;
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

// An API refusal as a person reads it: what happened, what to do, each invalid field,
// and the request id to quote for a server error.
export function problemView(error, heading = "That did not work") {
  const problem = error.problem || { title: "Error", detail: String(error.message || error) };
  const box = h(
    "div",
    { class: "problem", role: "alert", "data-status": error.status ?? "" },
    h("p", { class: "problem-title" }, heading, ": ", problem.title || "Error",
      error.status ? ` (${error.status})` : ""),
    problem.detail ? h("p", {}, problem.detail) : null,
  );
  if (Array.isArray(problem.errors) && problem.errors.length > 0) {
    box.append(h("ul", {}, problem.errors.map((e) => h("li", {}, h("code", {}, e.field), ": ", e.message))));
  }
  if (problem.retry_after) {
    box.append(h("p", {}, `Try again in ${problem.retry_after} s.`));
  }
  if (error.requestId && error.status >= 500) {
    box.append(h("p", {}, "Quote this request id when reporting it: ", h("code", {}, error.requestId)));
  }
  return box;
}

// What the signed-in caller may change, decided from the token's role for display only:
// the API enforces the same rules (docs/api.md), so a hidden button hides nothing the
// caller could do anyway, and a shown one that is refused says why.
export function mayCreate(claims) {
  return claims.role === "tenant_admin" || claims.role === "partner_operator";
}

export function mayChange(claims, domain) {
  if (domain.is_shared) {
    return claims.role === "partner_operator" && claims.partner_id === domain.partner_id;
  }
  return claims.role === "tenant_admin" && claims.tenant_id === domain.tenant_id;
}

export const ROLE_NAMES = {
  tenant_viewer: "viewer",
  tenant_admin: "tenant admin",
  partner_operator: "partner operator",
  service: "service",
};
