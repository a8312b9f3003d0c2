import assert from 'node:assert/strict';
import { test } from 'node:test';
import { renderAnswer } from '../src/markdown';

test('fenced code is highlighted, numbered, and gets Copy / Insert / Apply buttons', () => {
  const { html, blocks } = renderAnswer('Here:\n\n```python\ndef add(a, b):\n    """Sum."""\n    return a + b\n```\n\nAnd `x`.\n\n```\nplain <b>\n```\n');
  assert.deepEqual(blocks.map((b) => b.lang), ['python', '']);
  assert.equal(blocks[0].code, 'def add(a, b):\n    """Sum."""\n    return a + b\n');
  assert.match(html, /<span class="hljs-keyword">def<\/span>/);
  assert.match(html, /data-act="apply" data-index="1"/);
  assert.match(html, /plain &lt;b&gt;/);
});

test("a model's HTML, script, links and images are never rendered", () => {
  const hostile = [
    '<script>alert(1)</script>',
    '<img src=x onerror=alert(1)>',
    '[click](javascript:alert(1)) [site](https://evil.example/)',
    '![pixel](https://evil.example/track.png)',
    '<https://evil.example/auto>',
    '```js" onmouseover="alert(1)\ncode\n```',
  ].join('\n\n');
  const { html } = renderAnswer(hostile);
  // No tag from the model: nothing that could run, fetch or navigate (escaped text is fine).
  assert.doesNotMatch(html, /<script|<img|<a[\s>]|<[^>]*\s(href|src|on\w+)=/i);
  assert.match(html, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/);
});
