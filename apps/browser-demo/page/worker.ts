/**
 * The same stack in a Web Worker (no DOM, its own event loop): joins daemon A as a
 * second client, fetches B's page over IPv6 and posts the outcome to the page.
 */
import { BrowserStack } from '@tapstack/browser';

interface Job {
  ws: string;
  url: string;
}

self.onmessage = async (ev: MessageEvent<Job>) => {
  try {
    const stack = await BrowserStack.connect(ev.data.ws);
    const r = await stack.fetch(ev.data.url);
    const servedBy = /Hello from tapstack node (\w+)/.exec(r.text())?.[1] ?? '?';
    postMessage({
      ok: r.status === 200 && servedBy === 'b',
      addresses: stack.addresses,
      status: r.status,
      servedBy,
    });
    await stack.close();
  } catch (e) {
    postMessage({ ok: false, error: `${(e as Error).name}: ${(e as Error).message}` });
  }
};
