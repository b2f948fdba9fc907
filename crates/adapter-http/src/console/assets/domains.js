// The caller's domains, and the form that adds one.

import { ApiError, getJson, paths, send } from "./api.js";
import { announce, h, mayCreate, problemView, standingLight, when } from "./dom.js";

// The fields of "Add domain", in order, as data: a setting added to the API later (the
// DKIM mode, key algorithms, a return path) is one more entry here.
const CREATE_FIELDS = [
  {
    name: "domain",
    label: "Domain",
    type: "text",
    required: true,
    placeholder: "mail.example.com",
    help: "The domain in your From: addresses. You publish its records next.",
  },
  {
    name: "dmarc_policy",
    label: "DMARC policy",
    type: "select",
    options: [
      ["none", "none — monitor only"],
      ["quarantine", "quarantine — failing mail goes to spam"],
      ["reject", "reject — failing mail bounces"],
    ],
  },
  {
    name: "dmarc_rua_email",
    label: "DMARC report address",
    type: "email",
    placeholder: "dmarc-reports@example.com",
    optional: true,
    help: "Where receivers send daily DMARC reports.",
  },
  {
    name: "dkim_key_bits",
    label: "DKIM key size",
    type: "select",
    number: true,
    options: [
      ["2048", "2048 bits (default)"],
      ["3072", "3072 bits"],
      ["4096", "4096 bits"],
    ],
  },
  {
    name: "dkim_algorithms",
    label: "DKIM signatures",
    type: "select",
    options: [
      ["rsa-sha256", "RSA only (default)"],
      ["rsa-sha256 ed25519-sha256", "RSA and Ed25519 — two signatures per message"],
    ],
    // The API takes a list; each option is its names, separated by spaces.
    encode: (value) => value.split(" "),
    help: "Ed25519 (RFC 8463) is signed beside RSA, never alone: many receivers verify only RSA.",
  },
  {
    name: "dkim_mode",
    label: "DKIM publishing",
    type: "select",
    options: [
      ["txt", "TXT records — you publish each new key (default)"],
      ["cname", "CNAME records — published once, we rotate the keys"],
    ],
    help: "With CNAME records, each key slot points into our DNS zone and key rotations need no DNS change.",
  },
  {
    name: "return_path",
    label: "Return path label",
    type: "text",
    placeholder: "bounces",
    optional: true,
    help: "One DNS label: bounces then go to <label>.<your domain>, which lets SPF align for DMARC.",
  },
];

export async function domainsPage(ctx) {
  const { main, claims } = ctx;
  const list = h("div", { class: "domain-list" }, h("p", { class: "muted" }, "Loading…"));
  main.replaceChildren(
    h("h1", { tabindex: "-1" }, "Domains"),
    mayCreate(claims) ? createForm(ctx) : null,
    h("section", { "aria-labelledby": "domains-heading" },
      h("h2", { id: "domains-heading" }, "Your sender domains"),
      list),
  );
  await fillList(ctx, list);
}

async function fillList(ctx, list, cursor = null, table = null) {
  let page;
  try {
    const query = new URLSearchParams({ limit: "50" });
    if (cursor) {
      query.set("cursor", cursor);
    }
    page = await getJson(`${paths.domains}?${query}`);
  } catch (error) {
    if (ctx.signedOut(error)) {
      return;
    }
    list.replaceChildren(problemView(error, "The domains could not be loaded"));
    return;
  }
  if (!table) {
    if (page.data.length === 0) {
      list.replaceChildren(h("p", { class: "empty" }, mayCreate(ctx.claims)
        ? "No domains yet. Add the domain you send from above."
        : "No domains yet. A tenant admin can add one."));
      return;
    }
    table = h("tbody");
    list.replaceChildren(h("table", { class: "domains stack" },
      h("caption", { class: "visually-hidden" }, "Sender domains and where each stands"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Domain"),
        h("th", { scope: "col" }, "Status"),
        h("th", { scope: "col" }, "Owner"),
        h("th", { scope: "col" }, "DMARC policy"),
        h("th", { scope: "col" }, "Last verified"))),
      table));
  }
  for (const domain of page.data) {
    table.append(h("tr", { "data-domain": domain.domain },
      h("th", { scope: "row", "data-label": "Domain" },
        h("a", { href: `/console/domains/${domain.id}`, "data-nav": true }, domain.domain)),
      h("td", { "data-label": "Status" }, standingLight(domain)),
      h("td", { "data-label": "Owner" }, domain.is_shared
        ? h("span", { class: "badge" }, "Shared by the partner")
        : "Your tenant"),
      h("td", { "data-label": "DMARC policy" }, domain.dmarc_policy),
      h("td", { "data-label": "Last verified" }, when(domain.last_verified_at))));
  }
  list.querySelector(".more")?.remove();
  if (page.next_cursor) {
    list.append(h("button", {
      type: "button",
      class: "more secondary",
      onclick: () => fillList(ctx, list, page.next_cursor, table),
    }, "Show more domains"));
  }
}

function createForm(ctx) {
  const shared = ctx.claims.role === "partner_operator";
  const feedback = h("div", { class: "feedback" });
  const form = h("form", { class: "create", novalidate: true, "aria-labelledby": "create-heading" },
    h("h2", { id: "create-heading" }, "Add domain"),
    shared ? h("p", { class: "muted" },
      "As a partner operator you add shared domains, usable by every tenant of your partner.") : null,
    h("div", { class: "fields" }, CREATE_FIELDS.map(field)),
    feedback,
    h("button", { type: "submit" }, "Add domain"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = bodyOf(form);
    if (shared) {
      body.is_shared = true;
    }
    clearFieldErrors(form);
    feedback.replaceChildren();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    button.textContent = "Adding… (generating the DKIM key)";
    try {
      const domain = await send("POST", paths.domains, body);
      announce(`Added ${domain.domain}. Publish its records next.`);
      ctx.navigate(`/console/domains/${domain.id}`);
    } catch (error) {
      if (ctx.signedOut(error)) {
        return;
      }
      feedback.replaceChildren(problemView(error, "The domain was not added"));
      if (error instanceof ApiError) {
        markFieldErrors(form, error.problem.errors || []);
      }
    } finally {
      button.disabled = false;
      button.textContent = "Add domain";
    }
  });
  return form;
}

function field(spec) {
  const id = `field-${spec.name}`;
  const helpId = spec.help ? `${id}-help` : null;
  const control = spec.type === "select"
    ? h("select", { id, name: spec.name, "aria-describedby": helpId, "data-help-id": helpId },
      spec.options.map(([value, label]) => h("option", { value }, label)))
    : h("input", {
      id,
      name: spec.name,
      type: spec.type,
      required: spec.required,
      placeholder: spec.placeholder,
      autocomplete: "off",
      spellcheck: "false",
      "aria-describedby": helpId,
      "data-help-id": helpId,
    });
  return h("div", { class: "field", "data-field": spec.name },
    h("label", { for: id }, spec.label, spec.optional ? h("span", { class: "muted" }, " (optional)") : null),
    control,
    spec.help ? h("p", { class: "help", id: helpId }, spec.help) : null,
    h("p", { class: "field-error", id: `${id}-error`, hidden: true }));
}

// The request body: each field that has a value, numbers as numbers, lists as lists.
function bodyOf(form) {
  const body = {};
  for (const spec of CREATE_FIELDS) {
    const value = form.elements[spec.name].value.trim();
    if (value !== "") {
      body[spec.name] = spec.encode ? spec.encode(value) : spec.number ? Number(value) : value;
    }
  }
  return body;
}

function clearFieldErrors(form) {
  for (const error of form.querySelectorAll(".field-error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    if (control.dataset.helpId) {
      control.setAttribute("aria-describedby", control.dataset.helpId);
    } else {
      control.removeAttribute("aria-describedby");
    }
  }
}

// Puts each invalid field's message under it, and focuses the first.
function markFieldErrors(form, errors) {
  let first = null;
  for (const e of errors) {
    const control = form.elements[e.field];
    const message = document.getElementById(`field-${e.field}-error`);
    if (!control || !message) {
      continue;
    }
    message.textContent = e.message;
    message.hidden = false;
    control.setAttribute("aria-invalid", "true");
    const help = control.dataset.helpId;
    control.setAttribute("aria-describedby", help ? `${help} ${message.id}` : message.id);
    first ??= control;
  }
  first?.focus();
}
