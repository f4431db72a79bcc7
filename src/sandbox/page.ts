import { escapeHtml } from "./block-kit-html.js";
import { PERSONA_LIST, SANDBOX_CHANNEL, SANDBOX_WORKSPACE } from "./people.js";

/** The banner every sandbox screen carries. */
export const SANDBOX_BANNER =
  "SANDBOX · the real KeyOps on this machine; Slack and PagerDuty are stood in for · loopback only";

const STYLE = `
*{box-sizing:border-box}body{margin:0;font:15px/1.45 -apple-system,"Segoe UI",Lato,Helvetica,Arial,sans-serif;color:#1d1c1d;background:#fff;height:100vh;display:flex;flex-direction:column}
.sb-banner{background:#e8a723;color:#1d1c1d;font-weight:700;text-align:center;padding:4px 8px;font-size:13px;letter-spacing:.02em}
.sb-app-frame{flex:1;display:grid;grid-template-columns:240px 1fr 300px;min-height:0}
.sb-sidebar{background:#3f0e40;color:#cfc3cf;padding:12px;overflow:auto}.sb-sidebar h1{color:#fff;font-size:17px;margin:0 0 12px}
.sb-sidebar .sb-nav{display:block;color:#cfc3cf;padding:3px 8px;border-radius:6px;cursor:pointer;border:0;background:none;font:inherit;text-align:left;width:100%}
.sb-sidebar .sb-nav.sb-active{background:#1164a3;color:#fff}.sb-sidebar label{display:block;margin-top:16px;font-size:13px;color:#fff}
.sb-sidebar select{width:100%;margin-top:4px;padding:4px;font:inherit}.sb-about{margin-top:16px;font-size:12px;line-height:1.4;background:#350d36;padding:8px;border-radius:6px}
.sb-main{display:flex;flex-direction:column;min-height:0;border-right:1px solid #ddd}.sb-main header{padding:10px 16px;border-bottom:1px solid #ddd;font-weight:700;display:flex;gap:8px;align-items:center}
.sb-main header .sb-sandbox-tag{font-size:11px;background:#e8a723;border-radius:4px;padding:1px 6px}
.sb-pane{flex:1;overflow:auto;padding:8px 16px}.sb-hidden{display:none!important}
.sb-composer{border:1px solid #bbb;border-radius:8px;margin:8px 16px 12px;display:flex}.sb-composer input{flex:1;border:0;padding:10px;font:inherit;border-radius:8px;outline:none}
.sb-composer button{border:0;background:#007a5a;color:#fff;border-radius:6px;margin:4px;padding:0 14px;font-weight:700;cursor:pointer}
.sb-message{padding:6px 8px;border-radius:6px}.sb-message:hover{background:#f8f8f8}.sb-meta{font-size:15px}.sb-time,.sb-edited{color:#616061;font-size:12px}
.sb-app{background:#ddd;color:#555;font-size:10px;padding:0 3px;border-radius:2px;font-weight:700}
.sb-ephemeral{background:#f4f9fd}.sb-ephemeral-note{color:#616061;font-size:12px}.sb-empty{color:#616061;padding:24px;text-align:center}
.sb-thread{margin:4px 0 0 8px;border-left:3px solid #ddd;padding-left:8px}.sb-thread summary{color:#1264a3;font-weight:700;font-size:13px;cursor:pointer}
.sb-file{display:inline-flex;gap:8px;align-items:center;border:1px solid #ddd;border-radius:8px;padding:8px 12px;margin-top:4px;color:inherit;text-decoration:none}.sb-file-icon{font-size:24px}
.bk-header{font-weight:900;font-size:18px;margin:4px 0}.bk-section{display:flex;gap:8px;margin:4px 0}.bk-section-body{flex:1}
.bk-fields{display:grid;grid-template-columns:1fr 1fr;gap:4px 16px;margin-top:4px}.bk-context{color:#616061;font-size:13px;display:flex;gap:6px;flex-wrap:wrap;align-items:center;margin:4px 0}
.bk-divider{border:0;border-top:1px solid #ddd;margin:8px 0}.bk-actions{display:flex;gap:8px;flex-wrap:wrap;margin:6px 0}
.bk-button{border:1px solid #bbb;background:#fff;border-radius:4px;padding:4px 12px;font:inherit;font-size:14px;font-weight:700;cursor:pointer}
.bk-button:hover{background:#f4f4f4}.bk-primary{background:#007a5a;border-color:#007a5a;color:#fff}.bk-primary:hover{background:#148567}
.bk-danger{color:#e01e5a;border-color:#e01e5a}.bk-select,.bk-input{font:inherit;font-size:14px;padding:4px 6px;border:1px solid #bbb;border-radius:4px;background:#fff}
code{background:#f6f6f6;border:1px solid #e8e8e8;border-radius:3px;padding:0 3px;color:#c01343;font-size:13px}.bk-pre{background:#f6f6f6;border:1px solid #e8e8e8;padding:8px;border-radius:4px;white-space:pre-wrap}
.bk-quote{border-left:4px solid #ddd;padding-left:8px;display:inline-block}.bk-mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
.bk-unknown{background:#ffe8e8;color:#b00;border:1px dashed #b00;padding:0 4px;font-family:monospace}
.bk-input-block{margin:10px 0;display:flex;flex-direction:column;gap:4px}.bk-label{font-weight:700}.bk-optional,.bk-hint{color:#616061;font-size:13px;font-weight:400}
.bk-has-error .bk-input,.bk-has-error .bk-select{border-color:#e01e5a}.bk-error{color:#e01e5a;font-size:13px}
.sb-overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:10}
.sb-dialog{background:#fff;border-radius:8px;width:520px;max-width:95vw;max-height:85vh;overflow:auto;box-shadow:0 10px 40px rgba(0,0,0,.3)}
.sb-dialog .sb-dialog-banner{background:#e8a723;font-size:11px;font-weight:700;text-align:center;padding:2px;border-radius:8px 8px 0 0}
.bk-modal-title{font-weight:900;font-size:20px;padding:16px 20px 0}.bk-modal-body{padding:4px 20px}.bk-modal-footer{display:flex;justify-content:flex-end;gap:8px;padding:12px 20px;border-top:1px solid #ddd}
.sb-confirm{padding:16px 20px}.sb-confirm h2{margin:0 0 8px;font-size:18px}
.sb-pd{display:flex;flex-direction:column;min-height:0}.sb-pd header{background:#06ac38;color:#fff;padding:10px 12px;font-weight:700}
.sb-pd .sb-pane{padding:8px}.pd-incident{border:1px solid #ddd;border-left:6px solid #e01e5a;border-radius:6px;padding:8px;margin-bottom:8px;font-size:13px}
.pd-acknowledged{border-left-color:#e8a723}.pd-resolved{border-left-color:#06ac38;opacity:.75}.pd-status{font-weight:700;text-transform:uppercase}
.pd-severity{background:#eee;border-radius:3px;padding:0 4px}.pd-summary{margin:4px 0}.pd-actions{display:flex;gap:6px}
.sb-toast{position:fixed;bottom:16px;left:50%;transform:translateX(-50%);background:#1d1c1d;color:#fff;padding:8px 14px;border-radius:6px;z-index:20}
`;

/** The page: a Slack-like channel, App Home, composer and persona switcher; client.js fills it from the server's events. */
export function pageHtml(about: string): string {
  const personas = PERSONA_LIST.map(
    (p) => `<option value="${escapeHtml(p.id)}">${escapeHtml(p.name)} (${escapeHtml(p.role)})</option>`,
  ).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KeyOps sandbox</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${STYLE}</style></head>
<body>
<div class="sb-banner" id="sandbox-banner">${escapeHtml(SANDBOX_BANNER)}</div>
<div class="sb-app-frame">
<nav class="sb-sidebar">
<h1>${escapeHtml(SANDBOX_WORKSPACE.teamName)}</h1>
<button type="button" class="sb-nav sb-active" data-tab="channel"># ${escapeHtml(SANDBOX_CHANNEL.name)}</button>
<button type="button" class="sb-nav" data-tab="home">🔑 KeyOps (App Home)</button>
<label for="persona">Acting as</label><select id="persona">${personas}</select>
<div class="sb-about">${about}</div>
</nav>
<main class="sb-main">
<header><span id="pane-title"># ${escapeHtml(SANDBOX_CHANNEL.name)}</span><span class="sb-sandbox-tag">sandbox</span></header>
<div class="sb-pane" id="channel" aria-live="polite"></div>
<div class="sb-pane sb-hidden" id="home"></div>
<form class="sb-composer" id="composer-form"><input id="composer" autocomplete="off" placeholder="/key-rotate production, /key-compromised, /offboard @Lee, /keyops help"><button type="submit">Send</button></form>
</main>
<aside class="sb-pd"><header>PagerDuty <span class="sb-sandbox-tag">sandbox</span></header><div class="sb-pane" id="pagerduty"></div></aside>
</div>
<div class="sb-overlay sb-hidden" id="modal"><div class="sb-dialog"><div class="sb-dialog-banner">SANDBOX</div><div id="modal-content"></div></div></div>
<div class="sb-overlay sb-hidden" id="confirm"><div class="sb-dialog"><div class="sb-dialog-banner">SANDBOX</div><div class="sb-confirm"><h2 id="confirm-title"></h2><div id="confirm-text"></div></div><div class="bk-modal-footer"><button type="button" class="bk-button" id="confirm-no"></button><button type="button" class="bk-button bk-primary" id="confirm-yes"></button></div></div></div>
<script src="/sandbox.js"></script>
</body></html>`;
}

/** A shared file (the post-mortem) opened from the channel: its text, under the banner. */
export function fileHtmlPage(title: string, content: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · KeyOps sandbox</title><style>${STYLE} body{display:block;height:auto} pre{white-space:pre-wrap;padding:16px 24px;font-size:14px}</style></head>
<body><div class="sb-banner">${escapeHtml(SANDBOX_BANNER)}</div><h2 style="padding:0 24px">${escapeHtml(title)}</h2><pre>${escapeHtml(content)}</pre></body></html>`;
}
