// tests/e2e/admin.mjs - the admin page in a real browser: Debian's
// Chromium, headless, driven by puppeteer-core.
//
// Against the e2e proxy (run.mjs), after real requests through the mock:
// the page signs in with the admin key (kept in sessionStorage, never in
// a URL), its charts show those requests (the SVG bars' values are
// compared with the answers' usage and with the admin API), a key created
// through the page works for an API request at once, and after it is
// revoked through the page the same request fails with 401. Everything the
// page loads comes from the proxy itself, and no Content-Security-Policy
// violation is reported. A screenshot is kept as an artifact.
//
// The browser reaches nothing but loopback: every URL the page requests is
// checked, and a dead proxy server catches anything Chromium would fetch
// for itself (loopback is never sent through a proxy).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import puppeteer from 'puppeteer-core';

const CHROMIUM = process.env.E2E_CHROMIUM || '/usr/bin/chromium';
const KEY_RE = /^sk-llmp-[0-9A-Za-z]{43}$/;

async function chat(url, key, model) {
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  return { status: res.status, body: await res.json() };
}

async function adminApi(url, adminKey, p) {
  const res = await fetch(`${url}/admin/api/${p}`, { headers: { authorization: `Bearer ${adminKey}` } });
  assert.equal(res.status, 200, `GET /admin/api/${p}`);
  return res.json();
}

// The bars of one chart, summed per series: { name: total }.
async function bars(page, by, metric) {
  return page.$$eval(`#charts-${by} figure[data-metric=${metric}] rect[data-series]`, (rs) => {
    const out = {};
    for (const r of rs) out[r.dataset.series] = (out[r.dataset.series] || 0) + Number(r.dataset.v);
    return out;
  });
}

// Click Refresh until cond (run in the page) holds.
async function refreshUntil(page, cond, arg, what) {
  const end = Date.now() + 10000;
  for (;;) {
    await page.click('#refresh');
    try {
      await page.waitForFunction(cond, { timeout: 1000 }, arg);
      return;
    } catch (e) {
      if (Date.now() > end) throw new Error(`the page never showed ${what}`);
    }
  }
}

export function adminTests(test, env) {
  test('admin page: charts, and a key created and revoked in the browser', 'admin', async () => {
    const { url, adminKey, clientKey, tmpRoot } = env();
    const origin = new URL(url).origin;

    // Real traffic through the mock, under a model name only this test uses.
    const model = 'oai-admin-chart';
    let tokens = 0, cost = 0;   // run.mjs prices it at $1/$2 per million
    for (let i = 0; i < 3; i++) {
      const r = await chat(url, clientKey, model);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      tokens += r.body.usage.prompt_tokens + r.body.usage.completion_tokens;
      cost += (r.body.usage.prompt_tokens + 2 * r.body.usage.completion_tokens) / 1e6;
    }
    assert.ok(tokens > 0, 'the mock reported usage');

    const profile = fs.mkdtempSync(path.join(tmpRoot, 'chromium-'));
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: false,           // the flags below say it
      userDataDir: profile,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run',
        '--proxy-server=127.0.0.1:9'],
    });
    const problems = [], urls = [];
    try {
      const page = await browser.newPage();
      page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => urls.push(r.url()));
      page.on('dialog', (d) => d.accept());
      await page.setViewport({ width: 1400, height: 1000 });

      const res = await page.goto(`${url}/admin`);
      assert.equal(res.status(), 200);
      assert.match(res.headers()['content-security-policy'], /^default-src 'none'; script-src 'sha256-/);
      await page.waitForSelector('#login:not([hidden])');
      await page.type('#keyin', adminKey);
      await page.click('#login button');
      await page.waitForFunction(() => document.body.dataset.refreshed);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('llmproxy-admin-key')), adminKey);
      assert.equal(await page.$eval('#version', (e) => e.textContent), (await adminApi(url, adminKey, 'summary')).version);

      // The charts show those requests: per model exactly, per key (the
      // config's first key is "key1") at least them.
      const req = await bars(page, 'model', 'requests');
      const tok = await bars(page, 'model', 'tokens');
      assert.equal(req[model], 3, `requests bars for ${model}: ${JSON.stringify(req)}`);
      assert.equal(tok[model], tokens, `token bars for ${model}: ${JSON.stringify(tok)}`);
      const usd = await bars(page, 'model', 'cost_usd');
      assert.equal(usd[model].toFixed(6), cost.toFixed(6), `cost bars for ${model}: ${JSON.stringify(usd)}`);
      const api = await adminApi(url, adminKey, 'usage?by=model&bucket=hour&n=24');
      for (const s of api.series) {
        assert.equal(req[s.name], s.requests.reduce((a, b) => a + b, 0), `requests of ${s.name}`);
      }
      assert.ok((await bars(page, 'key', 'requests')).key1 >= 3, 'key1 bars');
      const legend = await page.$eval('#charts-model figure[data-metric=requests] .legend', (e) => e.textContent);
      assert.ok(legend.includes(`${model} 3`), `legend: ${legend}`);

      // A key created through the page works at once.
      await page.type('#k-name', 'e2e-browser');
      await page.type('#k-models', 'oai-*');
      await page.type('#k-rpm', '100');
      await page.click('#k-create');
      await page.waitForSelector('#secret');
      const secret = await page.$eval('#secret', (e) => e.textContent);
      assert.match(secret, KEY_RE);
      const ok = await chat(url, secret, 'oai-text');
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.ok(ok.body.choices[0].message.content.length > 0);
      assert.equal((await chat(url, secret, 'ant-text')).status, 403, 'outside its models');
      await refreshUntil(page, () => {
        const rs = document.querySelectorAll('#charts-key figure[data-metric=requests] rect[data-series=e2e-browser]');
        return [...rs].reduce((a, r) => a + Number(r.dataset.v), 0) === 2;
      }, null, 'the new key\'s two requests in its chart');
      const row = await page.$eval('tr[data-key=e2e-browser]', (e) => e.textContent);
      assert.ok(row.includes('100 rpm') && row.includes('/100 requests left'), `key row: ${row}`);
      assert.ok(!row.includes(secret), 'the table never shows the key');
      await page.click('#secret-done');
      assert.equal(await page.$('#secret'), null, 'the key is shown once');

      // Revoked through the page: the same request fails.
      await page.click('tr[data-key=e2e-browser] button.revoke');
      await page.waitForFunction(() => !document.querySelector('tr[data-key=e2e-browser]'));
      const gone = await chat(url, secret, 'oai-text');
      assert.equal(gone.status, 401, JSON.stringify(gone.body));
      await refreshUntil(page, () => [...document.querySelectorAll('#errors td')]
        .some((td) => td.textContent === '401'), null, 'the 401 in the recent errors');

      const shot = path.join(tmpRoot, 'artifacts', 'admin-page.png');
      fs.mkdirSync(path.dirname(shot), { recursive: true });
      await page.screenshot({ path: shot, fullPage: true });
      console.log(`     screenshot: ${shot}`);

      for (const u of urls) {
        assert.ok(u.startsWith(`${origin}/admin`) || u.startsWith('data:'), `the page loaded ${u}`);
        assert.ok(!u.includes(adminKey) && !u.includes(secret), `a key in a URL: ${u}`);
      }
      assert.deepEqual(problems, [], 'console errors or CSP violations');
    } finally {
      await browser.close();
    }
  }, 60000);
}
