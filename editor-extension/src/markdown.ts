/**
 * A model's answer as HTML for the run panel. The text is hostile: markdown-it runs with
 * raw HTML off (it is escaped, never passed through), and links, images and autolinks
 * are not rendered at all (a model must not make the user's editor fetch or open a URL).
 * Fenced code is highlighted by highlight.js and numbered, so the panel's Copy / Insert /
 * Apply buttons can name a block by index. No vscode import: unit-tested.
 */
import hljs from 'highlight.js/lib/common';
import MarkdownIt from 'markdown-it';

export interface CodeBlock {
  lang: string;
  code: string;
}

export interface RenderedAnswer {
  html: string;
  blocks: CodeBlock[];
}

/** Longest answer rendered as Markdown; beyond it the tail is cut (the record keeps it all). */
export const MAX_RENDER_CHARS = 512 * 1024;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function highlight(code: string, lang: string): string {
  // Only languages highlight.js knows by name; guessing (highlightAuto) is slow on long text.
  if (lang && hljs.getLanguage(lang)) {
    try {
      return hljs.highlight(code, { language: lang, ignoreIllegals: true }).value;
    } catch {
      // Fall through to plain text.
    }
  }
  return escapeHtml(code);
}

export function renderAnswer(text: string): RenderedAnswer {
  const blocks: CodeBlock[] = [];
  const md = new MarkdownIt({ html: false, linkify: false, typographer: false });
  md.disable(['link', 'image', 'autolink']);
  md.renderer.rules.fence = (tokens, idx) => {
    const token = tokens[idx];
    const lang = (token.info || '').trim().split(/\s+/)[0].replace(/[^\w+#.-]/g, '').slice(0, 32);
    const index = blocks.length;
    blocks.push({ lang, code: token.content });
    const label = lang ? `<span class="lang">${escapeHtml(lang)}</span>` : '';
    return (
      `<div class="code" data-index="${index}"><div class="code-actions">${label}` +
      `<button data-act="copy" data-index="${index}">Copy</button>` +
      `<button data-act="insert" data-index="${index}">Insert at cursor</button>` +
      `<button data-act="apply" data-index="${index}">Apply to selection…</button></div>` +
      `<pre><code class="hljs">${highlight(token.content, lang)}</code></pre></div>\n`
    );
  };
  md.renderer.rules.code_block = md.renderer.rules.fence;
  const clipped = text.length > MAX_RENDER_CHARS ? `${text.slice(0, MAX_RENDER_CHARS)}\n\n…` : text;
  return { html: md.render(clipped), blocks };
}

/** Escape text for the panel's header and footer (routing, errors: also from the wire). */
export { escapeHtml };
