// One domain: the records to publish (made hard to copy wrong), its checks, its keys and
// its timeline, with the actions the caller may take.

import { download, getJson, paths, send } from "./api.js";
import {
  announce, copyButton, h, mayChange, problemView, standingLight, statusLight, when,
} from "./dom.js";

export async function domainPage(ctx, id) {
  ctx.main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  let domain;
  try {
    domain = await getJson(paths.domain(id));
  } catch (error) {
    if (ctx.signedOut(error)) {
      return;
    }
    ctx.main.replaceChildren(
      backLink(),
      h("h1", { tabindex: "-1" }, error.status === 404 ? "No such domain" : "The domain could not be loaded"),
      problemView(error, "The domain could not be loaded"),
    );
    return;
  }
  render(ctx, domain, {});
}

// Draws the page; `state.report` is the last verification's answer, `state.notice` what
// to tell the caller about the action just taken.
function render(ctx, domain, state) {
  const writer = mayChange(ctx.claims, domain);
  const feedback = h("div", { class: "feedback", id: "feedback", tabindex: "-1" }, state.notice);
  const page = { ctx, domain, writer, feedback };
  ctx.main.replaceChildren(
    backLink(),
    h("h1", { tabindex: "-1" }, domain.domain),
    h("p", { class: "standing-line" }, standingLight(domain),
      domain.is_shared ? h("span", { class: "badge" }, "Shared by the partner") : null),
    facts(domain),
    writer ? actions(page) : h("p", { class: "read-only" },
      domain.is_shared
        ? "This shared domain belongs to your partner: you can read it, and your partner's operators change it."
        : "You can read this domain. Changing it — verifying, rotating, deactivating — takes a tenant admin."),
    feedback,
    recordsSection(page),
    checksSection(domain, state.report),
    keysSection(domain),
    timelineSection(page),
  );
  if (state.notice) {
    feedback.focus();
  }
}

function backLink() {
  return h("p", { class: "crumbs" }, h("a", { href: "/console/", "data-nav": true }, "← All domains"));
}

const DKIM_MODES = {
  txt: "TXT records (you publish each new key)",
  cname: "CNAME records into our zone (rotations need no DNS change)",
};

const ALGORITHMS = { "rsa-sha256": "RSA", "ed25519-sha256": "Ed25519" };

function algorithmName(algorithm) {
  return ALGORITHMS[algorithm] || algorithm;
}

// The selectors that sign now, one per algorithm; the API's `dkim_selector` is the RSA one.
function signingSelectors(domain) {
  const active = (domain.dkim_keys || []).filter((k) => k.state === "active").map((k) => k.selector);
  return active.length > 0 ? active.join(", ") : domain.dkim_selector;
}

function facts(domain) {
  const rows = [
    ["DMARC policy", domain.dmarc_policy],
    ["DMARC report address", domain.dmarc_rua_email || "none"],
    ["Signing selectors", signingSelectors(domain)],
    ["DKIM signatures", (domain.dkim_algorithms || []).map(algorithmName).join(" and ")],
    ["DKIM publishing", DKIM_MODES[domain.dkim_mode] || domain.dkim_mode],
    ["Return path", domain.return_path_host || "the platform's (none of your own)"],
    ["Return path verified", domain.return_path_host
      ? (domain.return_path_verified ? "yes" : "no")
      : "—"],
    ["Automatic rotation", domain.dkim_rotation_days ? `every ${domain.dkim_rotation_days} days` : "off"],
    ["Owner", domain.is_shared ? `partner ${domain.partner_id}` : `tenant ${domain.tenant_id}`],
    ["Added", when(domain.created_at)],
    ["Last verified", when(domain.last_verified_at)],
    ["Next background check", when(domain.next_check_at)],
  ];
  return h("dl", { class: "facts" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

// Runs an action's request, then shows the domain as it is now with a notice.
async function act(page, button, busyText, run) {
  const { ctx, domain, feedback } = page;
  const label = button.textContent;
  button.disabled = true;
  button.textContent = busyText;
  try {
    const outcome = await run();
    const fresh = outcome.domain ?? await getJson(paths.domain(domain.id));
    render(ctx, fresh, { report: outcome.report, notice: notice(outcome.message, outcome.tone) });
    announce(outcome.message);
  } catch (error) {
    if (ctx.signedOut(error)) {
      return;
    }
    button.disabled = false;
    button.textContent = label;
    feedback.replaceChildren(problemView(error));
    feedback.focus();
  }
}

function notice(message, tone = "ok") {
  return h("p", { class: `notice notice-${tone}` }, message);
}

function actions(page) {
  const { domain } = page;
  const verify = h("button", { type: "button", class: "primary" }, "Verify");
  verify.addEventListener("click", () => act(page, verify, "Verifying…", async () => {
    const report = await send("POST", paths.verify(domain.id));
    const failing = report.checks.filter((c) => c.status !== "verified").length;
    return report.verified
      ? { report, message: "Verified: every check passes. The domain can send.", tone: "ok" }
      : {
        report,
        message: `Not verified: ${failing} of ${report.checks.length} checks fail. Each check below says what to fix.`,
        tone: "bad",
      };
  }));

  const rotate = h("button", { type: "button" }, "Rotate DKIM key");
  rotate.addEventListener("click", () => act(page, rotate, "Rotating…", async () => {
    const started = await send("POST", paths.rotate(domain.id));
    const selectors = (started.dns_records || [started.dns_record])
      .map((r) => r.host.split("._domainkey.")[0]);
    const what = domain.dkim_mode === "cname"
      ? `The new keys (${selectors.join(", ")}) are served behind your CNAME records; verify to start signing with them.`
      : `Publish the record${selectors.length > 1 ? "s" : ""} of selector${selectors.length > 1 ? "s" : ""} ${selectors.join(" and ")}, then verify.`;
    return {
      message: `Rotation started. ${what} ${started.active_selector} keeps signing until then.`,
    };
  }));

  const toggle = h("button", { type: "button" }, domain.is_active ? "Deactivate" : "Activate");
  toggle.addEventListener("click", () => act(page, toggle, domain.is_active ? "Deactivating…" : "Activating…", async () => {
    const updated = await send("PATCH", paths.domain(domain.id), { is_active: !domain.is_active });
    return {
      domain: updated,
      message: updated.is_active
        ? `Activated: ${updated.domain} may send again.`
        : `Deactivated: sends from ${updated.domain} are rejected until you activate it.`,
      tone: updated.is_active ? "ok" : "warn",
    };
  }));

  const [open, confirm] = deleteControl(page);
  return h("div", {},
    h("div", { class: "actions", role: "group", "aria-label": "Actions" },
      verify, rotate, zoneFileLink(page), toggle, open),
    confirm);
}

// "Download zone file": a real link (it can be copied, and works with a token-less
// client that sends one some other way), fetched with the token when clicked.
function zoneFileLink(page) {
  const { ctx, domain, feedback } = page;
  const link = h("a", { href: paths.zoneFile(domain.id), class: "button-link", download: `${domain.domain}.zone` },
    "Download zone file");
  link.addEventListener("click", async (event) => {
    event.preventDefault();
    try {
      const { blob, filename } = await download(paths.zoneFile(domain.id), "text/dns");
      const url = URL.createObjectURL(blob);
      const save = h("a", { href: url, download: filename, hidden: true });
      document.body.append(save);
      save.click();
      save.remove();
      window.setTimeout(() => URL.revokeObjectURL(url), 60000);
      announce(`Downloaded ${filename}`);
    } catch (error) {
      if (!ctx.signedOut(error)) {
        feedback.replaceChildren(problemView(error, "The zone file could not be downloaded"));
      }
    }
  });
  return link;
}

// Delete asks first: the name must be typed, since deleting destroys the DKIM keys.
// Returns the button and the confirmation it opens.
function deleteControl(page) {
  const { ctx, domain } = page;
  const panel = h("form", { class: "confirm", hidden: true, "aria-labelledby": "confirm-delete-heading" });
  const open = h("button", { type: "button", class: "danger", "aria-expanded": "false" }, "Delete domain");
  open.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    open.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) {
      panel.elements.confirm.focus();
    }
  });
  const problem = h("div", { class: "feedback" });
  panel.append(
    h("h2", { id: "confirm-delete-heading" }, `Delete ${domain.domain}?`),
    h("p", {}, "Its DKIM keys are destroyed and it can no longer send. Mail already sent stays "
      + "verifiable only while its records stay published. This cannot be undone."),
    h("label", { for: "confirm-name" }, `Type ${domain.domain} to confirm`),
    h("input", { id: "confirm-name", name: "confirm", autocomplete: "off", spellcheck: "false" }),
    problem,
    h("div", { class: "actions" },
      h("button", { type: "submit", class: "danger" }, "Delete permanently"),
      h("button", {
        type: "button",
        class: "secondary",
        onclick: () => {
          panel.hidden = true;
          open.setAttribute("aria-expanded", "false");
          open.focus();
        },
      }, "Cancel")),
  );
  panel.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (panel.elements.confirm.value.trim().toLowerCase() !== domain.domain) {
      problem.replaceChildren(h("p", { class: "field-error", role: "alert" },
        `Type the domain name, ${domain.domain}, exactly.`));
      panel.elements.confirm.focus();
      return;
    }
    try {
      await send("DELETE", paths.domain(domain.id));
      announce(`Deleted ${domain.domain}`);
      ctx.navigate("/console/", `Deleted ${domain.domain}.`);
    } catch (error) {
      if (!ctx.signedOut(error)) {
        problem.replaceChildren(problemView(error, "The domain was not deleted"));
      }
    }
  });
  return [open, panel];
}

// The records to publish. Each host is shown in full and relative to the zone the
// tenant most likely edits, each with a Copy button, and long values also as their
// 255-octet strings, so that nothing has to be retyped or trimmed by hand.
function recordsSection(page) {
  const { domain, writer } = page;
  const zones = [...new Set(domain.dns_records.map((r) => r.zone))];
  return h("section", { "aria-labelledby": "records-heading" },
    h("h2", { id: "records-heading" }, "DNS records"),
    h("p", {}, `Publish these at your DNS provider, in the zone ${zones.join(", ")}. `
      + "Where the provider's form shows the zone after the name field, paste the name in the zone; "
      + "where it wants the full name, paste the host."),
    h("table", { class: "records stack" },
      h("caption", { class: "visually-hidden" }, "The records to publish, and to delete"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Type"),
        h("th", { scope: "col" }, "Host"),
        h("th", { scope: "col" }, "Value"),
        h("th", { scope: "col" }, "Status"))),
      h("tbody", {}, domain.dns_records.map((r) => recordRow(page, r, writer)))));
}

const PURPOSES = { dkim: "DKIM", spf: "SPF", dmarc: "DMARC", return_path: "Return path" };

function recordRow(page, r, writer) {
  const type = r.priority !== undefined && r.priority !== null ? `${r.type} ${r.priority}` : r.type;
  const purpose = PURPOSES[r.purpose] || String(r.purpose).toUpperCase();
  const remove = r.action === "remove";
  return h("tr", { class: remove ? "to-remove" : null, "data-purpose": r.purpose, "data-host": r.host },
    h("td", { "data-label": "Type" }, h("code", { class: "type" }, type),
      h("span", { class: "purpose" }, purpose, r.key_state ? ` · ${r.key_state} key` : null)),
    h("td", { "data-label": "Host", class: "host" },
      h("span", { class: "caption" }, "In full"),
      copyable(r.host, `host ${r.host}`, "host"),
      h("span", { class: "caption" }, `Name in zone ${r.zone}`),
      copyable(r.name, `name ${r.name} in zone ${r.zone}`, "name")),
    h("td", { "data-label": "Value", class: "value" }, copyable(r.value, `value of ${r.host}`, "value"), chunks(r)),
    h("td", { "data-label": "Status" },
      remove ? h("strong", { class: "remove-note" }, "Delete this record") : statusLight(r.status),
      writer ? selectorAction(page, r) : null));
}

function copyable(text, what, kind = "text") {
  return h("span", { class: `copyable copyable-${kind}` }, h("code", {}, text), copyButton(text, what));
}

// A long value as the character-strings a provider that wants them split expects.
function chunks(r) {
  if (!Array.isArray(r.value_chunks)) {
    return null;
  }
  return h("details", { class: "chunks" },
    h("summary", {}, `As ${r.value_chunks.length} strings of at most 255 octets`),
    h("ol", {}, r.value_chunks.map((chunk, i) =>
      h("li", {}, copyable(chunk, `string ${i + 1} of the value of ${r.host}`, "value")))));
}

// "Remove" on a retiring selector, "Cancel rotation" on a pending one.
function selectorAction(page, r) {
  if (r.purpose !== "dkim" || r.action !== "publish") {
    return null;
  }
  const selector = r.host.split("._domainkey.")[0];
  const label = { retiring: "Remove", pending: "Cancel rotation" }[r.key_state];
  if (!label) {
    return null;
  }
  const button = h("button", { type: "button", class: "secondary small", "aria-label": `${label} selector ${selector}` }, label);
  button.addEventListener("click", () => act(page, button, "…", async () => {
    const updated = await send("DELETE", paths.selector(page.domain.id, selector));
    return {
      domain: updated,
      message: r.key_state === "retiring"
        ? `Removed selector ${selector}: delete its record at your DNS provider.`
        : `Rotation cancelled: selector ${selector} will not be used.`,
    };
  }));
  return button;
}

// Each check's verdict: from the verification just run, else the last stored one.
function checksSection(domain, report) {
  const checks = report ? report.checks : Object.values(domain.checks).filter((c) => c !== null);
  return h("section", { "aria-labelledby": "checks-heading" },
    h("h2", { id: "checks-heading" }, "Checks"),
    checks.length === 0
      ? h("p", { class: "muted" }, "Not checked yet. Publish the records, then verify.")
      : h("div", { class: "checks" }, checks.map(checkView)));
}

function checkView(check) {
  const name = PURPOSES[check.record] || String(check.record).toUpperCase();
  return h("article", { class: "check", "data-check": check.record, "aria-labelledby": `check-${check.record}` },
    h("h3", { id: `check-${check.record}` }, `${name} `, statusLight(check.status)),
    h("p", {}, check.message),
    h("dl", {},
      h("dt", {}, "Checked at"), h("dd", {}, h("code", {}, check.host)),
      h("dt", {}, "Code"), h("dd", {}, h("code", {}, check.code)),
      check.expected ? [h("dt", {}, "Expected"), h("dd", {}, copyable(check.expected, `expected ${name} record`, "value"))] : null,
      h("dt", {}, "Found"),
      h("dd", {}, check.found.length === 0 ? "nothing" : h("ul", { class: "found" }, check.found.map((f) => h("li", {}, h("code", {}, f))))),
      h("dt", {}, "Answered by"), h("dd", {}, check.answered_by || "no server answered")),
    Array.isArray(check.warnings) && check.warnings.length > 0
      ? h("ul", { class: "warnings" }, check.warnings.map((w) => h("li", {}, w.message || JSON.stringify(w))))
      : null);
}

function keysSection(domain) {
  return h("section", { "aria-labelledby": "keys-heading" },
    h("h2", { id: "keys-heading" }, "DKIM keys"),
    h("table", { class: "keys stack" },
      h("thead", {}, h("tr", {},
        ["Selector", "Algorithm", "State", "Size", "Created", "Signing since", "Retired", "Removed"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, domain.dkim_keys.map((k) => h("tr", { "data-selector": k.selector },
        h("td", { "data-label": "Selector" }, h("code", {}, k.selector)),
        h("td", { "data-label": "Algorithm" }, algorithmName(k.algorithm)),
        h("td", { "data-label": "State" }, k.state),
        h("td", { "data-label": "Size" }, `${k.bits} bits`),
        h("td", { "data-label": "Created" }, when(k.created_at)),
        h("td", { "data-label": "Signing since" }, k.activated_at ? when(k.activated_at) : "—"),
        h("td", { "data-label": "Retired" }, k.retired_at ? when(k.retired_at) : "—"),
        h("td", { "data-label": "Removed" }, k.removed_at ? when(k.removed_at) : "—"))))));
}

function timelineSection(page) {
  const list = h("ol", { class: "timeline" });
  const section = h("section", { "aria-labelledby": "timeline-heading" },
    h("h2", { id: "timeline-heading" }, "Timeline"), list);
  loadEvents(page, section, list, null);
  return section;
}

async function loadEvents(page, section, list, cursor) {
  const query = new URLSearchParams({ limit: "20" });
  if (cursor) {
    query.set("cursor", cursor);
  }
  section.querySelector(".more")?.remove();
  let events;
  try {
    events = await getJson(`${paths.events(page.domain.id)}?${query}`);
  } catch (error) {
    if (!page.ctx.signedOut(error)) {
      section.append(problemView(error, "The timeline could not be loaded"));
    }
    return;
  }
  for (const e of events.data) {
    list.append(h("li", { "data-type": e.type },
      h("time", { datetime: e.at }, when(e.at)), " ",
      h("span", { class: "event-type" }, e.type.replace(/_/g, " ")), " ",
      h("span", {}, e.message), " ",
      h("span", { class: "muted" }, `by ${e.actor}`)));
  }
  if (events.next_cursor) {
    section.append(h("button", {
      type: "button",
      class: "more secondary",
      onclick: () => loadEvents(page, section, list, events.next_cursor),
    }, "Show older events"));
  }
}
